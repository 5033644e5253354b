"""A real local HTTP server speaking the OpenAI Chat Completions and Embeddings wire formats, for tests.

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

``POST /v1/embeddings`` answers like OpenAI's: ``{"object": "list", "data": [{"object":
"embedding", "index": i, "embedding": [...] or "<base64 float32>"}], "model", "usage"}``, with
``encoding_format`` (``float`` or ``base64``) and ``dimensions`` honoured. Its scripts:

- ``embed``: ``callable(text, dims) -> np.ndarray`` (default :func:`lexical_vector`: texts that
  share words get similar vectors, so retrieval over it behaves like retrieval);
- ``embedding_dim``: vector size when the request names no ``dimensions``;
- ``embedding_failures``: statuses answered (with ``Retry-After`` / ``retry-after-ms`` from
  ``retry_after_ms``) to the next requests, one per request, before answers succeed again;
- ``embedding_reply``: ``callable(request_json) -> dict`` replacing the whole body (malformed answers);
- ``in_flight_max``: the most embedding requests it was serving at once (concurrency tests).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import numpy as np

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


def _seeded_unit(seed: bytes, dims: int) -> np.ndarray:
    rng = np.random.default_rng(int.from_bytes(hashlib.blake2b(seed, digest_size=8).digest(), "little"))
    v = rng.standard_normal(dims).astype(np.float32)
    return v / np.linalg.norm(v)


def lexical_vector(text: str, dims: int) -> np.ndarray:
    """A deterministic stand-in for a model: the normalised sum of one random vector per word."""
    words = re.findall(r"[a-z0-9]+", text.lower()) or [""]
    v = np.zeros(dims, dtype=np.float32)
    for w in words:
        v += _seeded_unit(w.encode(), dims)
    return v / (np.linalg.norm(v) or 1.0)


def text_hash_vector(text: str, dims: int) -> np.ndarray:
    """The cheapest stand-in: one random unit vector per distinct text (benchmarks)."""
    return _seeded_unit(text.encode(), dims)


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
    embed: Callable[[str, int], np.ndarray] = field(default=lexical_vector)
    embedding_dim: int = 64
    embedding_failures: list[int] = field(default_factory=list)
    retry_after_ms: int = 10
    embedding_reply: Callable[[dict[str, Any]], Any] | None = None
    record_embedding_requests: bool = True
    in_flight_max: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0

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
        is_embeddings = h.path.rstrip("/") == "/v1/embeddings"
        with self._lock:
            if self.record_embedding_requests or not is_embeddings:
                self.requests.append(RecordedRequest(
                    method="POST", path=h.path, headers={k.lower(): v for k, v in h.headers.items()}, json=body, raw=raw,
                ))
        if is_embeddings:
            self._embeddings(h, body)
            return
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

    def _embeddings(self, h: BaseHTTPRequestHandler, body: Any) -> None:
        with self._lock:
            self._in_flight += 1
            self.in_flight_max = max(self.in_flight_max, self._in_flight)
            failure = self.embedding_failures.pop(0) if self.embedding_failures else None
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            if failure is not None:
                message, type_, code = _ERRORS.get(failure, ("Error.", "server_error", None))
                payload = json.dumps({"error": {"message": message, "type": type_, "param": None, "code": code}}).encode()
                self._send(h, failure, payload, "application/json",
                           {"retry-after-ms": str(self.retry_after_ms), "Retry-After": "0"})
                return
            if self.embedding_reply is not None:
                self._send(h, 200, json.dumps(self.embedding_reply(body or {})).encode(), "application/json")
                return
            inputs = (body or {}).get("input")
            if isinstance(inputs, str):
                inputs = [inputs]
            if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) and t for t in inputs):
                self._error(h, 400, ("'$.input' is invalid. Please check the API reference.", "invalid_request_error", None))
                return
            dims = int(body.get("dimensions") or self.embedding_dim)
            as_base64 = body.get("encoding_format") == "base64"
            data = []
            for i, text in enumerate(inputs):
                vec = np.asarray(self.embed(text, dims), dtype=np.float32)
                value: Any = base64.b64encode(vec.tobytes()).decode() if as_base64 else vec.tolist()
                data.append({"object": "embedding", "index": i, "embedding": value})
            tokens = sum(len(t.split()) for t in inputs)
            answer = {"object": "list", "data": data, "model": body.get("model", "text-embedding-test"),
                      "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
            self._send(h, 200, json.dumps(answer).encode(), "application/json")
        finally:
            with self._lock:
                self._in_flight -= 1

    def _error(self, h: BaseHTTPRequestHandler, status: int, err: tuple[str, str, str | None]) -> None:
        message, type_, code = err
        body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
        self._send(h, status, json.dumps(body).encode(), "application/json")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, payload: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                h.send_header(name, value)
            h.end_headers()
            h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass
