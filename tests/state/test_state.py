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
