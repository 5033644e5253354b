"""Knowledge health where people see it: the admin page's tab, ``helpdesk-bot health|gaps``, the weekly digest."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from pydantic import SecretStr

from bot.cli import main
from bot.errors import ConfigError
from bot.health.finder import HealthFinder
from bot.health.runs import HealthRuns
from bot.runtime import Runtime
from bot.serve import HttpServer, asgi_app, build_routes, build_scheduler
from bot.slack.webapi import build_client
from bot.web.metrics import Metrics
from tests.fakes.slack_server import FakeSlack
from tests.health.conftest import NOW, write_kb
from tests.support.slack import all_text
from tests.support.web import ADMIN_TOKEN, WebApp


def _runs(rt: Runtime) -> HealthRuns:
    return HealthRuns(lambda: HealthFinder(retriever=rt.retriever, questions=rt.state.questions, clock=lambda: NOW),
                      lambda: rt.state.health)


@pytest.fixture
def admin(health_runtime: Runtime) -> Iterator[tuple[WebApp, HealthRuns]]:
    settings = health_runtime.settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    runs = _runs(health_runtime)
    closers: list[Any] = []
    routes = build_routes(health_runtime, settings, role="web", metrics=Metrics(process=False), closers=closers,
                          health=runs)
    server = HttpServer(asgi_app(routes), host="127.0.0.1", port=0).start()
    app = WebApp(runtime=health_runtime, settings=settings, metrics=Metrics(process=False), server=server,
                 http=httpx.Client(base_url=server.url, timeout=30), closers=closers)
    yield app, runs
    app.close()


def test_the_admin_health_tab_runs_a_check_and_shows_the_evidence(admin: tuple[WebApp, HealthRuns]) -> None:
    app, runs = admin
    assert app.http.get("/admin/health").status_code == 303  # signed-in admins only
    csrf = app.login()
    page = app.http.get("/admin/health").text
    assert "No report yet" in page and "Check now" in page
    assert app.http.post("/admin/health/check", data={"csrf": "forged"}).status_code == 403
    resp = app.http.post("/admin/health/check", data={"csrf": csrf})
    assert resp.status_code == 303 and resp.headers["location"] == "/admin/health?started=1"
    assert runs.wait(timeout=120)
    page = app.http.get("/admin/health?started=1").text
    assert "Check started" in page and "(admin page)" in page
    contradictions = page.split('id="contradictions"')[1].split("</table>")[0]
    assert contradictions.count('<tr data-kind="') == 3
    assert "<strong>14 days</strong>" in contradictions and "<strong>30 days</strong>" in contradictions
    assert 'href="https://acme.zendesk.com/agent/tickets/1"' in contradictions
    assert "Settings &gt; Payments &gt; Invoices" in contradictions  # escaped like all text
    stale = page.split('id="stale"')[1].split("</table>")[0]
    assert "Request a subscription refund" in stale and "linked in a reply" in stale


def test_one_check_at_a_time(health_runtime: Runtime) -> None:
    release, entered = threading.Event(), threading.Event()

    class Slow:
        def report(self) -> Any:
            entered.set()
            release.wait(30)
            return HealthFinder(retriever=health_runtime.retriever, clock=lambda: NOW).report()

    runs = HealthRuns(lambda: Slow(), lambda: health_runtime.state.health)  # type: ignore[arg-type,return-value]
    assert runs.start(trigger="first")
    assert entered.wait(30) and runs.running
    assert not runs.start(trigger="second")  # refused while one runs
    release.set()
    assert runs.wait(timeout=120) and not runs.running
    latest = runs.latest()
    assert latest is not None and latest[1] == "first" and len(latest[2].contradictions) == 3


def test_weekly_digest_posts_findings_and_gaps_to_the_admin_channel(health_runtime: Runtime) -> None:
    health_runtime.state.questions.record_question(
        surface="slack", audience="customer", question="Do you ship to Antarctica?", answer="", confidence=0.2,
        abstained=True, reason="below_gate", link="https://parcelly.slack.com/archives/C1/p1")
    with FakeSlack() as slack:
        settings = health_runtime.settings.model_copy(update={
            "health_digest_channel": "C0ADMINS", "health_digest_cron": "30 8 * * mon",
            "slack_bot_token": SecretStr(slack.token)})
        client = build_client(settings, base_url=slack.api_url)
        scheduler = build_scheduler(health_runtime, settings, factory=lambda: BackgroundScheduler(timezone="UTC"),
                                    health=_runs(health_runtime), client=client)
        job = scheduler.get_job("health-digest")
        assert isinstance(job.trigger, CronTrigger) and "day_of_week='mon'" in str(job.trigger)
        assert "hour='8'" in str(job.trigger) and job.max_instances == 1
        job.func()
        [post] = slack.calls_to("chat.postMessage")
    assert post.args["channel"] == "C0ADMINS"
    text = all_text(post.args)
    assert "3 contradictions" in text and "1 knowledge gaps" in text
    assert "<https://help.example/articles/refund|Request a subscription refund>: says *14 days*" in text
    assert "<https://acme.zendesk.com/agent/tickets/1|Ticket 1>" in text
    assert "Do you ship to Antarctica?" in text and "<https://parcelly.slack.com/archives/C1/p1|thread 1>" in text
    assert health_runtime.state.health.latest_report().trigger == "weekly digest"  # type: ignore[union-attr]


def test_digest_settings_are_checked_at_start(health_runtime: Runtime) -> None:
    factory = lambda: BackgroundScheduler(timezone="UTC")  # noqa: E731
    off = build_scheduler(health_runtime, health_runtime.settings, factory=factory)
    assert off.get_job("health-digest") is None  # no channel, no digest
    bad = health_runtime.settings.model_copy(update={"health_digest_channel": "C0ADMINS",
                                                     "health_digest_cron": "every monday"})
    with pytest.raises(ConfigError, match="HELPDESK_HEALTH_DIGEST_CRON"):
        build_scheduler(health_runtime, bad, factory=factory)
    no_token = health_runtime.settings.model_copy(update={"health_digest_channel": "C0ADMINS", "slack_bot_token": None})
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        build_scheduler(health_runtime, no_token, factory=factory)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    import logging

    import structlog

    for key in list(os.environ):
        if key.startswith(("HELPDESK_", "QDRANT_", "OPENAI_", "SLACK_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HELPDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HELPDESK_SOURCES_FILE", str(write_kb(tmp_path / "kb")))
    monkeypatch.setenv("HELPDESK_SAMPLE_KB", "false")
    monkeypatch.setenv("HELPDESK_HEALTH_TICKET_DAYS", "3650")  # the fixture's tickets are dated 2026-11
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield tmp_path
    structlog.configure(**saved)
    root.handlers[:], root.level = handlers, level


def test_cli_health_and_gaps(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync"]) == 0
    capsys.readouterr()
    assert main(["health", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    kinds = sorted(c["kind"] for c in report["contradictions"])
    assert "quantity" in kinds and "ui_path" in kinds and report["articles"] == 3
    assert main(["health"]) == 0
    out = capsys.readouterr().out
    assert "Contradictions (the article says one thing, recent replies another):" in out
    assert "https://acme.zendesk.com/agent/tickets/1" in out

    from bot.settings import Settings
    from bot.state import StateStore

    state = StateStore(Settings().state_url)
    assert state.health.latest_report().trigger == "cli"  # type: ignore[union-attr]
    for q in ("Do you ship to Antarctica?", "Can I send parcels to Antarctica?"):
        state.questions.record_question(surface="slack", audience="customer", question=q, answer="", confidence=0.2,
                                        abstained=True, reason="below_gate",
                                        closest={"doc_id": "d", "title": "Void a label", "score": 0.31})
    state.close()
    assert main(["gaps", "--json"]) == 0
    [group] = json.loads(capsys.readouterr().out)
    assert (group["reason"], group["count"], group["closest"]["title"]) == ("below_gate", 2, "Void a label")
    assert main(["gaps"]) == 0
    assert "why: No source close enough to answer" in capsys.readouterr().out
