"""The connector seam: every source (helpdesk, website, folder) speaks this interface.

A connector is built the same way whatever its source: its own settings model, then keyword-only
the :class:`ConnectorParts` tests inject (an ``httpx.Client`` pointed at a local fake server, the
environment its credentials are read from, a clock and a sleep). :meth:`Connector.sync` yields
:data:`SyncEvent` s (a :class:`~bot.models.Document`, a :class:`~bot.models.Deleted`, or a
:class:`Skipped` record) and *returns* the next :class:`Checkpoint`; :class:`SyncRun` and
:func:`drain` hand that checkpoint over without unwrapping ``StopIteration``.

Vendor errors are translated once, at the boundary, into this tree::

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
import os
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack

import httpx
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


class Skipped(BaseModel):
    """A connector's report that one record was left out: malformed, unreadable, refused, or past
    a page cap. The sync goes on without it; ``reason`` names the record, never its content."""

    model_config = ConfigDict(frozen=True)

    source: str
    reason: str


SyncEvent = Document | Deleted | Skipped
SyncEvents = Generator[SyncEvent, None, Checkpoint]


class SyncRun:
    """A sync as it runs: iterate it (once) for its events; :attr:`checkpoint` is set when it ends.

    The connector's generator *returns* its checkpoint; this keeps it, so a caller that streams
    events (the sync runner) reads it afterwards instead of catching ``StopIteration``.
    """

    def __init__(self, events: SyncEvents) -> None:
        self._events = events
        #: What the sync returned; None until it has ended (or if it returned nothing).
        self.checkpoint: Checkpoint | None = None

    def __iter__(self) -> Iterator[SyncEvent]:
        self.checkpoint = yield from self._events


def drain(events: SyncEvents) -> tuple[list[SyncEvent], Checkpoint | None]:
    """Run a sync to its end: ``(every event in order, the checkpoint it returned)``."""
    run = SyncRun(events)
    return list(run), run.checkpoint


class ConnectorParts(TypedDict, total=False):
    """What every connector (and vendor client) takes besides its settings, keyword-only; all optional."""

    client: httpx.Client | None
    """HTTP client used as-is (tests point it at a local fake); absent or None: one is built, and closed by ``close()``."""
    environ: Mapping[str, str] | None
    """Where the credential variables named in the settings are read; absent or None: ``os.environ``."""
    sleep: Callable[[float], None]
    """Injectable ``time.sleep`` for retries, Retry-After and crawl delays."""
    clock: Callable[[], float]
    """Injectable ``time.time`` (epoch seconds), for rate-limit windows given as reset times."""


class Connector(abc.ABC):
    """A source of documents.

    Every connector is built alike, so the registry builds any of them the same way: its settings
    model (which has a ``name``), then the :class:`ConnectorParts`, keyword-only. A connector that
    uses the parts passes them on (``super().__init__(settings)``, then e.g.
    ``ZendeskClient(settings, **parts)``); one that needs none (a folder of files) ignores them.
    """

    #: Name of this source instance (``zendesk``, ``sample`` ...), the ``source`` of its documents.
    name: str

    def __init__(self, settings: Any, **parts: Unpack[ConnectorParts]) -> None:
        self.settings = settings
        self.name = settings.name

    @abc.abstractmethod
    def sync(self, checkpoint: Checkpoint | None) -> SyncEvents:
        """Yield documents changed since ``checkpoint``, deletions, and the records it skipped
        (:class:`Skipped`, logged where they happen); return the next checkpoint."""

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


def secret_from_env(environ: Mapping[str, str] | None, var: str, *, source: str, what: str) -> str:
    """The secret held by environment variable ``var`` (in ``environ``, else ``os.environ``);
    ConfigError naming the variable (never a value)."""
    value = ((os.environ if environ is None else environ).get(var) or "").strip()
    if not value:
        raise ConfigError(f"source {source!r}: environment variable {var} is not set; it must hold {what}")
    return value


def http_base_url(value: str, *, example: str) -> str:
    """A settings ``base_url``: trimmed, without a trailing slash, http(s) only (``example`` shows one)."""
    value = value.strip().rstrip("/")
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"base_url must start with https:// (e.g. {example})")
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
