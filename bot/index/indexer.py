"""Documents into the store: mask credentials (every document) and PII (in tickets and other customer-written kinds), chunk, flag
instruction-like passages, skip what is unchanged, embed, upsert, delete stale.

The per-document work before embedding (masking, hashing, chunking, the instruction scan, BM25)
is :mod:`bot.index.preparation`'s, done in this process or in worker processes (``workers``);
the indexer embeds and writes, in the documents' order either way.

Unchanged documents (same content hash) cost one dictionary look-up. A changed document's
chunks whose text is unchanged reuse their stored vectors instead of being embedded again.
Writes per document are ordered so that a crash at any point leaves the document either in its
old state or re-done by the next run: chunks 1..n first, then the stale tail is deleted, then
chunk 0, which carries the document hash the next run compares against (the documents written
together share each of those steps' store calls).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import structlog

from bot.index import vector_space
from bot.index.chunking import CHUNKING_VERSION, Chunker
from bot.index.credentials import CredentialMasker
from bot.index.embeddings import TextEmbedder
from bot.index.pii import PiiMasker
from bot.index.preparation import DocumentPreparer, PreparationPool, PreparedDocument
from bot.index.schema import collection_name
from bot.index.sparse import SparseEncoder
from bot.index.store import StoredPoint, VectorStore
from bot.models import Document, DocumentKind, Visibility

log = structlog.get_logger(__name__)

#: Chunks embedded together (across documents) for throughput.
EMBED_BATCH_CHUNKS = 256
#: Version of what ingest removes or flags (credential masking, instruction spans): part of every
#: document hash, so an index written before a change is rewritten once (vectors reused by chunk hash).
CONTENT_SAFETY_VERSION = 1

#: ``{visibility: {doc_id: doc_hash}}``: what the store holds, read from each document's chunk 0.
#: The indexer compares against it to skip unchanged documents and keeps it current as it writes.
StoredHashes = dict[Visibility, dict[str, str]]


@dataclass
class IndexStats:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    pii: dict[str, int] = field(default_factory=dict)
    #: Credentials masked this run, per kind (:mod:`bot.index.credentials`).
    credentials: dict[str, int] = field(default_factory=dict)
    #: Chunks written this run with instruction-like passages flagged (never quoted in answers).
    flagged_chunks: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Indexer:
    """Keeps the store's collections in step with documents."""

    def __init__(
        self,
        *,
        store: VectorStore,
        embedder: TextEmbedder,
        chunker: Chunker,
        sparse: SparseEncoder | None = None,
        masker: PiiMasker | None = None,
        mask_kinds: frozenset[DocumentKind] = frozenset({DocumentKind.TICKET}),
        collection_prefix: str = "kb",
        workers: int = 0,
    ) -> None:
        """``workers``: processes that prepare documents (mask, chunk, encode) for large runs; 0 = none."""
        self.store = store
        self.embedder = embedder
        self.chunker = chunker
        self.sparse = sparse or SparseEncoder()
        self.masker = masker
        self.credentials = CredentialMasker()
        self.mask_kinds = mask_kinds
        self.prefix = collection_prefix
        self.collections = {v: collection_name(collection_prefix, v) for v in Visibility}
        # Stored hashes cover how a document was indexed, not only what it says: a new chunker
        # configuration re-chunks every document, a new model re-embeds every chunk.
        self.preparer = DocumentPreparer(
            chunker=chunker, sparse=self.sparse, masker=masker, credentials=self.credentials, mask_kinds=mask_kinds,
            doc_salt=(f"{CHUNKING_VERSION}|{chunker.chunk_tokens}|{chunker.overlap_tokens}|{embedder.name}|"
                      f"{self.sparse.signature}|safety{CONTENT_SAFETY_VERSION}"),
            chunk_salt=embedder.name,
        )
        self.preparation = PreparationPool(self.preparer, workers=workers)
        for name in self.collections.values():
            store.ensure_collection(name, embedder.dim, metadata=vector_space.initial_metadata(embedder))
            # Refuse before anything is written: vectors of two models are never mixed.
            vector_space.check(store, name, embedder)

    def needs_full_sync(self, source: str) -> bool:
        """True if ``source``'s documents were not all embedded by this build (see :mod:`vector_space`)."""
        return any(vector_space.built_by(self.store.collection_info(name), source) != self.embedder.name
                   for name in self.collections.values())

    def mark_full_sync(self, source: str) -> None:
        """Record that every document of ``source`` is now embedded by this build."""
        for name in self.collections.values():
            vector_space.mark_built(self.store, name, source, self.embedder)

    def stored_hashes(self, source: str | None = None) -> StoredHashes:
        """The document hashes the store holds now (of one source, or all)."""
        return {v: self.store.doc_hashes(name, source=source) for v, name in self.collections.items()}

    def index(
        self,
        docs: Iterable[Document],
        *,
        stored: StoredHashes | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> IndexStats:
        """Index ``docs``; returns what changed. ``stored`` (read from the store if not given) is
        updated in place as docs are written, so a caller can pass it on to :meth:`delete`."""
        stats = IndexStats()
        pii: Counter[str] = Counter()
        credentials: Counter[str] = Counter()
        stored = stored if stored is not None else self.stored_hashes()
        pending: list[PreparedDocument] = []
        pending_chunks = 0
        pending_ids: set[str] = set()
        for prepared in self.preparation.prepare_all(docs, lambda d: stored[d.audience].get(d.id)):
            doc = prepared.doc
            if doc.id in pending_ids:
                # The same document twice in one run: the first copy is written before the second is compared.
                self._write(pending, stats, stored, on_progress)
                pending, pending_chunks, pending_ids = [], 0, set()
            target = doc.audience
            other = Visibility.INTERNAL if target is Visibility.PUBLIC else Visibility.PUBLIC
            if doc.id in stored[other]:
                # The document changed audience: it leaves the other collection first.
                self.store.delete_doc(self.collections[other], doc.id)
                stored[other].pop(doc.id, None)
            if stored[target].get(doc.id) == prepared.doc_hash:
                stats.unchanged += 1  # nothing new is masked into the store: its counts are not added
                if on_progress:
                    on_progress(1)
                continue
            if prepared.chunks is None:
                # Prepared as unchanged, but the stored copy changed since (the same document twice in one run).
                prepared.chunks = self.preparer.chunks(doc, prepared.doc_hash)
            pii.update(prepared.pii)
            credentials.update(prepared.credentials)
            pending.append(prepared)
            pending_ids.add(doc.id)
            pending_chunks += len(prepared.chunks)
            if pending_chunks >= EMBED_BATCH_CHUNKS:
                self._write(pending, stats, stored, on_progress)
                pending, pending_chunks, pending_ids = [], 0, set()
        if pending:
            self._write(pending, stats, stored, on_progress)
        if self.masker is not None:
            self.masker.counts.update(pii)  # the masker counts for the process's lifetime
        self.credentials.counts.update(credentials)
        stats.pii = dict(+pii)
        stats.credentials = dict(+credentials)
        return stats

    def _write(
        self,
        pending: list[PreparedDocument],
        stats: IndexStats,
        stored: StoredHashes,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        reusable = self._reusable_vectors(pending, stored)
        to_embed = [c.text for p in pending for c in p.chunks or () if c.chunk_hash not in reusable]
        vectors = iter(self.embedder.embed(to_embed))
        stats.chunks_embedded += len(to_embed)
        points_of: dict[Visibility, list[tuple[str, list[StoredPoint]]]] = {v: [] for v in Visibility}
        for item in pending:
            points = []
            for chunk in item.chunks or ():
                dense = reusable.get(chunk.chunk_hash)
                if dense is None:
                    dense = next(vectors)
                else:
                    stats.chunks_reused += 1
                stats.flagged_chunks += bool(chunk.payload["instruction_spans"])
                points.append(StoredPoint(id=chunk.point_id, dense=dense, sparse=chunk.sparse, payload=dict(chunk.payload)))
            points_of[item.doc.audience].append((item.doc.id, points))
        for visibility, docs in points_of.items():
            if docs:
                self._write_in_order(self.collections[visibility], docs)
        for item in pending:
            doc = item.doc
            is_new = doc.id not in stored[doc.audience]
            stored[doc.audience][doc.id] = item.doc_hash
            if is_new:
                stats.added += 1
            else:
                stats.updated += 1
            if on_progress:
                on_progress(1)

    def _write_in_order(self, collection: str, docs: list[tuple[str, list[StoredPoint]]]) -> None:
        """Each document's chunks 1..n, then its stale tail deleted, then its chunk 0 (the module
        docstring's order, per document); the documents of a batch share each step's store calls
        (a call costs more than the points it carries), so a crash between two steps leaves every
        document of the batch old or re-done by the next run, as it would one document."""
        rest = [p for _, points in docs for p in points[1:]]
        if rest:
            self.store.upsert(collection, rest)
        for doc_id, points in docs:
            self.store.delete_doc(collection, doc_id, from_chunk=max(len(points), 1))
        heads = [points[0] for _, points in docs if points]
        if heads:
            self.store.upsert(collection, heads)
        for doc_id, points in docs:
            if not points:
                self.store.delete_doc(collection, doc_id)

    def _reusable_vectors(self, pending: list[PreparedDocument], stored: StoredHashes) -> dict[str, np.ndarray]:
        updated = [p for p in pending if p.doc.id in stored[p.doc.audience]]
        if not updated:
            return {}
        out: dict[str, np.ndarray] = {}
        for p in updated:
            out.update(self.store.dense_by_chunk_hash(self.collections[p.doc.audience], p.doc.id))
        return out

    def delete(self, doc_ids: Iterable[str], *, stored: StoredHashes | None = None) -> int:
        """Remove documents from every collection; returns how many were present."""
        stored = stored if stored is not None else self.stored_hashes()
        deleted = 0
        for doc_id in doc_ids:
            for visibility, name in self.collections.items():
                if doc_id in stored[visibility]:
                    self.store.delete_doc(name, doc_id)
                    stored[visibility].pop(doc_id, None)
                    deleted += 1
        return deleted

    def close(self) -> None:
        """Stop the preparation workers, if any were started."""
        self.preparation.close()

    def optimize(self) -> None:
        for name in self.collections.values():
            self.store.optimize(name)

