"""Embeddings off the box: any OpenAI-compatible ``/v1/embeddings`` server, through the ``openai`` package.

OpenAI, Azure OpenAI, vLLM, Hugging Face text-embeddings-inference and Infinity all speak this
wire format. Set ``HELPDESK_EMBEDDINGS_URL`` (the base URL, ending in ``/v1``) and the model;
the questions are then embedded by the same server and model as the documents (a collection
records which model wrote it, :mod:`bot.index.vector_space`, and refuses another).

* **Batching**: ``batch_size`` texts per request; a document set is cut into batches that run
  ``concurrency`` at a time (a thread pool; the ``openai`` client is thread-safe), rows returned
  in input order whatever order the batches finish in.
* **Retries and 429**: the ``openai`` client's own: connection errors, 408, 409, 429 and 5xx are
  retried ``max_retries`` times with exponential backoff (0.5 s doubling to 8 s, jittered), and a
  server's ``Retry-After`` / ``retry-after-ms`` is honoured up to two minutes.
* **Checks**: every answer must carry one finite vector per input, all of the same size (the
  configured ``dimensions`` when set); anything else is an :class:`EmbeddingServiceError`, never a
  half-written batch. Vectors are L2-normalised here (not every server normalises), so cosine
  and dot product agree as they do for the local model.
* **Encoding**: ``base64`` (default) asks for base64 float32 (a third of the bytes of JSON
  numbers, and no float parsing) and also accepts a server that answers plain numbers anyway;
  ``float`` asks for JSON numbers, for servers that reject ``encoding_format: base64``. The body
  is read here (``with_raw_response``: the package still sends, retries and raises), straight
  into one float32 matrix.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from bot.errors import EmbeddingServiceError

#: What is embedded to learn the vector size when ``dimensions`` is not configured.
DIMENSION_PROBE = "dimension probe"


class RemoteEmbedder:
    """Embeds texts with an OpenAI-compatible embeddings server.

    Args:
        base_url: the API base, e.g. ``https://api.openai.com/v1`` or ``http://tei:8080/v1``.
        api_key: sent as a bearer token (servers without auth accept any value).
        model: the model name the server knows; also the vector space the collections record.
        dimensions: ask the server for vectors of this size (models that support it, like
            OpenAI's text-embedding-3); None: the model's own size, learned from one request.
        batch_size: texts per request.
        concurrency: requests in flight at once.
        timeout_s: seconds per request.
        max_retries: retries per request (the ``openai`` client's backoff and Retry-After).
        encoding: ``base64`` or ``float`` (see the module docstring).
        http_client: an ``httpx.Client`` for the ``openai`` client (tests; proxies).
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        model: str,
        dimensions: int | None = None,
        batch_size: int = 64,
        concurrency: int = 4,
        timeout_s: float = 30.0,
        max_retries: int = 5,
        encoding: str = "base64",
        http_client: Any = None,
    ) -> None:
        from openai import OpenAI

        if batch_size < 1 or concurrency < 1:
            raise ValueError("batch_size and concurrency must be at least 1")
        if encoding not in ("base64", "float"):
            raise ValueError(f"encoding must be base64 or float, not {encoding!r}")
        self.encoding = encoding
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = model
        self.space = model
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.concurrency = concurrency
        self._dim = dimensions
        self.client = OpenAI(api_key=api_key or "not-needed", base_url=self.base_url, timeout=timeout_s,
                             max_retries=max_retries, http_client=http_client)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self._request([DIMENSION_PROBE]).shape[1])
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; float32 unit vectors of shape (len(texts), dim), rows in input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        batches = [list(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        if len(batches) == 1 or self.concurrency == 1:
            parts = [self._request(b) for b in batches]
        else:
            # map() keeps the batches' order; at most `concurrency` requests are in flight.
            parts = list(self._executor().map(self._request, batches))
        out = np.vstack(parts)
        if self._dim is None:
            self._dim = int(out.shape[1])
        return out

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        self.client.close()

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="embeddings")
            return self._pool

    def _request(self, batch: list[str]) -> np.ndarray:
        import openai

        # The API rejects empty strings; a blank text embeds as a single space.
        inputs = [t if t.strip() else " " for t in batch]
        extra: dict[str, Any] = {"dimensions": self.dimensions} if self.dimensions else {}
        try:
            # The raw body: the package's own parsing (base64 -> a list of floats per vector -> a
            # pydantic object per vector) cost more of a sync's CPU than all the rest of the request.
            response = self.client.embeddings.with_raw_response.create(
                model=self.model, input=inputs, encoding_format=self.encoding, **extra)
            body = response.http_response.json()
        except openai.APIStatusError as exc:
            raise EmbeddingServiceError(
                f"embeddings server {self.base_url} answered HTTP {exc.status_code} for model {self.model!r}: "
                f"{_short(exc.message)}") from exc
        except openai.APITimeoutError as exc:
            raise EmbeddingServiceError(f"embeddings server {self.base_url} did not answer in time "
                                        "(HELPDESK_EMBEDDINGS_TIMEOUT_S)") from exc
        except openai.APIConnectionError as exc:
            raise EmbeddingServiceError(f"embeddings server {self.base_url} is unreachable; check HELPDESK_EMBEDDINGS_URL") from exc
        except (openai.OpenAIError, ValueError) as exc:  # a body that is not an embeddings response
            raise EmbeddingServiceError(f"embeddings server {self.base_url} sent an unusable answer: {_short(str(exc))}") from exc
        return self._vectors(body, len(inputs))

    def _vectors(self, body: Any, expected: int) -> np.ndarray:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or len(data) != expected:
            got = len(data) if isinstance(data, list) else "no"
            raise EmbeddingServiceError(f"embeddings server {self.base_url} returned {got} vectors for {expected} texts")
        try:
            rows = sorted(data, key=lambda d: _index(d["index"]))
            if [_index(d["index"]) for d in rows] != list(range(expected)):
                raise ValueError("indexes are not 0..n-1")
            matrix = np.stack([_vector(d["embedding"]) for d in rows])
        except (TypeError, ValueError, AttributeError, KeyError, binascii.Error) as exc:
            raise EmbeddingServiceError(f"embeddings server {self.base_url} returned malformed vectors ({exc})") from exc
        size = self._dim
        if matrix.ndim != 2 or matrix.shape[1] == 0 or (size is not None and matrix.shape[1] != size):
            shape = "x".join(map(str, matrix.shape))
            raise EmbeddingServiceError(f"embeddings server {self.base_url} returned vectors of shape {shape}, "
                                        f"expected {expected}x{size or 'n'} (HELPDESK_EMBEDDINGS_DIMENSIONS)")
        if not np.isfinite(matrix).all():
            raise EmbeddingServiceError(f"embeddings server {self.base_url} returned non-finite numbers")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        if (norms == 0).any():
            raise EmbeddingServiceError(f"embeddings server {self.base_url} returned an all-zero vector")
        return matrix / norms


def _index(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"index {value!r} is not an integer")
    return value


def _vector(embedding: Any) -> np.ndarray:
    """One vector as sent: base64 of little-endian float32 (what is asked for by default), or
    JSON numbers (``float``, and servers that ignore ``encoding_format``)."""
    if isinstance(embedding, str):
        raw = base64.b64decode(embedding, validate=True)
        if len(raw) % 4:
            raise ValueError("base64 vector is not a whole number of float32s")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if not isinstance(embedding, list) or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in embedding):
        raise ValueError("a vector is not a list of numbers")
    return np.asarray(embedding, dtype=np.float32)


def _short(message: str, limit: int = 200) -> str:
    line = " ".join(str(message).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
