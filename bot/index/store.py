"""The vector store: one interface, two backends chosen by settings.

* :class:`~bot.index.edge_store.EdgeStore` (default): Qdrant's engine in-process through
  ``qdrant-edge-py``, one shard per collection under the data directory. Fast (milliseconds at
  100k chunks), but one process per data directory.
* :class:`~bot.index.server_store.ServerStore`: a Qdrant server or cluster through
  ``qdrant-client`` (``QDRANT_URL``); ``":memory:"`` runs qdrant-client's in-process stand-in
  for the server API (used by the tests).

Both store the same points: a named dense vector (``dense``, cosine), a named sparse vector
(``sparse``, Qdrant's IDF modifier) and the chunk's payload; both answer a hybrid query with
two prefetches fused by reciprocal-rank fusion inside Qdrant. Both keep a small metadata
dictionary per collection (Qdrant's collection metadata on a server, a JSON file beside the
shard when embedded): which embedding model wrote the vectors (:mod:`bot.index.vector_space`).
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bot.index.sparse import SparseVector

DENSE = "dense"
SPARSE = "sparse"
#: Payload fields with an index (filters and deletes run on them).
KEYWORD_FIELDS = ("doc_id", "source", "audience", "kind")
INTEGER_FIELDS = ("chunk_no",)
#: uuid5 namespace of point ids: uuid5(namespace, f"{doc_id}#{chunk_no}").
POINT_NAMESPACE = uuid.UUID("5b0c3f8e-7d0e-4f58-9a51-4a1a3c2e8d11")

Filter = Mapping[str, str | Sequence[str]]


def point_id(doc_id: str, chunk_no: int) -> str:
    """Stable id of a chunk: re-running a sync overwrites instead of duplicating."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{doc_id}#{chunk_no}"))


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
class HybridQuery:
    dense: np.ndarray
    sparse: SparseVector
    limit: int = 10
    prefetch_limit: int = 50
    rrf_k: int = 60
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    filter: Filter | None = None
    with_dense: bool = True


#: Extra fused results asked for beyond the limit, so that ties at the cut are settled here.
TIE_MARGIN = 16


def settle_ties(hits: list[Hit], query: HybridQuery) -> list[Hit]:
    """Order fused hits deterministically and cut them to ``query.limit``.

    Reciprocal-rank fusion gives many hits exactly the same score (one ranked 3rd by dense alone
    and one ranked 3rd by sparse alone, say), and Qdrant returns tied hits in an arbitrary order
    that changes from one call to the next: the same question could cite different passages, and
    an evaluation moved by +-0.005 nDCG@10 between two identical runs. Ties are broken by dense
    similarity to the question, then by point id; the backend is asked for ``TIE_MARGIN`` more
    hits than needed so that a tie straddling the cut is settled here too.
    """
    query_vec = np.asarray(query.dense, dtype=np.float32)

    def key(hit: Hit) -> tuple[float, float, str]:
        similarity = float(np.dot(hit.dense, query_vec)) if hit.dense is not None else 0.0
        return (-hit.score, -similarity, hit.id)

    return sorted(hits, key=key)[: query.limit]


@dataclass(frozen=True)
class StoreTuning:
    """Qdrant's own levers for a collection that grows to millions of chunks (both backends).

    Measured with ``benchmarks/answer_latency.py`` (README, "Scale"): what each one bought.

    Attributes:
        quantize: keep a scalar int8 copy of the dense vectors in RAM (a quarter of the size);
            search and the HNSW build score on it, the top ``oversampling`` x limit candidates
            are rescored with the original vectors.
        oversampling: candidates rescored per result wanted (with ``quantize``).
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
    """

    quantize: bool = True
    oversampling: float = 2.0
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


#: What collections were made with before these levers were used (benchmarks compare against it).
UNTUNED = StoreTuning(quantize=False, vectors_on_disk=False, sparse_on_disk=False, indexing_threshold_kb=10_000,
                      max_segment_size_kb=None, build_every_points=0, payload_graph=True)


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

    @abc.abstractmethod
    def dense_by_chunk_hash(self, collection: str, doc_id: str) -> dict[str, np.ndarray]:
        """``{chunk_hash: dense vector}`` of a stored document, to reuse unchanged chunks' vectors."""

    @abc.abstractmethod
    def hybrid_query(self, collection: str, query: HybridQuery) -> list[Hit]:
        """Dense and sparse prefetches fused by RRF, filtered on payload."""

    @abc.abstractmethod
    def count(self, collection: str, *, filter: Filter | None = None) -> int: ...

    @abc.abstractmethod
    def scroll_payloads(self, collection: str, *, filter: Filter | None = None, fields: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Payloads (selected fields) of every matching point."""

    def optimize(self, collection: str) -> None:  # noqa: B027 - optional for backends
        """Build indexes after a large write (off the answer path)."""

    def flush(self) -> None:  # noqa: B027
        """Make every acknowledged write durable."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(settings: Any) -> VectorStore:
    """The store chosen by settings: a Qdrant server if ``QDRANT_URL`` is set, else embedded."""
    tuning = StoreTuning(quantize=settings.qdrant_quantization, vectors_on_disk=settings.qdrant_on_disk,
                         sparse_on_disk=settings.qdrant_on_disk, build_every_points=settings.qdrant_build_every)
    if settings.qdrant_url:
        from bot.index.server_store import ServerStore

        key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return ServerStore(settings.qdrant_url, api_key=key, timeout_s=settings.qdrant_timeout_s, tuning=tuning,
                           shards=settings.qdrant_shards, replication=settings.qdrant_replication,
                           write_consistency=settings.qdrant_write_consistency)
    from bot.index.edge_store import EdgeStore

    return EdgeStore(settings.store_dir, tuning=tuning)
