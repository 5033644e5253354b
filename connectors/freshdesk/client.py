"""Freshdesk's v2 API as the connector and the drafting desk both use it: one sign-in, one pagination.

Credentials: HTTP Basic with the API key as user name and ``X`` as password, sent *per request*
(``auth=``), so a caller's ``httpx.Client`` (tests) needs no auth of its own. URLs are absolute
(built from ``base_url``), so that client needs no base URL either. Every call goes through
:class:`~connectors.http.VendorHttp` (429 with Retry-After, 5xx and network errors retried;
401/403 -> ``AuthError``; 404 -> ``NotFound``).

List endpoints answer a JSON array, a page at a time (``per_page``, ``page`` from 1). The
``link: <...>; rel="next"`` header says whether another page follows; without it, a full page
means "maybe more" and a short one ends the listing.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any, Unpack

import httpx

from connectors.base import ConnectorParts, TransientError, secret_from_env
from connectors.freshdesk.settings import FreshdeskSettings
from connectors.http import VendorHttp

#: Largest ``per_page`` the Freshdesk v2 list endpoints accept (API docs, "Pagination": max 100).
#: Read at run time (tests shrink it).
FRESHDESK_PER_PAGE = 100
#: HTTP timeout of the client we build ourselves, in seconds.
HTTP_TIMEOUT_S = 30.0


class FreshdeskClient:
    """One Freshdesk helpdesk's API, signed in (see the module docstring).

    Args:
        settings: the source's settings (``base_url``, the API key variable's name).
        **parts: the connector parts (an ``httpx.Client`` used as-is, ``environ``, ``sleep``, ``clock``).

    Raises:
        ConfigError: the API key variable is not set (named in the message, never its value).
    """

    def __init__(self, settings: FreshdeskSettings, **parts: Unpack[ConnectorParts]) -> None:
        api_key = secret_from_env(parts.get("environ"), settings.api_key_env, source=settings.name,
                                  what="the Freshdesk API key")
        # Freshdesk: the API key is the user name, any password ("X" by convention).
        self.auth = httpx.BasicAuth(api_key, "X")
        self.base_url = settings.base_url
        self.http = VendorHttp.from_parts(parts, vendor="Freshdesk", build=lambda: httpx.Client(
            timeout=HTTP_TIMEOUT_S, headers={"Accept": "application/json", "User-Agent": "helpdesk-bot"}))

    def close(self) -> None:
        """Close the HTTP client if it was built here."""
        self.http.close()

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """``method`` on ``base_url + path``, signed; the decoded body (None when empty)."""
        return self.http.request_json(method, f"{self.base_url}{path}", auth=self.auth, **kwargs)

    def get_list(self, path: str) -> list[dict[str, Any]]:
        """An unpaginated list (solution categories, folders); entries that are not objects are dropped."""
        items, _ = self._list(path, {})
        return [i for i in items if isinstance(i, dict)]

    def page(self, path: str, params: Mapping[str, Any], *, page: int) -> tuple[list[Any], bool]:
        """Page ``page`` (from 1) of a list endpoint, and whether another follows."""
        items, response = self._list(path, {**params, "per_page": FRESHDESK_PER_PAGE, "page": page})
        if "link" in response.headers:
            return items, "next" in response.links
        return items, len(items) >= FRESHDESK_PER_PAGE

    def pages(self, path: str, params: Mapping[str, Any], *, max_pages: int) -> Generator[list[Any], None, bool]:
        """Pages of a list endpoint, at most ``max_pages``; *returns* True when it stopped there with more to come."""
        page = 1
        while True:
            items, more = self.page(path, params, page=page)
            yield items
            if not more:
                return False
            if page >= max_pages:
                return True
            page += 1

    def _list(self, path: str, params: Mapping[str, Any]) -> tuple[list[Any], httpx.Response]:
        response = self.http.request("GET", f"{self.base_url}{path}", params=params, auth=self.auth)
        try:
            data = response.json()
        except ValueError as exc:
            raise TransientError(f"Freshdesk returned a body that is not JSON (GET {path})") from exc
        if not isinstance(data, list):
            raise TransientError(f"Freshdesk returned {type(data).__name__} instead of a list (GET {path})")
        return data, response
