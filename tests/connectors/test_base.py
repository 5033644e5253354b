"""The connector seam itself: a sync's events and checkpoint, and one way to build every connector."""

from __future__ import annotations

from pathlib import Path

import httpx

from bot.models import Deleted, Document, DocumentKind, Visibility
from connectors.base import Checkpoint, Skipped, SyncEvents, SyncRun, drain
from connectors.files import FilesConnector, FilesConnectorSettings
from connectors.registry import build_connector


def _sync() -> SyncEvents:
    yield Document(id="s:1", source="s", kind=DocumentKind.ARTICLE, audience=Visibility.PUBLIC, title="A", text="a")
    yield Skipped(source="s", reason="record 2: no title")
    yield Deleted(id="s:3", source="s")
    return Checkpoint(cursor="next")


def test_drain_keeps_every_event_in_order_and_the_returned_checkpoint() -> None:
    events, checkpoint = drain(_sync())
    assert [type(e).__name__ for e in events] == ["Document", "Skipped", "Deleted"]
    assert checkpoint == Checkpoint(cursor="next")


def test_a_sync_run_streams_and_has_its_checkpoint_only_at_the_end() -> None:
    run = SyncRun(_sync())
    seen = []
    for event in run:
        seen.append(event)
        assert run.checkpoint is None  # not before the connector has returned
    assert len(seen) == 3 and run.checkpoint == Checkpoint(cursor="next")


def test_every_connector_type_is_built_alike(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\nBody.\n", encoding="utf-8")
    with httpx.Client() as client:
        connector = build_connector(FilesConnectorSettings(name="kb", path=tmp_path), client=client, environ={},
                                    sleep=lambda s: None, clock=lambda: 0.0)
    assert isinstance(connector, FilesConnector) and connector.name == "kb"
    events, _ = drain(connector.sync(None))
    assert [e.id for e in events] == ["kb:file:a.md"]
