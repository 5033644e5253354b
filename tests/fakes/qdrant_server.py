"""A real local HTTP server speaking enough of Qdrant's REST API to be a server that is up but failing.

    with FakeQdrant(collections=["kb_public", "kb_internal"]) as server:
        store = ServerStore(server.url)  # connects: GET /collections lists the collections
        store.search(...)               # POST /collections/kb_public/points/query/batch -> HTTP 500

``GET /`` reports the installed qdrant-client's version (no compatibility warning) and
``GET /collections`` lists ``collections``; every other request is answered with ``status`` and a
Qdrant-style error body whose message is ``error`` (tests check that it never reaches a user).
"""

from __future__ import annotations

import importlib.metadata
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.local_server import LocalHTTPServer, send_json


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    json: Any  # parsed body, or None when it was not JSON


@dataclass
class FakeQdrant(LocalHTTPServer):
    http_methods = ("GET", "POST", "PUT")
    thread_name = "fake-qdrant"

    collections: list[str] = field(default_factory=list)
    status: int = 500
    error: str = "Service internal error: shard 0 of kb_public is corrupted at /var/lib/qdrant/storage"
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = h.path.split("?", 1)[0].rstrip("/") or "/"
        with self._lock:
            self.requests.append(RecordedRequest(method=method, path=path, json=body))
        if method == "GET" and path == "/":
            send_json(h, 200, {"title": "qdrant - vector search engine",
                                "version": importlib.metadata.version("qdrant-client")})
        elif method == "GET" and path == "/collections":
            send_json(h, 200, {"result": {"collections": [{"name": n} for n in self.collections]},
                                "status": "ok", "time": 0.0001})
        else:
            send_json(h, self.status, {"status": {"error": self.error}, "time": 0.0001})

