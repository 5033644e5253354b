"""The questions log: what each surface was asked and answered, for the admin page (the admin's own data).

The question and answer text are stored here and nowhere else (never logged); rows older than
``HELPDESK_QUESTION_LOG_DAYS`` are deleted by a scheduler job (:meth:`QuestionLog.forget_questions`).
Read back as :class:`QuestionView` with the feedback votes on each answer attached.

Each row also records *why* the answer came out as it did (``reason``: an
:class:`~bot.models.AnswerReason` value), the source that came nearest (``closest``: on an
abstention the best source and its score, else the first cited one), and where it was asked
(``link``: the Slack thread or the helpdesk ticket), so the knowledge-gap view can say why the bot
stayed silent and link to the conversation. Rows written before those columns existed read None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, Text, delete, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.state.engine import Base, StateDatabase, aware
from bot.state.feedback import Feedback, FeedbackLog


class QuestionRecord(Base):
    """A question a surface answered (or abstained on).

    ``answer_id`` is the id feedback is recorded under (Slack's buttons), when the surface gave one.
    """

    __tablename__ = "questions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    surface: Mapped[str] = mapped_column(String(20))
    audience: Mapped[str] = mapped_column(String(20))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text, default="")
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    abstained: Mapped[bool] = mapped_column(default=False)
    composer: Mapped[str] = mapped_column(String(100), default="")
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    answer_id: Mapped[str | None] = mapped_column(String(100), index=True, nullable=True)
    citations: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(String(30), nullable=True)
    closest: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    link: Mapped[str | None] = mapped_column(String(1000), nullable=True)


#: The reason a gap question counts as one when its answer was given but voted "not helpful".
NOT_HELPFUL = "not_helpful"
#: The reason of a row written before reasons were recorded.
UNRECORDED = "unrecorded"


@dataclass
class QuestionView:
    """A logged question with the votes on its answer (each person's last vote)."""

    id: int
    created_at: datetime
    surface: str
    audience: str
    question: str
    answer: str
    confidence: float
    abstained: bool
    composer: str
    latency_ms: float
    answer_id: str | None
    citations: list[dict[str, Any]] = field(default_factory=list)
    helpful: int = 0
    not_helpful: int = 0
    reason: str | None = None
    closest: dict[str, Any] | None = None
    link: str | None = None

    @property
    def is_gap(self) -> bool:
        """Abstained, or more people's last vote was "not helpful" than "helpful"."""
        return self.abstained or (self.not_helpful > 0 and self.not_helpful >= self.helpful)

    @property
    def gap_reason(self) -> str:
        """Why this question is a gap: the recorded reason of an abstention; for an answer voted down,
        ``not_helpful`` (or ``composer_fallback`` when the LLM composer had failed on it)."""
        if self.abstained:
            return self.reason or UNRECORDED
        return "composer_fallback" if self.reason == "composer_fallback" else NOT_HELPFUL


@dataclass(frozen=True)
class QuestionTotals:
    questions: int
    abstained: int


class QuestionLog:
    """The questions log in the state database."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    def record_question(self, *, surface: str, audience: str, question: str, answer: str, confidence: float,
                        abstained: bool, composer: str = "", latency_ms: float = 0.0, answer_id: str | None = None,
                        citations: list[dict[str, Any]] | None = None, reason: str | None = None,
                        closest: dict[str, Any] | None = None, link: str | None = None,
                        max_chars: int = 8000) -> int:
        """Log one answered question (text truncated to ``max_chars``); returns its row id.

        Args:
            reason: why the answer came out so (an :class:`~bot.models.AnswerReason` value).
            closest: the nearest source (``doc_id``, ``title``, ``url``, ``section``, ``audience``, ``score``).
            link: where it was asked (a Slack thread's permalink, a ticket's URL); only http(s) links are kept.
        """
        if link and not link.lower().startswith(("https://", "http://")):
            link = None  # a link shown to admins is data from a surface: never a javascript: URL
        with Session(self.db.engine) as s, s.begin():
            row = QuestionRecord(created_at=datetime.now(UTC), surface=surface[:20], audience=audience[:20],
                                 question=question[:max_chars], answer=answer[:max_chars], confidence=float(confidence),
                                 abstained=abstained, composer=composer[:100], latency_ms=float(latency_ms),
                                 answer_id=answer_id[:100] if answer_id else None, citations=citations or [],
                                 reason=reason[:30] if reason else None, closest=closest or None,
                                 link=link[:1000] if link else None)
            s.add(row)
            s.flush()
            return row.id

    def forget_questions(self, *, older_than_s: float) -> int:
        """Retention: delete logged questions older than ``older_than_s``; returns how many."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        with self.db.engine.begin() as conn:
            return conn.execute(delete(QuestionRecord).where(QuestionRecord.created_at < cutoff)).rowcount

    def recent_questions(self, limit: int = 100) -> list[QuestionView]:
        """The latest questions, newest first, with their feedback."""
        with Session(self.db.engine) as s:
            views = [_view(r) for r in s.scalars(select(QuestionRecord).order_by(QuestionRecord.id.desc()).limit(limit))]
            _attach_feedback(s, views)
        return views

    def gap_candidates(self, *, since: datetime | None = None, limit: int = 500) -> list[QuestionView]:
        """Questions the bot abstained on or whose answer got "not helpful" votes, newest first."""
        with Session(self.db.engine) as s:
            downvoted = select(Feedback.answer_id).where(Feedback.helpful.is_(False))
            q = select(QuestionRecord).where(or_(QuestionRecord.abstained.is_(True),
                                                 QuestionRecord.answer_id.in_(downvoted)))
            if since is not None:
                q = q.where(QuestionRecord.created_at >= since)
            views = [_view(r) for r in s.scalars(q.order_by(QuestionRecord.id.desc()).limit(limit))]
            _attach_feedback(s, views)
        return [v for v in views if v.is_gap]

    def answered_questions(self, *, since: datetime | None = None, surface: str | None = None,
                           voted_only: bool = False, limit: int = 5000) -> list[QuestionView]:
        """Answered (not abstained) questions with their citations and votes, newest first.

        Args:
            surface: only this surface's (``helpdesk``: the drafts written for tickets).
            voted_only: only answers somebody voted on (what "not helpful" counts need).
        """
        with Session(self.db.engine) as s:
            q = select(QuestionRecord).where(QuestionRecord.abstained.is_(False))
            if since is not None:
                q = q.where(QuestionRecord.created_at >= since)
            if surface is not None:
                q = q.where(QuestionRecord.surface == surface)
            if voted_only:
                q = q.where(QuestionRecord.answer_id.in_(select(Feedback.answer_id)))
            views = [_view(r) for r in s.scalars(q.order_by(QuestionRecord.id.desc()).limit(limit))]
            _attach_feedback(s, views)
        return views

    def question_totals(self, *, since: datetime | None = None) -> QuestionTotals:
        q = select(func.count(), func.count().filter(QuestionRecord.abstained.is_(True)))
        if since is not None:
            q = q.where(QuestionRecord.created_at >= since)
        with Session(self.db.engine) as s:
            total, abstained = s.execute(q).one()
        return QuestionTotals(questions=int(total or 0), abstained=int(abstained or 0))


def _view(r: QuestionRecord) -> QuestionView:
    return QuestionView(id=r.id, created_at=aware(r.created_at) or r.created_at, surface=r.surface, audience=r.audience,
                        question=r.question, answer=r.answer, confidence=r.confidence, abstained=r.abstained,
                        composer=r.composer, latency_ms=r.latency_ms, answer_id=r.answer_id,
                        citations=list(r.citations or []), reason=r.reason, closest=r.closest or None, link=r.link)


def _attach_feedback(s: Session, views: list[QuestionView]) -> None:
    # Oldest first: each person's last vote on an answer is the one that counts (as in Slack's tally).
    last = FeedbackLog.last_votes(s, [v.answer_id for v in views if v.answer_id])
    for v in views:
        votes = [helpful for (aid, _), helpful in last.items() if aid == v.answer_id]
        v.helpful, v.not_helpful = sum(votes), len(votes) - sum(votes)
