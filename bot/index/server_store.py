"""Qdrant server or cluster through qdrant-client (``QDRANT_URL``).

``":memory:"`` gives qdrant-client's in-process implementation of the same API, which the
tests use in place of a server (no server binary can run on the build machines).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from bot.errors import StoreError, StoreUnavailableError
from bot.index.schema import DENSE, INTEGER_FIELDS, KEYWORD_FIELDS, SPARSE
from bot.index.store import Filter, Hit, Scored, SignalQuery, StoredPoint, VectorStore, dense_of

UPSERT_BATCH = 256
SCROLL_PAGE = 1000


class ServerStore(VectorStore):
    def __init__(self, url: str, *, api_key: str | None = None, timeout_s: float = 10.0) -> None:
        self.url = url
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

    def ensure_collection(self, name: str, dim: int) -> None:
        if name in self._collections or self._call(self.client.collection_exists, name):
            self._collections.add(name)
            return
        self._call(
            self.client.create_collection,
            name,
            vectors_config={DENSE: qm.VectorParams(size=dim, distance=qm.Distance.COSINE)},
            sparse_vectors_config={SPARSE: qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
        )
        for key in KEYWORD_FIELDS:
            self._call(self.client.create_payload_index, name, key, qm.PayloadSchemaType.KEYWORD, wait=True)
        for key in INTEGER_FIELDS:
            self._call(self.client.create_payload_index, name, key, qm.PayloadSchemaType.INTEGER, wait=True)
        self._collections.add(name)

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
        by_id = {str(r.id): r for r in records}
        return [Hit(id=i, score=0.0, payload=dict(by_id[i].payload or {}), dense=dense_of(by_id[i].vector))
                for i in ids if i in by_id]

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
