"""One client per helpdesk: fetch a ticket as drafting needs it, post a private note.

Each desk talks through its helpdesk's API client, the one the source connector uses too
(:class:`~connectors.zendesk.client.ZendeskClient` ...), built from the source's settings model:
one place knows how to sign in, page and retry (:class:`connectors.http.VendorHttp`: 429 with
Retry-After, 5xx and network errors retried; 401/403 -> ``AuthError``; 404 -> ``NotFound``).

Zendesk
    ``GET /api/v2/tickets/{id}.json``, then ``GET /api/v2/tickets/{id}/comments.json?include=users``
    (cursor pages). The customer's messages are public comments by the requester or another
    end user. The note: ``PUT /api/v2/tickets/{id}.json`` with
    ``{"ticket": {"comment": {"html_body": ..., "public": false}, "additional_tags": [tag]}}``
    (``additional_tags`` adds without replacing the ticket's tags).
Freshdesk
    ``GET /api/v2/tickets/{id}`` (description = the first customer message), then
    ``GET /api/v2/tickets/{id}/conversations`` (pages); customer replies are ``incoming`` and not
    ``private``. The note: ``POST /api/v2/tickets/{id}/notes`` ``{"body": html, "private": true}``,
    then ``PUT /api/v2/tickets/{id}`` ``{"tags": [...]}`` (Freshdesk replaces the whole list, so the
    ticket's own tags are sent back with ours).
Intercom
    ``GET /conversations/{id}``: the ``source`` message and ``conversation_parts``; customer
    messages are comment parts by a user, lead or contact. The note:
    ``POST /conversations/{id}/reply`` ``{"message_type": "note", "type": "admin", "admin_id": ...,
    "body": html}``. Tagging a conversation needs a tag *id* (``POST /conversations/{id}/tags``),
    so the tag is named in the note's text instead.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import structlog
from bs4 import BeautifulSoup
from pydantic import BaseModel

from bot.helpdesk.errors import NotConfigured, TicketUnavailable
from bot.helpdesk.models import Note, Provider, Ticket
from connectors.base import TransientError
from connectors.freshdesk.client import FreshdeskClient
from connectors.freshdesk.settings import FreshdeskSettings
from connectors.intercom.client import AGENT_AUTHORS, CUSTOMER_AUTHORS, PUBLIC_PART_TYPES, IntercomClient
from connectors.intercom.settings import IntercomSettings
from connectors.zendesk.client import ZendeskClient, int_id
from connectors.zendesk.settings import ZendeskSettings

log = structlog.get_logger(__name__)

#: A ticket holds at most 5,000 comments (Zendesk; 50 pages of 100); past this many pages something is wrong.
MAX_PAGES = 60
_NUMERIC = re.compile(r"^\d{1,20}$")
_INTERCOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Desk(Protocol):
    """What drafting needs from a helpdesk."""

    provider: Provider
    name: str

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        """The ticket as the API has it now. Raises ``NotFound`` / ``TicketUnavailable`` when it is gone."""
        ...

    def post_note(self, ticket: Ticket, note: Note, *, tag: str) -> str:
        """Post ``note`` as a private (agents-only) note, tag the ticket; return the note's id ('' if unknown)."""
        ...

    def close(self) -> None: ...


def numeric_id(value: str, vendor: str) -> str:
    value = str(value).strip().lstrip("#")
    if not _NUMERIC.match(value):
        raise TicketUnavailable(f"{vendor} ticket ids are numbers; got {value[:30]!r}")
    return value


def intercom_id(value: str) -> str:
    value = str(value).strip()
    if not _INTERCOM_ID.match(value):
        raise TicketUnavailable(f"not an Intercom conversation id: {value[:30]!r}")
    return value


def html_text(html: str) -> str:
    """Plain text of an HTML body (paragraphs and line breaks kept as new lines)."""
    if not html or not html.strip():
        return ""
    if "<" not in html and "&" not in html:
        return html.strip()
    soup = BeautifulSoup(html, "html.parser")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    text = soup.get_text("\n")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


# -- Zendesk ---------------------------------------------------------------------------------


class ZendeskDesk:
    provider = Provider.ZENDESK

    def __init__(self, settings: ZendeskSettings, *, client: httpx.Client | None = None,
                 environ: Mapping[str, str] | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = settings.name
        self.client = ZendeskClient(settings, client=client, environ=environ, sleep=sleep)

    def close(self) -> None:
        self.client.close()

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        tid = numeric_id(ticket_id, "Zendesk")
        data = self.client.request_json("GET", f"/api/v2/tickets/{tid}.json")
        raw = data.get("ticket") if isinstance(data, dict) else None
        if not isinstance(raw, dict):
            raise TransientError("Zendesk answered a ticket request without a 'ticket' object")
        if raw.get("status") == "deleted":
            raise TicketUnavailable(f"Zendesk ticket {tid} is deleted")
        requester = int_id(raw.get("requester_id"))
        comments, roles = self.client.ticket_comments(tid, max_pages=MAX_PAGES)
        public = [c for c in comments if c.get("public") is True and _comment_text(c)]

        def by_customer(c: dict[str, Any]) -> bool:
            author = int_id(c.get("author_id"))
            return author is not None and (author == requester or roles.get(author) == "end-user")

        customer = [c for c in public if by_customer(c)]
        latest = customer[-1] if customer else None
        subject = raw.get("subject") if isinstance(raw.get("subject"), str) else ""
        raw_tags = raw.get("tags")
        tags: list[Any] = raw_tags if isinstance(raw_tags, list) else []
        return Ticket(
            provider=self.provider, id=tid, subject=(subject or "").strip(),
            message=_comment_text(latest) if latest else "",
            message_id=str(latest.get("id")) if latest else "none",
            customer_waiting=bool(public) and by_customer(public[-1]),
            url=f"{self.client.base_url}/agent/tickets/{tid}",
            tags=tuple(t for t in tags if isinstance(t, str)),
            doc_ids=(f"{self.name}:ticket:{tid}",),
        )

    def post_note(self, ticket: Ticket, note: Note, *, tag: str) -> str:
        tid = numeric_id(ticket.id, "Zendesk")
        payload = {"ticket": {"comment": {"html_body": note.html, "public": False}, "additional_tags": [tag]}}
        data = self.client.request_json("PUT", f"/api/v2/tickets/{tid}.json", json=payload)
        audit = data.get("audit") if isinstance(data, dict) else None
        if isinstance(audit, dict):
            for event in audit.get("events") or []:
                if isinstance(event, dict) and event.get("type") == "Comment" and event.get("id") is not None:
                    return str(event["id"])
            if audit.get("id") is not None:
                return str(audit["id"])
        return ""


def _comment_text(comment: Mapping[str, Any] | None) -> str:
    if not comment:
        return ""
    for key in ("plain_body", "body"):
        value = comment.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    html = comment.get("html_body")
    return html_text(html) if isinstance(html, str) else ""


# -- Freshdesk -------------------------------------------------------------------------------


class FreshdeskDesk:
    provider = Provider.FRESHDESK

    def __init__(self, settings: FreshdeskSettings, *, client: httpx.Client | None = None,
                 environ: Mapping[str, str] | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = settings.name
        self.client = FreshdeskClient(settings, client=client, environ=environ, sleep=sleep)

    def close(self) -> None:
        self.client.close()

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        tid = numeric_id(ticket_id, "Freshdesk")
        raw = self.client.request_json("GET", f"/api/v2/tickets/{tid}")
        if not isinstance(raw, dict):
            raise TransientError("Freshdesk answered a ticket request with something other than an object")
        if raw.get("deleted") is True or raw.get("spam") is True:
            raise TicketUnavailable(f"Freshdesk ticket {tid} is deleted or spam")
        messages: list[tuple[str, str, bool]] = []  # (id, text, from the customer), public only, in order
        description = _freshdesk_text(raw, "description", "description_text")
        if description:
            messages.append(("description", description, True))
        for conv in self._conversations(tid):
            if conv.get("private") is not False:
                continue  # a private note, or no readable flag: never customer-visible
            text = _freshdesk_text(conv, "body", "body_text")
            if text:
                messages.append((str(conv.get("id")), text, conv.get("incoming") is True))
        customer = [m for m in messages if m[2]]
        latest = customer[-1] if customer else None
        subject = raw.get("subject") if isinstance(raw.get("subject"), str) else ""
        raw_tags = raw.get("tags")
        tags: list[Any] = raw_tags if isinstance(raw_tags, list) else []
        return Ticket(
            provider=self.provider, id=tid, subject=(subject or "").strip(),
            message=latest[1] if latest else "", message_id=latest[0] if latest else "none",
            customer_waiting=bool(messages) and messages[-1][2],
            url=f"{self.client.base_url}/a/tickets/{tid}",
            tags=tuple(t for t in tags if isinstance(t, str)),
            doc_ids=(f"{self.name}:ticket:{tid}",),
        )

    def _conversations(self, tid: str) -> Iterator[dict[str, Any]]:
        for items in self.client.pages(f"/api/v2/tickets/{tid}/conversations", {}, max_pages=MAX_PAGES):
            yield from (c for c in items if isinstance(c, dict))

    def post_note(self, ticket: Ticket, note: Note, *, tag: str) -> str:
        tid = numeric_id(ticket.id, "Freshdesk")
        created = self.client.request_json("POST", f"/api/v2/tickets/{tid}/notes",
                                           json={"body": note.html, "private": True})
        note_id = str(created.get("id")) if isinstance(created, dict) and created.get("id") is not None else ""
        if tag not in ticket.tags:
            # The note is what matters; a failed tag update is logged, not fatal.
            try:
                self.client.request_json("PUT", f"/api/v2/tickets/{tid}", json={"tags": [*ticket.tags, tag]})
            except Exception as exc:  # noqa: BLE001
                log.warning("freshdesk_tag_failed", ticket_id=tid, error=type(exc).__name__)
        return note_id


def _freshdesk_text(record: Mapping[str, Any], html_key: str, text_key: str) -> str:
    text = record.get(text_key)
    if isinstance(text, str) and text.strip():
        return text.strip()
    html = record.get(html_key)
    return html_text(html) if isinstance(html, str) else ""


# -- Intercom --------------------------------------------------------------------------------


class IntercomDesk:
    provider = Provider.INTERCOM

    def __init__(self, settings: IntercomSettings, *, admin_id: str = "", client: httpx.Client | None = None,
                 environ: Mapping[str, str] | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = settings.name
        self.client = IntercomClient(settings, client=client, environ=environ, sleep=sleep)
        self.admin_id = admin_id.strip()
        self._workspace = settings.workspace_url

    def close(self) -> None:
        self.client.close()

    def fetch_ticket(self, ticket_id: str) -> Ticket:
        cid = intercom_id(ticket_id)
        conv = self.client.request_json("GET", f"/conversations/{quote(cid, safe='')}")
        if not isinstance(conv, dict) or not isinstance(conv.get("source"), dict):
            raise TransientError("Intercom answered a conversation request without a source message")
        messages: list[tuple[str, str, bool]] = []  # (id, text, from the customer), public only
        source = conv["source"]
        first = _intercom_message(source, "comment")
        if first:
            messages.append((str(source.get("id") or "source"), *first))
        container = conv.get("conversation_parts")
        parts = container.get("conversation_parts") if isinstance(container, dict) else None
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, dict) and (msg := _intercom_message(part, part.get("part_type"))):
                messages.append((str(part.get("id")), *msg))
        customer = [m for m in messages if m[2]]
        latest = customer[-1] if customer else None
        subject = html_text(source.get("subject") or "") if isinstance(source.get("subject"), str) else ""
        if not subject and isinstance(conv.get("title"), str):
            subject = html_text(conv["title"])
        return Ticket(
            provider=self.provider, id=cid, subject=subject,
            message=latest[1] if latest else "", message_id=latest[0] if latest else "none",
            customer_waiting=bool(messages) and messages[-1][2],
            url=f"{self._workspace.rstrip('/')}/inbox/conversation/{cid}" if self._workspace else None,
            doc_ids=(f"{self.name}:conversation:{cid}",),
        )

    def post_note(self, ticket: Ticket, note: Note, *, tag: str) -> str:
        if not self.admin_id:
            raise NotConfigured("HELPDESK_INTERCOM_ADMIN_ID is not set: Intercom notes are posted as an admin (teammate id)")
        cid = intercom_id(ticket.id)
        body = {"message_type": "note", "type": "admin", "admin_id": self.admin_id, "body": note.html}
        conv = self.client.request_json("POST", f"/conversations/{quote(cid, safe='')}/reply", json=body)
        container = conv.get("conversation_parts") if isinstance(conv, dict) else None
        parts = container.get("conversation_parts") if isinstance(container, dict) else None
        notes = [p for p in parts or [] if isinstance(p, dict) and p.get("part_type") == "note"]
        return str(notes[-1].get("id")) if notes else ""


def _intercom_message(part: Mapping[str, Any], part_type: Any) -> tuple[str, bool] | None:
    """(text, from the customer) of a customer-visible message, or None."""
    if part_type not in PUBLIC_PART_TYPES:
        return None
    body = part.get("body")
    text = html_text(body) if isinstance(body, str) else ""
    author = part.get("author")
    author_type = author.get("type") if isinstance(author, dict) else None
    if not text or author_type not in CUSTOMER_AUTHORS | AGENT_AUTHORS:
        return None
    return text, author_type in CUSTOMER_AUTHORS


# -- from the sources file -------------------------------------------------------------------

DESK_TYPES: dict[str, Provider] = {"zendesk": Provider.ZENDESK, "freshdesk": Provider.FRESHDESK,
                                   "intercom": Provider.INTERCOM}


def desks_from_sources(
    sources: Iterable[Any],
    *,
    only: Iterable[str] = (),
    intercom_admin_id: str = "",
    clients: Mapping[Provider, httpx.Client] | None = None,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[Provider, Desk]:
    """One desk per helpdesk type among the configured sources (``only``: these source names).

    Raises:
        NotConfigured: a name in ``only`` is not a helpdesk source, or two sources of one type
            would both receive drafts.
    """
    wanted = {n.strip() for n in only if n.strip()}
    helpdesk_sources = [s for s in sources if s.type in DESK_TYPES]
    unknown = wanted - {s.name for s in helpdesk_sources}
    if unknown:
        configured = ", ".join(s.name for s in helpdesk_sources) or "none"
        raise NotConfigured(f"HELPDESK_DRAFT_SOURCES names {', '.join(sorted(unknown))}, which are not Zendesk, "
                            f"Freshdesk or Intercom sources (configured: {configured})")
    chosen: dict[Provider, BaseModel] = {}
    for src in helpdesk_sources:
        if wanted and src.name not in wanted:
            continue
        provider = DESK_TYPES[src.type]
        if provider in chosen:
            raise NotConfigured(f"two {src.type} sources ({getattr(chosen[provider], 'name', '?')}, {src.name}): "
                                "set HELPDESK_DRAFT_SOURCES to the one that receives drafts")
        chosen[provider] = src.settings
    clients = clients or {}
    desks: dict[Provider, Desk] = {}
    for provider, cfg in chosen.items():
        client = clients.get(provider)
        if provider is Provider.ZENDESK:
            desks[provider] = ZendeskDesk(cfg, client=client, environ=environ, sleep=sleep)  # type: ignore[arg-type]
        elif provider is Provider.FRESHDESK:
            desks[provider] = FreshdeskDesk(cfg, client=client, environ=environ, sleep=sleep)  # type: ignore[arg-type]
        else:
            desks[provider] = IntercomDesk(cfg, admin_id=intercom_admin_id, client=client,  # type: ignore[arg-type]
                                           environ=environ, sleep=sleep)
    return desks
