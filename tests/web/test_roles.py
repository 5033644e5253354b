"""``serve --role``: what each role runs and serves (routes, scheduler jobs), and the CLI flags."""

from __future__ import annotations

import json
import time
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
from tests.support.logs import restored_logging
from tests.support.servers import free_port
from tests.support.slack import AGENT_CHANNEL, Payloads, all_text, sign
from tests.support.web import web_settings


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """``main()`` configures structlog to print to this test's captured stderr: undo it afterwards."""
    with restored_logging():
        yield


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


def test_slack_unreachable_at_start_is_retried_and_readyz_says_why(
        runtime_factory: Callable[..., Runtime], served: Callable[..., Any], shared_dir: Path, sample_runtime: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # SLACK_API_URL points here; nothing listens yet
    api_url = f"http://127.0.0.1:{port}/api/"
    slack = FakeSlack()
    rt = runtime_factory(http_port=free_port(), slack_bot_token=slack.token, slack_api_url=api_url,
                         slack_signing_secret="8f742231b10e8888abcd99yyyzzz85a5", slack_mode="http")
    rt.answers = sample_runtime.answers
    s = served(rt, rt.settings, role="web")  # no client given: every Web API call goes to SLACK_API_URL
    try:
        assert s.error == [] and httpx.get(f"{s.url}/healthz").status_code == 200  # the process stays up
        ready = httpx.get(f"{s.url}/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["slack"] == f"not ready: cannot reach the Slack API at {api_url} (URLError)"
        body = json.dumps(Payloads(shared_dir, slack).mention("How do I reset my password?")).encode()
        headers = {**sign(body, secret="8f742231b10e8888abcd99yyyzzz85a5"), "Content-Type": "application/json"}
        early = httpx.post(f"{s.url}/slack/events", content=body, headers=headers)
        assert early.status_code == 503 and early.headers["retry-after"]  # Slack will retry it

        slack.bind_port = port  # Slack comes back where it was looked for
        slack.add_channel(AGENT_CHANNEL, "support-team")
        with slack:
            deadline = time.monotonic() + 60
            while httpx.get(f"{s.url}/readyz").status_code != 200:  # the backoff retry reaches it
                assert time.monotonic() < deadline, httpx.get(f"{s.url}/readyz").json()
                time.sleep(0.2)
            assert slack.methods()[0] == "auth.test"
            retry = httpx.post(f"{s.url}/slack/events", content=body, headers={**headers, "X-Slack-Retry-Num": "1"})
            assert retry.status_code == 200
            assert "Reset your password" in all_text(slack.wait_for("chat.postMessage")[0].args)
            slack.wait_for("reactions.remove")  # the answer is finished before the fake goes away
    finally:
        s.close()
    assert s.result == [0]
    assert "Traceback" not in capsys.readouterr().err


def test_a_bot_token_slack_refuses_stops_serve_with_one_line(runtime_factory: Callable[..., Runtime]) -> None:
    import threading

    with FakeSlack() as slack:
        rt = runtime_factory(http_port=free_port(), slack_bot_token="xoxb-111-222-not-the-right-token",
                             slack_api_url=slack.api_url, slack_signing_secret="8f742231b10e8888abcd99yyyzzz85a5",
                             slack_mode="http")
        stop = threading.Event()
        stop.set()  # if it started at all, it would stop at once
        with pytest.raises(ConfigError, match=r"^Slack refused the bot token \(invalid_auth\): check SLACK_BOT_TOKEN$"):
            serve(rt, rt.settings, role="web", stop=stop)
        assert slack.calls[0].method == "auth.test"
