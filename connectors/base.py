"""The connector seam: every source (helpdesk, website, folder) speaks this interface.

A connector is configured by its own settings model, takes an injected ``httpx.Client`` where it
talks HTTP (tests point it at a local fake server), and translates vendor errors once, here at
the boundary, into this tree::

    ConnectorError
    ├── AuthError        credentials refused (401/403): retrying will not help
    ├── RateLimited      429 or quota exhausted; carries ``retry_after_s``
    ├── TransientError   5xx, timeouts, connection resets: retry later
    │   └── NotFound     404: the record is gone (callers that expect it catch this)
    └── RecordError      one record is malformed: report it, skip it, go on
"""

from __future__ import annotations

import abc
import email.utils
from collections.abc import Generator, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.errors import ConfigError
from bot.models import Deleted, Document

#: The longest we ever sleep for one Retry-After, whatever the server says.
MAX_RETRY_AFTER_S = 300.0


class ConnectorError(Exception):
    """Root of the errors a connector raises."""


class AuthError(ConnectorError):
    """The source refused our credentials."""


class RateLimited(ConnectorError):
    """The source asked us to slow down."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TransientError(ConnectorError):
    """A failure that may go away on retry."""


class NotFound(TransientError):
    """HTTP 404. A subclass of TransientError so a listing that 404s still fails the run;
    connectors that fetch single records catch it to report a deletion."""


class RecordError(ConnectorError):
    """One record could not be turned into a document."""


class Checkpoint(BaseModel):
    """Where a connector stopped. Immutable: a sync returns a new one, never mutates the old."""

    model_config = ConfigDict(frozen=True)

    cursor: str | None = None
    updated_since: datetime | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


SyncEvents = Generator[Document | Deleted, None, Checkpoint]


class Connector(abc.ABC):
    """A source of documents."""

    #: Name of this source instance (``zendesk``, ``sample`` ...), the ``source`` of its documents.
    name: str

    @abc.abstractmethod
    def sync(self, checkpoint: Checkpoint | None) -> SyncEvents:
        """Yield documents changed since ``checkpoint`` (and deletions); return the next checkpoint."""

    @abc.abstractmethod
    def list_ids(self) -> Iterable[str]:
        """Every document id that exists at the source now, for pruning.

        Raise a :class:`ConnectorError` rather than return a partial listing: the sync runner
        deletes whatever is absent from it (within :meth:`prune_scope`).
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the connector opened (an HTTP client it built itself)."""

    def prune_scope(self) -> tuple[str, ...]:
        """Id prefixes that :meth:`list_ids` lists completely; only those are pruned.

        A connector whose tickets arrive with explicit deletions (an incremental export) but are
        too many to list returns just its article prefix here.
        """
        return (f"{self.name}:",)


def secret_from_env(environ: Mapping[str, str], var: str, *, source: str, what: str) -> str:
    """The secret held by environment variable ``var``; ConfigError naming the variable (never a value)."""
    value = (environ.get(var) or "").strip()
    if not value:
        raise ConfigError(f"source {source!r}: environment variable {var} is not set; it must hold {what}")
    return value


def parse_retry_after(value: str | None, *, now: datetime | None = None, default_s: float = 1.0) -> float:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date; capped.

    Args:
        value: The header's value, or None.
        now: The current time (injectable for tests).
        default_s: Used when the header is absent or unreadable.
    """
    if value is None or not value.strip():
        return default_s
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return default_s
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, min(seconds, MAX_RETRY_AFTER_S))
