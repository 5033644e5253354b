"""The sync ledger: checkpoints, run history, leases (one sync per source) and "resync now" requests.

Written by the sync runner and :class:`bot.sync.service.SyncService`; read by the admin page and
the metrics collector (:meth:`SyncLedger.stats`, :meth:`SyncLedger.recent_resync_requests`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.state.engine import Base, StateDatabase, aware
from connectors.base import Checkpoint


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


@dataclass(frozen=True)
class SyncStats:
    """Sync health of every source, for the metrics collector."""

    runs: dict[tuple[str, str], int]  # (source, status) -> runs
    last_success: dict[str, datetime]  # source -> finish time of its last successful run
    last_status: dict[str, str]  # source -> status of its latest run
    pending_resyncs: dict[str, int]  # source -> resync requests not yet taken


@dataclass(frozen=True)
class ResyncView:
    """A resync request as the admin page lists it."""

    id: int
    source: str
    full: bool
    requested_by: str
    requested_at: datetime
    taken_at: datetime | None


class SyncLedger:
    """Checkpoints, runs, leases and resync requests in the state database."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    # --- checkpoints and runs (the sync runner) ---------------------------------------------------
    def load_checkpoint(self, source: str) -> Checkpoint | None:
        with Session(self.db.engine) as s:
            row = s.get(CheckpointRow, source)
            return Checkpoint.model_validate(json.loads(row.data)) if row else None

    def save_checkpoint(self, source: str, checkpoint: Checkpoint) -> None:
        with Session(self.db.engine) as s, s.begin():
            row = s.get(CheckpointRow, source)
            data = checkpoint.model_dump_json()
            now = datetime.now(UTC)
            if row is None:
                s.add(CheckpointRow(source=source, data=data, saved_at=now))
            else:
                row.data, row.saved_at = data, now

    def start_run(self, source: str) -> int:
        with Session(self.db.engine) as s, s.begin():
            run = SyncRun(source=source, started_at=datetime.now(UTC), status="running", stats={})
            s.add(run)
            s.flush()
            return run.id

    def finish_run(self, run_id: int, *, status: str, stats: dict[str, Any], error: str | None = None) -> None:
        with Session(self.db.engine) as s, s.begin():
            run = s.get(SyncRun, run_id)
            if run is not None:
                run.status, run.stats, run.error = status, stats, error
                run.finished_at = datetime.now(UTC)

    def last_runs(self, source: str | None = None, limit: int = 20) -> list[SyncRun]:
        with Session(self.db.engine) as s:
            q = select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)
            if source:
                q = q.where(SyncRun.source == source)
            return list(s.scalars(q))

    def last_success(self, source: str) -> SyncRun | None:
        with Session(self.db.engine) as s:
            q = select(SyncRun).where(SyncRun.source == source, SyncRun.status == "ok").order_by(SyncRun.id.desc()).limit(1)
            return s.scalars(q).first()

    # --- leases: one sync per source at a time --------------------------------------------------
    def acquire_lease(self, source: str, holder: str, *, ttl_s: float = 3600.0) -> bool:
        """Take the source's lease unless someone else holds an unexpired one (atomic)."""
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=ttl_s)
        table = SyncLease.__table__
        stmt = self.db.insert(table, source=source, holder=holder, expires_at=expires).on_conflict_do_update(
            index_elements=[table.c.source],
            set_={"holder": holder, "expires_at": expires},
            where=(table.c.expires_at < now) | (table.c.holder == holder),
        )
        with self.db.engine.begin() as conn:
            conn.execute(stmt)
            row = conn.execute(select(table.c.holder).where(table.c.source == source)).first()
        return row is not None and row[0] == holder

    def release_lease(self, source: str, holder: str) -> None:
        with Session(self.db.engine) as s, s.begin():
            row = s.get(SyncLease, source)
            if row is not None and row.holder == holder:
                s.delete(row)

    # --- resync requests ------------------------------------------------------------------------
    def request_resync(self, source: str, *, full: bool = False, requested_by: str = "") -> int:
        with Session(self.db.engine) as s, s.begin():
            req = ResyncRequest(source=source, full=full, requested_by=requested_by[:200], requested_at=datetime.now(UTC))
            s.add(req)
            s.flush()
            return req.id

    def take_resync_requests(self) -> list[tuple[str, bool]]:
        """Mark pending requests as taken and return (source, full) once per source."""
        with Session(self.db.engine) as s, s.begin():
            pending = list(s.scalars(select(ResyncRequest).where(ResyncRequest.taken_at.is_(None)).order_by(ResyncRequest.id)))
            out: dict[str, bool] = {}
            for req in pending:
                req.taken_at = datetime.now(UTC)
                out[req.source] = out.get(req.source, False) or req.full
            return list(out.items())

    # --- read-only views (admin page, metrics) --------------------------------------------------
    def recent_resync_requests(self, limit: int = 20) -> list[ResyncView]:
        with Session(self.db.engine) as s:
            rows = s.scalars(select(ResyncRequest).order_by(ResyncRequest.id.desc()).limit(limit))
            return [ResyncView(id=r.id, source=r.source, full=r.full, requested_by=r.requested_by,
                               requested_at=aware(r.requested_at) or r.requested_at, taken_at=aware(r.taken_at))
                    for r in rows]

    def stats(self) -> SyncStats:
        """Runs per source and status, last success, latest status and pending requests (aggregates, one session)."""
        with Session(self.db.engine) as s:
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
