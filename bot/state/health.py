"""Knowledge-health reports: the finder's latest results, for the admin page and the weekly digest.

A report (:class:`bot.health.report.HealthReport` as JSON) is written by whoever ran the finder
(``helpdesk-bot health``, the admin page's "Check now", the scheduler's weekly job) and read back
by the admin page's health tab, so that a web replica shows the latest report without running
the finder itself. Old reports are deleted when a new one is saved (``keep``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.state.engine import Base, StateDatabase, aware

#: Reports kept (the newest ones).
REPORTS_KEPT = 20


class HealthReportRecord(Base):
    """One run of the knowledge-health finder."""

    __tablename__ = "health_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    trigger: Mapped[str] = mapped_column(String(50), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


@dataclass(frozen=True)
class StoredReport:
    id: int
    created_at: datetime
    trigger: str
    data: dict[str, Any]


class HealthReports:
    """Knowledge-health reports in the state database."""

    def __init__(self, db: StateDatabase) -> None:
        self.db = db

    def save_report(self, data: dict[str, Any], *, trigger: str, keep: int = REPORTS_KEPT) -> int:
        """Store a report (JSON-able ``data``) and drop all but the newest ``keep``; returns its id."""
        with Session(self.db.engine) as s, s.begin():
            row = HealthReportRecord(created_at=datetime.now(UTC), trigger=trigger[:50], data=data)
            s.add(row)
            s.flush()
            newest = select(HealthReportRecord.id).order_by(HealthReportRecord.id.desc()).limit(keep)
            s.execute(delete(HealthReportRecord).where(HealthReportRecord.id.not_in(newest.scalar_subquery())))
            return row.id

    def latest_report(self) -> StoredReport | None:
        with Session(self.db.engine) as s:
            row = s.scalars(select(HealthReportRecord).order_by(HealthReportRecord.id.desc()).limit(1)).first()
            if row is None:
                return None
            return StoredReport(id=row.id, created_at=aware(row.created_at) or row.created_at, trigger=row.trigger,
                                data=dict(row.data))
