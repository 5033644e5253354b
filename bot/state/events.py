"""Event claims: an inbound event (Slack ``event_id``, a message, a webhook delivery) is handled once.

A claim is an atomic insert of the event's key, so exactly one thread or process sharing the state
database wins it; keys are forgotten once far older than any sender's redelivery window.

At least once, without doubles: a claim made with a lease (``lease_s``) stays open until
:meth:`EventClaims.complete_event` records that the work is done. A redelivery (Slack's retry)
that finds the claim still open and older than its lease takes it over (the process that claimed it
died before finishing) and does the work; an open claim within its lease, or a completed one, is
never taken: the event is handled once. The takeover is a conditional update, so of two
redeliveries racing for one stale claim exactly one wins.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.state.engine import Base, StateDatabase


class ProcessedEvent(Base):
    """An inbound event already claimed by some process (Slack event_id, webhook delivery id)."""

    __tablename__ = "processed_events"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EventLease(Base):
    """An open claim: claimed with a lease and not completed yet (its row goes when the work is done)."""

    __tablename__ = "event_leases"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EventClaims:
    """Claims of inbound events in the state database."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    def claim_event(self, key: str, *, lease_s: float | None = None) -> bool:
        """True exactly once per key, whichever process or thread asks first (atomic insert).

        With ``lease_s`` the claim stays open until :meth:`complete_event`; a later claim of the same
        key wins once more if the open claim is older than its lease (its claimant died), and only then.
        """
        key = key[:300]
        now = datetime.now(UTC)
        table, leases = ProcessedEvent.__table__, EventLease.__table__
        stmt = self.db.insert(table, key=key, seen_at=now).on_conflict_do_nothing(
            index_elements=[table.c.key]).returning(table.c.key)
        # RETURNING, not rowcount: psycopg 3 reports rowcount -1 for INSERT ... ON CONFLICT DO NOTHING.
        with self.db.engine.begin() as conn:
            if conn.execute(stmt).first() is not None:
                if lease_s is not None:
                    conn.execute(leases.insert().values(key=key, expires_at=now + timedelta(seconds=lease_s)))
                return True
            if lease_s is None:
                return False
            taken = conn.execute(leases.update().where(leases.c.key == key, leases.c.expires_at < now)
                                 .values(expires_at=now + timedelta(seconds=lease_s)))
            return taken.rowcount == 1

    def complete_event(self, *keys: str) -> None:
        """Record that the claimed work is done (one transaction for all ``keys``): no longer taken over."""
        leases = EventLease.__table__
        with self.db.engine.begin() as conn:
            conn.execute(leases.delete().where(leases.c.key.in_([k[:300] for k in keys])))

    def forget_events(self, *, older_than_s: float) -> int:
        """Drop de-duplication keys older than any redelivery window (Slack retries for ~1 hour)."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        table, leases = ProcessedEvent.__table__, EventLease.__table__
        with self.db.engine.begin() as conn:
            conn.execute(leases.delete().where(leases.c.expires_at < cutoff))
            return conn.execute(table.delete().where(table.c.seen_at < cutoff)).rowcount
