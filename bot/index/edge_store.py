"""Embedded store: Qdrant's engine in-process (``qdrant-edge-py``), one shard per collection.

Writes go through the shard's write-ahead log, so an acknowledged ``update`` survives a crash.
A second process opening the same shard fails at once (the WAL is locked): that becomes
:class:`~bot.errors.StoreLockedError` with a message that says what to do.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe
import structlog

from bot.errors import StoreError, StoreLockedError
from bot.index.page_cache import PageCacheWarmer
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

log = structlog.get_logger(__name__)

#: Points per update call: bounds the size of one WAL record.
UPSERT_BATCH = 256
SCROLL_PAGE = 1000
#: helpdesk-bot's own metadata of a collection, a JSON file inside the shard folder (Qdrant Edge
#: ignores files it does not know; created before the folder is renamed into place).
METADATA_FILE = "helpdesk_collection.json"
#: The shard's own record of its configuration (written by Qdrant Edge).
EDGE_CONFIG_FILE = "edge_config.json"


class EdgeStore(VectorStore):
    """Qdrant Edge shards under ``root`` (``root/<collection>/``).

    Args:
        root: the folder holding one shard folder per collection.
        tuning: Qdrant's levers (:class:`~bot.index.store.StoreTuning`). Existing shards are
            opened with it too: Qdrant rewrites segments made under another configuration at
            their next ``optimize``.

    qdrant-edge-py 0.9 holds Python's GIL for the whole of every call, ``optimize`` included: while
    an index builds, no other Python thread of the process runs (answers wait). Builds therefore
    happen in the sync's thread in bounded steps (``tuning.build_every_points``) and after each
    sync, never on the answer path; the unindexed rest is scanned.
    """

    def __init__(self, root: Path, *, tuning: StoreTuning | None = None) -> None:
        self.root = Path(root)
        self.tuning = tuning or StoreTuning()
        self._shards: dict[str, qe.EdgeShard] = {}
        self._unbuilt: dict[str, int] = {}  # points written per collection since its last build
        self.build_s = 0.0  # seconds spent building indexes so far (benchmarks, logs)
        self._warmer: PageCacheWarmer | None = None
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
            dim = int(json.loads((path / EDGE_CONFIG_FILE).read_text(encoding="utf-8"))["vectors"][DENSE]["size"])
        except (OSError, ValueError, KeyError, TypeError):
            dim = None  # not a shard of ours, or damaged: let the engine say what is wrong
        try:
            shard = qe.EdgeShard.load(str(path), _edge_config(dim, self.tuning) if dim else None)
        except Exception as exc:  # qdrant-edge raises bare Exception with the engine's message
            raise _translate(exc, path) from exc
        self._shards[name] = shard
        self._unbuilt[name] = 0
        return shard

    def has_collection(self, name: str) -> bool:
        return name in self._shards

    def ensure_collection(self, name: str, dim: int, *, metadata: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            if name in self._shards:
                return
            path = self.root / name
            tmp = self.root / f".{name}.creating"
            shutil.rmtree(tmp, ignore_errors=True)
            config = _edge_config(dim, self.tuning)
            try:
                shard = qe.EdgeShard.create(str(tmp), config)
                for key, params in _field_indexes(self.tuning).items():
                    shard.update(qe.UpdateOperation.create_field_index(key, params))
                shard.flush()
                shard.close()
                _write_json(tmp / METADATA_FILE, dict(metadata or {}))
                # Created under a temporary name and renamed: a crash never leaves half a shard.
                tmp.rename(path)
            except Exception as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                raise _translate(exc, path) from exc
            self._open(name)

    def collection_info(self, name: str) -> CollectionInfo:
        self._shard(name)
        path = self.root / name
        try:
            config = json.loads((path / EDGE_CONFIG_FILE).read_text(encoding="utf-8"))
            dim = int(config["vectors"][DENSE]["size"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"cannot read the configuration of {path}: {exc}") from exc
        return CollectionInfo(dim=dim, metadata=_read_json(path / METADATA_FILE))

    def update_metadata(self, name: str, values: Mapping[str, Any]) -> None:
        with self._lock:
            self._shard(name)
            path = self.root / name / METADATA_FILE
            merged = _read_json(path)
            merged.update(values)
            _write_json(path, merged)

    def drop_collection(self, name: str) -> None:
        with self._lock:
            shard = self._shards.pop(name, None)
            if shard is None:
                return
            try:
                shard.close()
            except Exception:  # the folder goes anyway
                pass
            # Renamed away first: a crash mid-delete leaves a dot-folder the loader skips.
            doomed = self.root / f".{name}.dropping"
            shutil.rmtree(doomed, ignore_errors=True)
            (self.root / name).rename(doomed)
            shutil.rmtree(doomed, ignore_errors=True)

    def _shard(self, name: str) -> qe.EdgeShard:
        try:
            return self._shards[name]
        except KeyError:
            raise StoreError(f"collection {name!r} does not exist in {self.root} (run 'helpdesk-bot sync' first)") from None

    # --- writes --------------------------------------------------------------------------------
    def upsert(self, collection: str, points: Sequence[StoredPoint]) -> None:
        shard = self._shard(collection)
        self._write_points(shard, points)
        every = self.tuning.build_every_points
        with self._lock:
            self._unbuilt[collection] = self._unbuilt.get(collection, 0) + len(points)
            due = every > 0 and self._unbuilt[collection] >= every
        if due:
            # Build as the data arrives: each build holds one bounded segment, not the whole store.
            self.optimize(collection)

    def _write_points(self, shard: qe.EdgeShard, points: Sequence[StoredPoint]) -> None:
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
            started = time.perf_counter()
            try:
                built = self._shard(collection).optimize()
            except StoreError:
                raise
            except Exception as exc:
                raise StoreError(f"embedded store index build failed: {exc}") from exc
            self._unbuilt[collection] = 0
            seconds = time.perf_counter() - started
            self.build_s += seconds
            if built:
                log.info("index_built", collection=collection, seconds=round(seconds, 2), **self.shard_info(collection))

    def shard_info(self, collection: str) -> dict[str, int]:
        """Points, segments and indexed vectors of a collection's shard (monitoring, benchmarks)."""
        info = self._shard(collection).info()
        return {"points": info.points_count, "segments": info.segments_count, "indexed_vectors": info.indexed_vectors_count}

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
                params=self._search_params if q.dense is not None else None,
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
        return hits_in_order(ids, records)

    @property
    def _search_params(self) -> qe.SearchParams | None:
        t = self.tuning
        if not t.quantize and t.hnsw_ef is None:
            return None
        quantization = qe.QuantizationSearchParams(rescore=True, oversampling=t.oversampling) if t.quantize else None
        return qe.SearchParams(hnsw_ef=t.hnsw_ef, quantization=quantization)

    def warm_caches(self) -> PageCacheWarmer:
        """Read the files searches use into the OS page cache in a background thread (once per
        store; :mod:`bot.index.page_cache`), so the first questions after a restart do not each wait
        on disk reads. Returns the warmer (``wait()`` for its result)."""
        if self._warmer is None:
            self._warmer = PageCacheWarmer(self.root).start()
        return self._warmer

    def close(self) -> None:
        if self._warmer is not None:
            self._warmer.stop()
        with self._lock:
            for shard in self._shards.values():
                try:
                    shard.flush()
                    shard.close()
                except Exception:  # closing is best effort; the WAL keeps what was acknowledged
                    pass
            self._shards.clear()


def _edge_config(dim: int, t: StoreTuning) -> qe.EdgeConfig:
    """The shard configuration that carries ``t``'s levers."""
    quantization = (qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=0.99,
                                                   memory=qe.Memory.Cold if t.quantized_on_disk else qe.Memory.Pinned)
                    if t.quantize else None)
    return qe.EdgeConfig(
        vectors={DENSE: qe.EdgeVectorParams(
            size=dim, distance=qe.Distance.Cosine, quantization_config=quantization,
            memory=qe.Memory.Cold if t.vectors_on_disk else qe.Memory.Cached)},
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(
            modifier=qe.Modifier.Idf, memory=qe.Memory.Cold if t.sparse_on_disk else qe.Memory.Pinned)},
        hnsw_config=qe.HnswIndexConfig(m=t.hnsw_m, ef_construct=t.hnsw_ef_construct, full_scan_threshold=10_000,
                                       memory=qe.Memory.Cold if t.hnsw_on_disk else qe.Memory.Cached),
        optimizers=qe.EdgeOptimizersConfig(indexing_threshold=t.indexing_threshold_kb,
                                           max_segment_size=t.max_segment_size_kb),
    )


def _field_indexes(t: StoreTuning) -> dict[str, Any]:
    """The payload indexes of a collection and their parameters under ``t`` (memory-mapped:
    Qdrant's cold tier; otherwise in RAM)."""
    def memory(key: str) -> Any:
        return qe.Memory.Cold if t.payload_index_on_disk(key) else None

    indexes: dict[str, Any] = {key: qe.KeywordIndexParams(enable_hnsw=t.payload_graph, memory=memory(key))
                               for key in KEYWORD_FIELDS}
    indexes.update({key: qe.IntegerIndexParams(lookup=True, range=True, enable_hnsw=t.payload_graph, memory=memory(key))
                    for key in INTEGER_FIELDS})
    return indexes


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


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}  # a collection made before metadata was recorded
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _translate(exc: Exception, path: Path) -> StoreError:
    message = str(exc)
    if "WouldBlock" in message or "Can't init WAL" in message:
        return StoreLockedError(
            f"the embedded store at {path.parent} is in use by another helpdesk-bot process; "
            "stop it first, or use a Qdrant server (QDRANT_URL) to share one index between processes"
        )
    return StoreError(f"cannot open the embedded store at {path}: {message.splitlines()[0][:200]} "
                      "(if the data directory is corrupt, remove it and run 'helpdesk-bot sync')")
