"""The scaffolding the fake servers share: a real HTTP server on 127.0.0.1 in a daemon thread.

    @dataclass
    class FakeThing(LocalHTTPServer):
        http_methods = ("GET", "POST")    # the HTTP methods answered; anything else gets http.server's 501
        thread_name = "fake-thing"

        def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
            ...  # read h.path / h.headers / h.rfile, answer through h

    with FakeThing() as thing:
        httpx.get(f"{thing.url}/...")

The server listens on an ephemeral port (``url``, ``port`` once started; set ``bind_port`` before
``start`` for a given one: a server that comes up where a client was already told to look) and serves each
connection in its own daemon thread. Its handler keeps connections alive (HTTP/1.1), turns
Nagle's algorithm off (headers and body go out in separate writes; with Nagle and delayed ACKs
every keep-alive request would stall about 40 ms) and writes no access log.

``LocalHTTPServer`` has no ``__init__`` of its own, so dataclass fakes can subclass it as they are.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


def send_json(h: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    """Answer with ``body`` as JSON; a client that hung up (a timeout test) is not an error."""
    payload = json.dumps(body).encode()
    try:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass


class QuietHandler(BaseHTTPRequestHandler):
    """Keep-alive, Nagle off, no access log; ``do_<METHOD>`` forwards to ``fake.handle``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    fake: ClassVar[LocalHTTPServer]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        pass

    def forward(self) -> None:
        self.fake.handle(self, self.command)


class LocalHTTPServer:
    """Lifecycle of a fake: ``start``/``stop``, a context manager, ``url`` and ``port``."""

    http_methods: ClassVar[tuple[str, ...]] = ("GET",)
    thread_name: ClassVar[str] = "fake-server"
    bind_port: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        """Answer one request (``method`` is ``h.command``, upper case)."""
        raise NotImplementedError

    def start(self) -> Self:
        attrs: dict[str, Any] = {"fake": self}
        attrs.update((f"do_{m}", QuietHandler.forward) for m in self.http_methods)
        handler = type(f"{type(self).__name__}Handler", (QuietHandler,), attrs)
        self._server = ThreadingHTTPServer(("127.0.0.1", self.bind_port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "the fake server is not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        assert self._server is not None, "the fake server is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"
