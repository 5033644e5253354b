"""Read-only queries of the state store for the admin page and the metrics collector.

They read the tables of :mod:`bot.state` directly (aggregates the store's own methods do not offer),
and work on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from bot.state import DraftRecord, Feedback, QuestionRecord, ResyncRequest, StateStore, SyncRun


def aware(dt: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without their zone; they were written in UTC."""
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def ping(state: StateStore) -> None:
    """Raise unless the state database answers a trivial query."""
    with state.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


# --- sync runs (metrics) --------------------------------------------------------------------------
@dataclass(frozen=True)
class SyncStats:
    runs: dict[tuple[str, str], int]  # (source, status) -> runs
    last_success: dict[str, datetime]  # source -> finish time of its last successful run
    last_status: dict[str, str]  # source -> status of its latest run
    pending_resyncs: dict[str, int]  # source -> resync requests not yet taken


def sync_stats(state: StateStore) -> SyncStats:
    with Session(state.engine) as s:
        runs = {(src, status): int(n) for src, status, n in
                s.execute(select(SyncRun.source, SyncRun.status, func.count()).group_by(SyncRun.source, SyncRun.status))}
        last_success = {src: aware(at) for src, at in s.execute(
            select(SyncRun.source, func.max(SyncRun.finished_at)).where(SyncRun.status == "ok").group_by(SyncRun.source))
            if at is not None}
        latest = select(func.max(SyncRun.id).label("id")).group_by(SyncRun.source).subquery()
        last_status = {src: status for src, status in
                       s.execute(select(SyncRun.source, SyncRun.status).join(latest, SyncRun.id == latest.c.id))}
        pending = {src: int(n) for src, n in s.execute(
            select(ResyncRequest.source, func.count()).where(ResyncRequest.taken_at.is_(None)).group_by(ResyncRequest.source))}
    return SyncStats(runs=runs, last_success={k: v for k, v in last_success.items() if v is not None},
                     last_status=last_status, pending_resyncs=pending)


# --- resync requests (admin page) -------------------------------------------------------------------
@dataclass(frozen=True)
class ResyncView:
    id: int
    source: str
    full: bool
    requested_by: str
    requested_at: datetime
    taken_at: datetime | None


def recent_resync_requests(state: StateStore, limit: int = 20) -> list[ResyncView]:
    with Session(state.engine) as s:
        rows = s.scalars(select(ResyncRequest).order_by(ResyncRequest.id.desc()).limit(limit))
        return [ResyncView(id=r.id, source=r.source, full=r.full, requested_by=r.requested_by,
                           requested_at=aware(r.requested_at) or r.requested_at, taken_at=aware(r.taken_at))
                for r in rows]


# --- questions and their feedback -------------------------------------------------------------------
@dataclass
class QuestionView:
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

    @property
    def is_gap(self) -> bool:
        """Abstained, or more people's last vote was "not helpful" than "helpful"."""
        return self.abstained or (self.not_helpful > 0 and self.not_helpful >= self.helpful)


def _view(r: QuestionRecord) -> QuestionView:
    return QuestionView(id=r.id, created_at=aware(r.created_at) or r.created_at, surface=r.surface, audience=r.audience,
                        question=r.question, answer=r.answer, confidence=r.confidence, abstained=r.abstained,
                        composer=r.composer, latency_ms=r.latency_ms, answer_id=r.answer_id,
                        citations=list(r.citations or []))


def _attach_feedback(s: Session, views: list[QuestionView]) -> None:
    ids = [v.answer_id for v in views if v.answer_id]
    if not ids:
        return
    last: dict[tuple[str, str], bool] = {}
    # Oldest first: each person's last vote on an answer is the one that counts (as in Slack's tally).
    for row in s.scalars(select(Feedback).where(Feedback.answer_id.in_(ids)).order_by(Feedback.id)):
        last[(row.answer_id, row.user)] = row.helpful
    for v in views:
        votes = [helpful for (aid, _), helpful in last.items() if aid == v.answer_id]
        v.helpful, v.not_helpful = sum(votes), len(votes) - sum(votes)


def recent_questions(state: StateStore, limit: int = 100) -> list[QuestionView]:
    with Session(state.engine) as s:
        views = [_view(r) for r in s.scalars(select(QuestionRecord).order_by(QuestionRecord.id.desc()).limit(limit))]
        _attach_feedback(s, views)
    return views


def gap_candidates(state: StateStore, *, since: datetime | None = None, limit: int = 500) -> list[QuestionView]:
    """Questions the bot abstained on or whose answer got "not helpful" votes, newest first."""
    with Session(state.engine) as s:
        downvoted = select(Feedback.answer_id).where(Feedback.helpful.is_(False))
        q = select(QuestionRecord).where(or_(QuestionRecord.abstained.is_(True), QuestionRecord.answer_id.in_(downvoted)))
        if since is not None:
            q = q.where(QuestionRecord.created_at >= since)
        views = [_view(r) for r in s.scalars(q.order_by(QuestionRecord.id.desc()).limit(limit))]
        _attach_feedback(s, views)
    return [v for v in views if v.is_gap]


@dataclass(frozen=True)
class QuestionTotals:
    questions: int
    abstained: int


def question_totals(state: StateStore, *, since: datetime | None = None) -> QuestionTotals:
    q = select(func.count(), func.count().filter(QuestionRecord.abstained.is_(True)))
    if since is not None:
        q = q.where(QuestionRecord.created_at >= since)
    with Session(state.engine) as s:
        total, abstained = s.execute(q).one()
    return QuestionTotals(questions=int(total or 0), abstained=int(abstained or 0))


# --- drafts -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DraftView:
    id: int
    created_at: datetime
    provider: str
    ticket_id: str
    note_id: str | None
    confidence: float
    abstained: bool


def recent_drafts(state: StateStore, limit: int = 100) -> list[DraftView]:
    with Session(state.engine) as s:
        rows = s.scalars(select(DraftRecord).order_by(DraftRecord.id.desc()).limit(limit))
        return [DraftView(id=r.id, created_at=aware(r.created_at) or r.created_at, provider=r.provider,
                          ticket_id=r.ticket_id, note_id=r.note_id, confidence=r.confidence, abstained=r.abstained)
                for r in rows]
