"""Freshdesk as a source: solution articles (the knowledge base) and resolved tickets.

Articles are walked category -> folder -> article (``/api/v2/solutions/...``). Freshdesk has no
"changed since" filter there, so every sync lists the tree and yields only the articles whose
``updated_at`` passed the checkpoint (or whose folder's visibility changed). Drafts are never
indexed. A folder's ``visibility`` decides the audience: 1 (all users) is PUBLIC, anything else
(logged-in users, agents, selected companies, bots...) or a missing value is INTERNAL.

Tickets come from ``GET /api/v2/tickets?updated_since=...&order_by=updated_at&order_type=asc``.
Freshdesk stops list pagination at :data:`FRESHDESK_MAX_PAGES`; when the cap is reached the
connector *rolls* ``updated_since`` forward to the last ticket it saw and starts again at page 1,
skipping the tickets it already handled at that exact second. The same cursor (a timestamp plus
the ids seen at that timestamp) is what the checkpoint stores, so a second sync fetches only what
changed and never repeats the boundary ticket. Deleted tickets (``deleted: true`` in the listing,
or listed by ``filter=deleted``) and spam become :class:`Deleted`; so do tickets whose status left
``ticket_statuses`` (a reopened ticket is no longer resolved knowledge).

Ticket text is the subject, the customer's messages and the public agent replies as sections;
private notes appear (as ``## Internal note``) only with ``include_internal_notes``. Tickets are
always INTERNAL documents.

Records that cannot be read are reported as :class:`~connectors.base.Skipped` events and left out.
Auth, HTTP and paging are :class:`~connectors.freshdesk.client.FreshdeskClient`'s, shared with the
drafting desk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Unpack

import structlog

from bot.models import TICKET_CUSTOMER_SECTION, Deleted, Document, DocumentKind, Visibility
from connectors.base import (
    Checkpoint,
    Connector,
    ConnectorError,
    ConnectorParts,
    NotFound,
    RecordError,
    Skipped,
    SyncEvent,
    SyncEvents,
)
from connectors.freshdesk.client import FreshdeskClient
from connectors.freshdesk.settings import FreshdeskSettings
from connectors.markdown import html_to_markdown

log = structlog.get_logger(__name__)

#: Highest ``page`` Freshdesk serves for a list (300 pages x 100 = 30,000 records); beyond it the
#: ticket listing is continued by rolling ``updated_since`` forward. Read at run time (tests shrink it).
FRESHDESK_MAX_PAGES = 300
#: Start of history for the first ticket sync: without ``updated_since`` the list API returns only
#: tickets created in the past 30 days (API docs, "List All Tickets").
FRESHDESK_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

#: Solution article ``status`` values (API docs, "Solution Article").
ARTICLE_DRAFT = 1
ARTICLE_PUBLISHED = 2
#: Solution folder ``visibility``: 1 = all users; 2 logged-in users, 3 agents, 4 selected companies,
#: 5 bots, 6 selected contact segments, 7 selected company segments are all non-public.
FOLDER_VISIBLE_TO_ALL = 1
#: Ticket ``status`` values (API docs, "Tickets").
TICKET_STATUS_NAMES = {2: "open", 3: "pending", 4: "resolved", 5: "closed"}


@dataclass
class _Cursor:
    """A position in an ``updated_at``-ordered stream: the timestamp and the ids handled at it."""

    since: datetime
    seen: set[int] = field(default_factory=set)

    def admits(self, ts: datetime, record_id: int) -> bool:
        return ts > self.since or (ts == self.since and record_id not in self.seen)

    def advance(self, ts: datetime, record_id: int) -> None:
        if ts > self.since:
            self.since, self.seen = ts, {record_id}
        elif ts == self.since:
            self.seen.add(record_id)


class FreshdeskConnector(Connector):
    """Solution articles and tickets of one Freshdesk helpdesk."""

    settings: FreshdeskSettings

    def __init__(self, settings: FreshdeskSettings, **parts: Unpack[ConnectorParts]) -> None:
        super().__init__(settings)
        self.client = FreshdeskClient(settings, **parts)

    def close(self) -> None:
        self.client.close()

    # -- the Connector interface ------------------------------------------------------------

    def prune_scope(self) -> tuple[str, ...]:
        # Only articles are listed completely; tickets arrive with explicit deletions.
        return (f"{self.name}:article:",) if self.settings.include_articles else ()

    def list_ids(self) -> list[str]:
        if not self.settings.include_articles:
            return []
        ids: list[str] = []
        for item in self._walk_articles(listing=True):
            if isinstance(item, Skipped):
                continue  # a listing reports nothing (and raises at the page cap)
            _folder, raw = item
            try:
                fields = _article_fields(raw)
            except RecordError:
                continue
            if fields.status == ARTICLE_PUBLISHED:
                ids.append(self._article_id(fields.id))
        return ids

    def sync(self, checkpoint: Checkpoint | None) -> SyncEvents:
        old = checkpoint.extra if checkpoint is not None else {}
        extra: dict[str, Any] = dict(old)
        updated_since = checkpoint.updated_since if checkpoint is not None else None
        counts = {"articles": 0, "tickets": 0, "deleted": 0, "skipped": 0}

        if self.settings.include_articles:
            cursor = _cursor_from(old.get("articles_since"), old.get("articles_seen"), None)
            known_folders = {str(k): v for k, v in (old.get("folder_visibility") or {}).items()}
            folders_now: dict[str, Any] = {}
            for event in self._sync_articles(cursor, known_folders, folders_now):
                counts[_tally(event, "articles")] += 1
                yield event
            extra.update(
                articles_since=_iso(cursor.since) if cursor.since != _NEVER else None,
                articles_seen=sorted(cursor.seen),
                folder_visibility=folders_now,
            )

        if self.settings.include_tickets:
            start = self.settings.updated_since or FRESHDESK_EPOCH
            tickets = _Cursor(
                updated_since or start, _ids(old.get("tickets_seen")) if updated_since else set()
            )
            for event in self._sync_tickets(tickets):
                counts[_tally(event, "tickets")] += 1
                yield event
            deleted = _cursor_from(old.get("deleted_since"), old.get("deleted_seen"), start)
            for raw in self._roll({"filter": "deleted"}, deleted, what="deleted ticket"):
                event = raw if isinstance(raw, Skipped) else Deleted(id=self._ticket_id(raw["id"]), source=self.name)
                counts[_tally(event, "tickets")] += 1
                yield event
            updated_since = tickets.since
            extra.update(
                tickets_seen=sorted(tickets.seen),
                deleted_since=_iso(deleted.since),
                deleted_seen=sorted(deleted.seen),
            )

        log.info("freshdesk_sync_done", source=self.name, requests=self.client.http.requests, **counts)
        return Checkpoint(updated_since=updated_since, extra=extra)

    # -- articles ---------------------------------------------------------------------------

    def _article_id(self, article_id: int) -> str:
        return f"{self.name}:article:{article_id}"

    def _walk_articles(self, *, listing: bool = False) -> Iterator[tuple[dict[str, Any], Any] | Skipped]:
        """Every (folder, raw article) of every category, and what was skipped; raises if any request fails.

        ``listing`` (for :meth:`list_ids`): report nothing, and raise rather than stop at the page cap.
        """
        report = not listing
        for category in self.client.get_list("/api/v2/solutions/categories"):
            category_id = _record_id(category)
            if category_id is None:
                if report:
                    yield self._skipped("solution category without a numeric id")
                continue
            for folder in self.client.get_list(f"/api/v2/solutions/categories/{category_id}/folders"):
                folder_id = _record_id(folder)
                if folder_id is None:
                    if report:
                        yield self._skipped(f"solution folder in category {category_id} without a numeric id")
                    continue
                for items in self._pages(f"/api/v2/solutions/folders/{folder_id}/articles", {}, strict=listing):
                    if isinstance(items, Skipped):
                        yield items
                        continue
                    for raw in items:
                        yield folder, raw

    def _sync_articles(
        self, cursor: _Cursor, known_folders: dict[str, Any], folders_now: dict[str, Any]
    ) -> Iterator[SyncEvent]:
        # Decisions are made against the cursor as it was; it advances as articles go by.
        start = _Cursor(cursor.since, set(cursor.seen))
        for item in self._walk_articles():
            if isinstance(item, Skipped):
                yield item
                continue
            folder, raw = item
            folder_key = str(folder["id"])
            visibility_value = folder.get("visibility")
            folders_now[folder_key] = visibility_value
            try:
                fields = _article_fields(raw)
            except RecordError as exc:
                yield self._skipped(f"article {_describe_id(raw)}: {exc}")
                continue
            cursor.advance(fields.updated_at, fields.id)
            folder_changed = folder_key not in known_folders or known_folders[folder_key] != visibility_value
            if not (start.admits(fields.updated_at, fields.id) or folder_changed):
                continue
            if fields.status != ARTICLE_PUBLISHED:
                # A draft (or unknown status) is never indexed; drop any earlier published version.
                yield Deleted(id=self._article_id(fields.id), source=self.name)
                continue
            try:
                yield self._article_document(fields, raw, folder)
            except RecordError as exc:
                yield self._skipped(f"article {fields.id}: {exc}")

    def _article_document(
        self, fields: _ArticleFields, raw: dict[str, Any], folder: dict[str, Any]
    ) -> Document:
        text = html_to_markdown(fields.html)
        if not text:
            raise RecordError("description is empty after conversion")
        visibility = folder.get("visibility")
        public = _is_int(visibility) and visibility == FOLDER_VISIBLE_TO_ALL
        audience = Visibility.PUBLIC if public else Visibility.INTERNAL
        tags = raw.get("tags")
        return Document(
            id=self._article_id(fields.id),
            source=self.name,
            kind=DocumentKind.ARTICLE,
            audience=audience,
            title=fields.title,
            url=f"{self.settings.base_url}/support/solutions/articles/{fields.id}",
            text=text,
            updated_at=fields.updated_at,
            metadata={
                "status": "published",
                "folder_id": folder["id"],
                "category_id": raw.get("category_id"),
                "tags": [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
            },
        )

    # -- tickets ----------------------------------------------------------------------------

    def _ticket_id(self, ticket_id: int) -> str:
        return f"{self.name}:ticket:{ticket_id}"

    def _sync_tickets(self, cursor: _Cursor) -> Iterator[SyncEvent]:
        for raw in self._roll({"include": "description"}, cursor, what="ticket"):
            if isinstance(raw, Skipped):
                yield raw
                continue
            ticket_id = raw["id"]
            if raw.get("deleted") is True or raw.get("spam") is True:
                yield Deleted(id=self._ticket_id(ticket_id), source=self.name)
                continue
            status = raw.get("status")
            if not _is_int(status):
                yield self._skipped(f"ticket {ticket_id}: status is not a number")
                continue
            if status not in self.settings.ticket_statuses:
                # Not (or no longer) resolved knowledge: make sure no earlier version stays indexed.
                yield Deleted(id=self._ticket_id(ticket_id), source=self.name)
                continue
            try:
                yield from self._ticket_events(raw)
            except RecordError as exc:
                yield self._skipped(f"ticket {ticket_id}: {exc}")

    def _roll(self, params: dict[str, Any], cursor: _Cursor, *, what: str) -> Iterator[dict[str, Any] | Skipped]:
        """Tickets in ``updated_at`` order from ``cursor``, rolling ``updated_since`` at the page cap.

        Yields only tickets with a numeric id and a readable ``updated_at`` that the cursor admits
        (others are reported as :class:`Skipped`); advances ``cursor`` past each one yielded.
        """
        while True:
            base = {**params, "updated_since": _iso(cursor.since), "order_by": "updated_at", "order_type": "asc"}
            rolled_from = _Cursor(cursor.since, set(cursor.seen))
            page = 1
            while True:
                items, more = self.client.page("/api/v2/tickets", base, page=page)
                for raw in items:
                    ticket_id = _record_id(raw)
                    updated = _datetime(raw.get("updated_at")) if isinstance(raw, dict) else None
                    if ticket_id is None or updated is None:
                        yield self._skipped(f"{what} {_describe_id(raw)}: missing numeric id or readable updated_at")
                        continue
                    if not rolled_from.admits(updated, ticket_id):
                        continue
                    yield raw
                    cursor.advance(updated, ticket_id)
                if not more:
                    return
                if page >= FRESHDESK_MAX_PAGES:
                    break
                page += 1
            # Page cap reached with more to come: restart at page 1 from the last ticket seen.
            if cursor.since == rolled_from.since:
                # Every ticket on all those pages shares one second; we cannot page past them.
                skipped_at = cursor.since
                cursor.since, cursor.seen = cursor.since + timedelta(seconds=1), set()
                yield self._skipped(
                    f"{what}s updated at {_iso(skipped_at)}: more than {FRESHDESK_MAX_PAGES} pages share that "
                    "second; the rest of them were not fetched"
                )
            log.info(
                "freshdesk_page_cap_rolled",
                source=self.name,
                stream=what,
                updated_since=_iso(cursor.since),
                max_pages=FRESHDESK_MAX_PAGES,
            )

    def _ticket_events(self, raw: dict[str, Any]) -> Iterator[Document | Skipped]:
        """The ticket's document, after what was skipped in its thread; RecordError if the ticket cannot be read."""
        ticket_id: int = raw["id"]
        subject = raw.get("subject")
        if subject is not None and not isinstance(subject, str):
            raise RecordError("subject is not text")
        description = _body(raw, "description", "description_text")
        sections: list[tuple[str, str]] = []
        if description:
            sections.append((TICKET_CUSTOMER_SECTION, description))
        try:
            listed = list(self._conversations(ticket_id))
        except NotFound as exc:
            # Deleted between the listing and this request: one record gone, not an outage.
            raise RecordError(f"ticket {ticket_id}: conversations not found (HTTP 404)") from exc
        yield from (item for item in listed if isinstance(item, Skipped))  # a listing cut at the page cap
        for conversation in (item for item in listed if not isinstance(item, Skipped)):
            cid = _describe_id(conversation)
            if not isinstance(conversation, dict):
                yield self._skipped(f"ticket {ticket_id} conversation: not an object")
                continue
            private, incoming = conversation.get("private"), conversation.get("incoming")
            if not isinstance(private, bool) or not isinstance(incoming, bool):
                # Without a readable private flag we cannot tell a note from a reply: leave it out.
                yield self._skipped(f"ticket {ticket_id} conversation {cid}: private/incoming flags missing")
                continue
            try:
                body = _body(conversation, "body", "body_text")
            except RecordError as exc:
                yield self._skipped(f"ticket {ticket_id} conversation {cid}: {exc}")
                continue
            if not body:
                continue
            if private:
                if self.settings.include_internal_notes:
                    sections.append(("Internal note", body))
            elif incoming:
                sections.append((TICKET_CUSTOMER_SECTION, body))
            else:
                sections.append(("Agent reply", body))
        title = (subject or "").strip() or f"Ticket #{ticket_id}"
        parts = [f"# {title}"] + [f"## {heading}\n\n{body}" for heading, body in sections]
        tags = raw.get("tags")
        yield Document(
            id=self._ticket_id(ticket_id),
            source=self.name,
            kind=DocumentKind.TICKET,
            audience=Visibility.INTERNAL,
            title=title,
            url=f"{self.settings.base_url}/a/tickets/{ticket_id}",
            text="\n\n".join(parts),
            updated_at=_datetime(raw.get("updated_at")),
            metadata={
                "status": TICKET_STATUS_NAMES.get(raw["status"], str(raw["status"])),
                "tags": [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
            },
        )

    def _conversations(self, ticket_id: int) -> Iterator[Any]:
        """The ticket's conversations (raw), and a :class:`Skipped` if the listing stopped at the page cap."""
        for items in self._pages(f"/api/v2/tickets/{ticket_id}/conversations", {}):
            if isinstance(items, Skipped):
                yield items
            else:
                yield from items

    def _pages(self, path: str, params: dict[str, Any], *, strict: bool = False) -> Iterator[list[Any] | Skipped]:
        """Pages of a list endpoint; at the page cap, ``strict`` raises, else a :class:`Skipped` ends them."""
        cut = yield from self.client.pages(path, params, max_pages=FRESHDESK_MAX_PAGES)
        if not cut:
            return
        if strict:
            raise ConnectorError(f"Freshdesk {path}: more than {FRESHDESK_MAX_PAGES} pages; cannot list it completely")
        log.warning("freshdesk_page_cap", source=self.name, path=path, max_pages=FRESHDESK_MAX_PAGES)
        yield self._skipped(f"{path}: more than {FRESHDESK_MAX_PAGES} pages; the rest was not fetched")

    def _skipped(self, reason: str) -> Skipped:
        log.warning("freshdesk_record_skipped", source=self.name, reason=reason)
        return Skipped(source=self.name, reason=reason)


# -- parsing helpers ---------------------------------------------------------------------------

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _ArticleFields:
    id: int
    title: str
    html: str
    status: int
    updated_at: datetime


def _article_fields(raw: Any) -> _ArticleFields:
    """The fields an article needs, validated; raises RecordError naming what is wrong."""
    if not isinstance(raw, dict):
        raise RecordError("not an object")
    article_id = _record_id(raw)
    if article_id is None:
        raise RecordError("missing numeric id")
    status = raw.get("status")
    if not _is_int(status):
        raise RecordError("status is not a number")
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        raise RecordError("missing title")
    updated = _datetime(raw.get("updated_at"))
    if updated is None:
        raise RecordError("missing or unreadable updated_at")
    html = raw.get("description")
    if not isinstance(html, str) or not html.strip():
        text = raw.get("description_text")
        if not isinstance(text, str) or not text.strip():
            raise RecordError("missing description (body)")
        html = text
    return _ArticleFields(id=article_id, title=title.strip(), html=html, status=status, updated_at=updated)


def _body(record: dict[str, Any], html_key: str, text_key: str) -> str:
    """Markdown of a record's HTML body, else its plain text; '' when both are absent/null."""
    html, text = record.get(html_key), record.get(text_key)
    for value, key in ((html, html_key), (text, text_key)):
        if value is not None and not isinstance(value, str):
            raise RecordError(f"{key} is not text")
    if html and html.strip():
        return html_to_markdown(html)
    return (text or "").strip()


def _tally(event: SyncEvent, documents: str) -> str:
    """The ``freshdesk_sync_done`` count an event adds to (``documents``: articles or tickets)."""
    return "deleted" if isinstance(event, Deleted) else "skipped" if isinstance(event, Skipped) else documents


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _record_id(raw: Any) -> int | None:
    """A record's numeric ``id`` (Freshdesk sends numbers); None when it has none."""
    if not isinstance(raw, dict):
        return None
    value = raw.get("id")
    return value if _is_int(value) else None


def _describe_id(raw: Any) -> str:
    value = raw.get("id") if isinstance(raw, dict) else None
    return str(value) if _is_int(value) else "(no id)"


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _iso(value: datetime) -> str:
    """Freshdesk's ``updated_since`` format: UTC, whole seconds, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cursor_from(since: Any, seen: Any, default: datetime | None) -> _Cursor:
    parsed = _datetime(since) if since else None
    if parsed is None:
        return _Cursor(default or _NEVER, set())
    return _Cursor(parsed, _ids(seen))


def _ids(values: Any) -> set[int]:
    """Record ids stored in a checkpoint (JSON list); anything unreadable is dropped."""
    if not isinstance(values, list):
        return set()
    return {int(v) for v in values if _is_int(v) or (isinstance(v, str) and v.isdigit())}
