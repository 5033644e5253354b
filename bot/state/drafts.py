"""Helpdesk drafts: what was written for which ticket (posted as an internal note, or abstained)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, Float, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.state.engine import Base, StateDatabase, aware


class DraftRecord(Base):
    """A draft reply written for a helpdesk ticket (posted as an internal note, or abstained)."""

    __tablename__ = "drafts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(20), index=True)
    ticket_id: Mapped[str] = mapped_column(String(100), index=True)
    source_event: Mapped[str] = mapped_column(String(300))
    note_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    abstained: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Why the answer came out so (an :class:`~bot.models.AnswerReason` value); None in rows of older versions.
    reason: Mapped[str | None] = mapped_column(String(30), nullable=True)


@dataclass(frozen=True)
class DraftView:
    """A draft as the admin page lists it."""

    id: int
    created_at: datetime
    provider: str
    ticket_id: str
    note_id: str | None
    confidence: float
    abstained: bool
    reason: str | None = None


class DraftLog:
    """Draft records in the state database."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    def record_draft(self, *, provider: str, ticket_id: str, source_event: str, note_id: str | None,
                     confidence: float, abstained: bool, reason: str | None = None) -> int:
        """Remember a draft written for a ticket (``note_id`` None: nothing was posted; ``reason``: why it
        came out so, an :class:`~bot.models.AnswerReason` value)."""
        with Session(self.db.engine) as s, s.begin():
            row = DraftRecord(provider=provider[:20], ticket_id=ticket_id[:100], source_event=source_event[:300],
                              note_id=note_id[:100] if note_id else None, confidence=float(confidence),
                              abstained=abstained, created_at=datetime.now(UTC), reason=reason[:30] if reason else None)
            s.add(row)
            s.flush()
            return row.id

    def drafts_for(self, provider: str, ticket_id: str) -> list[DraftRecord]:
        with Session(self.db.engine) as s:
            q = select(DraftRecord).where(DraftRecord.provider == provider, DraftRecord.ticket_id == ticket_id)
            return list(s.scalars(q.order_by(DraftRecord.id)))

    def recent_drafts(self, limit: int = 50) -> list[DraftView]:
        """The latest drafts, newest first."""
        with Session(self.db.engine) as s:
            rows = s.scalars(select(DraftRecord).order_by(DraftRecord.id.desc()).limit(limit))
            return [DraftView(id=r.id, created_at=aware(r.created_at) or r.created_at, provider=r.provider,
                              ticket_id=r.ticket_id, note_id=r.note_id, confidence=r.confidence, abstained=r.abstained,
                              reason=r.reason)
                    for r in rows]
