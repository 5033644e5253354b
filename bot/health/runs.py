"""Running the health finder from a long-lived process: one run at a time, each report stored.

The admin page's "Check now" starts a run in the background (a big help center takes minutes) and
the scheduler's weekly digest job runs one in its own thread; both store the report in the state
database (:class:`bot.state.health.HealthReports`), where every replica's admin page reads the latest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import structlog

from bot.health.finder import HealthFinder
from bot.health.report import HealthReport
from bot.state.health import HealthReports

log = structlog.get_logger(__name__)


class HealthRuns:
    """Runs :class:`~bot.health.finder.HealthFinder` at most once at a time in this process.

    Args:
        finder: gives the finder (built on the first run: it opens the store and loads the model).
        reports: gives where each report is stored (called on first use).
    """

    def __init__(self, finder: Callable[[], HealthFinder], reports: Callable[[], HealthReports]) -> None:
        self._finder = finder
        self._reports = reports
        self._lock = threading.Lock()
        self._starting = threading.Lock()
        self._thread: threading.Thread | None = None
        self.last_error = ""

    @property
    def running(self) -> bool:
        return self._lock.locked()

    def run(self, *, trigger: str) -> HealthReport:
        """Run now (waiting for a run in progress to finish first) and store the report."""
        with self._lock:
            try:
                report = self._finder().report()
                self._reports().save_report(report.model_dump(mode="json"), trigger=trigger)
                self.last_error = ""
                return report
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
                log.error("health_run_failed", trigger=trigger, error=type(exc).__name__)
                raise

    def start(self, *, trigger: str) -> bool:
        """Run in a background thread; False (nothing started) when a run is in progress."""

        def target() -> None:
            try:
                self.run(trigger=trigger)
            except Exception:  # noqa: BLE001 - logged and kept in last_error for the page
                pass

        with self._starting:
            if self.running or (self._thread is not None and self._thread.is_alive()):
                return False
            self._thread = threading.Thread(target=target, name="helpdesk-health", daemon=True)
            self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background run to finish (tests, shutdown); False if it is still running."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def latest(self) -> tuple[datetime, str, HealthReport] | None:
        """(stored at, trigger, report) of the newest stored report, if any."""
        stored = self._reports().latest_report()
        if stored is None:
            return None
        return stored.created_at, stored.trigger, HealthReport.model_validate(stored.data)
