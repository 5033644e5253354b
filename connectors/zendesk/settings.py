"""The settings of one Zendesk account as a source (a ``[[sources]]`` entry with ``type = "zendesk"``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.base import http_base_url


class ZendeskSettings(BaseModel):
    """One Zendesk account as a source (a ``[[sources]]`` entry with ``type = "zendesk"``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    type: Literal["zendesk"] = "zendesk"
    """The connector type."""
    name: str = "zendesk"
    """Source name: ``Document.source`` and the prefix of every document id."""
    base_url: str
    """The account's URL, e.g. ``https://acme.zendesk.com`` (tests pass the fake server's URL)."""
    email_env: str = "ZENDESK_EMAIL"
    """Name of the environment variable holding the agent's email for API-token auth."""
    token_env: str = "ZENDESK_API_TOKEN"
    """Name of the environment variable holding the API token (never the token itself)."""
    locales: tuple[str, ...] = ("en-us",)
    """Help Center locales to index; the first one's articles get the plain ``:article:{id}`` ids."""
    include_articles: bool = True
    """Index Help Center articles."""
    include_tickets: bool = True
    """Index tickets (as INTERNAL documents)."""
    include_internal_notes: bool = False
    """Put private comments (``public: false``) into ticket text as ``## Internal note``."""
    ticket_statuses: tuple[str, ...] = ("solved", "closed")
    """Ticket statuses worth indexing; others are left out (and removed if they were indexed)."""
    comment_requests: int = Field(default=4, ge=1, le=16)
    """Tickets whose comments are requested at once during the ticket export (1: one after another).
    Each request still counts against the account's per-minute API limit; a 429 waits as always."""
    start_time: int = Field(default=0, ge=0)
    """Unix time the first ticket export starts from (later syncs continue from the checkpoint)."""

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return http_base_url(value, example="https://acme.zendesk.com")

    @field_validator("locales")
    @classmethod
    def _some_locale(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(dict.fromkeys(v.strip().lower() for v in value if v.strip()))
        if not cleaned:
            raise ValueError("give at least one locale, e.g. ['en-us']")
        return cleaned
