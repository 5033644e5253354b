"""Prometheus metrics: answers counted through the wrappers, sync health read from the state store,
``/metrics`` and ``/readyz`` over HTTP."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from bot.errors import InputError
from bot.models import Answer, Audience
from bot.state import StateStore, SyncRun
from bot.web.context import answer_ref
from bot.web.metrics import Metrics, ServedRuntime
from tests.web.conftest import WebApp

SECRET_QUESTION = "my card 4111 1111 1111 1111 was charged twice, why?"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


class Replies:
    def __init__(self) -> None:
        self.calls = 0

    def answer(self, question: str, audience: Audience, history: object = ()) -> Answer:
        self.calls += 1
        if not question.strip():
            raise InputError("the question is empty")
        if "Antarctica" in question:
            return Answer(text="I don't know.", abstained=True, confidence=0.2, composer="none")
        return Answer(text="Click Void [1].", confidence=0.8)


def test_served_runtime_counts_times_and_logs_answers(state: StateStore) -> None:
    metrics = Metrics(process=False)
    inner = SimpleNamespace(answers=Replies(), state=state, syncs="shared")
    slack = ServedRuntime(inner, metrics=metrics, surface="slack", log_questions=True)
    assert slack.syncs == "shared"  # everything but answers and state is the runtime's own
    with capture_logs() as logs, answer_ref("a-1"):
        slack.answers.answer(SECRET_QUESTION, Audience.CUSTOMER)
        slack.answers.answer("Do you ship to Antarctica?", Audience.AGENT)
        with pytest.raises(InputError):
            slack.answers.answer("  ", Audience.AGENT)
    slack.state.record_feedback(answer_id="a-1", user="U1", helpful=False)
    slack.state.record_draft(provider="zendesk", ticket_id="1", source_event="e", note_id="n1", confidence=0.9,
                             abstained=False)
    slack.state.record_draft(provider="zendesk", ticket_id="2", source_event="e", note_id="n2", confidence=0.1,
                             abstained=True)
    slack.state.record_draft(provider="intercom", ticket_id="3", source_event="e", note_id=None, confidence=0.1,
                             abstained=True)

    text = metrics.render().decode()
    got = samples(text)
    assert got[("helpdesk_questions_total", (("audience", "customer"), ("surface", "slack")))] == 1
    assert got[("helpdesk_questions_total", (("audience", "agent"), ("surface", "slack")))] == 1
    assert got[("helpdesk_abstentions_total", (("audience", "agent"), ("surface", "slack")))] == 1
    assert got[("helpdesk_answer_errors_total", (("error", "InputError"), ("surface", "slack")))] == 1
    assert got[("helpdesk_answer_latency_seconds_count", (("surface", "slack"),))] == 2
    assert got[("helpdesk_feedback_total", (("helpful", "false"), ("surface", "slack")))] == 1
    assert got[("helpdesk_drafts_total", (("outcome", "posted"), ("provider", "zendesk")))] == 1
    assert got[("helpdesk_drafts_total", (("outcome", "abstain_note"), ("provider", "zendesk")))] == 1
    assert got[("helpdesk_drafts_total", (("outcome", "skipped"), ("provider", "intercom")))] == 1

    logged = state.recent_questions()
    assert [(q.question, q.abstained, q.answer_id, q.surface) for q in logged] == [
        ("Do you ship to Antarctica?", True, "a-1", "slack"), (SECRET_QUESTION, False, "a-1", "slack")]
    assert logged[1].confidence == pytest.approx(0.8) and logged[1].latency_ms >= 0
    # The question is the admin's data: stored, never in metrics or logs.
    assert "4111" not in text and "4111" not in repr(logs)


def test_question_log_off_and_log_failures_do_not_break_answers(state: StateStore) -> None:
    metrics = Metrics(process=False)
    off = ServedRuntime(SimpleNamespace(answers=Replies(), state=state), metrics=metrics, surface="helpdesk",
                        log_questions=False)
    off.answers.answer("How do I void a label?", Audience.CUSTOMER)
    assert state.recent_questions() == []

    class Broken:
        def record_question(self, **kw: object) -> None:
            raise RuntimeError("database went away")

    broken = ServedRuntime(SimpleNamespace(answers=Replies(), state=Broken()), metrics=metrics, surface="slack",
                           log_questions=True)
    with capture_logs() as logs:
        assert broken.answers.answer("How do I void a label?", Audience.CUSTOMER).confidence == pytest.approx(0.8)
    assert any(e["event"] == "question_log_failed" for e in logs)


def test_wrapped_answers_are_built_lazily_and_delegate_attributes(state: StateStore) -> None:
    built = []

    class Runtime:
        state = None

        @property
        def answers(self) -> SimpleNamespace:
            built.append(1)
            return SimpleNamespace(min_confidence=0.42, max_question_chars=4000, answer=Replies().answer)

    served = ServedRuntime(Runtime(), metrics=Metrics(process=False), surface="helpdesk", log_questions=False)
    assert built == []
    assert served.answers.min_confidence == 0.42 and served.answers.max_question_chars == 4000
    served.answers.answer("x", Audience.CUSTOMER)
    assert built == [1]


def test_sync_health_comes_from_the_state_store(state: StateStore) -> None:
    now = datetime.now(UTC)
    ok = state.start_run("help-center")
    state.finish_run(ok, status="ok", stats={})
    with Session(state.engine) as s, s.begin():  # it finished 10 minutes ago
        s.execute(update(SyncRun).where(SyncRun.id == ok).values(finished_at=now - timedelta(minutes=10)))
    failed = state.start_run("help-center")
    state.finish_run(failed, status="failed", stats={}, error="boom")
    state.start_run("zendesk")  # still running
    state.request_resync("zendesk", requested_by="admin page")

    metrics = Metrics(process=False)
    metrics.watch_state(lambda: state, lambda: ["help-center", "zendesk", "docs-site"], clock=lambda: now)
    got = samples(metrics.render().decode())
    assert got[("helpdesk_state_db_up", ())] == 1
    assert got[("helpdesk_sync_runs_total", (("source", "help-center"), ("status", "ok")))] == 1
    assert got[("helpdesk_sync_runs_total", (("source", "help-center"), ("status", "failed")))] == 1
    assert got[("helpdesk_sync_runs_total", (("source", "zendesk"), ("status", "running")))] == 1
    assert got[("helpdesk_sync_lag_seconds", (("source", "help-center"),))] == pytest.approx(600, abs=1)
    assert math.isinf(got[("helpdesk_sync_lag_seconds", (("source", "docs-site"),))])  # never synced
    assert got[("helpdesk_sync_last_run_failed", (("source", "help-center"),))] == 1
    assert got[("helpdesk_sync_last_run_failed", (("source", "zendesk"),))] == 0
    assert got[("helpdesk_resync_requests_pending", (("source", "zendesk"),))] == 1
    assert got[("helpdesk_sync_last_success_timestamp_seconds", (("source", "help-center"),))] == pytest.approx(
        (now - timedelta(minutes=10)).timestamp(), abs=1)


def test_a_scrape_survives_a_dead_state_database() -> None:
    def dead() -> StateStore:
        raise RuntimeError("connection refused")

    metrics = Metrics(process=False)
    metrics.watch_state(dead)
    got = samples(metrics.render().decode())
    assert got[("helpdesk_state_db_up", ())] == 0


def test_metrics_endpoint_over_http(web_factory: Callable[..., WebApp], state: StateStore) -> None:
    app = web_factory()
    run = state.start_run("help-center")
    state.finish_run(run, status="ok", stats={})
    resp = app.http.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    got = samples(resp.text)
    assert got[("helpdesk_sync_runs_total", (("source", "help-center"), ("status", "ok")))] == 1
    assert ("helpdesk_sync_lag_seconds", (("source", "docs-site"),)) in got
    assert Metrics().render().startswith(b"# HELP")  # with the process collectors too


def test_readyz_reports_each_dependency(web_factory: Callable[..., WebApp], tmp_path, state: StateStore) -> None:  # type: ignore[no-untyped-def]
    app = web_factory()
    resp = app.http.get("/readyz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok", "checks": {"state_db": "ok", "store": "ok"}}

    class Down:
        @property
        def state(self) -> StateStore:
            raise RuntimeError("postgres://user:pw@db is down")

        store = SimpleNamespace(has_collection=lambda name: True)
        syncs = SimpleNamespace(sources={})

    down = web_factory(runtime=Down())
    resp = down.http.get("/readyz")
    assert resp.status_code == 503
    assert resp.json() == {"status": "unavailable", "checks": {"state_db": "error: RuntimeError", "store": "ok"}}
    assert "pw" not in resp.text


def test_readyz_times_out_a_hanging_dependency_without_piling_up_threads(web_factory: Callable[..., WebApp],
                                                                         state: StateStore) -> None:
    release = threading.Event()
    calls = []

    def hang() -> list[str]:
        calls.append(1)
        release.wait(10)
        return []

    rt = SimpleNamespace(state=state, store=SimpleNamespace(client=SimpleNamespace(get_collections=hang)),
                         syncs=SimpleNamespace(sources={}), embedder=None)
    app = web_factory(runtime=rt, readiness_timeout_s=0.3)
    try:
        for _ in range(3):
            resp = app.http.get("/readyz")
            assert resp.status_code == 503 and resp.json()["checks"] == {"state_db": "ok", "store": "timeout"}
        assert len(calls) == 1
    finally:
        release.set()
