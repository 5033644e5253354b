"""A real local HTTP server speaking Freshdesk's v2 JSON API (solutions and tickets), for tests.

    with FakeFreshdesk(api_key="k") as fd:
        fd.add_category(2)
        fd.add_folder(3, category_id=2, visibility=1)
        fd.add_article(4, folder_id=3, title="Reset", description="<p>Click reset.</p>")
        connector = FreshdeskConnector(FreshdeskSettings(name="fd", base_url=fd.url), environ={...})

Payload shapes follow the python-freshdesk sample responses (``../shared/fixtures/freshdesk/v2``):
bare JSON arrays for lists, ``page``/``per_page`` pagination (``per_page`` 1..100) with a
``link: <...>; rel="next"`` header while more pages follow, Basic auth with the API key as user
name, ``X-RateLimit-*`` headers, ``Retry-After`` on 429, Freshdesk-style error bodies.

Ticket listing behaves like the real one where the connector depends on it: ``updated_since``
is inclusive; without it only tickets created in the last 30 days are listed; default order is
``created_at`` desc; ``include=description`` adds ``description``/``description_text``; deleted
and spam tickets are left out unless ``filter=deleted`` (or ``deleted_in_listing``); ``page``
beyond ``max_pages`` is a 400 validation error.

Writes (for the helpdesk drafting tests): ``GET /api/v2/tickets/{id}`` (the ticket with its
description; 404 when unknown), ``POST /api/v2/tickets/{id}/notes`` (``{"body", "private"}`` ->
a conversation like ``note_1.json``, stored with the ticket's conversations) and
``PUT /api/v2/tickets/{id}`` (updates the given fields, e.g. ``tags``, and answers the ticket).

Scriptable between (and during) syncs: the data (``add_*``, ``update_*``, ``remove_article``,
``delete_ticket``, raw dicts for malformed records), ``page_size`` (serve at most this many per
page whatever ``per_page`` asks), ``link_headers``, ``max_pages``, ``rate_limit_remaining``, and
failures per path with :meth:`fail` (status, times, ``Retry-After``, a non-JSON body, a query filter).
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.fakes.local_server import LocalHTTPServer

TICKETS_PATH = "/api/v2/tickets"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    json: Any = None  # the parsed request body (POST/PUT), or None


@dataclass
class _Failure:
    path: str
    status: int
    times: int
    retry_after: str | None
    garbage: bool
    query: dict[str, str] | None
    method: str = "GET"

    def matches(self, path: str, query: dict[str, str], method: str = "GET") -> bool:
        if self.times <= 0 or path != self.path or method != self.method:
            return False
        return all(query.get(k) == v for k, v in (self.query or {}).items())


@dataclass
class FakeFreshdesk(LocalHTTPServer):
    http_methods = ("GET", "POST", "PUT")
    thread_name = "fake-freshdesk"

    api_key: str = "test-api-key"
    page_size: int | None = None
    link_headers: bool = True
    max_pages: int = 300
    deleted_in_listing: bool = False
    rate_limit_total: int = 700
    rate_limit_remaining: int | None = None
    categories: list[Any] = field(default_factory=list)
    folders: dict[int, list[Any]] = field(default_factory=dict)  # category id -> folders
    articles: dict[int, list[Any]] = field(default_factory=dict)  # folder id -> articles
    tickets: list[Any] = field(default_factory=list)
    conversations: dict[int, list[Any]] = field(default_factory=dict)  # ticket id -> conversations
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []

    # -- scripting: data ---------------------------------------------------------------------

    def add_category(self, category_id: int, name: str = "General") -> dict[str, Any]:
        category = {
            "id": category_id,
            "name": name,
            "description": f"{name} articles",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }
        self.categories.append(category)
        self.folders.setdefault(category_id, [])
        return category

    def add_folder(
        self, folder_id: int, *, category_id: int, name: str = "Getting Started", visibility: Any = 1
    ) -> dict[str, Any]:
        folder = {
            "id": folder_id,
            "name": name,
            "description": f"{name} folder",
            "visibility": visibility,
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }
        self.folders.setdefault(category_id, []).append(folder)
        self.articles.setdefault(folder_id, [])
        return folder

    def add_article(
        self,
        article_id: int,
        *,
        folder_id: int,
        title: str,
        description: str,
        status: int = 2,
        updated_at: str = "2024-03-01T10:00:00Z",
        tags: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        category_id = next(
            (c for c, fs in self.folders.items() if any(_id(f) == folder_id for f in fs)), None
        )
        article = {
            "id": article_id,
            "type": 1,
            "status": status,
            "agent_id": 432,
            "created_at": "2024-01-02T00:00:00Z",
            "category_id": category_id,
            "folder_id": folder_id,
            "title": title,
            "updated_at": updated_at,
            "description": description,
            "description_text": _strip_tags(description),
            "seo_data": {"meta_title": title, "meta_description": ""},
            "tags": list(tags),
            "attachments": [],
            "cloud_files": [],
            "thumbs_up": 0,
            "thumbs_down": 0,
            "hits": 0,
            "suggested": 0,
            "feedback_count": 0,
        }
        self.articles.setdefault(folder_id, []).append(article)
        return article

    def add_raw_article(self, folder_id: int, raw: Any) -> None:
        """Any JSON value as an article (a malformed record)."""
        self.articles.setdefault(folder_id, []).append(raw)

    def update_article(self, article_id: int, **changes: Any) -> dict[str, Any]:
        for items in self.articles.values():
            for article in items:
                if _id(article) == article_id:
                    article.update(changes)
                    if "description" in changes:
                        article["description_text"] = _strip_tags(changes["description"])
                    return article
        raise KeyError(article_id)

    def remove_article(self, article_id: int) -> None:
        for folder_id, items in self.articles.items():
            self.articles[folder_id] = [a for a in items if _id(a) != article_id]

    def set_folder_visibility(self, folder_id: int, visibility: Any) -> None:
        for items in self.folders.values():
            for folder in items:
                if _id(folder) == folder_id:
                    folder["visibility"] = visibility
                    return
        raise KeyError(folder_id)

    def add_ticket(
        self,
        ticket_id: int,
        *,
        subject: str,
        description: str,
        status: int = 4,
        updated_at: str = "2024-03-01T10:00:00Z",
        created_at: str | None = None,
        tags: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        ticket = {
            "cc_emails": [],
            "fwd_emails": [],
            "reply_cc_emails": [],
            "ticket_cc_emails": [],
            "fr_escalated": False,
            "spam": False,
            "email_config_id": None,
            "group_id": None,
            "priority": 1,
            "requester_id": 6012691534,
            "responder_id": 6010396333,
            "source": 2,
            "company_id": None,
            "status": status,
            "subject": subject,
            "association_type": None,
            "support_email": None,
            "to_emails": None,
            "product_id": None,
            "id": ticket_id,
            "type": "Question",
            "due_by": "2024-03-05T10:00:00Z",
            "fr_due_by": "2024-03-02T10:00:00Z",
            "is_escalated": False,
            "custom_fields": {},
            "created_at": created_at or updated_at,
            "updated_at": updated_at,
            "tags": list(tags),
            "description": description,
            "description_text": _strip_tags(description),
        }
        self.tickets.append(ticket)
        return ticket

    def add_raw_ticket(self, raw: Any) -> None:
        self.tickets.append(raw)

    def update_ticket(self, ticket_id: int, **changes: Any) -> dict[str, Any]:
        for ticket in self.tickets:
            if _id(ticket) == ticket_id:
                ticket.update(changes)
                if "description" in changes:
                    ticket["description_text"] = _strip_tags(changes["description"])
                return ticket
        raise KeyError(ticket_id)

    def delete_ticket(self, ticket_id: int, *, updated_at: str) -> None:
        """Move a ticket to Freshdesk's trash (``deleted: true``; listed by ``filter=deleted``)."""
        self.update_ticket(ticket_id, deleted=True, updated_at=updated_at)

    def add_conversation(
        self,
        ticket_id: int,
        conversation_id: int,
        *,
        body: str,
        private: bool = False,
        incoming: bool = False,
        created_at: str = "2024-03-01T09:00:00Z",
    ) -> dict[str, Any]:
        conversation = {
            "body": body,
            "body_text": _strip_tags(body),
            "id": conversation_id,
            "incoming": incoming,
            "private": private,
            "user_id": 1,
            "support_email": None,
            "source": 2 if private else 0,
            "category": 2,
            "ticket_id": ticket_id,
            "to_emails": [],
            "from_email": None,
            "cc_emails": [],
            "bcc_emails": None,
            "created_at": created_at,
            "updated_at": created_at,
            "attachments": [],
        }
        self.conversations.setdefault(ticket_id, []).append(conversation)
        return conversation

    # -- scripting: failures -----------------------------------------------------------------

    def fail(
        self,
        path: str,
        status: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        garbage: bool = False,
        query: dict[str, str] | None = None,
        method: str = "GET",
    ) -> None:
        """Answer the next ``times`` ``method`` requests (GET by default) of ``path`` (whose query
        contains ``query``) with ``status``.

        ``garbage=True`` answers that status (200 usually) with a body that is not JSON.
        """
        with self._lock:
            self._failures.append(_Failure(path, status, times, retry_after, garbage, query, method.upper()))

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path and (method is None or r.method == method.upper())]

    def notes(self, ticket_id: int) -> list[dict[str, Any]]:
        """Private notes on a ticket."""
        return [c for c in self.conversations.get(ticket_id, []) if c.get("private") is True]

    # -- handling ----------------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(h.path)
        path, query = split.path, dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            sent = json.loads(raw) if raw else None
        except ValueError:
            sent = None
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    method=method,
                    path=path,
                    query=query,
                    headers={k.lower(): v for k, v in h.headers.items()},
                    json=sent,
                )
            )
            failure = next((f for f in self._failures if f.matches(path, query, method)), None)
            if failure is not None:
                failure.times -= 1
        if failure is not None:
            self._send_failure(h, failure)
            return
        if not self._authorized(h.headers.get("Authorization")):
            self._send(
                h,
                401,
                {
                    "code": "invalid_credentials",
                    "message": "You have to be logged in to perform this action.",
                },
            )
            return
        try:
            if method == "GET":
                status, body, headers = self._route(path, query)
            else:
                status, body, headers = self._write(method, path, sent)
        except _ValidationError as exc:
            self._send(
                h,
                400,
                {
                    "description": "Validation failed",
                    "errors": [{"field": exc.field, "message": exc.message, "code": "invalid_value"}],
                },
            )
            return
        self._send(h, status, body, headers)

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, _password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.api_key

    def _route(self, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        parts = path.strip("/").split("/")
        if parts[:2] != ["api", "v2"]:
            return 404, {"code": "not_found"}, {}
        rest = parts[2:]
        match rest:
            case ["solutions", "categories"]:
                return 200, list(self.categories), {}
            case ["solutions", "categories", cid, "folders"] if cid.isdigit():
                if int(cid) not in self.folders:
                    return 404, {"code": "not_found"}, {}
                return 200, list(self.folders[int(cid)]), {}
            case ["solutions", "folders", fid, "articles"] if fid.isdigit():
                if int(fid) not in self.articles:
                    return 404, {"code": "not_found"}, {}
                return self._paginate(path, query, list(self.articles[int(fid)]))
            case ["tickets"]:
                return self._paginate(path, query, self._list_tickets(query))
            case ["tickets", tid] if tid.isdigit():
                ticket = next((t for t in self.tickets if _id(t) == int(tid)), None)
                if ticket is None:
                    return 404, {"code": "not_found"}, {}
                return 200, dict(ticket), {}
            case ["tickets", tid, "conversations"] if tid.isdigit():
                if not any(_id(t) == int(tid) for t in self.tickets):
                    return 404, {"code": "not_found"}, {}
                return self._paginate(path, query, list(self.conversations.get(int(tid), [])))
        return 404, {"code": "not_found"}, {}

    def _write(self, method: str, path: str, sent: Any) -> tuple[int, Any, dict[str, str]]:
        parts = path.strip("/").split("/")
        match parts:
            case ["api", "v2", "tickets", tid, "notes"] if method == "POST" and tid.isdigit():
                if not any(_id(t) == int(tid) for t in self.tickets):
                    return 404, {"code": "not_found"}, {}
                if not isinstance(sent, dict) or not isinstance(sent.get("body"), str) or not sent["body"].strip():
                    raise _ValidationError("body", "It should not be blank")
                with self._lock:
                    note_id = 1 + max((_id(c) or 0 for cs in self.conversations.values() for c in cs), default=0)
                note = self.add_conversation(int(tid), note_id, body=sent["body"], private=sent.get("private", True) is not False,
                                             created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
                return 201, dict(note), {}
            case ["api", "v2", "tickets", tid] if method == "PUT" and tid.isdigit():
                if not isinstance(sent, dict):
                    raise _ValidationError("body", "It should be a JSON object")
                try:
                    return 200, dict(self.update_ticket(int(tid), **sent)), {}
                except KeyError:
                    return 404, {"code": "not_found"}, {}
        return 404, {"code": "not_found"}, {}

    def _list_tickets(self, query: dict[str, str]) -> list[Any]:
        filter_ = query.get("filter")
        if filter_ not in (None, "deleted", "spam", "new_and_my_open", "watching"):
            raise _ValidationError(
                "filter", "It should be one of these values: 'new_and_my_open,watching,spam,deleted'"
            )
        since_raw = query.get("updated_since")
        since = _ts(since_raw) if since_raw is not None else None
        if since_raw is not None and since is None:
            raise _ValidationError("updated_since", "It should be in the 'valid date time' format")
        order_by = query.get("order_by", "created_at")
        if order_by not in ("created_at", "updated_at", "due_by", "status"):
            raise _ValidationError(
                "order_by", "It should be one of these values: 'created_at,due_by,updated_at,status'"
            )
        order_type = query.get("order_type", "desc")
        if order_type not in ("asc", "desc"):
            raise _ValidationError("order_type", "It should be one of these values: 'asc,desc'")
        month_ago = datetime.now(UTC) - timedelta(days=30)
        out = []
        for t in self.tickets:
            if isinstance(t, dict):
                deleted, spam = t.get("deleted") is True, t.get("spam") is True
                if filter_ == "deleted" and not deleted:
                    continue
                if filter_ == "spam" and not spam:
                    continue
                if filter_ is None and (spam or (deleted and not self.deleted_in_listing)):
                    continue
                updated = _ts(t.get("updated_at"))
                if since is not None and updated is not None and updated < since:
                    continue
                created = _ts(t.get("created_at"))
                if since is None and created is not None and created < month_ago:
                    continue
            elif filter_ is not None:
                continue
            out.append(t)
        minimum = datetime.min.replace(tzinfo=UTC)
        out.sort(
            key=lambda t: (_ts(t.get(order_by)) if isinstance(t, dict) else None) or minimum,
            reverse=order_type == "desc",
        )
        include = set(filter(None, query.get("include", "").split(",")))
        return [_ticket_view(t, with_description="description" in include) for t in out]

    def _paginate(
        self, path: str, query: dict[str, str], items: list[Any]
    ) -> tuple[int, Any, dict[str, str]]:
        try:
            per_page = int(query.get("per_page", "30"))
            page = int(query.get("page", "1"))
        except ValueError as exc:
            raise _ValidationError("per_page", "It should be a Positive Integer") from exc
        if not 1 <= per_page <= 100:
            raise _ValidationError("per_page", "It should be a Positive Integer less than or equal to 100")
        if not 1 <= page <= self.max_pages:
            raise _ValidationError(
                "page", f"It should be a Positive Integer less than or equal to {self.max_pages}"
            )
        size = min(per_page, self.page_size) if self.page_size else per_page
        start = (page - 1) * size
        chunk = items[start : start + size]
        headers: dict[str, str] = {}
        if self.link_headers and start + size < len(items):
            next_query = urlencode({**query, "page": str(page + 1)})
            headers["Link"] = f'<{self.url}{path}?{next_query}>; rel="next"'
        return 200, chunk, headers

    def _send_failure(self, h: BaseHTTPRequestHandler, failure: _Failure) -> None:
        headers: dict[str, str] = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = failure.retry_after
        if failure.garbage:
            self._send_raw(
                h,
                failure.status,
                b"<html><body>Freshdesk is under maintenance</body></html>",
                "application/json",
                headers,
            )
            return
        bodies = {
            401: {
                "code": "invalid_credentials",
                "message": "You have to be logged in to perform this action.",
            },
            403: {"code": "access_denied", "message": "You are not authorized to perform this action."},
            429: {"message": "You have exceeded the limit of requests per hour"},
        }
        self._send(
            h,
            failure.status,
            bodies.get(
                failure.status, {"code": "internal_error", "message": "We're sorry, something went wrong."}
            ),
            headers,
        )

    def _send(
        self, h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        headers = dict(headers or {})
        if self.rate_limit_remaining is not None and status < 400:
            headers.update(
                {
                    "X-RateLimit-Total": str(self.rate_limit_total),
                    "X-RateLimit-Remaining": str(self.rate_limit_remaining),
                    "X-RateLimit-Used-CurrentRequest": "1",
                }
            )
        self._send_raw(h, status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)

    @staticmethod
    def _send_raw(
        h: BaseHTTPRequestHandler, status: int, payload: bytes, content_type: str, headers: dict[str, str]
    ) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                h.send_header(name, value)
            h.end_headers()
            h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


class _ValidationError(Exception):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field_name, message


def _ticket_view(ticket: Any, *, with_description: bool) -> Any:
    if not isinstance(ticket, dict) or with_description:
        return ticket
    return {k: v for k, v in ticket.items() if k not in ("description", "description_text")}


def _id(record: Any) -> Any:
    return record.get("id") if isinstance(record, dict) else None


def _ts(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _strip_tags(html: str) -> str:
    out, inside = [], False
    for ch in html:
        if ch == "<":
            inside = True
        elif ch == ">":
            inside = False
            out.append(" ")
        elif not inside:
            out.append(ch)
    return " ".join("".join(out).split())
