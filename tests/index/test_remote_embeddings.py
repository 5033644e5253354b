"""Embeddings off the box: RemoteEmbedder against a real local server speaking OpenAI's /v1/embeddings."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import EmbeddingServiceError
from bot.index.remote_embeddings import RemoteEmbedder
from tests.fakes.openai_server import FakeOpenAI, lexical_vector


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(embedding_dim=48) as s:
        yield s


def _remote(server: FakeOpenAI, **kw: Any) -> RemoteEmbedder:
    kw.setdefault("max_retries", 2)
    return RemoteEmbedder(base_url=f"{server.url}/v1", api_key="sk-test", model="text-embedding-test", **kw)


def _embedding_requests(server: FakeOpenAI) -> list[Any]:
    return [r for r in server.requests if r.path == "/v1/embeddings"]


@pytest.mark.parametrize("encoding", ["base64", "float"])
def test_vectors_are_the_servers_normalised_in_input_order(server: FakeOpenAI, encoding: str) -> None:
    texts = [f"text number {i} about labels" for i in range(11)]
    remote = _remote(server, batch_size=3, concurrency=2, encoding=encoding)
    try:
        out = remote.embed(texts)
    finally:
        remote.close()
    expected = np.stack([lexical_vector(t, 48) for t in texts])
    assert out.shape == (11, 48) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-6)
    requests = _embedding_requests(server)
    assert sorted(len(r.json["input"]) for r in requests) == [2, 3, 3, 3]
    assert all(r.json["model"] == "text-embedding-test" for r in requests)
    assert all(r.headers["authorization"] == "Bearer sk-test" for r in requests)
    assert all(r.json["encoding_format"] == encoding for r in requests)
    assert all("dimensions" not in r.json for r in requests)


def test_concurrency_is_bounded_and_used(server: FakeOpenAI) -> None:
    server.delay_s = 0.05
    remote = _remote(server, batch_size=1, concurrency=3)
    try:
        remote.embed([f"t{i}" for i in range(12)])
    finally:
        remote.close()
    assert server.in_flight_max == 3


def test_dimensions_are_asked_for_and_checked(server: FakeOpenAI) -> None:
    remote = _remote(server, dimensions=16)
    assert remote.dim == 16
    assert remote.embed(["a", "b"]).shape == (2, 16)
    assert all(r.json["dimensions"] == 16 for r in _embedding_requests(server))
    # A server that ignores `dimensions` is caught, not stored.
    server.embedding_reply = lambda body: {"object": "list", "data": [
        {"object": "embedding", "index": i, "embedding": [0.1] * 48} for i in range(len(body["input"]))]}
    with pytest.raises(EmbeddingServiceError, match="shape 1x48"):
        remote.embed(["c"])


def test_dim_is_learned_from_one_request_when_not_configured(server: FakeOpenAI) -> None:
    remote = _remote(server)
    assert remote.dim == 48
    assert remote.dim == 48
    assert len(_embedding_requests(server)) == 1


def test_429_and_503_are_retried_honouring_retry_after(server: FakeOpenAI) -> None:
    server.embedding_failures = [429, 503]
    server.retry_after_ms = 20
    remote = _remote(server, max_retries=2)
    assert remote.embed(["hello"]).shape == (1, 48)
    assert len(_embedding_requests(server)) == 3


def test_failure_after_the_retries_is_one_clear_line(server: FakeOpenAI) -> None:
    server.embedding_failures = [500, 500, 500]
    remote = _remote(server, max_retries=2)
    with pytest.raises(EmbeddingServiceError) as info:
        remote.embed(["hello"])
    assert "HTTP 500" in str(info.value) and "\n" not in str(info.value)
    assert len(_embedding_requests(server)) == 3


def test_auth_error_is_not_retried(server: FakeOpenAI) -> None:
    server.embedding_failures = [401]
    with pytest.raises(EmbeddingServiceError, match="HTTP 401"):
        _remote(server, max_retries=3).embed(["hello"])
    assert len(_embedding_requests(server)) == 1


def test_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    remote = RemoteEmbedder(base_url=f"http://127.0.0.1:{port}/v1", api_key=None, model="m", max_retries=0, timeout_s=2)
    with pytest.raises(EmbeddingServiceError, match="unreachable"):
        remote.embed(["x"])


@pytest.mark.parametrize("reply, match", [
    (lambda body: {"object": "list", "data": []}, "0 vectors for 2 texts|unusable"),
    (lambda body: {"object": "list", "data": [{"index": 0, "embedding": [1.0, 0.0]}]}, "1 vectors for 2 texts"),
    (lambda body: {"object": "list", "data": [{"index": 0, "embedding": [1.0, 0.0]},
                                              {"index": 1, "embedding": [1.0]}]}, "malformed"),
    (lambda body: {"object": "list", "data": [{"index": 0, "embedding": [1.0, 0.0]},
                                              {"index": 0, "embedding": [0.0, 1.0]}]}, "malformed"),
    (lambda body: {"object": "list", "data": [{"index": 0, "embedding": [0.0, 0.0]},
                                              {"index": 1, "embedding": [0.0, 1.0]}]}, "all-zero"),
    (lambda body: {"object": "list", "data": [{"index": 0, "embedding": ["NaN", 1.0]},
                                              {"index": 1, "embedding": [0.0, 1.0]}]}, "non-finite|malformed"),
    (lambda body: ["not", "an", "object"], "unusable|vectors"),
    # base64 that is not base64, or not whole float32s
    (lambda body: {"object": "list", "data": [{"index": 0, "embedding": "!!not base64!!"},
                                              {"index": 1, "embedding": "AACAPw=="}]}, "malformed"),
    (lambda body: {"object": "list", "data": [{"index": 0, "embedding": "AACAPwA="},
                                              {"index": 1, "embedding": "AACAPw=="}]}, "malformed"),
    (lambda body: {"object": "list", "data": [{"index": True, "embedding": [1.0, 0.0]},
                                              {"index": 1, "embedding": [0.0, 1.0]}]}, "malformed"),
])
def test_malformed_answers_are_refused(server: FakeOpenAI, reply: Any, match: str) -> None:
    server.embedding_reply = reply
    with pytest.raises(EmbeddingServiceError, match=match):
        _remote(server, encoding="float").embed(["a", "b"])


def test_order_is_restored_when_the_server_shuffles(server: FakeOpenAI) -> None:
    def shuffled(body: dict[str, Any]) -> dict[str, Any]:
        data = [{"object": "embedding", "index": i, "embedding": lexical_vector(t, 8).tolist()}
                for i, t in enumerate(body["input"])]
        return {"object": "list", "data": data[::-1], "model": "m"}

    server.embedding_reply = shuffled
    out = _remote(server, encoding="float").embed(["one", "two", "three"])
    np.testing.assert_allclose(out, np.stack([lexical_vector(t, 8) for t in ["one", "two", "three"]]), atol=1e-6)


_json = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["data", "index", "embedding", "object"]),
                                                               inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_json)
def test_any_answer_is_vectors_or_a_clear_error(server: FakeOpenAI, body: Any) -> None:
    # Whatever JSON a server sends back, the caller gets well-formed unit vectors or EmbeddingServiceError.
    server.embedding_reply = lambda _request: body
    try:
        out = _remote(server, encoding="float", max_retries=0).embed(["a", "b"])
    except EmbeddingServiceError as exc:
        assert "\n" not in str(exc)
    else:
        assert out.shape[0] == 2 and np.isfinite(out).all()
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_blank_texts_are_sent_as_a_space(server: FakeOpenAI) -> None:
    # The API rejects empty strings; a blank chunk must not fail a whole batch.
    out = _remote(server).embed(["", "text"])
    assert out.shape == (2, 48)
    assert _embedding_requests(server)[0].json["input"][0] == " "


def test_embedding_from_many_threads_at_once(server: FakeOpenAI) -> None:
    remote = _remote(server, batch_size=2, concurrency=2)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results.append(remote.embed([f"thread {i} text {j}" for j in range(5)]))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    remote.close()
    assert not errors and len(results) == 4
