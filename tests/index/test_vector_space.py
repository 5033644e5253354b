"""A collection records which embedding model wrote it: another space is refused, another build re-embeds.

Real parts throughout: the local ONNX model at both precisions, an embeddings server speaking
OpenAI's wire format over real HTTP, a fake Zendesk for an incremental source, Qdrant Edge.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.errors import EmbeddingMismatchError
from bot.index.embeddings import Embedder
from bot.index.remote_embeddings import RemoteEmbedder
from bot.models import Audience
from bot.runtime import Runtime
from bot.settings import Settings
from bot.sync.service import SyncService
from bot.sync.sources import Schedule, SourceConfig
from connectors.zendesk import ZendeskSettings
from tests.cli.test_cli import assert_one_line_error, run_cli
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.zendesk_server import FakeZendesk, comment

ENV = {"ZENDESK_EMAIL": "bot@acme.test", "ZENDESK_API_TOKEN": "tok"}


@pytest.fixture
def zd() -> Iterator[FakeZendesk]:
    with FakeZendesk(credentials=("bot@acme.test/token", "tok")) as server:
        server.add_user(500, "Carla", "end-user")
        server.add_user(900, "Ada", "agent")
        server.add_category(1, "Billing")
        server.add_section(10, "Refunds", category_id=1)
        server.add_article(100, "Refund policy", "<p>Refunds are issued within <b>14 days</b> of the charge.</p>", section_id=10)
        server.add_article(101, "Void a label", "<p>Unused labels can be voided within 30 days.</p>", section_id=10)
        for tid in (7, 8):
            server.add_ticket(tid, f"Duplicate charge {tid}", requester_id=500, comments=[
                comment("I was charged twice for one label.", author_id=500),
                comment("We refunded the duplicate label; it shows within 5 days.", author_id=900),
            ])
        yield server


def _service(settings: Settings, embedder, zd: FakeZendesk, client: httpx.Client) -> tuple[Runtime, SyncService]:  # type: ignore[no-untyped-def]
    rt = Runtime(settings.model_copy(update={"sample_kb": False}), embedder=embedder)
    src = ZendeskSettings(name="zd", base_url=zd.url)
    service = SyncService([SourceConfig(name="zd", type="zendesk", schedule=Schedule(), settings=src)],
                          ledger=rt.state.ledger, indexer=lambda: rt.indexer, client=client, environ=ENV,
                          sleep=lambda s: None)
    return rt, service


@pytest.fixture(scope="module")
def fp32_embedder() -> Embedder:
    return Embedder(threads=2, precision="fp32")


def test_a_new_build_of_the_same_model_re_embeds_an_incremental_source_once(
        settings: Settings, embedder: Embedder, fp32_embedder: Embedder, zd: FakeZendesk) -> None:
    assert embedder.name != fp32_embedder.name and embedder.space == fp32_embedder.space
    with httpx.Client(timeout=5) as client:
        rt, service = _service(settings, fp32_embedder, zd, client)
        first = service.run("zd")
        assert first is not None and first.stats.added == 4
        again = service.run("zd")  # incremental: the checkpoint holds, nothing is re-read
        assert again is not None and again.stats.added == again.stats.updated == again.stats.chunks_embedded == 0
        rt.close()

        rt, service = _service(settings, embedder, zd, client)
        # Queries of the new build search the old build's vectors meanwhile (same space).
        assert not rt.answers.answer("how long does a refund take", Audience.AGENT).abstained
        switched = service.run("zd")
        # Every document came again although the checkpoint said nothing changed, and was re-embedded.
        assert switched is not None and switched.stats.updated == 4 and switched.stats.chunks_embedded > 0
        assert switched.stats.chunks_reused == 0
        settled = service.run("zd")
        assert settled is not None and settled.stats.updated == settled.stats.chunks_embedded == 0
        meta = rt.store.collection_info("kb_internal").metadata
        assert meta["built:zd"] == embedder.name and meta["embedding_model"] == embedder.space
        rt.close()


def test_another_embedding_model_is_refused_for_writes_and_questions(settings: Settings, embedder: Embedder,
                                                                     zd: FakeZendesk) -> None:
    with httpx.Client(timeout=5) as client, FakeOpenAI(embedding_dim=32) as server:
        rt, service = _service(settings, embedder, zd, client)
        assert service.run("zd") is not None
        rt.close()

        remote = RemoteEmbedder(base_url=f"{server.url}/v1", api_key=None, model="text-embedding-test")
        rt, service = _service(settings, remote, zd, client)
        with pytest.raises(EmbeddingMismatchError, match="'all-MiniLM-L6-v2' \\(384 dims\\).*'text-embedding-test' \\(32 dims\\)"):
            service.run("zd")
        with pytest.raises(EmbeddingMismatchError, match="never mixed"):
            rt.answers.answer("how long does a refund take", Audience.AGENT)
        counts = {name: rt.store.count(name) for name in rt.collection_names}
        assert counts["kb_public"] > 0 and counts["kb_internal"] > 0  # nothing was dropped or mixed
        rt.close()


def test_cli_refuses_then_rebuilds_with_an_embeddings_server(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text("# Refunds\n\nRefunds are issued within 14 days of the charge.\n", encoding="utf-8")
    (docs / "labels.md").write_text("# Void a label\n\nUnused labels can be voided within 30 days.\n", encoding="utf-8")
    env = {"HELPDESK_DATA_DIR": str(tmp_path / "data"), "HELPDESK_SAMPLE_KB": "false", "HELPDESK_FILES_DIR": str(docs),
           "HELPDESK_EMBED_THREADS": "2"}
    local = run_cli("sync", env=env, cwd=tmp_path)
    assert local.returncode == 0, local.stderr[-2000:]

    with FakeOpenAI(embedding_dim=24) as server:
        remote_env = {**env, "HELPDESK_EMBEDDINGS_URL": f"{server.url}/v1", "HELPDESK_EMBEDDINGS_MODEL": "text-embedding-test",
                      "HELPDESK_EMBEDDINGS_API_KEY": "sk-secret-123",
                      # The gate is calibrated on MiniLM; the fake's word-sum vectors (cosine ~0.7 for this
                      # question and passage, above the gate's similarity floor) score lower than MiniLM's.
                      "HELPDESK_MIN_CONFIDENCE": "0.05"}
        assert_one_line_error(run_cli("sync", env=remote_env, cwd=tmp_path), "never mixed")
        assert_one_line_error(run_cli("ask", "Within how many days are refunds issued?", env=remote_env, cwd=tmp_path),
                              "sync --rebuild")
        rebuilt = run_cli("sync", "--rebuild", env=remote_env, cwd=tmp_path)
        assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
        assert "dropped" in rebuilt.stdout and "2 added" in rebuilt.stdout
        asked = run_cli("ask", "--json", "Within how many days are refunds issued?", env=remote_env, cwd=tmp_path)
        assert asked.returncode == 0, asked.stderr[-2000:]
        assert "14 days" in asked.stdout
        inputs = [t for r in server.requests if r.path == "/v1/embeddings" for t in r.json["input"]]
        assert "Within how many days are refunds issued?" in inputs  # the question went to the same server and model
        assert "sk-secret-123" not in rebuilt.stderr + asked.stderr + rebuilt.stdout

    # Back to the local model without a rebuild: refused the same way.
    assert_one_line_error(run_cli("ask", "Within how many days are refunds issued?", env=env, cwd=tmp_path), "never mixed")
