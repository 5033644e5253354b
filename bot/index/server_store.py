"""Qdrant server or cluster through qdrant-client (``QDRANT_URL``).

``":memory:"`` gives qdrant-client's in-process implementation of the same API, which the
tests use in place of a server (no server binary can run on the build machines).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from bot.errors import StoreError, StoreUnavailableError
from bot.index.schema import DENSE, INTEGER_FIELDS, KEYWORD_FIELDS, SPARSE
from bot.index.store import (
    CollectionInfo,
    Filter,
    Hit,
    Scored,
    SignalQuery,
    StoredPoint,
    StoreTuning,
    VectorStore,
    dense_of,
    hits_in_order,
)

UPSERT_BATCH = 256
SCROLL_PAGE = 1000


class ServerStore(VectorStore):
    """Collections on a Qdrant server or cluster.

    Args:
        url: the server (``http://qdrant:6333``), or ``":memory:"``.
        api_key: the server's API key.
        timeout_s: seconds per request.
        tuning: Qdrant's levers (:class:`~bot.index.store.StoreTuning`) for new collections; the
            server builds indexes in the background by itself (``build_every_points`` unused).
        shards: shards per new collection (a cluster spreads them over its nodes; None: the
            server's default, one per node).
        replication: copies of each shard (None: the server's default, 1).
        write_consistency: replicas that must acknowledge a write before it counts (None: 1).
    """

    def __init__(self, url: str, *, api_key: str | None = None, timeout_s: float = 10.0,
                 tuning: StoreTuning | None = None, shards: int | None = None, replication: int | None = None,
                 write_consistency: int | None = None) -> None:
        self.url = url
        self.tuning = tuning or StoreTuning()
        self.shards = shards
        self.replication = replication
        self.write_consistency = write_consistency
        try:
            if url == ":memory:":
                self.client = QdrantClient(location=":memory:")
            else:
                self.client = QdrantClient(url=url, api_key=api_key, timeout=int(timeout_s))
            self._collections = {c.name for c in self.client.get_collections().collections}
        except (ResponseHandlingException, UnexpectedResponse, OSError) as exc:
            raise StoreUnavailableError(f"cannot reach the Qdrant server at {url} ({type(exc).__name__}); check QDRANT_URL") from exc

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ResponseHandlingException as exc:
            raise StoreUnavailableError(f"Qdrant server at {self.url} is unreachable: {exc}") from exc
        except UnexpectedResponse as exc:
            raise StoreError(f"Qdrant server error {exc.status_code}: {str(exc)[:200]}") from exc

    def has_collection(self, name: str) -> bool:
        return name in self._collections

    def ensure_collection(self, name: str, dim: int, *, metadata: Mapping[str, Any] | None = None) -> None:
        if name in self._collections or self._call(self.client.collection_exists, name):
            self._collections.add(name)
            return
        t = self.tuning
        quantization = (qm.ScalarQuantization(scalar=qm.ScalarQuantizationConfig(
            type=qm.ScalarType.INT8, quantile=0.99, always_ram=not t.quantized_on_disk)) if t.quantize else None)
        try:
            self._create(name, dim, metadata, quantization)
        except StoreError:
            # Several processes start at once (N schedulers): one creates, the others find it made.
            if not self._call(self.client.collection_exists, name):
                raise

        def on_disk(key: str) -> bool | None:  # None: the server's default (in RAM)
            return True if t.payload_index_on_disk(key) else None

        for key in KEYWORD_FIELDS:
            self._call(self.client.create_payload_index, name, key,
                       qm.KeywordIndexParams(type=qm.KeywordIndexType.KEYWORD, enable_hnsw=t.payload_graph,
                                             on_disk=on_disk(key)), wait=True)
        for key in INTEGER_FIELDS:
            self._call(self.client.create_payload_index, name, key,
                       qm.IntegerIndexParams(type=qm.IntegerIndexType.INTEGER, lookup=True, range=True,
                                             enable_hnsw=t.payload_graph, on_disk=on_disk(key)), wait=True)
        self._collections.add(name)

    def _create(self, name: str, dim: int, metadata: Mapping[str, Any] | None, quantization: Any) -> None:
        t = self.tuning
        self._call(
            self.client.create_collection,
            name,
            vectors_config={DENSE: qm.VectorParams(size=dim, distance=qm.Distance.COSINE, on_disk=t.vectors_on_disk)},
            sparse_vectors_config={SPARSE: qm.SparseVectorParams(
                modifier=qm.Modifier.IDF, index=qm.SparseIndexParams(on_disk=t.sparse_on_disk))},
            quantization_config=quantization,
            hnsw_config=qm.HnswConfigDiff(m=t.hnsw_m, ef_construct=t.hnsw_ef_construct, on_disk=t.hnsw_on_disk),
            optimizers_config=qm.OptimizersConfigDiff(indexing_threshold=t.indexing_threshold_kb,
                                                      max_segment_size=t.max_segment_size_kb),
            shard_number=self.shards,
            replication_factor=self.replication,
            write_consistency_factor=self.write_consistency,
            metadata=dict(metadata or {}),
        )

    def collection_info(self, name: str) -> CollectionInfo:
        self._require(name)
        config = self._call(self.client.get_collection, name).config
        vectors = config.params.vectors
        params = vectors.get(DENSE) if isinstance(vectors, dict) else None
        if params is None:
            raise StoreError(f"collection {name!r} on {self.url} has no {DENSE!r} vector (not made by helpdesk-bot?)")
        return CollectionInfo(dim=int(params.size), metadata=dict(config.metadata or {}))

    def update_metadata(self, name: str, values: Mapping[str, Any]) -> None:
        self._require(name)
        # Qdrant merges the given top-level keys into the stored metadata on the server side.
        self._call(self.client.update_collection, name, metadata=dict(values))

    def drop_collection(self, name: str) -> None:
        self._call(self.client.delete_collection, name)
        self._collections.discard(name)

    def _require(self, name: str) -> None:
        if name not in self._collections:
            raise StoreError(f"collection {name!r} does not exist on {self.url} (run 'helpdesk-bot sync' first)")

    def upsert(self, collection: str, points: Sequence[StoredPoint]) -> None:
        self._require(collection)
        for start in range(0, len(points), UPSERT_BATCH):
            batch = [
                qm.PointStruct(
                    id=p.id,
                    vector={
                        DENSE: np.asarray(p.dense, dtype=np.float32).tolist(),
                        SPARSE: qm.SparseVector(indices=p.sparse.indices, values=p.sparse.values),
                    },
                    payload=p.payload,
                )
                for p in points[start : start + UPSERT_BATCH]
            ]
            # wait=True: the call returns once the server has applied the write.
            self._call(self.client.upsert, collection, points=batch, wait=True)

    def delete_doc(self, collection: str, doc_id: str, *, from_chunk: int = 0) -> None:
        self._require(collection)
        must: list[Any] = [qm.FieldCondition(key="doc_id", match=qm.MatchValue(value=doc_id))]
        if from_chunk > 0:
            must.append(qm.FieldCondition(key="chunk_no", range=qm.Range(gte=from_chunk)))
        self._call(self.client.delete, collection, points_selector=qm.FilterSelector(filter=qm.Filter(must=must)), wait=True)

    def scroll(self, collection: str, *, filter: Filter | None = None, fields: Iterable[str] = (),
               with_dense: bool = False) -> Iterator[tuple[dict[str, Any], np.ndarray | None]]:
        self._require(collection)
        selector: Any = list(fields) or True
        offset = None
        while True:
            records, offset = self._call(
                self.client.scroll, collection, scroll_filter=_filter(filter), limit=SCROLL_PAGE, offset=offset,
                with_payload=selector, with_vectors=[DENSE] if with_dense else False,
            )
            for r in records:
                yield dict(r.payload or {}), dense_of(r.vector)
            if offset is None:
                return

    def count(self, collection: str, *, filter: Filter | None = None) -> int:
        self._require(collection)
        return self._call(self.client.count, collection, count_filter=_filter(filter), exact=True).count

    def search(self, collection: str, queries: Sequence[SignalQuery]) -> list[list[Scored]]:
        self._require(collection)
        t = self.tuning
        params = None
        if t.quantize or t.hnsw_ef is not None:
            params = qm.SearchParams(hnsw_ef=t.hnsw_ef, quantization=qm.QuantizationSearchParams(
                rescore=True, oversampling=t.oversampling) if t.quantize else None)
        requests: list[qm.QueryRequest] = []
        slots: list[int] = []
        for n, q in enumerate(queries):
            if q.sparse is not None and not len(q.sparse):
                continue  # no terms: nothing to find
            if q.dense is not None:
                vector: Any = np.asarray(q.dense, dtype=np.float32).tolist()
                using = DENSE
            else:
                vector, using = qm.SparseVector(indices=q.sparse.indices, values=q.sparse.values), SPARSE  # type: ignore[union-attr]
            requests.append(qm.QueryRequest(query=vector, using=using, limit=q.limit, filter=_filter(q.filter),
                                            params=params if using == DENSE else None,
                                            with_payload=False, with_vector=False))
            slots.append(n)
        out: list[list[Scored]] = [[] for _ in queries]
        if requests:
            # One HTTP round trip for every signal.
            responses = self._call(self.client.query_batch_points, collection, requests=requests)
            for n, response in zip(slots, responses, strict=True):
                out[n] = [Scored(str(p.id), float(p.score)) for p in response.points]
        return out

    def retrieve(self, collection: str, ids: Sequence[str], *, with_dense: bool = True) -> list[Hit]:
        if not ids:
            return []
        self._require(collection)
        records = self._call(self.client.retrieve, collection, ids=list(ids), with_payload=True,
                             with_vectors=[DENSE] if with_dense else False)
        return hits_in_order(ids, records)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass


def _filter(flt: Filter | None) -> qm.Filter | None:
    if not flt:
        return None
    must: list[Any] = []
    for key, value in flt.items():
        if isinstance(value, str | int | bool):
            must.append(qm.FieldCondition(key=key, match=qm.MatchValue(value=value)))
        else:
            must.append(qm.FieldCondition(key=key, match=qm.MatchAny(any=list(value))))
    return qm.Filter(must=must)
