"""``serve``: HTTP mode and Socket Mode end to end (with the scheduler), and its configuration errors."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

import bot.sync.scheduler as scheduler_module
from bot.cli import main
from bot.errors import ConfigError
from bot.slack.server import serve
from bot.slack.webapi import build_client
from bot.state import StateStore
from bot.sync.service import SyncService
from tests.fakes.slack_server import FakeSlack, FakeSocketMode
from tests.slack.conftest import (
    AGENT_CHANNEL,
    RESET_Q,
    RESET_URL,
    SHOPIFY_Q,
    Payloads,
    RecordingAnswers,
    all_text,
    free_port,
    sign,
    slack_runtime,
    slack_settings,
    wait_until_healthy,
)


class Served:
    """``serve()`` in a thread, stopped at the end; records the scheduler it started."""

    def __init__(self, runtime: Any, settings: Any, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
        self.schedulers: list[Any] = []
        real = scheduler_module.build_background_scheduler

        def recording(service: Any, **kw: float) -> Any:
            s = real(service, **kw)
            self.schedulers.append(s)
            return s

        monkeypatch.setattr(scheduler_module, "build_background_scheduler", recording)
        self.stop = threading.Event()
        self.result: list[int] = []
        self.url = f"http://127.0.0.1:{settings.http_port}"
        client = build_client(settings, base_url=slack.api_url)
        self.thread = threading.Thread(
            target=lambda: self.result.append(serve(runtime, settings, stop=self.stop, client=client)), daemon=True)
        self.thread.start()
        wait_until_healthy(self.url, self.stop)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=15)


@pytest.fixture
def runtime(answers: RecordingAnswers, state: StateStore) -> SimpleNamespace:
    rt = slack_runtime(answers, state)
    rt.syncs = SyncService(SimpleNamespace(state=state), [])
    return rt


@pytest.fixture
def served(runtime, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    made: list[Served] = []

    def start(**overrides: Any) -> Served:
        settings = slack_settings(tmp_path, slack, http_port=free_port(), **overrides)
        s = Served(runtime, settings, slack, monkeypatch)
        made.append(s)
        return s

    yield start
    for s in made:
        s.close()


def test_http_mode_serves_slack_health_and_runs_the_scheduler(served, slack: FakeSlack, payloads: Payloads) -> None:  # type: ignore[no-untyped-def]
    s = served(slack_mode="http")
    assert httpx.get(f"{s.url}/healthz").json() == {"status": "ok"}
    body = json.dumps(payloads.mention(RESET_Q)).encode()
    resp = httpx.post(f"{s.url}/slack/events", content=body, headers={**sign(body), "Content-Type": "application/json"})
    assert resp.status_code == 200
    post = slack.wait_for("chat.postMessage")[0].args
    assert post["channel"] == AGENT_CHANNEL
    assert f"[1] <{RESET_URL}|Reset your password>" in all_text(post)  # the real answer, through serve()
    [jobs] = s.schedulers
    assert jobs.running and {j.id for j in jobs.get_jobs()} >= {"prune", "resync-requests"}
    s.close()
    assert s.result == [0] and not jobs.running


def test_socket_mode_answers_acks_envelopes_and_drops_retries(served, slack: FakeSlack, payloads: Payloads,  # type: ignore[no-untyped-def]
                                                               answers: RecordingAnswers) -> None:
    with FakeSocketMode(slack) as ws:
        s = served(slack_mode="socket", slack_signing_secret=None, slack_app_token=slack.app_token)
        ws.wait_connected()
        opened = slack.calls_to("apps.connections.open")
        assert len(opened) == 1 and opened[0].headers["authorization"] == f"Bearer {slack.app_token}"

        event = payloads.mention(SHOPIFY_Q)
        first = ws.send_envelope(event)
        ws.wait_for_ack(first)
        post = slack.wait_for("chat.postMessage")[0].args
        assert post["thread_ts"] == event["event"]["ts"]
        assert "[1]" in all_text(post) and "|Connect your Shopify store>" in all_text(post)
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


def test_configuration_errors(runtime, slack: FakeSlack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
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
