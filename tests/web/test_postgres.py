"""The state store and the admin/metrics queries on a real PostgreSQL (the scaled deployment's state DB).

Runs when ``HELPDESK_TEST_POSTGRES_URL`` names a database it may write to, e.g.
``postgresql+psycopg://helpdesk@127.0.0.1:5432/helpdesk`` (and psycopg is installed); skips otherwise.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bot.answer.context import answer_ref
from bot.models import Answer, Audience
from bot.state import StateStore
from bot.web.metrics import MeteredAnswerService, MeteredFeedback, Metrics

URL = os.environ.get("HELPDESK_TEST_POSTGRES_URL", "")
pytestmark = pytest.mark.skipif(not URL, reason="HELPDESK_TEST_POSTGRES_URL is not set (no PostgreSQL to test on)")


@pytest.fixture
def pg() -> StateStore:
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'psycopg[binary]'")
    return StateStore(URL)


def test_event_claims_leases_and_the_admin_queries_on_postgresql(pg: StateStore) -> None:
    run = uuid.uuid4().hex[:8]
    assert pg.events.claim_event(f"slack:Ev{run}") is True
    assert pg.events.claim_event(f"slack:Ev{run}") is False
    assert pg.ledger.acquire_lease(f"src-{run}", "a") and not pg.ledger.acquire_lease(f"src-{run}", "b")

    class Inner:
        def answer(self, q: str, a: Audience, h: object = ()) -> Answer:
            return Answer(text="I don't know.", abstained=True) if "Antarctica" in q else Answer(text="x", confidence=0.7)

    metrics = Metrics(process=False)
    answers = MeteredAnswerService(lambda: Inner(), metrics=metrics, surface="slack", questions=pg.questions)  # type: ignore[arg-type,return-value]
    with answer_ref(f"pg-{run}"):
        answers.answer(f"void a label {run}", Audience.CUSTOMER)
    answers.answer(f"Antarctica {run}", Audience.CUSTOMER)
    MeteredFeedback(pg.db, metrics=metrics).record_feedback(answer_id=f"pg-{run}", user="U1", helpful=False)
    ok = pg.ledger.start_run(f"src-{run}")
    pg.ledger.finish_run(ok, status="ok", stats={})
    since = datetime.now(UTC) - timedelta(minutes=5)
    gaps = {q.question for q in pg.questions.gap_candidates(since=since)}
    assert {f"void a label {run}", f"Antarctica {run}"} <= gaps
    assert pg.questions.question_totals(since=since).questions >= 2
    stats = pg.ledger.stats()
    assert stats.runs[(f"src-{run}", "ok")] == 1 and stats.last_status[f"src-{run}"] == "ok"
    pg.db.ping()
