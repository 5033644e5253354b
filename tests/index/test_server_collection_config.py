"""What a new collection asks a Qdrant server for, read off the wire (a real local HTTP server)."""

from __future__ import annotations

import pytest

from bot.errors import StoreError
from bot.index.open import open_store
from bot.index.server_store import ServerStore
from bot.index.store import StoreTuning
from bot.settings import Settings
from tests.fakes.qdrant_server import FakeQdrant

ACCEPT = ("PUT /collections/*",)


def _creation(server: FakeQdrant, name: str) -> dict:  # type: ignore[type-arg]
    [req] = [r for r in server.requests if r.method == "PUT" and r.path == f"/collections/{name}"]
    return req.json


def test_cluster_settings_and_levers_reach_the_server(settings: Settings) -> None:
    with FakeQdrant(accept=ACCEPT) as server:
        s = settings.model_copy(update={"qdrant_url": server.url, "qdrant_shards": 6, "qdrant_replication": 2,
                                        "qdrant_write_consistency": 2})
        store = open_store(s)
        store.ensure_collection("kb_public", 384, metadata={"embedding_model": "all-MiniLM-L6-v2"})
        body = _creation(server, "kb_public")
        assert (body["shard_number"], body["replication_factor"], body["write_consistency_factor"]) == (6, 2, 2)
        assert body["metadata"] == {"embedding_model": "all-MiniLM-L6-v2"}
        assert body["vectors"]["dense"] == {"size": 384, "distance": "Cosine", "on_disk": True}
        # The int8 copy memory-mapped too: a restart does not copy it into RAM.
        assert body["quantization_config"] == {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": False}}
        assert body["sparse_vectors"]["sparse"] == {"index": {"on_disk": True}, "modifier": "idf"}
        assert body["hnsw_config"]["m"] == 16 and body["optimizers_config"]["indexing_threshold"] == 20_000
        indexes = {r.json["field_name"]: r.json["field_schema"] for r in server.requests if r.path.endswith("/index")}
        # The sync's indexes memory-mapped; those searches filter on (a few values each) in RAM.
        assert indexes["audience"] == {"type": "keyword", "enable_hnsw": False}
        assert indexes["doc_id"] == {"type": "keyword", "enable_hnsw": False, "on_disk": True}
        assert indexes["chunk_no"] == {"type": "integer", "lookup": True, "range": True, "enable_hnsw": False, "on_disk": True}
        store.close()


def test_defaults_leave_sharding_to_the_server() -> None:
    with FakeQdrant(accept=ACCEPT) as server:
        store = ServerStore(server.url, tuning=StoreTuning(quantize=False, vectors_on_disk=False))
        store.ensure_collection("kb_public", 8)
        body = _creation(server, "kb_public")
        assert "shard_number" not in body and "replication_factor" not in body and "quantization_config" not in body
        assert body["vectors"]["dense"]["on_disk"] is False
        store.close()


def test_payload_indexes_and_int8_vectors_stay_in_ram_when_asked(settings: Settings) -> None:
    with FakeQdrant(accept=ACCEPT) as server:
        store = open_store(settings.model_copy(update={"qdrant_url": server.url, "qdrant_on_disk": False}))
        store.ensure_collection("kb_public", 8)
        indexes = {r.json["field_name"]: r.json["field_schema"] for r in server.requests if r.path.endswith("/index")}
        assert indexes["doc_id"] == {"type": "keyword", "enable_hnsw": False}
        assert _creation(server, "kb_public")["quantization_config"]["scalar"]["always_ram"] is True
        store.close()


def test_losing_the_creation_race_to_another_process_is_not_an_error() -> None:
    with FakeQdrant(accept=ACCEPT, conflict=("kb_public",)) as server:
        store = ServerStore(server.url)
        store.ensure_collection("kb_public", 8)  # 409 "already exists": the other process made it
        assert store.has_collection("kb_public")
        store.close()


def test_a_real_creation_failure_still_raises() -> None:
    with FakeQdrant(accept=("PUT /collections/*/index",)) as server:  # creation itself answers 500
        store = ServerStore(server.url)
        with pytest.raises(StoreError, match="Qdrant server error 500"):
            store.ensure_collection("kb_public", 8)
        store.close()
