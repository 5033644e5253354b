"""Intercom as a source: Help Center articles (public) and closed conversations (internal).

Wire format: Intercom REST API 2.14 (``Intercom-Version: 2.14``), ``Authorization: Bearer <token>``.

Articles
    ``GET /articles?page=N&per_page=M`` lists every article, drafts included, newest
    ``updated_at`` first (documented order). ``pages.next`` (a URL in some API versions, an
    object in others) or ``pages.total_pages`` says whether another page follows. Published
    articles become PUBLIC documents; drafts are never indexed (a draft we see is reported as
    :class:`Deleted`, in case it was published before). The public ``/articles`` resource has no
    per-article agent-only or audience flag (Help Center audience targeting is not exposed in
    the API), so every published article is PUBLIC. Intercom's separate *internal articles*
    (``/internal_articles``) are not read by this connector. An incremental run stops paging at
    the first page that reaches articles older than the checkpoint. Articles deleted at the
    source simply vanish from the listing: :meth:`IntercomConnector.list_ids` lists them all
    and the sync runner prunes the rest (``prune_scope`` is the article prefix only).

Conversations
    ``POST /conversations/search`` (``updated_at`` filter, ``state = closed`` unless
    ``only_closed`` is off, sorted by ``updated_at`` ascending, cursor pages through
    ``pagination.starting_after``), then ``GET /conversations/{id}`` for the parts. The
    document text is the subject as a heading, then the first message (``source``) and every
    comment-like part in order as ``## Customer`` (author user/lead/contact) or
    ``## Agent reply`` (admin/bot/team) sections; notes (``note``, ``note_and_reopen``) appear
    as ``## Internal note`` only with ``include_internal_notes``. Conversations are always
    INTERNAL documents. Intercom returns at most the 500 most recent parts of a conversation.

    Intercom's search matches timestamps by *calendar day in the workspace's time zone*
    (``>`` starts at the next midnight), so the query asks from one day before the checkpoint
    and the exact second is filtered here; ids already seen at the checkpoint's second are
    remembered so a second sync yields only what changed.

    Deletions: Intercom has no deletion feed and no cheap way to list every conversation, so a
    conversation deleted at the source is only noticed when a conversation found by the search
    is gone (404) by the time we fetch it; it is then reported as :class:`Deleted`. A
    conversation deleted later stays in the internal index until it is removed by hand.
    Conversations reopened after indexing keep their last closed version until they close again.

Records that cannot be read are reported as :class:`~connectors.base.Skipped` events and left out.
Auth, API version and rate limits are :class:`~connectors.intercom.client.IntercomClient`'s, shared
with the drafting desk.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Unpack
from urllib.parse import quote

import structlog
from bs4 import BeautifulSoup

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
from connectors.intercom.client import (
    AGENT_AUTHORS,
    CUSTOMER_AUTHORS,
    NOTE_PART_TYPES,
    PUBLIC_PART_TYPES,
    IntercomClient,
)
from connectors.intercom.settings import IntercomSettings
from connectors.markdown import html_to_markdown

log = structlog.get_logger(__name__)

#: Seconds in a day: search truncates timestamps to the workspace's calendar day (2.14 search docs),
#: so an incremental search starts one day before the checkpoint.
INTERCOM_SEARCH_DAY_S = 86_400
#: ``GET /conversations/{id}`` returns at most this many (the most recent) parts (2.14).
INTERCOM_MAX_CONVERSATION_PARTS = 500
#: Safety stop for a listing that never ends (a server bug would otherwise loop forever).
MAX_PAGES = 100_000

SECTION_CUSTOMER = f"## {TICKET_CUSTOMER_SECTION}"
SECTION_AGENT = "## Agent reply"
SECTION_NOTE = "## Internal note"


class IntercomConnector(Connector):
    """Reads Help Center articles and conversations from Intercom (see the module docstring).

    Args:
        settings: the source's settings.
        **parts: the connector parts, for :class:`~connectors.intercom.client.IntercomClient`.
    """

    settings: IntercomSettings

    def __init__(self, settings: IntercomSettings, **parts: Unpack[ConnectorParts]) -> None:
        super().__init__(settings)
        self.client = IntercomClient(settings, **parts)

    def close(self) -> None:
        self.client.close()

    # -- ids ---------------------------------------------------------------------------------

    def article_id(self, article_id: str) -> str:
        return f"{self.name}:article:{article_id}"

    def conversation_id(self, conversation_id: str) -> str:
        return f"{self.name}:conversation:{conversation_id}"

    def prune_scope(self) -> tuple[str, ...]:
        return (f"{self.name}:article:",)

    def list_ids(self) -> list[str]:
        """Ids of every published article. Raises if any page fails or the listing shifts under us."""
        if not self.settings.include_articles:
            return []
        ids: list[str] = []
        for item in (a for page in self._article_pages() for a in page):
            if isinstance(item, dict) and item.get("state") == "published" and _is_id(item.get("id")):
                ids.append(self.article_id(str(item["id"])))
        return sorted(set(ids))

    # -- sync --------------------------------------------------------------------------------

    def sync(self, checkpoint: Checkpoint | None) -> SyncEvents:
        old = dict(checkpoint.extra) if checkpoint else {}
        extra = dict(old)
        if self.settings.include_articles:
            extra["articles"] = yield from self._sync_articles(_StreamState.load(old.get("articles")))
        if self.settings.include_conversations:
            extra["conversations"] = yield from self._sync_conversations(_StreamState.load(old.get("conversations")))
        latest = [s["since"] for s in (extra.get("articles"), extra.get("conversations")) if isinstance(s, dict) and s.get("since") is not None]
        return Checkpoint(
            updated_since=datetime.fromtimestamp(max(latest), UTC) if latest else None,
            extra=extra,
        )

    # -- articles ----------------------------------------------------------------------------

    def _article_pages(self) -> Iterator[list[Any]]:
        page = 1
        total: Any = None
        while True:
            data = self.client.request_json("GET", "/articles", params={"page": page, "per_page": self.settings.articles_per_page})
            if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                raise TransientError(f"Intercom /articles page {page}: unexpected response (no 'data' list)")
            if page == 1:
                total = data.get("total_count")
            elif data.get("total_count") != total:
                raise TransientError("Intercom article listing changed while it was being read; try again")
            yield data["data"]
            if not data["data"] or not _has_next_page(data.get("pages"), page):
                return
            page += 1
            if page > MAX_PAGES:
                raise TransientError(f"Intercom /articles: more than {MAX_PAGES} pages")

    def _sync_articles(self, state: _StreamState) -> Iterator[SyncEvent]:
        tracker = state.tracker()
        for items in self._article_pages():
            oldest: int | None = None
            for item in items:
                try:
                    aid, updated = _key(item, "article")
                except RecordError as exc:
                    yield self._skipped("article", exc)
                    continue
                oldest = updated if oldest is None else min(oldest, updated)
                if not state.is_new(aid, updated):
                    continue
                tracker.see(aid, updated)
                if item.get("state") != "published":
                    yield Deleted(id=self.article_id(aid), source=self.name)
                    continue
                try:
                    doc = self.article_document(item)
                except RecordError as exc:
                    yield self._skipped("article", exc)
                    continue
                if doc is None:
                    yield Deleted(id=self.article_id(aid), source=self.name)
                else:
                    yield doc
            # Newest first: once a page reaches articles older than the checkpoint, the rest are too.
            if state.since is not None and oldest is not None and oldest < state.since:
                break
        return tracker.dump()

    def article_document(self, item: Mapping[str, Any]) -> Document | None:
        """A published article as a PUBLIC document (None when its body is empty)."""
        aid, updated = _key(item, "article")
        title = item.get("title")
        if not isinstance(title, str) or not title.strip():
            raise RecordError(f"article {aid}: no title")
        body = item.get("body")
        if body is not None and not isinstance(body, str):
            raise RecordError(f"article {aid}: body is not text ({type(body).__name__})")
        text = html_to_markdown(body or "")
        if not text:
            return None
        url = item.get("url")
        metadata = {k: item[k] for k in ("parent_id", "parent_type") if isinstance(item.get(k), str | int)}
        return Document(
            id=self.article_id(aid),
            source=self.name,
            kind=DocumentKind.ARTICLE,
            audience=Visibility.PUBLIC,
            title=title.strip(),
            url=url if isinstance(url, str) and url else None,
            text=text,
            updated_at=datetime.fromtimestamp(updated, UTC),
            metadata=metadata,
        )

    # -- conversations -----------------------------------------------------------------------

    def _search_query(self, since: int | None) -> dict[str, Any]:
        filters: list[dict[str, Any]] = []
        if since is not None:
            # Search compares whole days: ask from the day before; the exact second is checked here.
            filters.append({"field": "updated_at", "operator": ">", "value": str(max(0, since - INTERCOM_SEARCH_DAY_S))})
        if self.settings.only_closed:
            filters.append({"field": "state", "operator": "=", "value": "closed"})
        if not filters:
            filters.append({"field": "updated_at", "operator": ">", "value": "0"})
        return filters[0] if len(filters) == 1 else {"operator": "AND", "value": filters}

    def _search_pages(self, since: int | None) -> Iterator[list[Any]]:
        body: dict[str, Any] = {
            "query": self._search_query(since),
            "pagination": {"per_page": self.settings.conversations_per_page},
            "sort": {"field": "updated_at", "order": "ascending"},
        }
        for n in range(1, MAX_PAGES + 1):
            data = self.client.request_json("POST", "/conversations/search", json=body)
            if not isinstance(data, dict) or not isinstance(data.get("conversations"), list):
                raise TransientError(f"Intercom conversation search page {n}: unexpected response (no 'conversations' list)")
            yield data["conversations"]
            pages = data.get("pages")
            nxt = pages.get("next") if isinstance(pages, dict) else None
            cursor = nxt.get("starting_after") if isinstance(nxt, dict) else None
            if not data["conversations"] or not isinstance(cursor, str) or not cursor:
                return
            body = {**body, "pagination": {"per_page": self.settings.conversations_per_page, "starting_after": cursor}}
        raise TransientError(f"Intercom conversation search: more than {MAX_PAGES} pages")

    def _sync_conversations(self, state: _StreamState) -> Iterator[SyncEvent]:
        tracker = state.tracker()
        for items in self._search_pages(state.since):
            for item in items:
                try:
                    cid, updated = _key(item, "conversation")
                except RecordError as exc:
                    yield self._skipped("conversation", exc)
                    continue
                if not state.is_new(cid, updated):
                    continue
                if self.settings.only_closed and item.get("state") != "closed":
                    continue
                try:
                    full = self.client.request_json("GET", f"/conversations/{quote(cid, safe='')}")
                except NotFound:
                    log.info("intercom_conversation_gone", source=self.name, id=cid)
                    tracker.see(cid, updated)
                    yield Deleted(id=self.conversation_id(cid), source=self.name)
                    continue
                tracker.see(cid, updated)
                try:
                    doc = self.conversation_document(full)
                except RecordError as exc:
                    yield self._skipped("conversation", exc)
                    continue
                if doc is not None:
                    yield doc
        return tracker.dump()

    def conversation_document(self, conv: Any) -> Document | None:
        """A conversation (as ``GET /conversations/{id}`` returns it) as an INTERNAL document."""
        cid, updated = _key(conv, "conversation")
        source = conv.get("source")
        if not isinstance(source, dict):
            raise RecordError(f"conversation {cid}: no source message")
        container = conv.get("conversation_parts") or {}
        parts = container.get("conversation_parts", []) if isinstance(container, dict) else None
        if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
            raise RecordError(f"conversation {cid}: conversation_parts is not a list of parts")

        sections: list[tuple[str, str]] = []
        first = self._section(cid, "source", "comment", source)
        if first:
            sections.append(first)
        for part in parts:
            section = self._section(cid, f"part {part.get('id')}", part.get("part_type"), part)
            if section:
                sections.append(section)
        if not sections:
            return None

        title = _plain(source.get("subject")) or _plain(conv.get("title"))
        if not title:
            customer = next((body for heading, body in sections if heading == SECTION_CUSTOMER), sections[0][1])
            title = _first_line(customer) or f"Conversation {cid}"
        text = "\n\n".join([f"# {title}", *(f"{heading}\n\n{body}" for heading, body in sections)])
        metadata: dict[str, Any] = {}
        if isinstance(conv.get("state"), str):
            metadata["state"] = conv["state"]
        total = container.get("total_count") if isinstance(container, dict) else None
        if isinstance(total, int) and total > len(parts):
            metadata["parts_truncated"] = True
        base = self.settings.workspace_url
        return Document(
            id=self.conversation_id(cid),
            source=self.name,
            kind=DocumentKind.TICKET,
            audience=Visibility.INTERNAL,
            title=title,
            url=f"{base.rstrip('/')}/inbox/conversation/{cid}" if base else None,
            text=text,
            updated_at=datetime.fromtimestamp(updated, UTC),
            metadata=metadata,
        )

    def _section(self, cid: str, where: str, part_type: Any, part: Mapping[str, Any]) -> tuple[str, str] | None:
        """The (heading, markdown) of one message, or None when it is not shown."""
        body = part.get("body")
        if body is not None and not isinstance(body, str):
            raise RecordError(f"conversation {cid}: {where} body is not text ({type(body).__name__})")
        text = html_to_markdown(body or "")
        if not text:
            return None
        if part_type in NOTE_PART_TYPES:
            return (SECTION_NOTE, text) if self.settings.include_internal_notes else None
        if part_type not in PUBLIC_PART_TYPES:
            return None
        author = part.get("author")
        author_type = author.get("type") if isinstance(author, dict) else None
        if author_type in CUSTOMER_AUTHORS:
            return SECTION_CUSTOMER, text
        if author_type in AGENT_AUTHORS:
            return SECTION_AGENT, text
        return None

    def _skipped(self, kind: str, exc: RecordError) -> Skipped:
        log.warning("intercom_record_skipped", source=self.name, kind=kind, reason=str(exc))
        return Skipped(source=self.name, reason=str(exc))


# -- checkpoint state per stream -------------------------------------------------------------


class _StreamState:
    """``{"since": <unix seconds>, "ids": [ids updated at exactly that second]}`` for one stream."""

    def __init__(self, since: int | None, ids: frozenset[str]) -> None:
        self.since = since
        self.ids = ids

    @classmethod
    def load(cls, raw: Any) -> _StreamState:
        if isinstance(raw, dict) and isinstance(raw.get("since"), int) and not isinstance(raw.get("since"), bool):
            ids = raw.get("ids")
            return cls(raw["since"], frozenset(str(i) for i in ids) if isinstance(ids, list) else frozenset())
        return cls(None, frozenset())

    def is_new(self, record_id: str, updated: int) -> bool:
        if self.since is None:
            return True
        return updated > self.since or (updated == self.since and record_id not in self.ids)

    def tracker(self) -> _Tracker:
        return _Tracker(self.since, set(self.ids))


class _Tracker:
    def __init__(self, since: int | None, ids: set[str]) -> None:
        self.since = since
        self.ids = ids

    def see(self, record_id: str, updated: int) -> None:
        if self.since is None or updated > self.since:
            self.since, self.ids = updated, {record_id}
        elif updated == self.since:
            self.ids.add(record_id)

    def dump(self) -> dict[str, Any]:
        return {"since": self.since, "ids": sorted(self.ids)}


# -- helpers ---------------------------------------------------------------------------------


def _is_id(value: Any) -> bool:
    return (isinstance(value, str) and bool(value.strip())) or (isinstance(value, int) and not isinstance(value, bool))


def _key(item: Any, kind: str) -> tuple[str, int]:
    """(id, updated_at) of a listed record, or RecordError."""
    if not isinstance(item, dict):
        raise RecordError(f"{kind}: record is not an object ({type(item).__name__})")
    rid = item.get("id")
    if not _is_id(rid):
        raise RecordError(f"{kind}: record without an id")
    updated = item.get("updated_at")
    if isinstance(updated, str) and updated.isdigit():
        updated = int(updated)
    if not isinstance(updated, int) or isinstance(updated, bool):
        raise RecordError(f"{kind} {rid}: updated_at is not a unix timestamp")
    return str(rid).strip(), updated


def _has_next_page(pages: Any, page: int) -> bool:
    if not isinstance(pages, dict):
        return False
    if "next" in pages:
        return bool(pages["next"])
    total = pages.get("total_pages")
    return isinstance(total, int) and page < total


def _plain(value: Any) -> str:
    """A one-line plain title from a value that may hold HTML (Intercom subjects can)."""
    if not isinstance(value, str) or not value.strip():
        return ""
    if "<" in value or "&" in value:
        value = BeautifulSoup(value, "html.parser").get_text(" ")
    return " ".join(value.split())


def _first_line(text: str, limit: int = 80) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
