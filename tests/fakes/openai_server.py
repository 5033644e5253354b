"""A real local HTTP server speaking the OpenAI Chat Completions wire format, for tests.

    with FakeOpenAI(reply=lambda body: "Use the reset link [1].") as server:
        composer = OpenAIComposer(model="gpt-test", api_key="sk-test", base_url=f"{server.url}/v1", ...)
        ...
        assert server.requests[0].json["model"] == "gpt-test"

Behaviour is scriptable through attributes, which may be changed between requests:

- ``reply``: ``callable(request_json) -> str``, the assistant message content (default: a fixed
  answer citing ``[1]``);
- ``delay_s``: seconds to sleep before answering (to trigger client timeouts);
- ``status``: answer this HTTP status with an OpenAI-style error body instead of a completion;
- ``garbage``: answer 200 with a body that is not JSON;
- ``empty_choices``: answer a well-formed completion whose ``choices`` list is empty.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.local_server import LocalHTTPServer

_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided: sk-test***. You can find your API key at "
          "https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key"),
    404: ("The model does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"),
    429: ("Rate limit reached for requests. Please try again in 20s.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    json: Any  # parsed body, or None when it was not JSON
    raw: bytes


@dataclass
class FakeOpenAI(LocalHTTPServer):
    http_methods = ("POST", "GET")
    thread_name = "fake-openai"

    reply: Callable[[dict[str, Any]], str] = field(default=lambda body: "This is the answer [1].")
    delay_s: float = 0.0
    status: int | None = None
    garbage: bool = False
    empty_choices: bool = False
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    # -- handling ----------------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        if method == "GET":
            body = {"error": {"message": "Not found", "type": "invalid_request_error", "code": None}}
            self._send(h, 404, json.dumps(body).encode(), "application/json")
            return
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(RecordedRequest(
                method="POST", path=h.path, headers={k.lower(): v for k, v in h.headers.items()}, json=body, raw=raw,
            ))
        if self.delay_s:
            time.sleep(self.delay_s)
        if h.path.rstrip("/") != "/v1/chat/completions":
            self._error(h, 404, ("Unknown request URL: POST " + h.path, "invalid_request_error", "unknown_url"))
            return
        if self.status is not None:
            self._error(h, self.status, _ERRORS.get(self.status, ("Error.", "server_error", None)))
            return
        if self.garbage:
            self._send(h, 200, b"<html><body>502 Bad Gateway</body></html>", "application/json")
            return
        content = "" if self.empty_choices else self.reply(body or {})
        prompt_tokens = len(raw.split())
        completion_tokens = len(content.split())
        completion = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": (body or {}).get("model", "gpt-test"),
            "choices": [] if self.empty_choices else [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }
        self._send(h, 200, json.dumps(completion).encode(), "application/json")

    def _error(self, h: BaseHTTPRequestHandler, status: int, err: tuple[str, str, str | None]) -> None:
        message, type_, code = err
        body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
        self._send(h, status, json.dumps(body).encode(), "application/json")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, payload: bytes, content_type: str) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass
