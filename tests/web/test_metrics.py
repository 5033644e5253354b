"""Prometheus metrics: answers, feedback and drafts counted through the metered parts, sync health read
from the state store, ``/metrics`` and ``/readyz`` over HTTP."""

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

from bot.answer.context import answer_ref
from bot.errors import InputError
from bot.models import Answer, AnswerReason, Audience
from bot.state import StateStore
from bot.state.sync_ledger import SyncLedger, SyncRun
from bot.web.metrics import MeteredAnswerService, MeteredDrafts, MeteredFeedback, Metrics
from tests.support.web import WebApp

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
            return Answer(text="I don't know.", abstained=True, confidence=0.2, composer="none",
                          reason=AnswerReason.ONLY_INTERNAL)
        return Answer(text="Click Void [1].", confidence=0.8)


def test_metered_parts_count_time_and_log_answers(state: StateStore) -> None:
    metrics = Metrics(process=False)
    answers = MeteredAnswerService(lambda: Replies(), metrics=metrics, surface="slack",  # type: ignore[arg-type,return-value]
                                   questions=state.questions)
    feedback, drafts = MeteredFeedback(state.db, metrics=metrics), MeteredDrafts(state.db, metrics=metrics)
    with capture_logs() as logs, answer_ref("a-1"):
        answers.answer(SECRET_QUESTION, Audience.CUSTOMER)
        answers.answer("Do you ship to Antarctica?", Audience.AGENT)
        with pytest.raises(InputError):
            answers.answer("  ", Audience.AGENT)
    feedback.record_feedback(answer_id="a-1", user="U1", helpful=False)
    drafts.record_draft(provider="zendesk", ticket_id="1", source_event="e", note_id="n1", confidence=0.9,
                        abstained=False)
    drafts.record_draft(provider="zendesk", ticket_id="2", source_event="e", note_id="n2", confidence=0.1,
                        abstained=True)
    drafts.record_draft(provider="intercom", ticket_id="3", source_event="e", note_id=None, confidence=0.1,
                        abstained=True)

    text = metrics.render().decode()
    got = samples(text)
    assert got[("helpdesk_questions_total", (("audience", "customer"), ("surface", "slack")))] == 1
    assert got[("helpdesk_questions_total", (("audience", "agent"), ("surface", "slack")))] == 1
    assert got[("helpdesk_abstentions_total", (("audience", "agent"), ("surface", "slack")))] == 1
    assert got[("helpdesk_answer_reasons_total", (("reason", "only_internal"), ("surface", "slack")))] == 1
    assert got[("helpdesk_answer_reasons_total", (("reason", "answered"), ("surface", "slack")))] == 1
    assert got[("helpdesk_answer_errors_total", (("error", "InputError"), ("surface", "slack")))] == 1
    assert got[("helpdesk_answer_latency_seconds_count", (("surface", "slack"),))] == 2
    assert got[("helpdesk_feedback_total", (("helpful", "false"), ("surface", "slack")))] == 1
    assert got[("helpdesk_drafts_total", (("outcome", "posted"), ("provider", "zendesk")))] == 1
    assert got[("helpdesk_drafts_total", (("outcome", "abstain_note"), ("provider", "zendesk")))] == 1
    assert got[("helpdesk_drafts_total", (("outcome", "skipped"), ("provider", "intercom")))] == 1

    logged = state.questions.recent_questions()
    assert [(q.question, q.abstained, q.answer_id, q.surface) for q in logged] == [
        ("Do you ship to Antarctica?", True, "a-1", "slack"), (SECRET_QUESTION, False, "a-1", "slack")]
    assert logged[1].confidence == pytest.approx(0.8) and logged[1].latency_ms >= 0
    assert [q.reason for q in logged] == ["only_internal", "answered"]
    # The question is the admin's data: stored, never in metrics or logs.
    assert "4111" not in text and "4111" not in repr(logs)


def test_question_log_off_and_log_failures_do_not_break_answers(state: StateStore) -> None:
    metrics = Metrics(process=False)
    off = MeteredAnswerService(lambda: Replies(), metrics=metrics, surface="helpdesk")  # type: ignore[arg-type,return-value]
    off.answer("How do I void a label?", Audience.CUSTOMER)
    assert state.questions.recent_questions() == []

    class Broken:
        def record_question(self, **kw: object) -> None:
            raise RuntimeError("database went away")

    broken = MeteredAnswerService(lambda: Replies(), metrics=metrics, surface="slack",  # type: ignore[arg-type,return-value]
                                  questions=Broken())  # type: ignore[arg-type]
    with capture_logs() as logs:
        assert broken.answer("How do I void a label?", Audience.CUSTOMER).confidence == pytest.approx(0.8)
    assert any(e["event"] == "question_log_failed" for e in logs)


def test_metered_answers_are_built_lazily_and_delegate_attributes(state: StateStore) -> None:
    built = []

    def build() -> SimpleNamespace:
        built.append(1)
        return SimpleNamespace(min_confidence=0.42, max_question_chars=4000, answer=Replies().answer)

    served = MeteredAnswerService(build, metrics=Metrics(process=False), surface="helpdesk")  # type: ignore[arg-type]
    assert built == []
    assert served.min_confidence == 0.42 and served.max_question_chars == 4000
    served.answer("x", Audience.CUSTOMER)
    assert built == [1]


def test_sync_health_comes_from_the_state_store(state: StateStore) -> None:
    now = datetime.now(UTC)
    ok = state.ledger.start_run("help-center")
    state.ledger.finish_run(ok, status="ok", stats={})
    with Session(state.db.engine) as s, s.begin():  # it finished 10 minutes ago
        s.execute(update(SyncRun).where(SyncRun.id == ok).values(finished_at=now - timedelta(minutes=10)))
    failed = state.ledger.start_run("help-center")
    state.ledger.finish_run(failed, status="failed", stats={}, error="boom")
    state.ledger.start_run("zendesk")  # still running
    state.ledger.request_resync("zendesk", requested_by="admin page")

    metrics = Metrics(process=False)
    metrics.watch_state(lambda: state.ledger, lambda: ["help-center", "zendesk", "docs-site"], clock=lambda: now)
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
    def dead() -> SyncLedger:
        raise RuntimeError("connection refused")

    metrics = Metrics(process=False)
    metrics.watch_state(dead)
    got = samples(metrics.render().decode())
    assert got[("helpdesk_state_db_up", ())] == 0


def test_metrics_endpoint_over_http(web_factory: Callable[..., WebApp], state: StateStore) -> None:
    app = web_factory()
    run = state.ledger.start_run("help-center")
    state.ledger.finish_run(run, status="ok", stats={})
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

    def unreachable() -> None:
        raise RuntimeError("postgres://user:pw@db is down")

    class Down:
        state = SimpleNamespace(db=SimpleNamespace(ping=unreachable), ledger=None, questions=None, drafts=None)
        store = SimpleNamespace(has_collection=lambda name: True)
        syncs = SimpleNamespace(sources={})
        embedder = None

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
