"""One behaviour suite, run against both backends (Qdrant Edge and qdrant-client's in-memory
stand-in for a server): same inputs, same results."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from bot.errors import StoreError
from bot.index.edge_store import EdgeStore
from bot.index.open import store_tuning
from bot.index.schema import point_id
from bot.index.server_store import ServerStore
from bot.index.sparse import SparseEncoder, SparseVector
from bot.index.store import UNTUNED, SignalQuery, StoredPoint, VectorStore
from bot.settings import Settings

TEXTS = {
    "doc:a": ["Reset your password from the sign-in page.", "The reset link expires after 60 minutes."],
    "doc:b": ["Invoices are under Settings > Billing > Invoices.", "Download them as PDF."],
    "doc:c": ["Webhooks are signed with HMAC-SHA256.", "Verify the signature header.", "Retry after 5 minutes."],
}


def _points(embedder, audience: str = "public") -> list[StoredPoint]:  # type: ignore[no-untyped-def]
    sparse = SparseEncoder()
    out = []
    for doc_id, chunks in TEXTS.items():
        vectors = embedder.embed(chunks)
        for n, (text, vec) in enumerate(zip(chunks, vectors, strict=True)):
            out.append(StoredPoint(
                id=point_id(doc_id, n), dense=vec, sparse=sparse.encode_document(text),
                payload={"doc_id": doc_id, "chunk_no": n, "source": "test", "audience": audience, "kind": "article",
                         "text": text, "doc_hash": f"h-{doc_id}", "chunk_hash": f"c-{doc_id}-{n}"},
            ))
    return out


def _queries(embedder, text: str, **kw) -> list[SignalQuery]:  # type: ignore[no-untyped-def]
    """The dense and the sparse search of ``text``."""
    return [SignalQuery(dense=embedder.embed_one(text), **kw), SignalQuery(sparse=SparseEncoder().encode_query(text), **kw)]


def test_point_ids_are_stable_uuid5() -> None:
    assert point_id("zendesk:article:1", 0) == point_id("zendesk:article:1", 0)
    assert point_id("zendesk:article:1", 0) != point_id("zendesk:article:1", 1)
    assert len(point_id("x", 0)) == 36


def test_each_signal_finds_the_right_chunk_and_retrieve_reads_it(store: VectorStore, embedder) -> None:  # type: ignore[no-untyped-def]
    store.ensure_collection("kb_public", embedder.dim)
    store.upsert("kb_public", _points(embedder))
    by_dense, by_sparse = store.search("kb_public", _queries(embedder, "where do I download my invoices", limit=3))
    invoices = point_id("doc:b", 0)
    assert by_dense[0].id == invoices and by_sparse[0].id == invoices
    assert len(by_dense) == 3 and by_dense[0].score > by_dense[1].score  # best first, cosine scores
    hits = store.retrieve("kb_public", [by_dense[1].id, invoices, point_id("doc:zzz", 0)])
    assert [h.id for h in hits] == [by_dense[1].id, invoices]  # the order asked for; unknown ids left out
    assert hits[1].payload["doc_id"] == "doc:b" and hits[1].payload["text"].startswith("Invoices")
    assert hits[1].dense is not None and hits[1].dense.shape == (embedder.dim,)
    assert store.retrieve("kb_public", [invoices], with_dense=False)[0].dense is None


def test_a_sparse_query_without_terms_finds_nothing(store: VectorStore, embedder) -> None:  # type: ignore[no-untyped-def]
    store.ensure_collection("kb_public", embedder.dim)
    store.upsert("kb_public", _points(embedder))
    empty = SparseVector([], [])
    assert store.search("kb_public", [SignalQuery(sparse=empty), SignalQuery(dense=embedder.embed_one("x"), limit=2)])[0] == []
    with pytest.raises(ValueError):
        SignalQuery()
    with pytest.raises(ValueError):
        SignalQuery(dense=embedder.embed_one("x"), sparse=empty)


def test_upsert_is_idempotent(store: VectorStore, embedder) -> None:  # type: ignore[no-untyped-def]
    store.ensure_collection("kb_public", embedder.dim)
    store.upsert("kb_public", _points(embedder))
    store.upsert("kb_public", _points(embedder))
    assert store.count("kb_public") == 7


def test_filter_restricts_results(store: VectorStore, embedder) -> None:  # type: ignore[no-untyped-def]
    store.ensure_collection("kb", embedder.dim)
    store.upsert("kb", _points(embedder, "public")[:2] + _points(embedder, "internal")[2:])
    public = {point_id("doc:a", 0), point_id("doc:a", 1)}
    by_dense, by_sparse = store.search("kb", _queries(embedder, "webhook signature", limit=10, filter={"audience": ["public"]}))
    assert {h.id for h in by_dense} == public  # the nearest public points, never the internal webhook chunk
    assert by_sparse == []  # the words only occur in internal chunks
    _, by_sparse = store.search("kb", _queries(embedder, "reset password", limit=10, filter={"audience": ["public"]}))
    assert by_sparse and {h.id for h in by_sparse} <= public
    assert store.count("kb", filter={"audience": "internal"}) == 5


def test_delete_doc_tail_and_whole(store: VectorStore, embedder) -> None:  # type: ignore[no-untyped-def]
    store.ensure_collection("kb_public", embedder.dim)
    store.upsert("kb_public", _points(embedder))
    store.delete_doc("kb_public", "doc:c", from_chunk=1)
    assert sorted(p["chunk_no"] for p in store.scroll_payloads("kb_public", filter={"doc_id": "doc:c"})) == [0]
    store.delete_doc("kb_public", "doc:a")
    assert store.count("kb_public", filter={"doc_id": "doc:a"}) == 0
    assert store.count("kb_public") == 3


def test_doc_hashes_and_vector_reuse(store: VectorStore, embedder) -> None:  # type: ignore[no-untyped-def]
    store.ensure_collection("kb_public", embedder.dim)
    points = _points(embedder)
    store.upsert("kb_public", points)
    assert store.doc_hashes("kb_public") == {"doc:a": "h-doc:a", "doc:b": "h-doc:b", "doc:c": "h-doc:c"}
    assert store.doc_hashes("kb_public", source="other") == {}
    vectors = store.dense_by_chunk_hash("kb_public", "doc:c")
    assert set(vectors) == {"c-doc:c-0", "c-doc:c-1", "c-doc:c-2"}
    np.testing.assert_allclose(vectors["c-doc:c-1"], points[5].dense, atol=1e-5)


def test_missing_collection_is_a_clear_error(store: VectorStore) -> None:
    assert not store.has_collection("nope")
    with pytest.raises(StoreError, match="does not exist"):
        store.count("nope")


def test_both_backends_rank_identically(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    edge, memory = EdgeStore(tmp_path / "q"), ServerStore(":memory:")
    try:
        for s in (edge, memory):
            s.ensure_collection("kb_public", embedder.dim)
            s.upsert("kb_public", _points(embedder))
        for q in ("reset link expiry", "billing invoices pdf", "verify HMAC signature", "retry"):
            for a, b in zip(edge.search("kb_public", _queries(embedder, q, limit=5)),
                            memory.search("kb_public", _queries(embedder, q, limit=5)), strict=True):
                assert [h.id for h in a][:3] == [h.id for h in b][:3], q
                np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-3, atol=1e-4)
    finally:
        edge.close()
        memory.close()


def test_embedded_store_survives_reopen(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    s = EdgeStore(tmp_path / "q")
    s.ensure_collection("kb_public", embedder.dim)
    s.upsert("kb_public", _points(embedder))
    s.close()
    reopened = EdgeStore(tmp_path / "q")
    try:
        assert reopened.count("kb_public") == 7
    finally:
        reopened.close()


def test_collection_metadata_is_recorded_merged_and_dropped(store: VectorStore) -> None:
    store.ensure_collection("kb_public", 8, metadata={"embedding_model": "m1", "embedding_dim": 8})
    info = store.collection_info("kb_public")
    assert info.dim == 8 and info.metadata == {"embedding_model": "m1", "embedding_dim": 8}
    store.update_metadata("kb_public", {"built:zd": "m1"})
    store.update_metadata("kb_public", {"built:web": "m1"})
    assert store.collection_info("kb_public").metadata == {"embedding_model": "m1", "embedding_dim": 8,
                                                           "built:zd": "m1", "built:web": "m1"}
    # ensure_collection on an existing collection keeps its metadata.
    store.ensure_collection("kb_public", 8, metadata={"embedding_model": "other"})
    assert store.collection_info("kb_public").metadata["embedding_model"] == "m1"
    store.drop_collection("kb_public")
    assert not store.has_collection("kb_public")
    store.drop_collection("kb_public")  # dropping what is gone is not an error
    store.ensure_collection("kb_public", 4)
    assert store.collection_info("kb_public") == type(info)(dim=4, metadata={})
    assert store.count("kb_public") == 0


def test_embedded_metadata_survives_reopen_and_legacy_shards_have_none(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = EdgeStore(tmp_path / "q")
    s.ensure_collection("a", 8, metadata={"embedding_model": "m1"})
    s.ensure_collection("b", 16)
    s.close()
    (tmp_path / "q" / "b" / "helpdesk_collection.json").unlink()  # as made before metadata existed
    reopened = EdgeStore(tmp_path / "q")
    try:
        assert reopened.collection_info("a").metadata == {"embedding_model": "m1"}
        assert reopened.collection_info("b").dim == 16 and reopened.collection_info("b").metadata == {}
    finally:
        reopened.close()



@pytest.mark.parametrize(("tuning", "mapped"), [(None, True), (UNTUNED, False)])
def test_embedded_payload_indexes_are_memory_mapped_and_filter_after_reopen(tmp_path, embedder, tuning, mapped) -> None:  # type: ignore[no-untyped-def]
    import qdrant_edge as qe

    s = EdgeStore(tmp_path / "q", tuning=tuning)
    s.ensure_collection("kb_public", embedder.dim)
    s.upsert("kb_public", _points(embedder))
    s.optimize("kb_public")
    s.close()
    reopened = EdgeStore(tmp_path / "q", tuning=tuning)
    try:
        schema = reopened._shards["kb_public"].info().payload_schema
        assert set(schema) == {"doc_id", "source", "audience", "kind", "chunk_no"}
        # The sync's indexes memory-mapped; those searches filter on (a few values each) in RAM.
        assert {k for k, info in schema.items() if info.params.memory == qe.Memory.Cold} == (
            {"doc_id", "source", "chunk_no"} if mapped else set())
        # The indexes answer filters and deletes read back from disk.
        assert reopened.count("kb_public", filter={"doc_id": "doc:c"}) == 3
        reopened.delete_doc("kb_public", "doc:c", from_chunk=1)
        assert sorted(p["chunk_no"] for p in reopened.scroll_payloads("kb_public", filter={"doc_id": "doc:c"})) == [0]
    finally:
        reopened.close()


def _quantized_placements(root) -> set[str]:  # type: ignore[no-untyped-def]
    """Where the built segments keep their int8 vectors, read from the engine's own segment files."""
    placements = set()
    for f in root.glob("kb_public/segments/*/segment.json"):
        q = json.loads(f.read_text())["config"]["vector_data"]["dense"]["quantization_config"]
        if q is not None:
            placements.add(q["scalar"]["memory"])
    return placements


@pytest.mark.parametrize(("on_disk", "placement"), [(True, "cold"), (False, "pinned")])
def test_embedded_int8_vectors_are_memory_mapped_and_searched_after_reopen(tmp_path, embedder, on_disk, placement) -> None:  # type: ignore[no-untyped-def]
    # The product's tuning from settings, with a threshold low enough that these few points get built.
    tuning = replace(store_tuning(Settings(data_dir=tmp_path, qdrant_on_disk=on_disk)), indexing_threshold_kb=1)
    s = EdgeStore(tmp_path / "q", tuning=tuning)
    s.ensure_collection("kb_public", embedder.dim)
    s.upsert("kb_public", _points(embedder))
    s.optimize("kb_public")
    s.close()
    assert _quantized_placements(tmp_path / "q") == {placement}
    reopened = EdgeStore(tmp_path / "q", tuning=tuning)
    try:
        # Searched through the int8 copy read back from disk, rescored on the originals.
        dense, _ = reopened.search("kb_public", _queries(embedder, "how long is the reset link valid", limit=3))
        assert reopened.retrieve("kb_public", [dense[0].id], with_dense=False)[0].payload["chunk_no"] == 1
        assert dense[0].score == pytest.approx(float(embedder.embed_one("how long is the reset link valid")
                                                     @ embedder.embed(TEXTS["doc:a"])[1]), abs=1e-4)
    finally:
        reopened.close()
