"""Web test harness: the operations routes behind uvicorn on 127.0.0.1, over a real state store.

The runtime is a small stand-in (a real :class:`StateStore` and :class:`SyncService`, qdrant-client's
in-memory mode as the store, a hashing embedder) unless a test needs the real model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest

from bot.index.server_store import ServerStore
from bot.settings import Settings
from bot.slack.server import HttpServer, create_asgi_app
from bot.state import StateStore
from bot.sync.service import SyncService
from bot.sync.sources import Schedule, SourceConfig
from bot.web.app import build_routes
from bot.web.metrics import Metrics
from connectors.files import FilesConnectorSettings
from connectors.web import WebSettings

ADMIN_TOKEN = "test-admin-token-7f3a9c1e5b2d4086"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


class HashingEmbedder:
    """Unit bag-of-words vectors: same words, same direction. Fast; for tests where meaning is not the point."""

    dim = 256

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for word in re.findall(r"[a-z]+", t.lower()):
                out[i, int(hashlib.sha256(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


def web_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, sample_kb=False)
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def stub_sources(tmp_path: Path) -> list[SourceConfig]:
    folder = tmp_path / "kb"
    folder.mkdir(exist_ok=True)
    return [
        SourceConfig(name="help-center", type="files", schedule=Schedule(every_minutes=30),
                     settings=FilesConnectorSettings(name="help-center", path=folder)),
        SourceConfig(name="docs-site", type="web", schedule=Schedule(cron="0 3 * * *"),
                     settings=WebSettings(name="docs-site", start_urls=["http://127.0.0.1:9/"])),
    ]


def stub_runtime(tmp_path: Path, state: StateStore, *, embedder: Any = None) -> SimpleNamespace:
    rt = SimpleNamespace(state=state, store=ServerStore(":memory:"), indexer=SimpleNamespace(collections={}),
                         embedder=embedder or HashingEmbedder())
    rt.syncs = SyncService(rt, stub_sources(tmp_path))
    return rt


@dataclass
class WebApp:
    """The routes of a role served on 127.0.0.1, and an httpx client that keeps cookies."""

    runtime: Any
    settings: Settings
    metrics: Metrics
    server: HttpServer
    http: httpx.Client
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def login(self, token: str = ADMIN_TOKEN) -> str:
        """Sign in through the form; returns the session's CSRF token (from the page's forms)."""
        form = self.http.get("/admin/login")
        nonce = CSRF_FIELD.search(form.text)
        assert nonce, form.text
        resp = self.http.post("/admin/login", data={"csrf": nonce.group(1), "token": token})
        assert resp.status_code == 303 and resp.headers["location"] == "/admin", resp.text
        page = self.http.get("/admin")
        assert page.status_code == 200
        found = CSRF_FIELD.search(page.text)
        assert found
        return found.group(1)

    def close(self) -> None:
        self.http.close()
        self.server.stop()
        for close in self.closers:
            close()


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateStore]:
    s = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


@pytest.fixture
def web_factory(tmp_path: Path, state: StateStore) -> Iterator[Callable[..., WebApp]]:
    made: list[WebApp] = []

    def make(*, runtime: Any = None, role: str = "web", **overrides: Any) -> WebApp:
        settings = web_settings(tmp_path, **overrides)
        rt = runtime if runtime is not None else stub_runtime(tmp_path, state)
        metrics = Metrics(process=False)
        metrics.watch_state(lambda: rt.state, lambda: list(rt.syncs.sources))
        closers: list[Callable[[], None]] = []
        routes = build_routes(rt, settings, role=role, metrics=metrics, closers=closers)
        server = HttpServer(create_asgi_app(None, routes=routes), host="127.0.0.1", port=0).start()
        app = WebApp(runtime=rt, settings=settings, metrics=metrics, server=server,
                     http=httpx.Client(base_url=server.url, timeout=15), closers=closers)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()
