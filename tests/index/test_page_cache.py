"""Warming the embedded store's search files after a restart (bot.index.page_cache), on a real store."""

from __future__ import annotations

import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from bot.index.edge_store import EdgeStore
from bot.index.open import store_tuning
from bot.index.page_cache import memory_available, search_files, warm
from bot.index.schema import point_id
from bot.index.sparse import SparseEncoder
from bot.index.store import SignalQuery, StoredPoint
from bot.runtime import Runtime
from bot.serve import _warm
from bot.settings import Settings

TEXTS = [f"Article {n}: how to reset a password, void label {n}, and add funds to the balance." for n in range(40)]


def _built_store(root: Path, embedder) -> EdgeStore:  # type: ignore[no-untyped-def]
    """A closed-and-reopened store with the product's tuning and a threshold low enough that its
    few points get an HNSW graph, an int8 copy and a sparse index, as a large store's segments do."""
    tuning = replace(store_tuning(Settings(data_dir=root)), indexing_threshold_kb=1)
    store = EdgeStore(root / "q", tuning=tuning)
    store.ensure_collection("kb_public", embedder.dim)
    sparse = SparseEncoder()
    store.upsert("kb_public", [
        StoredPoint(id=point_id(f"doc:{n}", 0), dense=vec, sparse=sparse.encode_document(text),
                    payload={"doc_id": f"doc:{n}", "chunk_no": 0, "source": "test", "audience": "public",
                             "kind": "article", "text": text})
        for n, (text, vec) in enumerate(zip(TEXTS, embedder.embed(TEXTS), strict=True))])
    store.optimize("kb_public")
    store.close()
    return EdgeStore(root / "q", tuning=tuning)


def _parts(root: Path, files: list[Path]) -> list[str]:
    return ["/".join(f.relative_to(root / "q" / "kb_public").parts[2:]) for f in files]


def test_search_files_lists_what_a_search_reads_hottest_first(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    store = _built_store(tmp_path, embedder)
    try:
        files = search_files(tmp_path / "q")
    finally:
        store.close()
    parts = _parts(tmp_path, files)
    # The HNSW graph and the filtered fields' indexes first, then the int8 copy, the sparse index,
    # the original vectors.
    first = {
        "graph": min(i for i, p in enumerate(parts) if p.startswith("vector_index-dense/")),
        "int8": min(i for i, p in enumerate(parts) if p.startswith("vector_storage-dense/quantized")),
        "sparse": min(i for i, p in enumerate(parts) if p.startswith("vector_index-sparse/")),
        "vectors": min(i for i, p in enumerate(parts) if p.startswith("vector_storage-dense/")
                       and "quantized" not in p),
    }
    assert first["graph"] < first["int8"] < first["sparse"] < first["vectors"], parts
    assert any("-audience-" in p for p in parts)
    # What searches do not read is left to be read on demand: the log, stored payloads and sparse vectors.
    everything = [str(p) for p in (tmp_path / "q").rglob("*") if p.is_file()]
    assert any("/wal/" in p for p in everything) and any("/payload_storage/" in p for p in everything)
    assert not any(s in str(f) for f in files for s in ("/wal/", "/payload_storage/", "/vector_storage-sparse/"))
    assert search_files(tmp_path / "absent") == []


def test_warm_reads_within_the_budget_and_skips_what_does_not_fit_or_vanished(tmp_path: Path) -> None:
    big, small, gone = tmp_path / "big", tmp_path / "small", tmp_path / "gone"
    big.write_bytes(b"x" * 3_000_000)
    small.write_bytes(b"y" * 1000)
    result = warm([big, gone, small], budget=2_000_000)
    # The big file does not fit, the vanished one is skipped, the small one is read whole.
    assert (result.files, result.bytes_read, result.stopped) == (1, 1000, False)
    assert warm([big, small], budget=10_000_000).bytes_read == 3_001_000


def test_warm_stops_when_asked(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x" * 100)
    stop = threading.Event()
    stop.set()
    result = warm([f, f], budget=10**9, stop=stop)
    assert result.stopped and result.bytes_read == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/meminfo")
def test_memory_available_is_what_the_machine_reports() -> None:
    available = memory_available()
    assert available is not None and 0 < available
    meminfo = Path("/proc/meminfo").read_text()
    reported = next(int(line.split()[1]) * 1024 for line in meminfo.splitlines() if line.startswith("MemAvailable:"))
    assert available <= reported * 1.5  # never more than the machine has (it moves a little meanwhile)


def test_the_store_warms_its_search_files_once_and_searches_meanwhile(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    store = _built_store(tmp_path, embedder)
    try:
        warmer = store.warm_caches()
        assert store.warm_caches() is warmer  # once per store
        result = warmer.wait(timeout_s=30)
        assert result is not None and not result.stopped
        expected = search_files(tmp_path / "q")
        assert result.files == len(expected) > 0
        assert result.bytes_read == sum(p.stat().st_size for p in expected)
        hits = store.search("kb_public", [SignalQuery(dense=embedder.embed_one("void label 7"), limit=1)])[0]
        assert hits and hits[0].id == point_id("doc:7", 0)
    finally:
        store.close()


def test_closing_the_store_stops_its_warmer(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    store = _built_store(tmp_path, embedder)
    warmer = store.warm_caches()
    store.close()
    # Asked to stop at its next block, and the thread is gone by the time close() returns.
    assert warmer._stop.is_set()
    assert warmer._thread is not None and not warmer._thread.is_alive()
    assert warmer.result is not None


@pytest.mark.parametrize("enabled", [True, False])
def test_serve_warms_the_embedded_store_when_answering(tmp_path, embedder, enabled) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, qdrant_warm_cache=enabled)
    with Runtime(settings, embedder=embedder) as rt:
        _warm(rt, answers=True)
        warmer = rt.store._warmer  # type: ignore[attr-defined]
        assert (warmer is not None) is enabled
        if warmer is not None:
            assert warmer.wait(timeout_s=30) is not None
