"""``serve --role``: what each role runs and serves (routes, scheduler jobs), and the CLI flags."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.cli import build_parser, main
from bot.errors import ConfigError
from bot.models import Audience
from bot.runtime import Runtime
from bot.serve import serve
from bot.slack.webapi import build_client
from tests.fakes.slack_server import FakeSlack
from tests.support.servers import free_port
from tests.support.slack import AGENT_CHANNEL, Payloads, sign
from tests.support.web import web_settings


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """``main()`` configures structlog to print to this test's captured stderr: undo it afterwards."""
    import logging

    import structlog

    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:], root.level = handlers, level


def test_scheduler_role_needs_no_slack_and_serves_only_operations(runtime_factory: Callable[..., Runtime],
                                                                  served: Callable[..., Any]) -> None:
    rt = runtime_factory(http_port=free_port(), slack_bot_token=None, slack_app_token=None)
    settings = rt.settings
    s = served(rt, settings, role="scheduler")
    assert httpx.get(f"{s.url}/readyz").json()["status"] == "ok"
    assert "helpdesk_sync_lag_seconds" in httpx.get(f"{s.url}/metrics").text
    for path in ("/admin", "/admin/login"):
        assert httpx.get(f"{s.url}{path}").status_code == 404
    assert httpx.post(f"{s.url}/slack/events", content=b"{}").status_code == 404
    assert httpx.post(f"{s.url}/webhooks/zendesk", content=b"{}").status_code == 404
    [jobs] = s.schedulers
    assert {j.id for j in jobs.get_jobs()} >= {"resync-requests", "prune", "forget-questions"}
    s.close()
    assert s.result == [0] and not jobs.running


def test_web_role_serves_slack_admin_webhooks_and_counts_answers_without_a_scheduler(
        runtime_factory: Callable[..., Runtime], served: Callable[..., Any], shared_dir: Path, sample_runtime: Any) -> None:
    with FakeSlack() as slack:
        slack.add_channel(AGENT_CHANNEL, "support-team")
        rt = runtime_factory(http_port=free_port(), slack_bot_token=slack.token,
                             slack_signing_secret="8f742231b10e8888abcd99yyyzzz85a5", slack_mode="http")
        rt.answers = sample_runtime.answers  # the real answer path over the sample knowledge base
        settings = rt.settings
        state = rt.state
        s = served(rt, settings, role="web", client=build_client(settings, base_url=slack.api_url))
        assert s.schedulers == []
        body = json.dumps(Payloads(shared_dir, slack).mention("How do I reset my password?")).encode()
        resp = httpx.post(f"{s.url}/slack/events", content=body,
                          headers={**sign(body, secret="8f742231b10e8888abcd99yyyzzz85a5"),
                                   "Content-Type": "application/json"})
        assert resp.status_code == 200
        slack.wait_for("chat.postMessage")
        for _ in range(200):  # the answer is logged right after answer() returns, in Bolt's lazy thread
            if state.questions.recent_questions():
                break
            s.stop.wait(0.02)
        [logged] = state.questions.recent_questions()
        assert logged.surface == "slack" and logged.question == "How do I reset my password?"
        assert logged.audience == Audience.AGENT.value
        metrics = httpx.get(f"{s.url}/metrics").text
        assert 'helpdesk_questions_total{audience="agent",surface="slack"} 1.0' in metrics
        assert httpx.get(f"{s.url}/admin").headers["location"] == "/admin/login"
        assert "Admin sign-in" in httpx.get(f"{s.url}/admin/login").text
        # The helpdesk webhooks are mounted (503: no signing secret configured; not 404).
        assert httpx.post(f"{s.url}/webhooks/zendesk", content=b"{}").status_code == 503
        s.close()
        assert s.result == [0]


def test_no_scheduler_flag_means_web_and_unknown_roles_are_refused(tmp_path: Path, runtime: Runtime) -> None:
    with pytest.raises(ConfigError, match="unknown role"):
        serve(runtime, web_settings(tmp_path), role="worker")
    args = build_parser().parse_args(["serve", "--role", "web"])
    assert args.role == "web" and not args.no_scheduler
    assert build_parser().parse_args(["serve"]).role == "all"


def test_cli_rejects_contradicting_flags(settings: Any, keep_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--role", "scheduler", "--no-scheduler"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --no-scheduler contradicts --role scheduler") and "Traceback" not in err


def test_short_admin_token_stops_serve_with_one_line(settings: Any, keep_logging: None, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HELPDESK_ADMIN_TOKEN", "short")
    monkeypatch.setenv("HELPDESK_HTTP_PORT", str(free_port()))
    assert main(["serve", "--role", "web"]) == 1  # checked before anything starts (Slack included)
    err = capsys.readouterr().err
    assert err.startswith("error: HELPDESK_ADMIN_TOKEN is too short (5 characters)") and "Traceback" not in err
