"""The vector store: one interface, two backends chosen by settings.

* :class:`~bot.index.edge_store.EdgeStore` (default): Qdrant's engine in-process through
  ``qdrant-edge-py``, one shard per collection under the data directory. Fast (milliseconds at
  100k chunks), but one process per data directory.
* :class:`~bot.index.server_store.ServerStore`: a Qdrant server or cluster through
  ``qdrant-client`` (``QDRANT_URL``); ``":memory:"`` runs qdrant-client's in-process stand-in
  for the server API (used by the tests).

Both store the same points (:mod:`bot.index.schema`: a named dense vector, cosine; a named
sparse vector, Qdrant's IDF modifier; the chunk's payload). Reading is two steps, the same on
both: :meth:`VectorStore.search` runs one nearest-neighbour search per signal (dense, sparse)
and returns ids and scores only; the retriever fuses them and :meth:`VectorStore.retrieve`
reads the payloads of the few points kept. :func:`bot.index.open.open_store` picks a backend
from settings: this module knows neither backend, so each can import it. Both keep a small
metadata dictionary per collection (Qdrant's collection metadata on a server, a JSON file beside
the shard when embedded): which embedding model wrote the vectors (:mod:`bot.index.vector_space`).
Both create collections with the same Qdrant levers (:class:`StoreTuning`).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bot.index.schema import DENSE, SEARCH_FILTER_FIELDS
from bot.index.sparse import SparseVector

Filter = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class StoredPoint:
    id: str
    dense: np.ndarray
    sparse: SparseVector
    payload: dict[str, Any]


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any]
    dense: np.ndarray | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Scored:
    """A point found by one signal: its id and that signal's score (cosine, or BM25 with IDF)."""

    id: str
    score: float


@dataclass(frozen=True)
class SignalQuery:
    """One signal's nearest-neighbour search: a dense vector or a sparse one (exactly one of them)."""

    dense: np.ndarray | None = None
    sparse: SparseVector | None = None
    limit: int = 100
    filter: Filter | None = None

    def __post_init__(self) -> None:
        if (self.dense is None) == (self.sparse is None):
            raise ValueError("a SignalQuery takes a dense vector or a sparse one, not both and not neither")


@dataclass(frozen=True)
class StoreTuning:
    """Qdrant's own levers for a collection that grows to millions of chunks (both backends).

    Measured with ``benchmarks/answer_latency.py`` (README, "Scale"): what each one bought.

    Attributes:
        quantize: keep a scalar int8 copy of the dense vectors (a quarter of the size);
            search and the HNSW build score on it, the top ``oversampling`` x limit candidates
            are rescored with the original vectors.
        oversampling: candidates rescored per result wanted (with ``quantize``).
        quantized_on_disk: the int8 copy memory-mapped (Qdrant's ``cold`` tier, ``always_ram``
            off on a server) instead of copied into the heap when the store opens: a restart
            then reads only the pages searches touch (at 1M chunks most of a cold reopen was
            that copy); the kernel keeps the pages in use cached like any file.
        vectors_on_disk: original dense vectors memory-mapped and not pre-warmed (Qdrant's
            ``cold`` tier): only the rescored candidates' pages are read.
        hnsw_m / hnsw_ef_construct: HNSW graph degree and build-time beam width.
        hnsw_ef: search-time beam width (None: Qdrant's default).
        hnsw_on_disk: HNSW graph memory-mapped instead of pre-warmed into the page cache.
        sparse_on_disk: the sparse (BM25) inverted index memory-mapped instead of on the heap.
        indexing_threshold_kb: a segment gets its HNSW graph once its dense vectors pass this
            size; below it, search is a scan of the (small) appendable segment.
        max_segment_size_kb: segments are not merged beyond this size, so a build never has
            to hold more than one such segment (None: Qdrant's default, 256 MB per core).
        build_every_points: the embedded store builds indexes (``optimize``) after this many
            points were written, while a sync runs, instead of once at the end (0: only at
            the end of each sync).
        payload_graph: also build HNSW links per value of the indexed payload fields (Qdrant's
            default). Our vector searches filter only on ``audience``, which every point of a
            collection shares, so those extra graphs are build time spent for nothing.
        payload_indexes_on_disk: the payload indexes the sync uses (``doc_id``, ``source``,
            ``chunk_no``) memory-mapped and read as used (Qdrant's ``cold`` tier) instead of
            loaded into the heap when the store opens: ``doc_id`` has one entry per document, and
            rebuilding that map was most of a reopen. The ones searches filter on (``audience``,
            ``kind``: a few values each) stay in RAM.
    """

    quantize: bool = True
    oversampling: float = 2.0
    quantized_on_disk: bool = True
    vectors_on_disk: bool = True
    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    hnsw_ef: int | None = None
    hnsw_on_disk: bool = False
    sparse_on_disk: bool = True
    indexing_threshold_kb: int = 20_000
    max_segment_size_kb: int | None = 300_000
    build_every_points: int = 100_000
    payload_graph: bool = False
    payload_indexes_on_disk: bool = True

    def payload_index_on_disk(self, key: str) -> bool:
        """Whether the payload index of field ``key`` is memory-mapped (see ``payload_indexes_on_disk``)."""
        return self.payload_indexes_on_disk and key not in SEARCH_FILTER_FIELDS


#: What collections were made with before these levers were used (benchmarks compare against it).
UNTUNED = StoreTuning(quantize=False, vectors_on_disk=False, sparse_on_disk=False, indexing_threshold_kb=10_000,
                      max_segment_size_kb=None, build_every_points=0, payload_graph=True,
                      payload_indexes_on_disk=False)


@dataclass(frozen=True)
class CollectionInfo:
    """What a collection is: its dense vector size and the metadata recorded with it."""

    dim: int
    metadata: dict[str, Any]


class VectorStore(abc.ABC):
    """What the indexer and the retriever need from Qdrant."""

    @abc.abstractmethod
    def ensure_collection(self, name: str, dim: int, *, metadata: Mapping[str, Any] | None = None) -> None:
        """Create the collection (dense + sparse vectors, payload indexes) if it does not exist.

        ``metadata`` is recorded with a new collection in the same step (an existing collection
        keeps its own).
        """

    @abc.abstractmethod
    def has_collection(self, name: str) -> bool: ...

    @abc.abstractmethod
    def collection_info(self, name: str) -> CollectionInfo:
        """Dense vector size and metadata of an existing collection."""

    @abc.abstractmethod
    def update_metadata(self, name: str, values: Mapping[str, Any]) -> None:
        """Set top-level metadata keys (others are kept; concurrent writers of other keys lose nothing)."""

    @abc.abstractmethod
    def drop_collection(self, name: str) -> None:
        """Delete a collection and every point in it (nothing if it does not exist)."""

    @abc.abstractmethod
    def upsert(self, collection: str, points: Sequence[StoredPoint]) -> None:
        """Write points; returns only once the write is acknowledged (durable)."""

    @abc.abstractmethod
    def delete_doc(self, collection: str, doc_id: str, *, from_chunk: int = 0) -> None:
        """Delete a document's chunks numbered ``from_chunk`` and up."""

    def doc_hashes(self, collection: str, *, source: str | None = None) -> dict[str, str]:
        """``{doc_id: doc_hash}`` of the documents stored (read from each document's chunk 0)."""
        flt: dict[str, Any] = {"chunk_no": 0}
        if source is not None:
            flt["source"] = source
        rows = self.scroll_payloads(collection, filter=flt, fields=("doc_id", "doc_hash"))
        return {r["doc_id"]: r.get("doc_hash", "") for r in rows}

    def dense_by_chunk_hash(self, collection: str, doc_id: str) -> dict[str, np.ndarray]:
        """``{chunk_hash: dense vector}`` of a stored document, to reuse unchanged chunks' vectors."""
        rows = self.scroll(collection, filter={"doc_id": doc_id}, fields=("chunk_hash",), with_dense=True)
        return {payload["chunk_hash"]: dense for payload, dense in rows if dense is not None and payload.get("chunk_hash")}

    @abc.abstractmethod
    def search(self, collection: str, queries: Sequence[SignalQuery]) -> list[list[Scored]]:
        """Each query's nearest points, best first (ids and scores only; one round trip where it can).

        A sparse query with no terms finds nothing (an empty list), as a search for no words should.
        """

    @abc.abstractmethod
    def retrieve(self, collection: str, ids: Sequence[str], *, with_dense: bool = True) -> list[Hit]:
        """The points with these ids (payload, and the dense vector unless told not to), in the order
        given; ids not in the collection are left out. ``Hit.score`` is 0: scores come from :meth:`search`."""

    @abc.abstractmethod
    def count(self, collection: str, *, filter: Filter | None = None) -> int: ...

    def scroll_payloads(self, collection: str, *, filter: Filter | None = None, fields: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Payloads (selected fields) of every matching point."""
        return [payload for payload, _ in self.scroll(collection, filter=filter, fields=fields)]

    @abc.abstractmethod
    def scroll(self, collection: str, *, filter: Filter | None = None, fields: Iterable[str] = (),
               with_dense: bool = False) -> Iterator[tuple[dict[str, Any], np.ndarray | None]]:
        """``(payload, dense vector)`` of every matching point, read a page at a time.

        Args:
            fields: the payload fields to read; empty: all of them.
            with_dense: read the dense vectors too (else each is None).
        """

    def optimize(self, collection: str) -> None:  # noqa: B027 - optional for backends
        """Build indexes after a large write (off the answer path)."""

    def flush(self) -> None:  # noqa: B027
        """Make every acknowledged write durable."""

    def warm_caches(self) -> object | None:
        """Start bringing what searches read into memory, in the background, after opening (the
        embedded store reads its memory-mapped files into the page cache; a server manages its
        own memory: nothing to do). Returns a handle with ``wait()``, or None."""
        return None

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hits_in_order(ids: Sequence[str], records: Iterable[Any]) -> list[Hit]:
    """Retrieved records (either backend's: ``id``, ``payload``, ``vector``) as hits, in the order of
    ``ids``; an id the store does not hold is left out."""
    by_id = {str(r.id): r for r in records}
    return [Hit(id=i, score=0.0, payload=dict(by_id[i].payload or {}), dense=dense_of(by_id[i].vector))
            for i in ids if i in by_id]


def dense_of(vector: Any) -> np.ndarray | None:
    """The dense vector among a point's named vectors as a backend returns them (None when absent)."""
    raw = vector.get(DENSE) if isinstance(vector, dict) else None
    return np.asarray(raw, dtype=np.float32) if raw is not None else None

