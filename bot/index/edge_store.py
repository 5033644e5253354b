"""Embedded store: Qdrant's engine in-process (``qdrant-edge-py``), one shard per collection.

Writes go through the shard's write-ahead log, so an acknowledged ``update`` survives a crash.
A second process opening the same shard fails at once (the WAL is locked): that becomes
:class:`~bot.errors.StoreLockedError` with a message that says what to do.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from bot.errors import StoreError, StoreLockedError
from bot.index.schema import DENSE, INTEGER_FIELDS, KEYWORD_FIELDS, SPARSE
from bot.index.store import Filter, Hit, Scored, SignalQuery, StoredPoint, VectorStore, dense_of

#: Points per update call: bounds the size of one WAL record.
UPSERT_BATCH = 256
SCROLL_PAGE = 1000


class EdgeStore(VectorStore):
    """Qdrant Edge shards under ``root`` (``root/<collection>/``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._shards: dict[str, qe.EdgeShard] = {}
        self._lock = threading.RLock()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the data directory {self.root}: {exc.strerror}") from exc
        try:
            for path in sorted(self.root.iterdir()):
                if path.is_dir() and not path.name.startswith("."):
                    self._open(path.name)
        except StoreError:
            self.close()  # release the shards opened before the failing one
            raise

    # --- collections -------------------------------------------------------------------------
    def _open(self, name: str) -> qe.EdgeShard:
        path = self.root / name
        try:
            shard = qe.EdgeShard.load(str(path))
        except Exception as exc:  # qdrant-edge raises bare Exception with the engine's message
            raise _translate(exc, path) from exc
        self._shards[name] = shard
        return shard

    def has_collection(self, name: str) -> bool:
        return name in self._shards

    def ensure_collection(self, name: str, dim: int) -> None:
        with self._lock:
            if name in self._shards:
                return
            path = self.root / name
            tmp = self.root / f".{name}.creating"
            shutil.rmtree(tmp, ignore_errors=True)
            config = qe.EdgeConfig(
                vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
                sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            )
            try:
                shard = qe.EdgeShard.create(str(tmp), config)
                for key in KEYWORD_FIELDS:
                    shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword))
                for key in INTEGER_FIELDS:
                    shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Integer))
                shard.flush()
                shard.close()
                # Created under a temporary name and renamed: a crash never leaves half a shard.
                tmp.rename(path)
            except Exception as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                raise _translate(exc, path) from exc
            self._open(name)

    def _shard(self, name: str) -> qe.EdgeShard:
        try:
            return self._shards[name]
        except KeyError:
            raise StoreError(f"collection {name!r} does not exist in {self.root} (run 'helpdesk-bot sync' first)") from None

    # --- writes --------------------------------------------------------------------------------
    def upsert(self, collection: str, points: Sequence[StoredPoint]) -> None:
        shard = self._shard(collection)
        for start in range(0, len(points), UPSERT_BATCH):
            batch = [
                qe.Point(
                    id=p.id,
                    vector={
                        DENSE: np.asarray(p.dense, dtype=np.float32).tolist(),
                        SPARSE: qe.SparseVector(indices=p.sparse.indices, values=p.sparse.values),
                    },
                    payload=p.payload,
                )
                for p in points[start : start + UPSERT_BATCH]
            ]
            self._update(shard, qe.UpdateOperation.upsert_points(batch))

    def delete_doc(self, collection: str, doc_id: str, *, from_chunk: int = 0) -> None:
        must: list[Any] = [qe.FieldCondition(key="doc_id", match=qe.MatchValue(doc_id))]
        if from_chunk > 0:
            must.append(qe.FieldCondition(key="chunk_no", range=qe.RangeFloat(gte=float(from_chunk))))
        self._update(self._shard(collection), qe.UpdateOperation.delete_points_by_filter(qe.Filter(must=must)))

    def _update(self, shard: qe.EdgeShard, op: qe.UpdateOperation) -> None:
        with self._lock:
            try:
                shard.update(op)
            except Exception as exc:
                raise StoreError(f"embedded store write failed: {exc}") from exc

    def flush(self) -> None:
        with self._lock:
            for shard in self._shards.values():
                shard.flush()

    def optimize(self, collection: str) -> None:
        with self._lock:
            self._shard(collection).optimize()

    # --- reads ---------------------------------------------------------------------------------
    def scroll(self, collection: str, *, filter: Filter | None = None, fields: Iterable[str] = (),
               with_dense: bool = False) -> Iterator[tuple[dict[str, Any], np.ndarray | None]]:
        shard = self._shard(collection)
        selector: Any = list(fields) or True
        offset = None
        while True:
            records, offset = shard.scroll(qe.ScrollRequest(offset=offset, limit=SCROLL_PAGE, filter=_filter(filter),
                                                            with_payload=selector,
                                                            with_vector=[DENSE] if with_dense else False))
            for r in records:
                yield dict(r.payload or {}), dense_of(r.vector)
            if offset is None:
                return

    def count(self, collection: str, *, filter: Filter | None = None) -> int:
        return self._shard(collection).count(qe.CountRequest(filter=_filter(filter), exact=True))

    def search(self, collection: str, queries: Sequence[SignalQuery]) -> list[list[Scored]]:
        shard = self._shard(collection)
        requests: list[qe.QueryRequest] = []
        slots: list[int] = []
        for n, q in enumerate(queries):
            if q.sparse is not None and not len(q.sparse):
                continue  # no terms: nothing to find
            vector: Any = (np.asarray(q.dense, dtype=np.float32).tolist() if q.dense is not None
                           else qe.SparseVector(indices=q.sparse.indices, values=q.sparse.values))  # type: ignore[union-attr]
            requests.append(qe.QueryRequest(
                limit=q.limit, query=qe.Query.Nearest(vector, using=DENSE if q.dense is not None else SPARSE),
                filter=_filter(q.filter), with_payload=False, with_vector=False,
            ))
            slots.append(n)
        out: list[list[Scored]] = [[] for _ in queries]
        if requests:
            for n, points in zip(slots, shard.query_batch(qe.QueryBatchRequest(requests)), strict=True):
                out[n] = [Scored(str(p.id), float(p.score)) for p in points]
        return out

    def retrieve(self, collection: str, ids: Sequence[str], *, with_dense: bool = True) -> list[Hit]:
        if not ids:
            return []
        records = self._shard(collection).retrieve(list(ids), True, [DENSE] if with_dense else False)
        by_id = {str(r.id): r for r in records}
        return [Hit(id=i, score=0.0, payload=dict(by_id[i].payload or {}), dense=dense_of(by_id[i].vector))
                for i in ids if i in by_id]

    def close(self) -> None:
        with self._lock:
            for shard in self._shards.values():
                try:
                    shard.flush()
                    shard.close()
                except Exception:  # closing is best effort; the WAL keeps what was acknowledged
                    pass
            self._shards.clear()


def _filter(flt: Filter | None) -> qe.Filter | None:
    if not flt:
        return None
    must: list[Any] = []
    for key, value in flt.items():
        if isinstance(value, str | int | bool):
            must.append(qe.FieldCondition(key=key, match=qe.MatchValue(value)))
        else:
            must.append(qe.FieldCondition(key=key, match=qe.MatchAny(list(value))))
    return qe.Filter(must=must)


def _translate(exc: Exception, path: Path) -> StoreError:
    message = str(exc)
    if "WouldBlock" in message or "Can't init WAL" in message:
        return StoreLockedError(
            f"the embedded store at {path.parent} is in use by another helpdesk-bot process; "
            "stop it first, or use a Qdrant server (QDRANT_URL) to share one index between processes"
        )
    return StoreError(f"cannot open the embedded store at {path}: {message.splitlines()[0][:200]} "
                      "(if the data directory is corrupt, remove it and run 'helpdesk-bot sync')")
