"""The state store (SQLAlchemy): SQLite by default, PostgreSQL by URL.

Everything a running helpdesk-bot must remember besides the index: sync checkpoints, run history,
sync leases and resync requests, processed-event keys (so a redelivered Slack event or webhook is
handled once, also across processes sharing the database), answer feedback, the drafts posted
into helpdesk tickets, and the questions log the admin page shows (kept ``HELPDESK_QUESTION_LOG_DAYS``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, Text, create_engine, delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bot.errors import StoreError
from connectors.base import Checkpoint


class Base(DeclarativeBase):
    pass


class CheckpointRow(Base):
    __tablename__ = "checkpoints"
    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    data: Mapped[str] = mapped_column(Text)
    saved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SyncRun(Base):
    __tablename__ = "sync_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(200), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="running")
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class SyncLease(Base):
    """Who is syncing a source right now: one sync per source across threads and processes."""

    __tablename__ = "sync_leases"
    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ResyncRequest(Base):
    """A "resync now" asked for from Slack, the CLI or the admin page, picked up by the scheduler."""

    __tablename__ = "resync_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(200), index=True)
    full: Mapped[bool] = mapped_column(default=False)
    requested_by: Mapped[str] = mapped_column(String(200), default="")
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ProcessedEvent(Base):
    """An inbound event already claimed by some process (Slack event_id, webhook delivery id)."""

    __tablename__ = "processed_events"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Feedback(Base):
    """A "helpful / not helpful" vote on an answer."""

    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    answer_id: Mapped[str] = mapped_column(String(100), index=True)
    user: Mapped[str] = mapped_column(String(100))
    helpful: Mapped[bool] = mapped_column()
    surface: Mapped[str] = mapped_column(String(50), default="slack")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


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


class QuestionRecord(Base):
    """A question a surface answered (or abstained on), for the admin page: the admin's own data.

    The question and answer text are stored here and nowhere else (never logged); rows older than
    ``HELPDESK_QUESTION_LOG_DAYS`` are deleted by the scheduler (:meth:`StateStore.forget_questions`).
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


class StateStore:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and ":memory:" not in url:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = create_engine(url, future=True)
            Base.metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the state database ({type(exc).__name__}): check HELPDESK_STATE_DB_URL") from exc

    def load_checkpoint(self, source: str) -> Checkpoint | None:
        with Session(self.engine) as s:
            row = s.get(CheckpointRow, source)
            return Checkpoint.model_validate(json.loads(row.data)) if row else None

    def save_checkpoint(self, source: str, checkpoint: Checkpoint) -> None:
        with Session(self.engine) as s, s.begin():
            row = s.get(CheckpointRow, source)
            data = checkpoint.model_dump_json()
            now = datetime.now(UTC)
            if row is None:
                s.add(CheckpointRow(source=source, data=data, saved_at=now))
            else:
                row.data, row.saved_at = data, now

    def clear_checkpoint(self, source: str) -> None:
        with Session(self.engine) as s, s.begin():
            row = s.get(CheckpointRow, source)
            if row is not None:
                s.delete(row)

    def start_run(self, source: str) -> int:
        with Session(self.engine) as s, s.begin():
            run = SyncRun(source=source, started_at=datetime.now(UTC), status="running", stats={})
            s.add(run)
            s.flush()
            return run.id

    def finish_run(self, run_id: int, *, status: str, stats: dict[str, Any], error: str | None = None) -> None:
        with Session(self.engine) as s, s.begin():
            run = s.get(SyncRun, run_id)
            if run is not None:
                run.status, run.stats, run.error = status, stats, error
                run.finished_at = datetime.now(UTC)

    def last_runs(self, source: str | None = None, limit: int = 20) -> list[SyncRun]:
        with Session(self.engine) as s:
            q = select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)
            if source:
                q = q.where(SyncRun.source == source)
            return list(s.scalars(q))

    # --- leases: one sync per source at a time --------------------------------------------------
    def acquire_lease(self, source: str, holder: str, *, ttl_s: float = 3600.0) -> bool:
        """Take the source's lease unless someone else holds an unexpired one (atomic)."""
        now = datetime.now(UTC)
        values = {"source": source, "holder": holder, "expires_at": now + timedelta(seconds=ttl_s)}
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        table = SyncLease.__table__
        stmt = insert(table).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.source],
            set_={"holder": holder, "expires_at": values["expires_at"]},
            where=(table.c.expires_at < now) | (table.c.holder == holder),
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)
            row = conn.execute(select(table.c.holder).where(table.c.source == source)).first()
        return row is not None and row[0] == holder

    def release_lease(self, source: str, holder: str) -> None:
        with Session(self.engine) as s, s.begin():
            row = s.get(SyncLease, source)
            if row is not None and row.holder == holder:
                s.delete(row)

    # --- resync requests ------------------------------------------------------------------------
    def request_resync(self, source: str, *, full: bool = False, requested_by: str = "") -> int:
        with Session(self.engine) as s, s.begin():
            req = ResyncRequest(source=source, full=full, requested_by=requested_by[:200], requested_at=datetime.now(UTC))
            s.add(req)
            s.flush()
            return req.id

    def take_resync_requests(self) -> list[tuple[str, bool]]:
        """Mark pending requests as taken and return (source, full) once per source."""
        with Session(self.engine) as s, s.begin():
            pending = list(s.scalars(select(ResyncRequest).where(ResyncRequest.taken_at.is_(None)).order_by(ResyncRequest.id)))
            out: dict[str, bool] = {}
            for req in pending:
                req.taken_at = datetime.now(UTC)
                out[req.source] = out.get(req.source, False) or req.full
            return list(out.items())

    # --- event de-duplication -----------------------------------------------------------------
    def claim_event(self, key: str) -> bool:
        """True exactly once per key, whichever process or thread asks first (atomic insert)."""
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        table = ProcessedEvent.__table__
        stmt = insert(table).values(key=key[:300], seen_at=datetime.now(UTC)).on_conflict_do_nothing(
            index_elements=[table.c.key]).returning(table.c.key)
        # RETURNING, not rowcount: psycopg 3 reports rowcount -1 for INSERT ... ON CONFLICT DO NOTHING.
        with self.engine.begin() as conn:
            return conn.execute(stmt).first() is not None

    def forget_events(self, *, older_than_s: float) -> int:
        """Drop de-duplication keys older than any redelivery window (Slack retries for ~1 hour)."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        with self.engine.begin() as conn:
            table = ProcessedEvent.__table__
            return conn.execute(table.delete().where(table.c.seen_at < cutoff)).rowcount

    # --- feedback -------------------------------------------------------------------------------
    def record_feedback(self, *, answer_id: str, user: str, helpful: bool, surface: str = "slack") -> None:
        with Session(self.engine) as s, s.begin():
            s.add(Feedback(answer_id=answer_id[:100], user=user[:100], helpful=helpful, surface=surface,
                           created_at=datetime.now(UTC)))

    def feedback_for(self, answer_id: str) -> list[Feedback]:
        with Session(self.engine) as s:
            return list(s.scalars(select(Feedback).where(Feedback.answer_id == answer_id).order_by(Feedback.id)))

    # --- helpdesk drafts -------------------------------------------------------------------------
    def record_draft(self, *, provider: str, ticket_id: str, source_event: str, note_id: str | None,
                     confidence: float, abstained: bool) -> int:
        """Remember a draft written for a ticket (``note_id`` None: nothing was posted)."""
        with Session(self.engine) as s, s.begin():
            row = DraftRecord(provider=provider[:20], ticket_id=ticket_id[:100], source_event=source_event[:300],
                              note_id=note_id[:100] if note_id else None, confidence=float(confidence),
                              abstained=abstained, created_at=datetime.now(UTC))
            s.add(row)
            s.flush()
            return row.id

    def drafts_for(self, provider: str, ticket_id: str) -> list[DraftRecord]:
        with Session(self.engine) as s:
            q = select(DraftRecord).where(DraftRecord.provider == provider, DraftRecord.ticket_id == ticket_id)
            return list(s.scalars(q.order_by(DraftRecord.id)))

    def recent_drafts(self, limit: int = 50) -> list[DraftRecord]:
        with Session(self.engine) as s:
            return list(s.scalars(select(DraftRecord).order_by(DraftRecord.id.desc()).limit(limit)))

    def last_success(self, source: str) -> SyncRun | None:
        with Session(self.engine) as s:
            q = select(SyncRun).where(SyncRun.source == source, SyncRun.status == "ok").order_by(SyncRun.id.desc()).limit(1)
            return s.scalars(q).first()

    # --- questions log (admin page) ---------------------------------------------------------------
    def record_question(self, *, surface: str, audience: str, question: str, answer: str, confidence: float,
                        abstained: bool, composer: str = "", latency_ms: float = 0.0, answer_id: str | None = None,
                        citations: list[dict[str, Any]] | None = None, max_chars: int = 8000) -> int:
        """Log one answered question (text truncated to ``max_chars``); returns its row id."""
        with Session(self.engine) as s, s.begin():
            row = QuestionRecord(created_at=datetime.now(UTC), surface=surface[:20], audience=audience[:20],
                                 question=question[:max_chars], answer=answer[:max_chars], confidence=float(confidence),
                                 abstained=abstained, composer=composer[:100], latency_ms=float(latency_ms),
                                 answer_id=answer_id[:100] if answer_id else None, citations=citations or [])
            s.add(row)
            s.flush()
            return row.id

    def recent_questions(self, limit: int = 50) -> list[QuestionRecord]:
        with Session(self.engine) as s:
            return list(s.scalars(select(QuestionRecord).order_by(QuestionRecord.id.desc()).limit(limit)))

    def forget_questions(self, *, older_than_s: float) -> int:
        """Retention: delete logged questions older than ``older_than_s``; returns how many."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        with self.engine.begin() as conn:
            return conn.execute(delete(QuestionRecord).where(QuestionRecord.created_at < cutoff)).rowcount

    def close(self) -> None:
        self.engine.dispose()
