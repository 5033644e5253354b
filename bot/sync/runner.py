"""Run one connector into the index: events in, checkpoint out, stale documents pruned.

The checkpoint is saved only after every write of the run has been acknowledged by the store;
a crash before that repeats the run from the old checkpoint, and since point ids are stable and
unchanged documents are skipped by hash, the repeat converges on the same point set.
Pruning deletes the source's documents that its full id listing no longer contains; if the
listing fails, nothing is deleted.

A run asked to stop (``should_stop``: SIGTERM, Ctrl-C, a lost lease) stops at the next document
boundary: the documents already written stay (each is complete), the batch not yet written is
dropped, nothing is pruned, the store is flushed and the checkpoint does not move, so the next
run starts where this one started and converges on the same point set. The run is recorded as
``interrupted`` and :class:`SyncInterrupted` is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog

from bot.errors import HelpdeskBotError
from bot.index.indexer import Indexer, IndexStats
from bot.models import Deleted, Document
from bot.state import StateStore
from bot.sync.pipeline import prefetch
from connectors.base import Connector, ConnectorError, Skipped, SyncRun

log = structlog.get_logger(__name__)


class SyncInterrupted(HelpdeskBotError):
    """A sync was asked to stop and stopped at a document boundary (its checkpoint did not move)."""

    def __init__(self, source: str, *, documents_read: int) -> None:
        super().__init__(f"{source}: sync interrupted at a document boundary after {documents_read} documents read; "
                         "nothing is half-written and the checkpoint did not move: rerun to resume")
        self.source = source
        self.documents_read = documents_read


@dataclass
class SyncReport:
    source: str
    stats: IndexStats
    pruned: int = 0
    skipped: list[str] = field(default_factory=list)
    prune_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = self.stats.as_dict()
        d.update(source=self.source, pruned=self.pruned, skipped=len(self.skipped), prune_error=self.prune_error)
        return d


def sync_source(
    connector: Connector,
    *,
    indexer: Indexer,
    state: StateStore,
    full: bool = False,
    prune: bool = True,
    on_progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> SyncReport:
    source = connector.name
    # A new embedding build re-embeds every document once, incremental sources included.
    full = full or indexer.needs_full_sync(source)
    run_id = state.start_run(source)
    checkpoint = None if full else state.load_checkpoint(source)
    stored = indexer.stored_hashes(source=source)
    deleted_ids: list[str] = []
    skipped: list[str] = []
    seen = [0]

    def documents() -> Iterator[Document]:
        for event in run:
            if should_stop():
                raise SyncInterrupted(source, documents_read=seen[0])
            if isinstance(event, Deleted):
                deleted_ids.append(event.id)
            elif isinstance(event, Skipped):
                skipped.append(event.reason)
            else:
                seen[0] += 1
                yield event

    fetched = None
    try:
        # The connector fetches ahead (bounded) in its own thread while the indexer embeds.
        fetched = prefetch(connector.sync(checkpoint), name=f"fetch-{source}")
        run = SyncRun(fetched)
        stats = indexer.index(documents(), stored=stored, on_progress=on_progress)
        stats.deleted += indexer.delete(deleted_ids, stored=stored)
        report = SyncReport(source=source, stats=stats, skipped=skipped)
        if prune:
            try:
                live = set(connector.list_ids())
            except ConnectorError as exc:
                report.prune_error = str(exc)
                log.warning("prune_skipped", source=source, reason=str(exc))
            else:
                scope = connector.prune_scope()
                stale = [d for v in stored.values() for d in v if d.startswith(scope) and d not in live]
                report.pruned = indexer.delete(stale, stored=stored)
                stats.deleted += report.pruned
        indexer.store.flush()
        # Only now, with every write acknowledged and flushed, does the checkpoint move.
        if run.checkpoint is not None:
            state.save_checkpoint(source, run.checkpoint)
        if full:
            indexer.mark_full_sync(source)
    except SyncInterrupted as exc:
        indexer.store.flush()  # what was written stays, acknowledged; the checkpoint stays where it was
        state.finish_run(run_id, status="interrupted", stats={"documents_read": exc.documents_read},
                         error=str(exc)[:500])
        log.warning("sync_interrupted", source=source, documents_read=exc.documents_read)
        raise
    except Exception as exc:
        state.finish_run(run_id, status="failed", stats={}, error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    finally:
        if fetched is not None:
            fetched.close()  # an indexing error stops the fetcher thread too
        connector.close()
    state.finish_run(run_id, status="ok", stats=report.as_dict())
    log.info("sync_finished", **report.as_dict())
    return report
