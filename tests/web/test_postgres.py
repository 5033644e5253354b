"""The state store and the admin/metrics queries on a real PostgreSQL (the scaled deployment's state DB).

Runs when ``HELPDESK_TEST_POSTGRES_URL`` names a database it may write to, e.g.
``postgresql+psycopg://helpdesk@127.0.0.1:5432/helpdesk`` (and psycopg is installed); skips otherwise.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from bot.models import Answer, Audience
from bot.state import StateStore
from bot.web import queries
from bot.web.context import answer_ref
from bot.web.metrics import Metrics, ServedRuntime

URL = os.environ.get("HELPDESK_TEST_POSTGRES_URL", "")
pytestmark = pytest.mark.skipif(not URL, reason="HELPDESK_TEST_POSTGRES_URL is not set (no PostgreSQL to test on)")


@pytest.fixture
def pg() -> StateStore:
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'psycopg[binary]'")
    return StateStore(URL)


def test_event_claims_leases_and_the_admin_queries_on_postgresql(pg: StateStore) -> None:
    run = uuid.uuid4().hex[:8]
    assert pg.claim_event(f"slack:Ev{run}") is True
    assert pg.claim_event(f"slack:Ev{run}") is False
    assert pg.acquire_lease(f"src-{run}", "a") and not pg.acquire_lease(f"src-{run}", "b")

    class Inner:
        def answer(self, q: str, a: Audience, h: object = ()) -> Answer:
            return Answer(text="I don't know.", abstained=True) if "Antarctica" in q else Answer(text="x", confidence=0.7)

    served = ServedRuntime(SimpleNamespace(answers=Inner(), state=pg), metrics=Metrics(process=False), surface="slack",
                           log_questions=True)
    with answer_ref(f"pg-{run}"):
        served.answers.answer(f"void a label {run}", Audience.CUSTOMER)
    served.answers.answer(f"Antarctica {run}", Audience.CUSTOMER)
    served.state.record_feedback(answer_id=f"pg-{run}", user="U1", helpful=False)
    ok = pg.start_run(f"src-{run}")
    pg.finish_run(ok, status="ok", stats={})
    since = datetime.now(UTC) - timedelta(minutes=5)
    gaps = {q.question for q in queries.gap_candidates(pg, since=since)}
    assert {f"void a label {run}", f"Antarctica {run}"} <= gaps
    assert queries.question_totals(pg, since=since).questions >= 2
    stats = queries.sync_stats(pg)
    assert stats.runs[(f"src-{run}", "ok")] == 1 and stats.last_status[f"src-{run}"] == "ok"
    queries.ping(pg)
