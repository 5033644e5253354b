"""Fixtures of the Slack tests; the harness itself is :mod:`tests.support.slack`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.state import StateStore
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_server import FakeSlack
from tests.support.slack import (
    AGENT_CHANNEL,
    ASKER,
    CONNECT_CHANNEL,
    CUSTOMER_CHANNEL,
    DM_CHANNEL,
    Payloads,
    RecordingAnswers,
    SlackHarness,
    slack_parts,
    slack_settings,
)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_channel(AGENT_CHANNEL, "support-team")
        fake.add_channel(CUSTOMER_CHANNEL, "customers")
        fake.add_channel(CONNECT_CHANNEL, "acme-parcelly", is_shared=True, is_ext_shared=True)
        fake.add_channel(DM_CHANNEL, "", user=ASKER)
        yield fake


@pytest.fixture
def payloads(shared_dir: Path, slack: FakeSlack) -> Payloads:
    return Payloads(shared_dir, slack)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


@pytest.fixture
def answers(sample_runtime: Any) -> RecordingAnswers:
    """The real answer service over the sample knowledge base, its calls recorded."""
    return RecordingAnswers(sample_runtime.answers)


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    """A local Chat Completions endpoint; tests script it (``reply``, ``delay_s``, ``status``)."""
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def harness_factory(tmp_path: Path, slack: FakeSlack) -> Iterator[Callable[..., SlackHarness]]:
    made: list[SlackHarness] = []

    def make(parts: dict[str, Any], **overrides: Any) -> SlackHarness:
        h = SlackHarness(parts, slack_settings(tmp_path, slack, **overrides), slack)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


@pytest.fixture
def harness(harness_factory: Callable[..., SlackHarness], answers: RecordingAnswers,
            state: StateStore) -> SlackHarness:
    return harness_factory(slack_parts(answers, state))
