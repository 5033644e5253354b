"""A real local HTTP server speaking enough of Qdrant's REST API to be a server that is up but failing.

    with FakeQdrant(collections=["kb_public", "kb_internal"]) as server:
        store = ServerStore(server.url)  # connects: GET /collections lists the collections
        store.search(...)               # POST /collections/kb_public/points/query/batch -> HTTP 500

``GET /`` reports the installed qdrant-client's version (no compatibility warning),
``GET /collections`` lists ``collections`` and ``GET /collections/{name}/exists`` says whether
``name`` is one of them; requests matching one of ``accept`` (fnmatch patterns of
``"METHOD /path"``, e.g. ``"PUT /collections/*"``) are answered as accepted (``true`` for a
collection creation, an update result for a payload index); every other request is answered with ``status``
and a Qdrant-style error body whose message is ``error`` (tests check that it never reaches a
user). ``conflict`` names collections whose creation answers 409 "already exists" (another
process created it first).
"""

from __future__ import annotations

import fnmatch
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
    accept: tuple[str, ...] = ()
    conflict: tuple[str, ...] = ()

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
        elif method == "GET" and path.startswith("/collections/") and path.endswith("/exists"):
            name = path.split("/")[2]
            send_json(h, 200, {"result": {"exists": name in self.collections}, "status": "ok", "time": 0.0001})
        elif method == "PUT" and path.count("/") == 2 and path.split("/")[2] in self.conflict:
            name = path.split("/")[2]
            self.collections.append(name)
            send_json(h, 409, {"status": {"error": f"Wrong input: Collection `{name}` already exists!"}, "time": 0.0001})
        elif any(fnmatch.fnmatch(f"{method} {path}", pattern) for pattern in self.accept):
            # Index creation answers an update result, collection creation a boolean.
            result: Any = {"operation_id": 0, "status": "completed"} if path.endswith("/index") else True
            send_json(h, 200, {"result": result, "status": "ok", "time": 0.0001})
        else:
            send_json(h, self.status, {"status": {"error": self.error}, "time": 0.0001})

