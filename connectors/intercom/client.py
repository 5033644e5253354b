"""Intercom's REST API as the connector and the drafting desk both use it: one sign-in, one version.

Wire format: Intercom REST API 2.14 (``Intercom-Version: 2.14``), ``Authorization: Bearer <token>``,
both added to every request, so a caller's ``httpx.Client`` (tests) is used as-is; paths are
relative to ``base_url`` (the client we build ourselves has it; a caller's must).

Rate limits: 429 answers are retried by :class:`~connectors.http.VendorHttp`, which waits until
``X-RateLimit-Reset`` (epoch seconds; Intercom sends no ``Retry-After``); ``X-RateLimit-Remaining``
near zero makes it wait for the reset before the next call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Unpack

import httpx

from connectors.base import ConnectorParts, secret_from_env
from connectors.http import VendorHttp
from connectors.intercom.settings import IntercomSettings

#: API version pinned by the ``Intercom-Version`` header (the OpenAPI description we follow).
INTERCOM_API_VERSION = "2.14"
#: HTTP timeout of the client we build ourselves, in seconds.
HTTP_TIMEOUT_S = 30.0

# Conversation vocabulary, read alike by the connector (documents) and the desk (drafting).
#: Part types whose body the customer sees (replies; close/open/assignment may carry a message
#: "to the user and other teammates", per the 2.14 manage-conversation request bodies).
PUBLIC_PART_TYPES = frozenset({"comment", "open", "close", "assignment"})
#: Part types that are teammate-only notes.
NOTE_PART_TYPES = frozenset({"note", "note_and_reopen"})
CUSTOMER_AUTHORS = frozenset({"user", "lead", "contact"})
AGENT_AUTHORS = frozenset({"admin", "bot", "team"})


class IntercomClient:
    """One Intercom workspace's API, signed in (see the module docstring).

    Args:
        settings: the source's settings (``base_url``, the token variable's name).
        **parts: the connector parts (an ``httpx.Client`` with the base URL set, used as-is;
            ``environ``; ``sleep``; ``clock``, epoch seconds for ``X-RateLimit-Reset``).

    Raises:
        ConfigError: the token variable is not set (named in the message, never its value).
    """

    def __init__(self, settings: IntercomSettings, **parts: Unpack[ConnectorParts]) -> None:
        token = secret_from_env(parts.get("environ"), settings.token_env, source=settings.name,
                                what="an Intercom access token")
        headers = {"Authorization": f"Bearer {token}", "Intercom-Version": INTERCOM_API_VERSION,
                   "Accept": "application/json"}
        self.http = VendorHttp.from_parts(
            parts, vendor="Intercom", build=lambda: httpx.Client(base_url=settings.base_url.rstrip("/"), timeout=HTTP_TIMEOUT_S),
            wrap=lambda client: _SignedRequests(client, headers),
        )

    def close(self) -> None:
        """Close the HTTP client if it was built here."""
        self.http.close()

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """``method`` on ``path``, signed; the decoded body (None when empty)."""
        return self.http.request_json(method, path, **kwargs)


class _SignedRequests:
    """What :class:`VendorHttp` talks to: the httpx client plus Intercom's headers on every request,
    so a caller's client (tests) is used as-is and still sends ``Authorization`` and ``Intercom-Version``."""

    def __init__(self, client: httpx.Client, headers: Mapping[str, str]) -> None:
        self._client = client
        self._headers = dict(headers)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**self._headers, **(kwargs.pop("headers", None) or {})}
        return self._client.request(method, url, headers=headers, **kwargs)
