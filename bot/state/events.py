"""Event claims: an inbound event (Slack ``event_id``, a message, a webhook delivery) is handled once.

A claim is an atomic insert of the event's key, so exactly one thread or process sharing the state
database wins it; keys are forgotten once far older than any sender's redelivery window.
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


class EventClaims:
    """Claims of inbound events in the state database."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    def claim_event(self, key: str) -> bool:
        """True exactly once per key, whichever process or thread asks first (atomic insert)."""
        table = ProcessedEvent.__table__
        stmt = self.db.insert(table, key=key[:300], seen_at=datetime.now(UTC)).on_conflict_do_nothing(
            index_elements=[table.c.key]).returning(table.c.key)
        # RETURNING, not rowcount: psycopg 3 reports rowcount -1 for INSERT ... ON CONFLICT DO NOTHING.
        with self.db.engine.begin() as conn:
            return conn.execute(stmt).first() is not None

    def forget_events(self, *, older_than_s: float) -> int:
        """Drop de-duplication keys older than any redelivery window (Slack retries for ~1 hour)."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        table = ProcessedEvent.__table__
        with self.db.engine.begin() as conn:
            return conn.execute(table.delete().where(table.c.seen_at < cutoff)).rowcount
