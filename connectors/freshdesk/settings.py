"""The settings of one Freshdesk helpdesk as a source (a ``[[sources]]`` entry with ``type = "freshdesk"``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.base import http_base_url


class FreshdeskSettings(BaseModel):
    """One Freshdesk helpdesk as a source."""

    model_config = ConfigDict(frozen=True)

    type: Literal["freshdesk"] = "freshdesk"
    name: str = Field(description="Source name: Document.source and the document id prefix")
    base_url: str = Field(description="Helpdesk root, e.g. https://acme.freshdesk.com (no /api/v2)")
    api_key_env: str = Field("FRESHDESK_API_KEY", description="Environment variable holding the API key")
    include_articles: bool = Field(True, description="Index published solution articles")
    include_tickets: bool = Field(True, description="Index tickets whose status is in ticket_statuses")
    include_internal_notes: bool = Field(
        False, description="Put private notes into ticket text (tickets are internal documents anyway)"
    )
    ticket_statuses: tuple[int, ...] = Field(
        (4, 5), description="Ticket statuses to index: 2 open, 3 pending, 4 resolved, 5 closed"
    )
    updated_since: datetime | None = Field(
        None, description="First sync: only tickets updated at/after this (None: all history)"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = v.strip()
        if not v or ":" in v:
            raise ValueError("name must be non-empty and contain no ':' (it prefixes document ids)")
        return v

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        v = http_base_url(v, example="https://acme.freshdesk.com")
        if v.endswith("/api/v2"):
            v = v[: -len("/api/v2")]
        return v

    @field_validator("updated_since")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v
