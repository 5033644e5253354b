"""Web test harness: the operations routes behind uvicorn on 127.0.0.1, over the real composition root.

The runtime is :class:`bot.runtime.Runtime` built from settings (a sources file with a files folder and a
web source, the SQLite state store under ``tmp_path``, the embedded vector store) and the real embedder,
loaded once per session.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.index.embeddings import Embedder
from bot.index.store import VectorStore
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack.server import HttpServer, create_asgi_app
from bot.state import StateStore
from bot.web.app import build_routes
from bot.web.metrics import Metrics

ADMIN_TOKEN = "test-admin-token-7f3a9c1e5b2d4086"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def write_sources(tmp_path: Path) -> Path:
    """A sources file with a files folder ("help-center", every 30 min) and a web source ("docs-site", nightly)."""
    folder = tmp_path / "kb"
    folder.mkdir(exist_ok=True)
    path = tmp_path / "sources.toml"
    path.write_text(f'''
[[sources]]
name = "help-center"
type = "files"
path = "{folder.as_posix()}"
schedule = {{ every_minutes = 30 }}

[[sources]]
name = "docs-site"
type = "web"
start_urls = ["http://127.0.0.1:9/"]
schedule = {{ cron = "0 3 * * *" }}
''', encoding="utf-8")
    return path


def web_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, sample_kb=False,
                                  embed_threads=2, sources_file=write_sources(tmp_path))
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


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
def state(runtime: Runtime) -> StateStore:
    """The runtime's own state store (closed with the runtime)."""
    return runtime.state


@pytest.fixture
def web_factory(tmp_path: Path, runtime: Runtime) -> Iterator[Callable[..., WebApp]]:
    made: list[WebApp] = []

    default = runtime

    def make(*, runtime: Any = None, role: str = "web", **overrides: Any) -> WebApp:
        settings = web_settings(tmp_path, **overrides)
        rt = runtime if runtime is not None else default
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
