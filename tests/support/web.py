"""The operations harness: a sources file, settings over it, and the routes of a role served on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.serve import HttpServer
from bot.settings import Settings
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
