"""Zendesk: Help Center articles (public knowledge) and resolved tickets (internal knowledge).

Articles
    ``GET /api/v2/help_center/{locale}/articles.json`` with cursor pagination (``page[size]``,
    ``page[after]``; stop on ``meta.has_more`` = false: Zendesk keeps sending ``links.next`` on the
    last page). Sections and categories are listed once per sync and locale, and the article's
    ``Category › Section`` breadcrumb opens its text (so a renamed section reaches the index).
    Drafts are never indexed (a draft yields :class:`Deleted`, in case it was published before).
    An article restricted to a user segment (``user_segment_id`` / ``user_segment_ids``) is
    INTERNAL; one visible to everyone is PUBLIC.

    Every sync lists every article again; the indexer's content hash skips the unchanged ones.
    We do not use the Help Center incremental article export because (1) a section or category
    rename, or an audience change, changes our document without necessarily moving the article's
    ``updated_at``; (2) that export reports no deletions, so the full listing is needed for pruning
    anyway; (3) the listing is cheap (100 per page, on the Help Center's own rate limit).

Tickets
    The cursor-based incremental export ``GET /api/v2/incremental/tickets/cursor.json``
    (``start_time`` on the first run, then ``cursor``; stop on ``end_of_stream``; the last
    ``after_cursor`` is the checkpoint), so a second sync reads only tickets changed since.
    Status ``deleted`` yields :class:`Deleted`; a ticket whose status is not in
    ``ticket_statuses`` (default: solved, closed) also yields :class:`Deleted` so a reopened ticket
    leaves the index until it is resolved again (deleting an id that is not indexed is free).

    Comments come from ``GET /api/v2/tickets/{id}/comments.json?include=users`` for just the tickets
    in the export page that are in ``ticket_statuses``. We do not use the ticket *events* export
    (``/api/v2/incremental/ticket_events.json?include=comment_events``), although it would avoid
    one request per ticket: (1) it carries only the comments made inside the exported window, so
    an incremental sync could not rebuild a ticket's whole thread without rescanning events back
    to the ticket's creation or keeping every comment in the checkpoint; (2) incremental exports
    are limited to 10 requests a minute (30 with the High Volume add-on), the comments list to the
    account's limit (200-2,500 a minute); (3) the recorded API traffic we test against has no
    ticket_events call to check the wire format with. Steady state, the per-ticket cost is small:
    only tickets newly solved or closed in the window are fetched (closed tickets never change).
    The comments of the next ``comment_requests`` tickets are requested at once (a thread pool),
    so a first sync of a large account waits for the API's rate limit, not for one network round
    trip per ticket; events still come out in the export's order.

    Ticket text: ``# subject``, then in order ``## Customer`` (public comments by the requester
    or another end user) and ``## Agent reply`` (other public comments). A comment whose
    ``public`` is not exactly ``true`` is an internal note: it is dropped unless
    ``include_internal_notes`` is set, and then appears as ``## Internal note``. Tickets are
    always INTERNAL documents.

Records that cannot be read are reported as :class:`~connectors.base.Skipped` events and left out.
Auth, HTTP and pagination are :class:`~connectors.zendesk.client.ZendeskClient`'s, shared with the
drafting desk.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Unpack

import structlog

from bot.models import TICKET_CUSTOMER_SECTION, Deleted, Document, DocumentKind, Visibility
from connectors.base import (
    Checkpoint,
    Connector,
    ConnectorParts,
    NotFound,
    RecordError,
    Skipped,
    SyncEvent,
    SyncEvents,
    TransientError,
)
from connectors.markdown import html_to_markdown
from connectors.zendesk.client import MAX_PAGES, ZendeskClient, int_id
from connectors.zendesk.settings import ZendeskSettings

log = structlog.get_logger(__name__)

#: Incremental ticket export: most tickets per page (``per_page``); 1000 is also its default.
ZENDESK_EXPORT_MAX_PER_PAGE = 1000  # developer.zendesk.com "Incremental Exports": per_page max 1000

BREADCRUMB_SEPARATOR = " › "
TICKET_ID_PREFIX = "ticket"
ARTICLE_ID_PREFIX = "article"


@dataclass(frozen=True)
class _TicketHead:
    """An exported ticket to index, before its comments are read."""

    ticket_id: int
    doc_id: str
    title: str
    requester_id: int | None
    updated_at: datetime | None
    metadata: dict[str, Any]


class ZendeskConnector(Connector):
    """Help Center articles and resolved tickets of one Zendesk account."""

    settings: ZendeskSettings

    def __init__(self, settings: ZendeskSettings, **parts: Unpack[ConnectorParts]) -> None:
        super().__init__(settings)
        self.client = ZendeskClient(settings, **parts)

    def close(self) -> None:
        self.client.close()

    # -- Connector -----------------------------------------------------------------------------

    def sync(self, checkpoint: Checkpoint | None) -> SyncEvents:
        started = datetime.now(UTC)
        extra: dict[str, Any] = {}
        if self.settings.include_articles:
            yield from self._sync_articles()
        if self.settings.include_tickets:
            previous = checkpoint.extra.get("tickets_cursor") if checkpoint is not None else None
            cursor = yield from self._sync_tickets(previous if isinstance(previous, str) else None)
            extra["tickets_cursor"] = cursor
        return Checkpoint(updated_since=started, extra=extra)

    def list_ids(self) -> list[str]:
        """Ids of every published article in every configured locale (raises if a page fails)."""
        if not self.settings.include_articles:
            return []
        ids: list[str] = []
        for locale in self.settings.locales:
            for raw in self.client.records(f"/api/v2/help_center/{locale}/articles.json", "articles"):
                article_id = int_id(raw.get("id")) if isinstance(raw, dict) else None
                if article_id is not None and raw.get("draft") is not True:
                    ids.append(self._article_id(article_id, locale))
        return ids

    def prune_scope(self) -> tuple[str, ...]:
        # Tickets are too many to list; they arrive with explicit deletions from the export.
        return (f"{self.name}:{ARTICLE_ID_PREFIX}:",)

    # -- articles ------------------------------------------------------------------------------

    def _sync_articles(self) -> Iterator[SyncEvent]:
        for locale in self.settings.locales:
            breadcrumbs = self._breadcrumbs(locale)
            count = 0
            for raw in self.client.records(f"/api/v2/help_center/{locale}/articles.json", "articles"):
                try:
                    event = self._article(raw, locale, breadcrumbs)
                except RecordError as exc:
                    yield self._skipped("article", str(exc))
                    continue
                count += isinstance(event, Document)
                yield event
            log.info("zendesk_articles_listed", source=self.name, locale=locale, documents=count)

    def _breadcrumbs(self, locale: str) -> dict[int, str]:
        """``section_id -> "Category › Section"`` for one locale."""
        categories: dict[int, str] = {}
        for raw in self.client.records(f"/api/v2/help_center/{locale}/categories.json", "categories"):
            cid = int_id(raw.get("id")) if isinstance(raw, dict) else None
            if cid is not None and isinstance(raw.get("name"), str):
                categories[cid] = raw["name"].strip()
        sections: dict[int, str] = {}
        for raw in self.client.records(f"/api/v2/help_center/{locale}/sections.json", "sections"):
            sid = int_id(raw.get("id")) if isinstance(raw, dict) else None
            if sid is None or not isinstance(raw.get("name"), str):
                continue
            category = categories.get(int_id(raw.get("category_id")) or -1)
            parts = [p for p in (category, raw["name"].strip()) if p]
            sections[sid] = BREADCRUMB_SEPARATOR.join(parts)
        return sections

    def _article(self, raw: Any, locale: str, breadcrumbs: dict[int, str]) -> Document | Deleted:
        if not isinstance(raw, dict):
            raise RecordError(f"article record is a {type(raw).__name__}, not an object")
        article_id = int_id(raw.get("id"))
        if article_id is None:
            raise RecordError("article without a numeric id")
        doc_id = self._article_id(article_id, locale)
        if raw.get("draft") is True:
            return Deleted(id=doc_id, source=self.name)  # drafts are never indexed
        title = raw.get("title") if isinstance(raw.get("title"), str) else raw.get("name")
        if not isinstance(title, str) or not title.strip():
            raise RecordError(f"article {article_id}: no title")
        body = raw.get("body")
        if not isinstance(body, str):
            raise RecordError(f"article {article_id}: no body")
        text = html_to_markdown(body)
        if not text:
            raise RecordError(f"article {article_id}: empty body")
        section_id = int_id(raw.get("section_id"))
        breadcrumb = breadcrumbs.get(section_id) if section_id is not None else None
        if breadcrumb:
            text = f"*{breadcrumb}*\n\n{text}"
        segments = raw.get("user_segment_ids")
        restricted = raw.get("user_segment_id") is not None or (isinstance(segments, list) and bool(segments))
        labels = raw.get("label_names")
        metadata: dict[str, Any] = {"locale": raw.get("locale") if isinstance(raw.get("locale"), str) else locale}
        if breadcrumb:
            metadata["breadcrumb"] = breadcrumb
        if section_id is not None:
            metadata["section_id"] = section_id
        if isinstance(labels, list) and all(isinstance(x, str) for x in labels) and labels:
            metadata["labels"] = list(labels)
        if raw.get("outdated") is True:
            metadata["outdated"] = True
        html_url = raw.get("html_url")
        return Document(
            id=doc_id,
            source=self.name,
            kind=DocumentKind.ARTICLE,
            audience=Visibility.INTERNAL if restricted else Visibility.PUBLIC,
            title=title.strip(),
            url=html_url if isinstance(html_url, str) and html_url else None,
            text=text,
            updated_at=_timestamp(raw.get("updated_at")),
            metadata=metadata,
        )

    def _article_id(self, article_id: int, locale: str) -> str:
        # Translations share the article id; the first configured locale keeps the plain id so
        # adding a locale later adds documents instead of renaming every existing one.
        base = f"{self.name}:{ARTICLE_ID_PREFIX}:{article_id}"
        return base if locale == self.settings.locales[0] else f"{base}:{locale}"

    # -- tickets -------------------------------------------------------------------------------

    def _sync_tickets(self, cursor: str | None) -> Generator[SyncEvent, None, str | None]:
        """Yield ticket events from the export; *return* the cursor to continue from next time."""
        seen: dict[int, Any] = {}  # ticket id -> updated_at already handled in this sync
        fetched = 0
        for page_no in range(MAX_PAGES):
            params: dict[str, Any] = {"per_page": ZENDESK_EXPORT_MAX_PER_PAGE}
            if cursor is None:
                params["start_time"] = self.settings.start_time
            else:
                params["cursor"] = cursor
            page = self.client.get_object("/api/v2/incremental/tickets/cursor.json", params)
            tickets = page.get("tickets")
            if not isinstance(tickets, list):
                raise TransientError("Zendesk ticket export answered without a 'tickets' list")
            for event in self._ticket_events(tickets, seen):
                fetched += isinstance(event, Document)
                yield event
            after = page.get("after_cursor")
            end = page.get("end_of_stream") is True
            if isinstance(after, str) and after:
                if not end and after == cursor:
                    raise TransientError("Zendesk ticket export returned the same cursor again")
                cursor = after
            elif not end:
                raise TransientError("Zendesk ticket export page has no after_cursor before its end")
            if end:
                log.info("zendesk_tickets_exported", source=self.name, pages=page_no + 1, documents=fetched)
                return cursor
        raise TransientError(f"Zendesk ticket export did not end after {MAX_PAGES} pages")

    def _ticket_events(self, tickets: list[Any], seen: dict[int, Any]) -> Iterator[SyncEvent]:
        """One export page's tickets as events, in the page's order, their comments fetched
        ``comment_requests`` at a time.

        A ticket's comments are one request each (see the module docstring); fetched one after
        another, a sync waits a full round trip per ticket. So the comments of the next tickets to
        index are requested ahead: at most ``comment_requests`` in flight, at most
        ``2 x comment_requests`` tickets read ahead of the one yielded (memory stays bounded). A ticket gone
        since the export listed it is skipped; any other error surfaces at that ticket's turn,
        after every earlier ticket was yielded, so the checkpoint logic sees the same order as a
        sequential fetch.
        """
        lookahead = 2 * self.settings.comment_requests
        # In the page's order: events already known (a deletion, a skip) and tickets awaiting comments.
        pending: deque[SyncEvent | tuple[_TicketHead, Future[tuple[list[dict[str, Any]], dict[int, str]]]]] = deque()
        pool = ThreadPoolExecutor(max_workers=self.settings.comment_requests, thread_name_prefix="zendesk-comments")

        def first() -> SyncEvent:
            item = pending.popleft()
            if not isinstance(item, tuple):
                return item
            head, comments = item
            try:
                return self._ticket_document(head, self._with_roles(head.ticket_id, comments))
            except RecordError as exc:
                return self._skipped("ticket", str(exc))

        try:
            for raw in tickets:
                try:
                    head = self._ticket_head(raw, seen)
                except RecordError as exc:
                    head = self._skipped("ticket", str(exc))
                if head is None:
                    continue
                if isinstance(head, _TicketHead):
                    pending.append((head, pool.submit(self.client.ticket_comments, head.ticket_id)))
                else:
                    pending.append(head)
                while len(pending) >= lookahead:
                    yield first()
            while pending:
                yield first()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _ticket_head(self, raw: Any, seen: dict[int, Any]) -> _TicketHead | Deleted | None:
        """What the export's record says of a ticket: None (already handled in this sync),
        :class:`Deleted` (deleted, or not in ``ticket_statuses``), or a ticket whose comments are wanted.

        Raises:
            RecordError: the record cannot be read.
        """
        if not isinstance(raw, dict):
            raise RecordError(f"ticket record is a {type(raw).__name__}, not an object")
        ticket_id = int_id(raw.get("id"))
        if ticket_id is None:
            raise RecordError("ticket without a numeric id")
        status = raw.get("status")
        if not isinstance(status, str):
            raise RecordError(f"ticket {ticket_id}: no status")
        # The export may list a ticket twice (it changed while we paged); handle each state once.
        stamp = raw.get("updated_at")
        if ticket_id in seen and seen[ticket_id] == stamp:
            return None
        seen[ticket_id] = stamp
        doc_id = f"{self.name}:{TICKET_ID_PREFIX}:{ticket_id}"
        if status == "deleted" or status not in self.settings.ticket_statuses:
            return Deleted(id=doc_id, source=self.name)
        subject = raw.get("subject")
        if subject is not None and not isinstance(subject, str):
            raise RecordError(f"ticket {ticket_id}: subject is not text")
        title = (subject or "").strip() or f"Ticket #{ticket_id}"
        tags = raw.get("tags")
        metadata: dict[str, Any] = {"ticket_id": ticket_id, "status": status}
        if isinstance(tags, list) and tags and all(isinstance(t, str) for t in tags):
            metadata["tags"] = list(tags)
        return _TicketHead(ticket_id=ticket_id, doc_id=doc_id, title=title, requester_id=int_id(raw.get("requester_id")),
                           updated_at=_timestamp(stamp), metadata=metadata)

    def _ticket_document(self, head: _TicketHead, comments: Iterable[tuple[dict[str, Any], str | None]]) -> Document | Deleted:
        sections = self._ticket_sections(comments, head.requester_id)
        if not sections:
            return Deleted(id=head.doc_id, source=self.name)  # nothing a reader may see
        return Document(
            id=head.doc_id,
            source=self.name,
            kind=DocumentKind.TICKET,
            audience=Visibility.INTERNAL,
            title=head.title,
            url=f"{self.settings.base_url}/agent/tickets/{head.ticket_id}",
            text=f"# {head.title}\n\n" + "\n\n".join(sections),
            updated_at=head.updated_at,
            metadata=head.metadata,
        )

    def _ticket_sections(self, comments: Iterable[tuple[dict[str, Any], str | None]], requester_id: int | None) -> list[str]:
        sections: list[str] = []
        for comment, role in comments:
            html = comment.get("html_body")
            plain = comment.get("plain_body") if isinstance(comment.get("plain_body"), str) else comment.get("body")
            if isinstance(html, str) and html.strip():
                body = html_to_markdown(html)
            elif isinstance(plain, str):
                body = plain.strip()
            else:
                continue  # a comment without a body (a voice or attachment-only event)
            if not body:
                continue
            # Anything but an explicit ``public: true`` is treated as an internal note.
            if comment.get("public") is not True:
                if not self.settings.include_internal_notes:
                    continue
                heading = "Internal note"
            elif int_id(comment.get("author_id")) == requester_id or role == "end-user":
                heading = TICKET_CUSTOMER_SECTION
            else:
                heading = "Agent reply"
            sections.append(f"## {heading}\n\n{body}")
        return sections

    @staticmethod
    def _with_roles(ticket_id: int, fetched: Future[tuple[list[dict[str, Any]], dict[int, str]]],
                    ) -> list[tuple[dict[str, Any], str | None]]:
        """The ticket's comments (the result of its comments request) with their authors' roles.

        Raises:
            RecordError: the ticket is gone (a ticket deleted since the export listed it is one
                record gone, not an outage).
        """
        try:
            comments, roles = fetched.result()
        except NotFound as exc:
            raise RecordError(f"ticket {ticket_id}: comments not found (HTTP 404)") from exc
        return [(comment, roles.get(int_id(comment.get("author_id")) or -1)) for comment in comments]

    def _skipped(self, what: str, reason: str) -> Skipped:
        log.warning("zendesk_record_skipped", source=self.name, kind=what, reason=reason)
        return Skipped(source=self.name, reason=f"{what}: {reason}")


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
