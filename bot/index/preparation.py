"""Documents made ready for the store: masked, hashed, chunked, sparse-encoded, their payloads built.

Everything a sync does to a document before the embedder and the store see it is a pure function
of the document and of how the index is configured: credential and PII masking, the document
hash, chunking, the instruction scan, BM25 encoding and the payload. :class:`DocumentPreparer`
holds that configuration and does it for one document (:meth:`DocumentPreparer.prepare`).

That work is most of a sync's Python time once embedding happens elsewhere (an embeddings server,
a GPU): in one process it holds the GIL, so the fetching thread and the writer wait on it.
:class:`PreparationPool` spreads it over worker processes (``HELPDESK_INGEST_WORKERS``) while the
sync's own process keeps fetching, embedding and writing, in the documents' order:

* small runs (an incremental sync of a few changed tickets) never start the pool: the first
  :data:`IN_PROCESS_FIRST` documents of every run are prepared in-process;
* documents go out in batches, at most ``2 x workers`` batches in flight, so memory stays bounded
  and the fetcher still waits when the writer is slow;
* results come back in order; a document whose stored hash changed while it was in flight is
  re-checked by the indexer (a worker's "unchanged" is only a hint);
* a worker that dies (killed, out of memory) costs nothing: its batches are prepared in-process
  and the pool is started afresh on the next run; workers ignore SIGINT/SIGTERM (the sync's
  process decides when to stop, at a document boundary) and exit when that process is gone.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import pickle
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import structlog

from bot.index.chunking import Chunker
from bot.index.credentials import CredentialMasker
from bot.index.instructions import instruction_spans
from bot.index.pii import PiiMasker
from bot.index.schema import ChunkPayload, point_id
from bot.index.sparse import SparseEncoder, SparseVector
from bot.models import Chunk, Document, DocumentKind

log = structlog.get_logger(__name__)

#: Documents of each run prepared in-process before the pool is used (a small sync starts none).
IN_PROCESS_FIRST = 64
#: Documents per batch sent to a worker (amortises the pipe; small enough to keep order cheap).
BATCH_DOCUMENTS = 16
#: How often a worker checks that the process it works for is still there.
_PARENT_POLL_S = 1.0


@dataclass(frozen=True)
class PreparedChunk:
    """One chunk as the store will hold it, less its dense vector."""

    point_id: str
    chunk_hash: str
    text: str
    """What is embedded (title, section path, passage)."""
    sparse: SparseVector
    payload: ChunkPayload


@dataclass
class PreparedDocument:
    doc: Document
    """The document as indexed: credentials and (for customer-written kinds) PII masked."""
    doc_hash: str
    chunks: list[PreparedChunk] | None
    """None when the document's hash equalled the stored one it was prepared against (not chunked)."""
    pii: Counter[str] = field(default_factory=Counter)
    credentials: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, kw_only=True)
class DocumentPreparer:
    """How documents are masked, hashed, chunked and encoded for one index; picklable, for workers."""

    chunker: Chunker
    sparse: SparseEncoder
    masker: PiiMasker | None
    credentials: CredentialMasker
    mask_kinds: frozenset[DocumentKind]
    doc_salt: str
    chunk_salt: str

    def doc_hash(self, doc: Document) -> str:
        return hashlib.sha256(f"{self.doc_salt}|{doc.content_hash}".encode()).hexdigest()

    def chunk_hash(self, chunk: Chunk) -> str:
        return hashlib.sha256(f"{self.chunk_salt}|{chunk.content_hash}".encode()).hexdigest()

    def prepare(self, doc: Document, stored_hash: str | None = None) -> PreparedDocument:
        """``doc`` masked and hashed; chunked and encoded unless its hash equals ``stored_hash``.

        What was masked is returned as counts (each call masks with its own copies of the maskers,
        so concurrent syncs never mix their counts; the indexer adds a document's counts to the
        running totals only when it writes the document)."""
        credentials = replace(self.credentials, counts=Counter())
        doc = doc.model_copy(update={"text": credentials.mask(doc.text), "title": credentials.mask(doc.title)})
        pii: Counter[str] = Counter()
        if self.masker is not None and doc.kind in self.mask_kinds:
            masker = replace(self.masker, counts=pii)
            doc = doc.model_copy(update={"text": masker.mask(doc.text), "title": masker.mask(doc.title)})
        doc_hash = self.doc_hash(doc)
        chunks = None if doc_hash == stored_hash else self.chunks(doc, doc_hash)
        return PreparedDocument(doc, doc_hash, chunks, pii, credentials.counts)

    def chunks(self, doc: Document, doc_hash: str) -> list[PreparedChunk]:
        """The chunks of an already masked document, with their sparse vectors and payloads."""
        chunks = self.chunker.chunk(doc)
        out = []
        for chunk in chunks:
            chunk_hash = self.chunk_hash(chunk)
            out.append(PreparedChunk(
                point_id=point_id(doc.id, chunk.chunk_no),
                chunk_hash=chunk_hash,
                text=chunk.text,
                sparse=self.sparse.encode_document(chunk.text, heading=chunk.heading),
                payload=_payload(doc, chunk, len(chunks), doc_hash, chunk_hash),
            ))
        return out


def _payload(doc: Document, chunk: Chunk, n_chunks: int, doc_hash: str, chunk_hash: str) -> ChunkPayload:
    return ChunkPayload(
        doc_id=doc.id,
        chunk_no=chunk.chunk_no,
        n_chunks=n_chunks,
        source=doc.source,
        kind=doc.kind.value,
        audience=doc.audience.value,
        title=doc.title,
        url=doc.url,
        section=chunk.section,
        context=chunk.context,
        starts_mid_sentence=chunk.starts_mid_sentence,
        ends_mid_sentence=chunk.ends_mid_sentence,
        text=chunk.passage,
        updated_at=doc.updated_at.isoformat() if doc.updated_at else None,
        doc_hash=doc_hash,
        chunk_hash=chunk_hash,
        instruction_spans=[[a, b] for a, b in instruction_spans(chunk.passage)],
    )


# --- worker processes ---------------------------------------------------------------------------
def automatic_workers(*, remote_embeddings: bool) -> int:
    """Workers when none are configured: one per core but the one the sync's own process keeps
    busy (fetching, writing; up to 8) when embedding is off the box; none with the local model,
    which already keeps every core busy."""
    return min((os.cpu_count() or 1) - 1, 8) if remote_embeddings else 0


_WORKER_PREPARER: DocumentPreparer | None = None


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread meanwhile: a worker spawned here inherits the mask,
    so a stop signal sent to the whole group while it is still importing cannot kill it."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _start_worker(preparer_blob: bytes, parent_pid: int) -> None:
    global _WORKER_PREPARER
    # The sync's process decides when to stop (at a document boundary); a Ctrl-C or a SIGTERM sent
    # to the whole process group must not kill its workers under it. Blocked since the spawn; now
    # ignored, then unblocked (one that arrived meanwhile is discarded).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    _WORKER_PREPARER = pickle.loads(preparer_blob)

    def exit_with_parent() -> None:
        while True:
            time.sleep(_PARENT_POLL_S)
            if os.getppid() != parent_pid:
                os._exit(0)  # the sync's process is gone (kill -9): nothing to work for

    threading.Thread(target=exit_with_parent, name="parent-watch", daemon=True).start()


def _prepare_batch(batch: list[tuple[Document, str | None]]) -> list[PreparedDocument]:
    assert _WORKER_PREPARER is not None, "worker not started"
    return [_WORKER_PREPARER.prepare(doc, stored) for doc, stored in batch]


class PreparationPool:
    """Prepares a stream of documents in order, in worker processes once a run is large enough.

    Args:
        preparer: the configuration; pickled once to each worker.
        workers: worker processes; 0 prepares everything in this process.
    """

    def __init__(self, preparer: DocumentPreparer, *, workers: int = 0) -> None:
        if workers < 0:
            raise ValueError("workers must be 0 or more")
        self.preparer = preparer
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self._blob: bytes | None = None
        self._lock = threading.Lock()
        #: Batches prepared in-process because a worker died under them (reported by tests and logs).
        self.recovered_batches = 0
        self._lost_this_run = False

    def prepare_all(
        self, docs: Iterable[Document], stored_hash: Callable[[Document], str | None]
    ) -> Iterator[PreparedDocument]:
        """``docs`` prepared, in order; ``stored_hash(doc)`` is asked just before a document is sent."""
        self._lost_this_run = False
        it = iter(docs)
        for n, doc in enumerate(it):
            yield self.preparer.prepare(doc, stored_hash(doc))
            if n + 1 >= IN_PROCESS_FIRST and self._pool() is not None:
                break
        else:
            return
        yield from self._pooled(it, stored_hash)

    def _pooled(self, docs: Iterator[Document], stored_hash: Callable[[Document], str | None]) -> Iterator[PreparedDocument]:
        in_flight: deque[tuple[list[tuple[Document, str | None]], Future[list[PreparedDocument]] | None]] = deque()
        limit = 2 * self.workers
        try:
            exhausted = False
            while not exhausted or in_flight:
                while not exhausted and len(in_flight) < limit:
                    batch = []
                    for doc in docs:
                        batch.append((doc, stored_hash(doc)))
                        if len(batch) >= BATCH_DOCUMENTS:
                            break
                    else:
                        exhausted = True
                    if batch:
                        in_flight.append((batch, self._submit(batch)))
                if in_flight:
                    batch, future = in_flight.popleft()
                    yield from self._results(batch, future)
        finally:
            for _, future in in_flight:
                if future is not None:
                    future.cancel()

    def _submit(self, batch: list[tuple[Document, str | None]]) -> Future[list[PreparedDocument]] | None:
        executor = None if self._lost_this_run else self._pool()
        if executor is None:
            return None
        try:
            with _stop_signals_blocked():  # a submit may spawn a worker
                return executor.submit(_prepare_batch, batch)
        except (BrokenProcessPool, RuntimeError):
            self._lost_pool()
            return None

    def _results(self, batch: list[tuple[Document, str | None]],
                 future: Future[list[PreparedDocument]] | None) -> list[PreparedDocument]:
        if future is not None:
            try:
                return future.result()
            except BrokenProcessPool:
                self._lost_pool()
                self.recovered_batches += 1
        return [self.preparer.prepare(doc, stored) for doc, stored in batch]

    def _pool(self) -> ProcessPoolExecutor | None:
        """The running pool, started on first use; None when there are no workers or they cannot run."""
        if self.workers == 0:
            return None
        with self._lock:
            if self._executor is None:
                if self._blob is None:
                    try:
                        self._blob = pickle.dumps(self.preparer)
                    except Exception as exc:  # a custom token counter (a lambda) cannot cross processes
                        log.warning("ingest_workers_unavailable", reason=f"{type(exc).__name__}: {exc}")
                        self.workers = 0
                        return None
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=mp.get_context("spawn"),
                    initializer=_start_worker, initargs=(self._blob, os.getpid()),
                )
                log.info("ingest_workers_started", workers=self.workers)
            return self._executor

    def _lost_pool(self) -> None:
        self._lost_this_run = True  # the rest of this run in-process; a fresh pool on the next run
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            log.warning("ingest_worker_lost", detail="a worker process died; its documents are prepared in-process, "
                                                     "the pool restarts on the next run")
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
