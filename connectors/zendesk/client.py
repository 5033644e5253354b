"""Zendesk's REST API as the connector and the drafting desk both use it: one sign-in, one pagination.

Auth is an API token: HTTP Basic ``{email}/token:{api_token}``. The ``Authorization`` header is
sent with every request, whether the ``httpx.Client`` was built here or passed in (tests), and
every URL is absolute (built from ``base_url``), so a passed-in client needs no configuration.
Every call goes through :class:`~connectors.http.VendorHttp` (429 with Retry-After, 5xx and
network errors retried; 401/403 -> ``AuthError``; 404 -> ``NotFound``).

List endpoints use cursor pagination (``page[size]``, ``page[after]``); the listing ends when
``meta.has_more`` is not true (Zendesk keeps sending ``links.next`` on the last page).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from typing import Any, Unpack

import httpx

from connectors.base import ConnectorParts, TransientError, secret_from_env
from connectors.http import VendorHttp
from connectors.zendesk.settings import ZendeskSettings

#: Help Center list endpoints: most records per page with cursor pagination (``page[size]``).
ZENDESK_HC_MAX_PAGE_SIZE = 100  # developer.zendesk.com "Pagination": page[size] max 100
#: Ticket comments list: most comments per page (``page[size]``).
ZENDESK_COMMENTS_MAX_PAGE_SIZE = 100  # developer.zendesk.com "Ticket Comments": page[size] max 100
#: A stream that keeps saying "more" past this many pages is broken, not long.
MAX_PAGES = 100_000
#: HTTP timeout of the client we build ourselves, in seconds.
HTTP_TIMEOUT_S = 30.0


class ZendeskClient:
    """One Zendesk account's API, signed in (see the module docstring).

    Args:
        settings: the source's settings (``base_url``, the credential variables' names).
        **parts: the connector parts (an ``httpx.Client`` used as-is, ``environ``, ``sleep``, ``clock``).

    Raises:
        ConfigError: a credential variable is not set (named in the message, never its value).
    """

    def __init__(self, settings: ZendeskSettings, **parts: Unpack[ConnectorParts]) -> None:
        environ = parts.get("environ")
        email = secret_from_env(environ, settings.email_env, source=settings.name, what="the Zendesk agent's email")
        token = secret_from_env(environ, settings.token_env, source=settings.name, what="a Zendesk API token")
        basic = base64.b64encode(f"{email}/token:{token}".encode()).decode("ascii")
        self.headers = {"Authorization": f"Basic {basic}", "Accept": "application/json"}
        self.base_url = settings.base_url
        self.http = VendorHttp.from_parts(parts, vendor="Zendesk",
                                          build=lambda: httpx.Client(base_url=self.base_url, timeout=HTTP_TIMEOUT_S))

    def close(self) -> None:
        """Close the HTTP client if it was built here."""
        self.http.close()

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """``method`` on ``base_url + path``, signed; the decoded body (None when empty)."""
        return self.http.request_json(method, f"{self.base_url}{path}", headers=self.headers, **kwargs)

    def get_object(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET ``path``; a JSON object, else :class:`TransientError`."""
        body = self.request_json("GET", path, params=params)
        if not isinstance(body, dict):
            raise TransientError(f"Zendesk answered {type(body).__name__} instead of an object for {path}")
        return body

    def pages(self, path: str, params: Mapping[str, Any], *, page_size: int,
              max_pages: int = MAX_PAGES) -> Iterator[dict[str, Any]]:
        """Cursor pagination: every page of ``path``, following ``meta.after_cursor`` while ``meta.has_more``."""
        after: str | None = None
        for _ in range(max_pages):
            query = {**params, "page[size]": page_size}
            if after is not None:
                query["page[after]"] = after
            page = self.get_object(path, query)
            yield page
            meta = page.get("meta")
            if not isinstance(meta, dict) or meta.get("has_more") is not True:
                return
            nxt = meta.get("after_cursor")
            if not isinstance(nxt, str) or not nxt or nxt == after:
                raise TransientError(f"Zendesk pagination of {path} is broken (no new after_cursor)")
            after = nxt
        raise TransientError(f"Zendesk pagination of {path} did not end after {max_pages} pages")

    def records(self, path: str, key: str) -> Iterator[Any]:
        """Every record of a Help Center list (``key``: ``articles``, ``sections`` ...)."""
        for page in self.pages(path, {}, page_size=ZENDESK_HC_MAX_PAGE_SIZE):
            records = page.get(key)
            if not isinstance(records, list):
                raise TransientError(f"Zendesk answered {path} without a '{key}' list")
            yield from records

    def ticket_comments(self, ticket_id: int | str, *,
                        max_pages: int = MAX_PAGES) -> tuple[list[dict[str, Any]], dict[int, str]]:
        """A ticket's comments in order, and ``{user id: role}`` of their authors (side-loaded users).

        Raises:
            NotFound: the ticket is gone.
        """
        comments: list[dict[str, Any]] = []
        roles: dict[int, str] = {}
        for page in self.pages(f"/api/v2/tickets/{ticket_id}/comments.json", {"include": "users"},
                               page_size=ZENDESK_COMMENTS_MAX_PAGE_SIZE, max_pages=max_pages):
            comments.extend(c for c in page.get("comments") or [] if isinstance(c, dict))
            for user in page.get("users") or []:
                user_id = int_id(user.get("id")) if isinstance(user, dict) else None
                if user_id is not None and isinstance(user.get("role"), str):
                    roles[user_id] = user["role"]
        return comments, roles


def int_id(value: Any) -> int | None:
    """A Zendesk id as sent (a number, or digits in a string); None for anything else (booleans too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
