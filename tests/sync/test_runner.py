"""The sync runner: checkpoint after acknowledged writes, pruning only on a full listing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.index.edge_store import EdgeStore
from bot.index.indexer import Indexer
from bot.state import StateStore
from bot.sync.runner import sync_source
from connectors.base import Checkpoint, TransientError
from connectors.files import FilesConnector, FilesConnectorSettings


@pytest.fixture
def setup(tmp_path: Path, embedder, chunker):  # type: ignore[no-untyped-def]
    folder = tmp_path / "kb"
    folder.mkdir()
    for i in range(3):
        (folder / f"a{i}.md").write_text(f"# Article {i}\n\nArticle {i} explains topic {i} in detail.\n", encoding="utf-8")
    store = EdgeStore(tmp_path / "q")
    indexer = Indexer(store=store, embedder=embedder, chunker=chunker)
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield folder, store, indexer, state.ledger
    store.close()
    state.close()


def test_sync_prunes_deleted_files_and_saves_checkpoint(setup) -> None:  # type: ignore[no-untyped-def]
    folder, store, indexer, state = setup
    connector = FilesConnector(FilesConnectorSettings(name="kb", path=folder))
    first = sync_source(connector, indexer=indexer, state=state)
    assert first.stats.added == 3
    assert state.load_checkpoint("kb") is not None
    (folder / "a1.md").unlink()
    second = sync_source(connector, indexer=indexer, state=state)
    assert second.pruned == 1 and second.stats.unchanged == 2
    assert store.count("kb_public", filter={"doc_id": "kb:file:a1.md"}) == 0
    runs = state.last_runs("kb")
    assert [r.status for r in runs] == ["ok", "ok"] and runs[0].stats["pruned"] == 1


class PartialListing(FilesConnector):
    def list_ids(self):  # type: ignore[no-untyped-def]
        raise TransientError("listing failed halfway (HTTP 503)")


def test_failed_listing_deletes_nothing(setup) -> None:  # type: ignore[no-untyped-def]
    folder, store, indexer, state = setup
    sync_source(FilesConnector(FilesConnectorSettings(name="kb", path=folder)), indexer=indexer, state=state)
    (folder / "a1.md").unlink()
    report = sync_source(PartialListing(FilesConnectorSettings(name="kb", path=folder)), indexer=indexer, state=state)
    assert report.pruned == 0 and "503" in (report.prune_error or "")
    assert store.count("kb_public", filter={"doc_id": "kb:file:a1.md"}) > 0


class Exploding(FilesConnector):
    def sync(self, checkpoint):  # type: ignore[no-untyped-def]
        yield from super().sync(checkpoint)
        raise TransientError("connection reset")


def test_failed_sync_keeps_old_checkpoint(setup) -> None:  # type: ignore[no-untyped-def]
    folder, _, indexer, state = setup
    old = Checkpoint(cursor="old")
    state.save_checkpoint("kb", old)
    with pytest.raises(TransientError):
        sync_source(Exploding(FilesConnectorSettings(name="kb", path=folder)), indexer=indexer, state=state)
    assert state.load_checkpoint("kb") == old
    assert state.last_runs("kb")[0].status == "failed"
