"""A Zendesk help center and ticket export, through the real sync engine into real Qdrant.

Fake Zendesk over real HTTP -> ZendeskConnector -> SyncService / runner -> Indexer (real model)
-> Qdrant Edge. What a support engineer needs to trust: internal notes never public, PII never
stored, deletions propagated, crashes lose nothing and duplicate nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.runtime import Runtime
from bot.settings import Settings
from bot.state import StateDatabase, SyncLedger
from bot.sync.service import SyncService
from bot.sync.sources import Schedule, SourceConfig
from connectors.zendesk import ZendeskSettings
from tests.fakes.zendesk_server import FakeZendesk, comment

ENV = {"ZENDESK_EMAIL": "bot@acme.test", "ZENDESK_API_TOKEN": "tok"}
CANARY = "CANARY-91c2 escalate via backoffice"
CUSTOMER, AGENT = 500, 900


@pytest.fixture
def zd() -> Iterator[FakeZendesk]:
    with FakeZendesk(credentials=("bot@acme.test/token", "tok")) as server:
        server.add_user(CUSTOMER, "Carla", "end-user")
        server.add_user(AGENT, "Ada", "agent")
        server.add_category(1, "Billing")
        server.add_section(10, "Refunds", category_id=1)
        server.add_article(100, "Refund policy", "<p>Refunds are issued within <b>14 days</b> of the charge.</p>", section_id=10)
        server.add_article(101, "Void a label", "<p>Unused labels can be voided within 30 days.</p>", section_id=10)
        server.add_article(102, "Agent refund limits", "<p>Tier 1 agents approve up to $100.</p>", section_id=10,
                           user_segment_id=7)
        server.add_ticket(7, "Refund for a duplicate label", requester_id=CUSTOMER, comments=[
            comment("I was charged twice, mail me at carla.doe@example.com or call +1 415 555 0134.", author_id=CUSTOMER),
            comment("We refunded the duplicate label; it shows within 5 days.", author_id=AGENT),
            comment(f"Internal: {CANARY}", author_id=AGENT, public=False),
        ])
        server.add_ticket(8, "Where is my invoice?", requester_id=CUSTOMER, comments=[
            comment("Where do I find invoices?", author_id=CUSTOMER),
            comment("Settings > Billing > Invoices.", author_id=AGENT),
        ])
        yield server


def _service(settings: Settings, embedder, zd: FakeZendesk, client: httpx.Client, *,  # type: ignore[no-untyped-def]
             internal_notes: bool = False, ledger: SyncLedger | None = None) -> tuple[Runtime, SyncService]:
    rt = Runtime(settings.model_copy(update={"sample_kb": False}), embedder=embedder)
    src = ZendeskSettings(name="zd", base_url=zd.url, include_internal_notes=internal_notes)
    service = SyncService([SourceConfig(name="zd", type="zendesk", schedule=Schedule(), settings=src)],
                          ledger=ledger or rt.state.ledger, indexer=lambda: rt.indexer,
                          client=client, environ=ENV, sleep=lambda s: None)
    return rt, service


def _points(rt: Runtime) -> dict[str, set[tuple[str, int, str]]]:
    return {name: {(p["doc_id"], p["chunk_no"], p["chunk_hash"]) for p in rt.store.scroll_payloads(name)}
            for name in rt.indexer.collections.values()}


def _blob(rt: Runtime, collection: str) -> str:
    return repr(rt.store.scroll_payloads(collection))


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


def test_sync_walls_masks_and_propagates_deletions(settings: Settings, embedder, zd: FakeZendesk, client: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    rt, service = _service(settings, embedder, zd, client, internal_notes=True)
    try:
        report = service.run("zd")
        assert report is not None and report.stats.added == 5
        public, internal = _blob(rt, "kb_public"), _blob(rt, "kb_internal")
        assert "Refunds are issued within" in public and "Tier 1 agents" not in public
        assert "Tier 1 agents" in internal  # restricted article -> internal
        assert CANARY not in public and CANARY in internal  # internal notes only ever internal
        assert "carla.doe@example.com" not in public + internal and "555 0134" not in public + internal
        assert report.stats.pii == {"email": 1, "phone": 1}

        zd.delete_article(101)  # vanished from the help center
        zd.update_article(100, draft=True)  # unpublished
        zd.delete_ticket(8)
        second = service.run("zd")
        assert second is not None
        ids = {p["doc_id"] for name in rt.indexer.collections.values() for p in rt.store.scroll_payloads(name)}
        assert ids == {"zd:article:102", "zd:ticket:7"}
    finally:
        rt.close()


def test_internal_notes_stay_out_by_default(settings: Settings, embedder, zd: FakeZendesk, client: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    rt, service = _service(settings, embedder, zd, client)
    try:
        service.run("zd")
        assert CANARY not in _blob(rt, "kb_public") + _blob(rt, "kb_internal")
        assert "We refunded the duplicate label" in _blob(rt, "kb_internal")
    finally:
        rt.close()


class CrashBeforeCheckpoint(SyncLedger):
    """The real sync ledger, dying once right after the writes and before the checkpoint."""

    crashed = False

    def save_checkpoint(self, source, checkpoint) -> None:  # type: ignore[no-untyped-def]
        if not self.crashed:
            CrashBeforeCheckpoint.crashed = True
            raise RuntimeError("simulated crash before the checkpoint")
        super().save_checkpoint(source, checkpoint)


def test_crash_between_upsert_and_checkpoint(tmp_path: Path, settings: Settings, embedder, zd: FakeZendesk,  # type: ignore[no-untyped-def]
                                             client: httpx.Client) -> None:
    clean_settings = settings.model_copy(update={"data_dir": tmp_path / "clean"})
    rt, service = _service(clean_settings, embedder, zd, client)
    service.run("zd")
    expected = _points(rt)
    rt.close()

    crash_settings = settings.model_copy(update={"data_dir": tmp_path / "crash"})
    state = CrashBeforeCheckpoint(StateDatabase(crash_settings.state_url))
    rt, service = _service(crash_settings, embedder, zd, client, ledger=state)
    try:
        with pytest.raises(RuntimeError, match="simulated crash"):
            service.run("zd")
        assert state.load_checkpoint("zd") is None  # the checkpoint did not move
        assert state.last_runs("zd")[0].status == "failed"
        again = service.run("zd")
        assert again is not None and again.stats.unchanged == 5 and again.stats.chunks_embedded == 0
        assert _points(rt) == expected  # no loss, no duplicates
        assert state.load_checkpoint("zd") is not None
    finally:
        rt.close()
        state.db.close()


def test_auth_failure_is_recorded_and_loses_nothing(settings: Settings, embedder, zd: FakeZendesk, client: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    rt, service = _service(settings, embedder, zd, client)
    try:
        service.run("zd")
        before = _points(rt)
        zd.fail("/api/v2/help_center/*", 401, times=1)
        from connectors.base import AuthError

        with pytest.raises(AuthError):
            service.run("zd")
        assert _points(rt) == before
        status = {s.name: s for s in service.status()}["zd"]
        assert status.last_status == "failed" and "AuthError" in (status.last_error or "")
    finally:
        rt.close()
