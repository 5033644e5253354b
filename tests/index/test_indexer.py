"""The indexer: skip unchanged documents, reuse unchanged chunks' vectors, converge after a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.index.edge_store import EdgeStore
from bot.index.indexer import Indexer
from bot.index.pii import PiiMasker
from bot.index.store import StoredPoint
from bot.models import Document, DocumentKind, Visibility


def _doc(i: int, *, body: str | None = None, audience: Visibility = Visibility.PUBLIC,
         kind: DocumentKind = DocumentKind.ARTICLE) -> Document:
    text = body or "\n\n".join(
        f"## Section {s}\n\n" + " ".join(f"Doc {i} section {s} sentence {k} about parcels and carriers." for k in range(12))
        for s in range(3)
    )
    return Document(id=f"t:{i}", source="t", kind=kind, audience=audience, title=f"Document {i}", text=text)


def _snapshot(store, indexer: Indexer) -> dict[str, set[tuple[str, int, str]]]:  # type: ignore[no-untyped-def]
    return {name: {(p["doc_id"], p["chunk_no"], p["chunk_hash"]) for p in store.scroll_payloads(name)}
            for name in indexer.collections.values()}


@pytest.fixture
def indexer(store, embedder, chunker) -> Indexer:  # type: ignore[no-untyped-def]
    return Indexer(store=store, embedder=embedder, chunker=chunker, masker=PiiMasker())


def test_unchanged_documents_are_not_embedded_again(indexer: Indexer) -> None:
    docs = [_doc(i) for i in range(4)]
    first = indexer.index(docs)
    assert first.added == 4 and first.chunks_embedded > 4
    again = indexer.index(docs)
    assert again.unchanged == 4 and again.chunks_embedded == 0 and again.added == again.updated == 0


def test_changed_document_reuses_unchanged_chunk_vectors(indexer: Indexer) -> None:
    doc = _doc(1)
    first = indexer.index([doc])
    changed = doc.model_copy(update={"text": doc.text + "\n\n## Section 9\n\nA brand new closing paragraph."})
    second = indexer.index([changed])
    assert second.updated == 1
    assert second.chunks_reused >= first.chunks_embedded - 1
    assert second.chunks_embedded <= 2


def test_shrinking_document_drops_its_tail(indexer: Indexer, store) -> None:  # type: ignore[no-untyped-def]
    indexer.index([_doc(1)])
    before = store.count("kb_public", filter={"doc_id": "t:1"})
    indexer.index([_doc(1, body="Now a one-line article.")])
    assert before > 1
    assert store.count("kb_public", filter={"doc_id": "t:1"}) == 1


def test_audience_change_moves_the_document(indexer: Indexer, store) -> None:  # type: ignore[no-untyped-def]
    indexer.index([_doc(1)])
    indexer.index([_doc(1, audience=Visibility.INTERNAL)])
    assert store.count("kb_public", filter={"doc_id": "t:1"}) == 0
    assert store.count("kb_internal", filter={"doc_id": "t:1"}) > 0


def test_pii_in_tickets_is_masked_before_storage(indexer: Indexer, store) -> None:  # type: ignore[no-untyped-def]
    ticket = _doc(7, body="Customer jane.doe@example.com called from +1 415 555 0134 about label PCL-4031.",
                  audience=Visibility.INTERNAL, kind=DocumentKind.TICKET)
    stats = indexer.index([ticket])
    payloads = store.scroll_payloads("kb_internal")
    blob = repr(payloads)
    assert "jane.doe@example.com" not in blob and "555 0134" not in blob
    assert "PCL-4031" in blob
    assert stats.pii == {"email": 1, "phone": 1}


def test_delete_removes_every_chunk(indexer: Indexer, store) -> None:  # type: ignore[no-untyped-def]
    indexer.index([_doc(1), _doc(2)])
    assert indexer.delete(["t:1", "t:404"]) == 1
    assert store.count("kb_public", filter={"doc_id": "t:1"}) == 0
    assert store.count("kb_public", filter={"doc_id": "t:2"}) > 0


class CrashingStore(EdgeStore):
    """The real embedded store, made to fail after a number of acknowledged writes (upserts and deletes)."""

    def __init__(self, root: Path, crash_after: int) -> None:
        super().__init__(root)
        self.remaining = crash_after

    def _written(self) -> None:
        if self.remaining == 0:
            raise RuntimeError("simulated crash")
        self.remaining -= 1

    def upsert(self, collection: str, points: list[StoredPoint]) -> None:  # type: ignore[override]
        self._written()
        super().upsert(collection, points)

    def delete_doc(self, collection: str, doc_id: str, *, from_chunk: int = 0) -> None:
        self._written()
        super().delete_doc(collection, doc_id, from_chunk=from_chunk)


# The two changed documents are written together: chunks 1..n of both, their two tails, chunk 0 of both.
@pytest.mark.parametrize("crash_after", [0, 1, 2, 3])
def test_crash_then_rerun_equals_a_clean_run(tmp_path: Path, embedder, chunker, crash_after: int) -> None:  # type: ignore[no-untyped-def]
    old = [_doc(i) for i in range(3)]
    new = [old[0], _doc(1, body="Rewritten: shorter now."), _doc(3)]  # one unchanged, one changed, one new

    clean_store = EdgeStore(tmp_path / "clean")
    clean = Indexer(store=clean_store, embedder=embedder, chunker=chunker)
    clean.index(old)
    clean.index(new)
    expected = _snapshot(clean_store, clean)
    clean_store.close()

    base = EdgeStore(tmp_path / "crash")
    Indexer(store=base, embedder=embedder, chunker=chunker).index(old)
    base.close()
    crashing = CrashingStore(tmp_path / "crash", crash_after)
    with pytest.raises(RuntimeError, match="simulated crash"):
        Indexer(store=crashing, embedder=embedder, chunker=chunker).index(new)
    crashing.close()

    store = EdgeStore(tmp_path / "crash")
    rerun = Indexer(store=store, embedder=embedder, chunker=chunker)
    rerun.index(new)
    assert _snapshot(store, rerun) == expected
    store.close()


def test_new_chunking_configuration_reindexes(store, embedder, chunker) -> None:  # type: ignore[no-untyped-def]
    from bot.index.chunking import Chunker

    Indexer(store=store, embedder=embedder, chunker=chunker).index([_doc(1)])
    smaller = Chunker(chunk_tokens=64, overlap_tokens=8)
    stats = Indexer(store=store, embedder=embedder, chunker=smaller).index([_doc(1)])
    assert stats.updated == 1 and stats.unchanged == 0
    assert all(smaller.count_tokens(p["text"]) <= 64 for p in store.scroll_payloads("kb_public"))
