"""Web test fixtures: the operations routes behind uvicorn on 127.0.0.1, over the real composition root.

The runtime is :class:`bot.runtime.Runtime` built from settings (a sources file with a files folder and a
web source, the SQLite state store under ``tmp_path``, the embedded vector store) and the real embedder,
loaded once per session. The harness itself is :mod:`tests.support.web`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.index.embeddings import Embedder
from bot.index.store import VectorStore
from bot.runtime import Runtime
from bot.serve import HttpServer, asgi_app, build_routes
from bot.state import StateStore
from bot.web.metrics import Metrics
from tests.support.web import WebApp, web_settings


@pytest.fixture
def runtime_factory(tmp_path: Path, embedder: Embedder) -> Iterator[Callable[..., Runtime]]:
    """Builds real runtimes over :func:`web_settings` (``store=`` to pick a backend); closes them at teardown."""
    made: list[Runtime] = []

    def make(*, store: VectorStore | None = None, **overrides: Any) -> Runtime:
        rt = Runtime(web_settings(tmp_path, **overrides), store=store, embedder=embedder)
        made.append(rt)
        return rt

    yield make
    for rt in reversed(made):
        rt.close()


@pytest.fixture
def runtime(runtime_factory: Callable[..., Runtime]) -> Runtime:
    return runtime_factory()


@pytest.fixture
def state(runtime: Runtime) -> StateStore:
    """The runtime's own state store, its schema created (closed with the runtime)."""
    runtime.state.db.ping()
    return runtime.state


@pytest.fixture
def web_factory(tmp_path: Path, runtime: Runtime) -> Iterator[Callable[..., WebApp]]:
    made: list[WebApp] = []

    default = runtime

    def make(*, runtime: Any = None, role: str = "web", **overrides: Any) -> WebApp:
        settings = web_settings(tmp_path, **overrides)
        rt = runtime if runtime is not None else default
        metrics = Metrics(process=False)
        metrics.watch_state(lambda: rt.state.ledger, lambda: list(rt.syncs.sources))
        closers: list[Callable[[], None]] = []
        routes = build_routes(rt, settings, role=role, metrics=metrics, closers=closers)
        server = HttpServer(asgi_app(routes), host="127.0.0.1", port=0).start()
        app = WebApp(runtime=rt, settings=settings, metrics=metrics, server=server,
                     http=httpx.Client(base_url=server.url, timeout=15), closers=closers)
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()
