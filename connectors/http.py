"""HTTP for connectors: one place that retries, honours rate limits and translates vendor errors.

Every connector takes an injected ``httpx.Client`` (tests pass one pointed at a local fake
server) and calls :class:`VendorHttp`, which:

* sleeps for ``Retry-After`` on 429 (delta-seconds or HTTP-date, capped) and retries;
* slows down *before* a 429 when ``X-Rate-Limit-Remaining`` / ``RateLimit-Remaining`` says the
  budget is nearly spent;
* retries 5xx and network errors with capped exponential backoff;
* raises :class:`AuthError` on 401/403 and :class:`NotFound` on 404 at once, :class:`RateLimited` / :class:`TransientError`
  when retries run out, and :class:`TransientError` for a body that is not JSON.

Clock and sleep are injectable so tests run without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog

from connectors.base import (
    MAX_RETRY_AFTER_S,
    AuthError,
    ConnectorParts,
    NotFound,
    RateLimited,
    TransientError,
    parse_retry_after,
)

log = structlog.get_logger(__name__)

DEFAULT_MAX_RETRIES = 5
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0
#: Requests left in the window at which we pause until the window resets.
LOW_REMAINING = 1
REMAINING_HEADERS = ("x-rate-limit-remaining", "ratelimit-remaining", "x-ratelimit-remaining")
RESET_HEADERS = ("x-rate-limit-reset", "ratelimit-reset", "x-ratelimit-reset")


class VendorHttp:
    """A small, strict JSON client around an injected ``httpx.Client``.

    Args:
        client: configured with base URL and auth by the connector.
        vendor: name used in error messages ("Zendesk").
        sleep: injectable ``time.sleep``.
        max_retries: attempts after the first for 429 / 5xx / network errors.
        max_sleep_s: cap of any single wait.
    """

    def __init__(
        self,
        client: httpx.Client,
        *,
        vendor: str,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_sleep_s: float = MAX_RETRY_AFTER_S,
    ) -> None:
        self.client = client
        self.vendor = vendor
        self.sleep = sleep
        self.clock = clock
        self.max_retries = max_retries
        self.max_sleep_s = max_sleep_s
        self.requests = 0
        self.slept_s = 0.0
        #: The httpx client :meth:`from_parts` built (and :meth:`close` closes); None for an injected one.
        self.owned_client: httpx.Client | None = None

    @classmethod
    def from_parts(
        cls,
        parts: ConnectorParts,
        *,
        vendor: str,
        build: Callable[[], httpx.Client],
        wrap: Callable[[httpx.Client], Any] | None = None,
    ) -> VendorHttp:
        """A VendorHttp over a connector's injected client, used as-is, or over ``build()``'s, which
        :meth:`close` closes. ``wrap`` puts an adapter in between (headers on every request ...)."""
        given = parts.get("client")
        client = given or build()
        http = cls(wrap(client) if wrap else client, vendor=vendor, sleep=parts.get("sleep", time.sleep),
                   clock=parts.get("clock", time.time))
        http.owned_client = None if given else client
        return http

    def close(self) -> None:
        """Close the HTTP client if :meth:`from_parts` built it (an injected one belongs to its owner)."""
        if self.owned_client is not None:
            self.owned_client.close()

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.request_json("GET", url, params=params, **kwargs)

    def post_json(self, url: str, *, json: Any = None, **kwargs: Any) -> Any:
        return self.request_json("POST", url, json=json, **kwargs)

    def put_json(self, url: str, *, json: Any = None, **kwargs: Any) -> Any:
        return self.request_json("PUT", url, json=json, **kwargs)

    def request_json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self.request(method, url, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise TransientError(f"{self.vendor} returned a body that is not JSON ({method} {_path(url)})") from exc

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            try:
                self.requests += 1
                response = self.client.request(method, url, **kwargs)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if attempt >= self.max_retries:
                    raise TransientError(f"{self.vendor} unreachable ({type(exc).__name__}) after {attempt + 1} attempts") from exc
                self._wait(_backoff(attempt), "network_error")
                attempt += 1
                continue
            status = response.status_code
            if status in (401, 403):
                raise AuthError(f"{self.vendor} refused the credentials (HTTP {status}); check the API token and its scopes")
            if status == 429:
                retry_after = response.headers.get("retry-after")
                if retry_after is not None:
                    wait = parse_retry_after(retry_after, now=_utc(self.clock()), default_s=_backoff(attempt))
                else:  # some vendors (Intercom) only say when the window resets
                    reset = next((response.headers.get(h) for h in RESET_HEADERS if response.headers.get(h)), None)
                    wait = _reset_wait(reset, self.clock()) if reset else _backoff(attempt)
                if attempt >= self.max_retries:
                    raise RateLimited(f"{self.vendor} rate limit still exceeded after {attempt + 1} attempts", retry_after_s=wait)
                self._wait(wait, "rate_limited")
                attempt += 1
                continue
            if status >= 500:
                if attempt >= self.max_retries:
                    raise TransientError(f"{self.vendor} server error HTTP {status} after {attempt + 1} attempts")
                self._wait(_backoff(attempt), "server_error")
                attempt += 1
                continue
            if status == 404:
                raise NotFound(f"{self.vendor} answered HTTP 404 for {method} {_path(url)}")
            if status >= 400:
                raise TransientError(f"{self.vendor} answered HTTP {status} for {method} {_path(url)}")
            self._respect_remaining(response)
            return response

    def _respect_remaining(self, response: httpx.Response) -> None:
        for header in REMAINING_HEADERS:
            value = response.headers.get(header)
            if value is None:
                continue
            try:
                remaining = int(float(value))
            except ValueError:
                return
            if remaining <= LOW_REMAINING:
                reset = next((response.headers.get(h) for h in RESET_HEADERS if response.headers.get(h)), None)
                self._wait(_reset_wait(reset, self.clock()), "rate_budget_low")
            return

    def _wait(self, seconds: float, reason: str) -> None:
        seconds = max(0.0, min(seconds, self.max_sleep_s))
        log.info("http_wait", vendor=self.vendor, seconds=round(seconds, 2), reason=reason)
        self.slept_s += seconds
        self.sleep(seconds)


def _backoff(attempt: int) -> float:
    return min(BACKOFF_BASE_S * (2**attempt), BACKOFF_MAX_S)


def _reset_wait(reset: str | None, now: float) -> float:
    """Seconds until a rate window resets: delta seconds, or an epoch timestamp."""
    if not reset:
        return 1.0
    try:
        value = float(reset)
    except ValueError:
        return 1.0
    if value > 1_000_000_000:  # an epoch timestamp
        return max(0.0, value - now)
    return max(0.0, value)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _path(url: str) -> str:
    # Never log or show query strings: they can carry tokens.
    return url.split("?", 1)[0]
