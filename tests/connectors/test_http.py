"""VendorHttp: retries, Retry-After in both forms, rate budget, error translation (no real sleeping)."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from connectors.base import (
    MAX_RETRY_AFTER_S,
    AuthError,
    NotFound,
    RateLimited,
    TransientError,
    parse_retry_after,
)
from connectors.http import VendorHttp

NOW = 1_800_000_000.0


def _http(responses: list[httpx.Response | Exception]) -> tuple[VendorHttp, list[float], list[httpx.Request]]:
    sleeps: list[float] = []
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    client = httpx.Client(transport=httpx.MockTransport(handler), base_url="https://vendor.example")
    return VendorHttp(client, vendor="Vendor", sleep=sleeps.append, clock=lambda: NOW, max_retries=3), sleeps, seen


def test_retry_after_seconds_then_success() -> None:
    http, sleeps, seen = _http([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={"ok": 1})])
    assert http.get_json("/x") == {"ok": 1}
    assert sleeps == [7.0] and len(seen) == 2


def test_retry_after_http_date() -> None:
    date = email.utils.formatdate(NOW + 12, usegmt=True)
    http, sleeps, _ = _http([httpx.Response(429, headers={"Retry-After": date}), httpx.Response(200, json=[])])
    assert http.get_json("/x") == []
    assert sleeps == [pytest.approx(12.0, abs=1.0)]


def test_429_with_only_a_reset_header() -> None:
    http, sleeps, _ = _http([httpx.Response(429, headers={"X-RateLimit-Reset": str(int(NOW + 20))}), httpx.Response(200, json={})])
    http.get_json("/x")
    assert sleeps == [20.0]


def test_rate_limit_storm_gives_up_with_retry_after() -> None:
    http, sleeps, _ = _http([httpx.Response(429, headers={"Retry-After": "5000"})] * 4)
    with pytest.raises(RateLimited) as info:
        http.get_json("/x")
    assert info.value.retry_after_s == MAX_RETRY_AFTER_S
    assert sleeps == [MAX_RETRY_AFTER_S] * 3  # capped, never the server's 5000 s


def test_low_remaining_budget_pauses_before_the_next_call() -> None:
    http, sleeps, _ = _http([httpx.Response(200, json={}, headers={"X-Rate-Limit-Remaining": "1", "X-Rate-Limit-Reset": "4"})])
    http.get_json("/x")
    assert sleeps == [4.0]


def test_server_errors_are_retried_then_transient() -> None:
    http, sleeps, _ = _http([httpx.Response(502), httpx.Response(503), httpx.Response(200, json={"a": 1})])
    assert http.get_json("/x") == {"a": 1}
    assert sleeps == [0.5, 1.0]
    http, _, _ = _http([httpx.Response(500)] * 4)
    with pytest.raises(TransientError, match="HTTP 500 after 4 attempts"):
        http.get_json("/x")


def test_network_errors_are_retried() -> None:
    http, _, _ = _http([httpx.ConnectError("refused"), httpx.Response(200, json={})])
    assert http.get_json("/x") == {}


@pytest.mark.parametrize(("response", "error", "match"), [
    (httpx.Response(401), AuthError, "refused the credentials"),
    (httpx.Response(403), AuthError, "HTTP 403"),
    (httpx.Response(404), NotFound, "404"),
    (httpx.Response(422), TransientError, "HTTP 422"),
    (httpx.Response(200, content=b"<html>oops</html>"), TransientError, "not JSON"),
])
def test_errors_are_translated(response: httpx.Response, error: type[Exception], match: str) -> None:
    http, sleeps, _ = _http([response])
    with pytest.raises(error, match=match):
        http.get_json("/x?token=secret")
    assert sleeps == []


def test_error_messages_never_carry_query_strings() -> None:
    http, _, _ = _http([httpx.Response(422)])
    with pytest.raises(TransientError) as info:
        http.get_json("/x?api_key=s3cret")
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(("value", "expected"), [
    ("3", 3.0), (" 10 ", 10.0), ("-5", 0.0), ("garbage", 1.0), (None, 1.0), ("99999", MAX_RETRY_AFTER_S)])
def test_parse_retry_after(value: str | None, expected: float) -> None:
    assert parse_retry_after(value) == expected


