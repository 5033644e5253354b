"""The state store (SQLAlchemy): SQLite by default, PostgreSQL by URL.

Holds sync checkpoints and run history now; event de-duplication, drafts and feedback live here
too as those features arrive.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, create_engine, select
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


class StateStore:
    def __init__(self, url: str) -> None:
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

    def close(self) -> None:
        self.engine.dispose()
