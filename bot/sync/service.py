"""Running sources: one sync per source at a time, resync requests, status for humans.

One sync per source, across threads and processes: each run holds the source's lease in the state
database, renewed by a heartbeat (:mod:`bot.sync.leases`). A lease left by a dead sync is taken over
(and the takeover logged) once its heartbeat is older than the TTL, or at once when its process is
gone from this host. :meth:`SyncService.interrupt` (SIGTERM, Ctrl-C) stops running syncs at their
next document boundary.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from bot.errors import InputError
from bot.index.indexer import Indexer
from bot.state.engine import aware
from bot.state.sync_ledger import LeaseView, SyncLedger
from bot.sync.leases import Heartbeat, holder_gone, this_holder
from bot.sync.runner import SyncInterrupted, SyncReport, sync_source
from bot.sync.sources import SourceConfig
from connectors.base import Connector
from connectors.registry import build_connector

log = structlog.get_logger(__name__)

#: A lease not renewed for this long is presumed dead and may be taken over (``HELPDESK_SYNC_LEASE_TTL_S``).
LEASE_TTL_S = 90.0


@dataclass(frozen=True)
class SourceStatus:
    name: str
    type: str
    schedule: str
    last_run: datetime | None
    last_status: str | None
    docs: int
    lag_s: float | None
    last_error: str | None

    @property
    def lag(self) -> str:
        """``lag_s`` for people: ``3d``, ``5h``, ``12m``, ``40s``, or ``-`` (never synced)."""
        if self.lag_s is None:
            return "-"
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if self.lag_s >= size:
                return f"{self.lag_s / size:.0f}{unit}"
        return f"{self.lag_s:.0f}s"


class SyncService:
    """Runs configured sources through the sync runner.

    Args:
        sources: validated source configurations.
        ledger: checkpoints, runs, leases and resync requests.
        indexer: gives the indexer on the first sync or status (building it opens the store and loads
            the model, which asking for a resync never needs).
        lease_ttl_s: how long a lease outlives its last heartbeat.
        connector_kwargs: passed to every connector (tests inject ``client``/``environ``/``sleep``).
    """

    def __init__(self, sources: list[SourceConfig], *, ledger: SyncLedger, indexer: Callable[[], Indexer],
                 lease_ttl_s: float = LEASE_TTL_S, **connector_kwargs: Any) -> None:
        self.ledger = ledger
        self._indexer = indexer
        self.sources = {s.name: s for s in sources}
        self.lease_ttl_s = lease_ttl_s
        self.connector_kwargs = connector_kwargs
        self._local = threading.Lock()  # the indexer is shared: one sync at a time in this process
        self._interrupted = threading.Event()

    def source(self, name: str) -> SourceConfig:
        try:
            return self.sources[name]
        except KeyError:
            names = ", ".join(self.sources) or "none"
            raise InputError(f"no source named {name!r} (configured: {names})") from None

    def connector(self, name: str) -> Connector:
        kwargs = dict(self.connector_kwargs)
        # Retry and rate-limit waits end early when the sync is interrupted (SIGTERM must not wait out a Retry-After).
        kwargs.setdefault("sleep", self._interrupted.wait)
        return build_connector(self.source(name).settings, **kwargs)

    def interrupt(self) -> None:
        """Stop every running sync of this service at its next document boundary (and start no new one)."""
        self._interrupted.set()

    def holder_of(self, name: str) -> LeaseView | None:
        """Who holds the lease on source ``name`` now (for "already running" messages), or None."""
        return self.ledger.current_lease(name)

    def run(self, name: str, *, full: bool = False, prune: bool = True, on_progress: Any = None) -> SyncReport | None:
        """Sync one source now; returns None (and logs) if a sync of it is already running.

        Raises:
            SyncInterrupted: :meth:`interrupt` was called, or the lease was lost, while it ran.
        """
        ledger = self.ledger
        holder = this_holder()  # unique per run: threads of one process exclude each other too
        grant = ledger.acquire_lease(name, holder, ttl_s=self.lease_ttl_s, holder_gone=holder_gone)
        if not grant:
            held = grant.held_by
            log.info("sync_skipped_overlap", source=name, holder_host=held.holder.host if held else None,
                     holder_pid=held.holder.pid if held else None,
                     since=held.started_at.isoformat() if held else None)
            return None
        if grant.taken_over is not None:
            old = grant.taken_over
            abandoned = ledger.abandon_runs(name, error=f"abandoned: its sync stopped ({grant.reason}); "
                                                        f"lease taken over by {holder.host} pid {holder.pid}")
            log.warning("sync_lease_taken_over", source=name, reason=grant.reason, previous_host=old.holder.host,
                        previous_pid=old.holder.pid, previous_since=old.started_at.isoformat(),
                        previous_heartbeat=old.heartbeat_at.isoformat(), runs_abandoned=abandoned)
        lost = threading.Event()

        def on_lost() -> None:
            log.error("sync_lease_lost", source=name, hint="another process took the lease over: stopping this sync")
            lost.set()

        renew = lambda: ledger.renew_lease(name, holder.token, ttl_s=self.lease_ttl_s)  # noqa: E731
        try:
            with self._local, Heartbeat(renew, ttl_s=self.lease_ttl_s, on_lost=on_lost):
                return sync_source(self.connector(name), indexer=self._indexer(), state=ledger,
                                   full=full, prune=prune, on_progress=on_progress,
                                   should_stop=lambda: self._interrupted.is_set() or lost.is_set())
        finally:
            ledger.release_lease(name, holder)

    def run_scheduled(self, name: str) -> None:
        """The scheduler's entry point: never raises (the failure is in the run history)."""
        src = self.source(name)
        try:
            self.run(name, prune=src.schedule.prune_every_sync(src.type))
        except SyncInterrupted:
            log.info("scheduled_sync_interrupted", source=name)
        except Exception as exc:  # recorded by the runner; the scheduler must keep going
            log.warning("scheduled_sync_failed", source=name, error=f"{type(exc).__name__}: {exc}"[:300])

    def prune_all(self) -> None:
        for name in self.sources:
            try:
                self.run(name, prune=True)
            except Exception as exc:
                log.warning("prune_failed", source=name, error=f"{type(exc).__name__}: {exc}"[:300])

    def request_resync(self, name: str, *, full: bool = False, requested_by: str = "") -> int:
        self.source(name)
        return self.ledger.request_resync(name, full=full, requested_by=requested_by)

    def process_resync_requests(self) -> list[str]:
        done = []
        for name, full in self.ledger.take_resync_requests():
            if name not in self.sources:
                log.warning("resync_unknown_source", source=name)
                continue
            try:
                if self.run(name, full=full) is not None:
                    done.append(name)
            except Exception as exc:
                log.warning("resync_failed", source=name, error=f"{type(exc).__name__}: {exc}"[:300])
        return done

    def status(self) -> list[SourceStatus]:
        ledger, out = self.ledger, []
        doc_counts = self._doc_counts()
        now = datetime.now(UTC)
        for name, src in self.sources.items():
            runs = ledger.last_runs(name, limit=1)
            last = runs[0] if runs else None
            ok = ledger.last_success(name)
            finished = aware(ok.finished_at) if ok and ok.finished_at else None
            out.append(SourceStatus(
                name=name, type=src.type, schedule=src.schedule.describe(),
                last_run=aware(last.started_at) if last else None, last_status=last.status if last else None,
                docs=doc_counts.get(name, 0), lag_s=(now - finished).total_seconds() if finished else None,
                last_error=last.error if last and last.status == "failed" else None,
            ))
        return out

    def _doc_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        indexer = self._indexer()
        store = indexer.store
        for name in indexer.collections.values():
            for row in store.scroll_payloads(name, filter={"chunk_no": 0}, fields=("source",)):
                counts[row.get("source", "")] = counts.get(row.get("source", ""), 0) + 1
        return counts

