"""The state store's repositories: atomic event claims, checkpoints and feedback, on SQLite shared by two "processes"."""

from __future__ import annotations

import threading
from pathlib import Path

from bot.state import StateStore
from connectors.base import Checkpoint


def test_event_is_claimed_once_across_instances(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    a, b = StateStore(url), StateStore(url)
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def claim(store: StateStore) -> None:
        barrier.wait()
        results.append(store.events.claim_event("slack:Ev123"))

    threads = [threading.Thread(target=claim, args=(s,)) for s in (a, b) * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]
    assert a.events.claim_event("slack:Ev124") is True


def test_checkpoint_roundtrip_and_feedback(tmp_path: Path) -> None:
    s = StateStore(f"sqlite:///{tmp_path / 'nested' / 'state.db'}")
    cp = Checkpoint(cursor="abc", extra={"pages": {"u": {"etag": "x"}}})
    s.ledger.save_checkpoint("z", cp)
    assert s.ledger.load_checkpoint("z") == cp
    s.feedback.record_feedback(answer_id="a1", user="U1", helpful=False)
    assert [(f.user, f.helpful) for f in s.feedback.feedback_for("a1")] == [("U1", False)]


def test_old_event_keys_are_forgotten(tmp_path: Path) -> None:
    s = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    assert s.events.claim_event("k1")
    assert s.events.forget_events(older_than_s=3600) == 0
    assert s.events.forget_events(older_than_s=-1) == 1
    assert s.events.claim_event("k1")  # claimable again once forgotten


def test_a_database_of_an_older_version_gains_the_new_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:  # the questions and drafts tables as the previous version wrote them
        db.execute("CREATE TABLE questions (id INTEGER PRIMARY KEY, created_at DATETIME, surface VARCHAR(20), "
                   "audience VARCHAR(20), question TEXT, answer TEXT, confidence FLOAT, abstained BOOLEAN, "
                   "composer VARCHAR(100), latency_ms FLOAT, answer_id VARCHAR(100), citations JSON)")
        db.execute("INSERT INTO questions VALUES (1, '2026-11-30 10:00:00', 'slack', 'customer', 'old question', "
                   "'I don''t know', 0.2, 1, 'none', 5.0, NULL, '[]')")
        db.execute("CREATE TABLE drafts (id INTEGER PRIMARY KEY, provider VARCHAR(20), ticket_id VARCHAR(100), "
                   "source_event VARCHAR(300), note_id VARCHAR(100), confidence FLOAT, abstained BOOLEAN, "
                   "created_at DATETIME)")
    s = StateStore(f"sqlite:///{path}")
    s.questions.record_question(surface="helpdesk", audience="customer", question="new question", answer="",
                                confidence=0.3, abstained=True, reason="below_gate",
                                closest={"doc_id": "d", "title": "Void", "score": 0.3},
                                link="https://acme.zendesk.com/agent/tickets/7")
    s.drafts.record_draft(provider="zendesk", ticket_id="7", source_event="e", note_id=None, confidence=0.3,
                          abstained=True, reason="below_gate")
    new, old = s.questions.recent_questions()
    assert (old.question, old.reason, old.closest, old.link, old.gap_reason) == ("old question", None, None, None,
                                                                                 "unrecorded")
    assert (new.reason, new.closest, new.link) == ("below_gate", {"doc_id": "d", "title": "Void", "score": 0.3},
                                                   "https://acme.zendesk.com/agent/tickets/7")
    assert s.drafts.recent_drafts()[0].reason == "below_gate"
    s.close()
    again = StateStore(f"sqlite:///{path}")  # a second start finds nothing to add
    assert len(again.questions.recent_questions()) == 2
    again.close()


def test_only_http_links_are_logged_and_health_reports_keep_the_newest(tmp_path: Path) -> None:
    s = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    s.questions.record_question(surface="slack", audience="agent", question="q", answer="", confidence=0.1,
                                abstained=True, link="javascript:alert(1)")
    assert s.questions.recent_questions()[0].link is None
    assert s.health.latest_report() is None
    for i in range(4):
        s.health.save_report({"run": i}, trigger="test", keep=2)
    latest = s.health.latest_report()
    assert latest is not None and latest.data == {"run": 3} and latest.trigger == "test"
    from sqlalchemy import func, select

    from bot.state.health import HealthReportRecord

    with s.db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(HealthReportRecord)).scalar() == 2
    s.close()
