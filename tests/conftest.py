"""Shared fixtures: the real embedder (loaded once), real stores (Qdrant Edge and qdrant-client's
in-memory stand-in for a server), a small runtime over the bundled sample knowledge base, and
``serve()`` in a thread. Shared helpers (not fixtures) live in :mod:`tests.support`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Nothing in the suite may reach a model hub; make any attempt fail fast instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bot.index.chunking import Chunker  # noqa: E402
from bot.index.edge_store import EdgeStore  # noqa: E402
from bot.index.embeddings import Embedder  # noqa: E402
from bot.index.server_store import ServerStore  # noqa: E402
from bot.index.sparse import SparseEncoder  # noqa: E402
from bot.index.store import VectorStore  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.support.servers import Served  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder(threads=2, batch_size=32)


@pytest.fixture(scope="session")
def chunker() -> Chunker:
    return Chunker(chunk_tokens=200, overlap_tokens=40)


@pytest.fixture(scope="session")
def sparse() -> SparseEncoder:
    return SparseEncoder()


@pytest.fixture(params=["edge", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    """Each backend in turn: the behaviour suite must pass on both."""
    s: VectorStore = EdgeStore(tmp_path / "qdrant") if request.param == "edge" else ServerStore(":memory:")
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings isolated from the developer's environment and .env."""
    for key in list(os.environ):
        if key.startswith(("HELPDESK_", "QDRANT_", "OPENAI_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    return Settings(data_dir=tmp_path / "data", embed_threads=2, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not present (a user's fresh clone has none)")
    return SHARED


@pytest.fixture(scope="session")
def sample_runtime(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder):  # type: ignore[no-untyped-def]
    """A runtime whose embedded store holds the bundled sample knowledge base (synced once)."""
    from bot.runtime import Runtime
    from bot.sync.runner import sync_source

    data = tmp_path_factory.mktemp("sample-data")
    s = Settings(data_dir=data, embed_threads=2, _env_file=None)  # type: ignore[call-arg]
    rt = Runtime(s, embedder=embedder)
    for connector in rt.connectors():
        sync_source(connector, indexer=rt.indexer, state=rt.state.ledger)
    yield rt
    rt.close()


@pytest.fixture
def served() -> Iterator[Callable[..., Served]]:
    """``served(runtime, settings, **serve_kwargs)``: ``serve()`` in a thread, stopped at teardown."""
    made: list[Served] = []

    def start(runtime: Any, settings: Settings, **kw: Any) -> Served:
        s = Served(runtime, settings, **kw)
        made.append(s)
        return s

    yield start
    for s in made:
        s.close()
