"""Answer feedback: "helpful / not helpful" votes, a person's last vote on an answer counting."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.state.engine import Base, StateDatabase


class Feedback(Base):
    """A "helpful / not helpful" vote on an answer."""

    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    answer_id: Mapped[str] = mapped_column(String(100), index=True)
    user: Mapped[str] = mapped_column(String(100))
    helpful: Mapped[bool] = mapped_column()
    surface: Mapped[str] = mapped_column(String(50), default="slack")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FeedbackLog:
    """Votes on answers in the state database."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    def record_feedback(self, *, answer_id: str, user: str, helpful: bool, surface: str = "slack") -> None:
        with Session(self.db.engine) as s, s.begin():
            s.add(Feedback(answer_id=answer_id[:100], user=user[:100], helpful=helpful, surface=surface,
                           created_at=datetime.now(UTC)))

    def feedback_for(self, answer_id: str) -> list[Feedback]:
        """Votes on ``answer_id``, oldest first (so a person's last vote is the last one seen)."""
        with Session(self.db.engine) as s:
            return list(s.scalars(select(Feedback).where(Feedback.answer_id == answer_id).order_by(Feedback.id)))

    @staticmethod
    def last_votes(s: Session, answer_ids: list[str]) -> dict[tuple[str, str], bool]:
        """(answer id, user) -> that person's last vote, for answers in ``answer_ids`` (within session ``s``)."""
        last: dict[tuple[str, str], bool] = {}
        if answer_ids:
            for row in s.scalars(select(Feedback).where(Feedback.answer_id.in_(answer_ids)).order_by(Feedback.id)):
                last[(row.answer_id, row.user)] = row.helpful
        return last
