"""Running sources: one sync per source at a time, resync requests, status for humans."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from bot.errors import InputError
from bot.index.indexer import Indexer
from bot.state.engine import aware
from bot.state.sync_ledger import SyncLedger
from bot.sync.runner import SyncReport, sync_source
from bot.sync.sources import SourceConfig
from connectors.base import Connector
from connectors.registry import build_connector

log = structlog.get_logger(__name__)

#: A sync holding its lease longer than this is presumed dead and may be taken over.
LEASE_TTL_S = 6 * 3600.0


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
        lease_ttl_s: how long a sync's lease on its source lasts; a process that died holding one
            blocks that source until it expires, then any process takes it over.
        connector_kwargs: passed to every connector (tests inject ``client``/``environ``/``sleep``).
    """

    def __init__(self, sources: list[SourceConfig], *, ledger: SyncLedger, indexer: Callable[[], Indexer],
                 lease_ttl_s: float = LEASE_TTL_S, **connector_kwargs: Any) -> None:
        self.ledger = ledger
        self.lease_ttl_s = lease_ttl_s
        self._indexer = indexer
        self.sources = {s.name: s for s in sources}
        self.connector_kwargs = connector_kwargs
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._local = threading.Lock()  # the indexer is shared: one sync at a time in this process

    def source(self, name: str) -> SourceConfig:
        try:
            return self.sources[name]
        except KeyError:
            names = ", ".join(self.sources) or "none"
            raise InputError(f"no source named {name!r} (configured: {names})") from None

    def connector(self, name: str) -> Connector:
        return build_connector(self.source(name).settings, **self.connector_kwargs)

    def run(self, name: str, *, full: bool = False, prune: bool = True, on_progress: Any = None) -> SyncReport | None:
        """Sync one source now; returns None (and logs) if a sync of it is already running."""
        ledger = self.ledger
        holder = f"{self.holder}:{uuid.uuid4().hex[:8]}"  # unique per run: threads of one process exclude each other too
        if not ledger.acquire_lease(name, holder, ttl_s=self.lease_ttl_s):
            log.info("sync_skipped_overlap", source=name)
            return None
        try:
            with self._local:
                return sync_source(self.connector(name), indexer=self._indexer(), state=ledger,
                                   full=full, prune=prune, on_progress=on_progress)
        finally:
            ledger.release_lease(name, holder)

    def run_scheduled(self, name: str) -> None:
        """The scheduler's entry point: never raises (the failure is in the run history)."""
        src = self.source(name)
        try:
            self.run(name, prune=src.schedule.prune_every_sync(src.type))
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

