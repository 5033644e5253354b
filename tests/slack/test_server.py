"""``serve``: HTTP mode and Socket Mode end to end (with the scheduler), and its configuration errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.cli import main
from bot.errors import ConfigError
from bot.runtime import Runtime
from bot.serve import serve
from bot.settings import Settings
from bot.slack.webapi import build_client
from bot.state import StateStore
from tests.fakes.slack_server import FakeSlack, FakeSocketMode
from tests.support.servers import Served, free_port
from tests.support.slack import (
    AGENT_CHANNEL,
    RESET_LINK,
    RESET_Q,
    SHOPIFY_Q,
    Payloads,
    RecordingAnswers,
    all_text,
    sign,
    slack_settings,
)


@pytest.fixture
def runtime(answers: RecordingAnswers, state: StateStore, sample_runtime: Any, tmp_path: Path) -> Runtime:
    """A runtime with no sources whose answers are the recorded real ones and whose state is this test's."""
    rt = Runtime(Settings(data_dir=tmp_path / "data", sample_kb=False, _env_file=None),  # type: ignore[call-arg]
                 store=sample_runtime.store, embedder=sample_runtime.embedder)
    rt.answers = answers  # type: ignore[assignment]
    rt.state = state  # type: ignore[misc]
    return rt  # not closed: the store is the session's sample store


@pytest.fixture
def serve_slack(served: Callable[..., Served], runtime: Runtime, slack: FakeSlack,
                tmp_path: Path) -> Callable[..., Served]:
    """``serve()`` in a thread with Slack settings (``overrides``) and the Web API client on the fake."""

    def start(**overrides: Any) -> Served:
        settings = slack_settings(tmp_path, slack, http_port=free_port(), **overrides)
        return served(runtime, settings, client=build_client(settings, base_url=slack.api_url))

    return start


def test_http_mode_serves_slack_health_and_runs_the_scheduler(serve_slack: Callable[..., Served], slack: FakeSlack,
                                                               payloads: Payloads) -> None:
    s = serve_slack(slack_mode="http")
    assert httpx.get(f"{s.url}/healthz").json() == {"status": "ok"}
    body = json.dumps(payloads.mention(RESET_Q)).encode()
    resp = httpx.post(f"{s.url}/slack/events", content=body, headers={**sign(body), "Content-Type": "application/json"})
    assert resp.status_code == 200
    post = slack.wait_for("chat.postMessage")[0].args
    assert post["channel"] == AGENT_CHANNEL
    assert "[1] " + RESET_LINK in all_text(post)  # the real answer, through serve()
    [jobs] = s.schedulers
    assert jobs.running and {j.id for j in jobs.get_jobs()} >= {"prune", "resync-requests"}
    s.close()
    assert s.result == [0] and not jobs.running


def test_socket_mode_answers_acks_envelopes_and_drops_retries(serve_slack: Callable[..., Served], slack: FakeSlack,
                                                               payloads: Payloads, answers: RecordingAnswers) -> None:
    with FakeSocketMode(slack) as ws:
        s = serve_slack(slack_mode="socket", slack_signing_secret=None, slack_app_token=slack.app_token)
        ws.wait_connected()
        opened = slack.calls_to("apps.connections.open")
        assert len(opened) == 1 and opened[0].headers["authorization"] == f"Bearer {slack.app_token}"

        event = payloads.mention(SHOPIFY_Q)
        first = ws.send_envelope(event)
        ws.wait_for_ack(first)
        post = slack.wait_for("chat.postMessage")[0].args
        assert post["thread_ts"] == event["event"]["ts"]
        assert "[1]" in all_text(post) and "|Connect your Shopify store ›" in all_text(post)
        retry = ws.send_envelope(event, retry_attempt=1)  # Slack redelivers: same event_id
        ws.wait_for_ack(retry)

        command = {"command": "/helpdesk", "text": "help", "user_id": "U0ASKER1", "channel_id": AGENT_CHANNEL,
                   "team_id": "T111", "response_url": slack.response_url()}
        cmd = ws.send_envelope(command, type="slash_commands", accepts_response_payload=True)
        ack = ws.wait_for_ack(cmd)
        assert "/helpdesk ask <question>" in ack["payload"]["text"]

        assert httpx.get(f"{s.url}/healthz").status_code == 200
        assert httpx.post(f"{s.url}/slack/events", content=b"{}").status_code == 404  # no HTTP ingress
        s.close()
        assert len(answers.calls) == 1 and len(slack.calls_to("chat.postMessage")) == 1
        assert s.result == [0]


def test_configuration_errors(runtime: Runtime, slack: FakeSlack, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        serve(runtime, slack_settings(tmp_path, slack, slack_signing_secret=None), mode="http", scheduler=False)
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        serve(runtime, slack_settings(tmp_path, slack), mode="socket", scheduler=False,
              client=build_client(slack_settings(tmp_path, slack), base_url=slack.api_url))


def test_cli_serve_without_a_bot_token_is_a_one_line_error(
    settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["serve", "--no-scheduler"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: SLACK_BOT_TOKEN is not set") and "Traceback" not in err
