"""A real local HTTP server speaking Intercom's REST API 2.14 wire format, for connector tests.

    with FakeIntercom(page_size=2) as fake:
        fake.add_article("1", title="Reset your password", body="<p>Use the link.</p>")
        fake.add_conversation("7", subject="Login", source=("user", "<p>I can't log in</p>"),
                              parts=[("comment", "admin", "<p>Try the reset link.</p>")])
        client = httpx.Client(base_url=fake.url)
        ...
        assert fake.requests[0].path == "/articles"

Payload shapes follow Intercom's OpenAPI 2.14 examples (``listArticles``, ``searchConversations``,
``retrieveConversation``, error lists); the data is our own. Endpoints:

- ``GET /articles?page=&per_page=``: every article (drafts too), newest ``updated_at`` first,
  ``{"type": "list", "pages": {...}, "total_count": n, "data": [...]}``; ``pages.next`` is a URL
  (``next_style="url"``), an object (``"object"``) or left out (``"none"``: only ``total_pages``);
- ``POST /conversations/search``: ``query`` (single filter or nested AND/OR) on ``updated_at``,
  ``created_at``, ``state``, ``open``, ``id``; timestamps compared by *UTC calendar day* as
  Intercom does (``>`` starts at the next midnight); ``sort``; cursor pages through
  ``pagination.starting_after`` and ``pages.next.starting_after``;
- ``GET /conversations/{id}``: the conversation with its ``conversation_parts``; 404 error list
  when it does not exist;
- ``POST /conversations/{id}/reply``: ``message_type`` ``comment`` or ``note`` (``type`` ``admin``
  with ``admin_id``, or ``user``): appends a part and answers the conversation (``replyConversation``).

Scriptable between (and, through ``before_request``, during) requests: ``articles`` and
``conversations`` (dicts by id, editable directly for malformed records), ``page_size`` (the most
the server returns per page), ``token`` (anything else gets 401), ``fail(...)`` for injected
failures (any status, ``Retry-After`` in either form, extra headers, a body that is not JSON),
``rate_remaining`` / ``rate_reset`` for the ``X-RateLimit-*`` headers of successful answers.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.local_server import LocalHTTPServer

DAY_S = 86_400
DATE_FIELDS = frozenset({"created_at", "updated_at"})


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    json: Any  # parsed body, or None


@dataclass
class Failure:
    """One scripted answer instead of the real one."""

    status: int
    times: int = 1
    retry_after: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # raw body; default: an Intercom error list
    match: dict[str, str] = field(default_factory=dict)  # query parameters that must match


_ERROR_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Access Token Invalid"),
    403: ("api_plan_restricted", "Active subscription needed."),
    404: ("not_found", "Resource Not Found"),
    429: ("rate_limit_exceeded", "Exceeded rate limit"),
    500: ("server_error", "Server Error"),
    503: ("service_unavailable", "Sorry, the API service is temporarily unavailable"),
}


def error_list(status: int, message: str | None = None) -> dict[str, Any]:
    code, default = _ERROR_CODES.get(status, ("error", "Error"))
    return {"type": "error.list", "request_id": str(uuid.uuid4()), "errors": [{"code": code, "message": message or default}]}


@dataclass
class FakeIntercom(LocalHTTPServer):
    http_methods = ("GET", "POST")
    thread_name = "fake-intercom"

    page_size: int = 50
    token: str = "test-token"
    next_style: str = "url"  # url | object | none
    rate_remaining: int | None = None
    rate_reset: int | None = None
    before_request: Callable[[RecordedRequest], None] | None = None
    articles: dict[str, dict[str, Any]] = field(default_factory=dict)
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._failures: dict[tuple[str, str], list[Failure]] = {}
        self._lock = threading.Lock()
        self._part_ids = 0

    # -- data --------------------------------------------------------------------------------

    def add_article(
        self,
        article_id: str,
        *,
        title: str,
        body: str = "<p>Body.</p>",
        state: str = "published",
        updated_at: int = 1_700_000_000,
        url: str | None = "default",
        parent_id: int | None = 10,
    ) -> dict[str, Any]:
        article = {
            "id": article_id,
            "type": "article",
            "workspace_id": "fakeapp1",
            "parent_id": parent_id,
            "parent_type": "collection" if parent_id is not None else None,
            "parent_ids": [parent_id] if parent_id is not None else [],
            "tags": {"type": "tag.list", "tags": []},
            "title": title,
            "description": "",
            "body": body,
            "author_id": 991267001,
            "state": state,
            "created_at": updated_at - 1000,
            "updated_at": updated_at,
            "url": f"https://help.example.test/en/articles/{article_id}" if url == "default" else url,
        }
        self.articles[article_id] = article
        return article

    def add_conversation(
        self,
        conversation_id: str,
        *,
        subject: str = "",
        source: tuple[str, str] = ("user", "<p>Hello</p>"),
        parts: list[tuple[str, str, str | None]] | None = None,
        state: str = "closed",
        updated_at: int = 1_700_000_000,
        title: str | None = None,
    ) -> dict[str, Any]:
        """``source`` is (author type, body HTML); each part is (part_type, author type, body)."""
        author_type, body = source
        conversation = {
            "type": "conversation",
            "id": conversation_id,
            "created_at": updated_at - 5000,
            "updated_at": updated_at,
            "waiting_since": None,
            "snoozed_until": None,
            "source": {
                "type": "conversation",
                "id": f"40{conversation_id}",
                "delivered_as": "admin_initiated" if author_type == "admin" else "customer_initiated",
                "subject": subject,
                "body": body,
                "author": self._author(author_type),
                "attachments": [],
                "url": None,
                "redacted": False,
            },
            "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": "c0ffee01", "external_id": "70"}]},
            "first_contact_reply": None,
            "admin_assignee_id": 991267715,
            "team_assignee_id": None,
            "open": state != "closed",
            "state": state,
            "read": True,
            "tags": {"type": "tag.list", "tags": []},
            "priority": "not_priority",
            "sla_applied": None,
            "statistics": None,
            "conversation_rating": None,
            "teammates": None,
            "title": title,
            "custom_attributes": {},
            "topics": {},
            "ticket": None,
            "linked_objects": {"type": "list", "data": [], "total_count": 0, "has_more": False},
            "ai_agent": None,
            "ai_agent_participated": False,
            "conversation_parts": {
                "type": "conversation_part.list",
                "conversation_parts": [self._part(*p, created_at=updated_at - 100 + i) for i, p in enumerate(parts or [])],
                "total_count": len(parts or []),
            },
        }
        self.conversations[conversation_id] = conversation
        return conversation

    def _author(self, author_type: str) -> dict[str, Any]:
        names = {"admin": ("991267645", "Ada Agent", "ada@example.test"), "bot": ("278", "Fin", "fin@example.test")}
        aid, name, email = names.get(author_type, ("6762f1571bb69f9f2193bbbb", "Carla Customer", "carla@example.test"))
        return {"type": author_type, "id": aid, "name": name, "email": email}

    def _part(self, part_type: str, author_type: str, body: str | None, *, created_at: int) -> dict[str, Any]:
        self._part_ids += 1
        return {
            "type": "conversation_part",
            "id": str(self._part_ids),
            "part_type": part_type,
            "body": body,
            "created_at": created_at,
            "updated_at": created_at,
            "notified_at": created_at,
            "assigned_to": None,
            "author": self._author(author_type),
            "attachments": [],
            "external_id": None,
            "redacted": False,
            "email_message_metadata": None,
            "state": "closed" if part_type == "close" else "open",
            "tags": [],
            "event_details": None,
            "app_package_code": None,
        }

    def fail(self, method: str, path: str, status: int, **kwargs: Any) -> Failure:
        """Answer the next ``times`` matching requests with ``status`` (see :class:`Failure`)."""
        failure = Failure(status=status, **kwargs)
        with self._lock:
            self._failures.setdefault((method.upper(), path), []).append(failure)
        return failure

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # -- HTTP --------------------------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest(
            method=method,
            path=split.path,
            query=query,
            headers={k.lower(): v for k, v in handler.headers.items()},
            json=body,
        )
        with self._lock:
            self.requests.append(request)
        if self.before_request is not None:
            self.before_request(request)

        failure = self._take_failure(method, split.path, query)
        if failure is not None:
            headers = dict(failure.headers)
            if failure.retry_after is not None:
                headers["Retry-After"] = failure.retry_after
            payload = failure.body if failure.body is not None else json.dumps(error_list(failure.status)).encode()
            self._send(handler, failure.status, payload, headers)
            return
        if request.headers.get("authorization") != f"Bearer {self.token}":
            self._send_json(handler, 401, error_list(401))
            return
        try:
            status, payload = self._route(method, split.path, query, body)
        except _BadRequest as exc:
            status, payload = 400, error_list(400, str(exc))
        self._send_json(handler, status, payload, self._rate_headers() if status < 400 else {})

    def _take_failure(self, method: str, path: str, query: dict[str, str]) -> Failure | None:
        with self._lock:
            queue = self._failures.get((method, path), [])
            for failure in queue:
                if all(query.get(k) == v for k, v in failure.match.items()):
                    failure.times -= 1
                    if failure.times <= 0:
                        queue.remove(failure)
                    return failure
        return None

    def _rate_headers(self) -> dict[str, str]:
        remaining = 999 if self.rate_remaining is None else self.rate_remaining
        reset = int(time.time()) + 10 if self.rate_reset is None else self.rate_reset
        return {"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset)}

    def _send_json(self, handler: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(handler, status, json.dumps(payload).encode(), {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

    def _send(self, handler: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict[str, str]) -> None:
        handler.send_response(status)
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/articles":
            return 200, self._list_articles(query)
        if method == "POST" and path == "/conversations/search":
            return 200, self._search(body)
        if method == "POST" and path.startswith("/conversations/") and path.endswith("/reply"):
            return self._reply(path.removeprefix("/conversations/").removesuffix("/reply"), body)
        if method == "GET" and path.startswith("/conversations/"):
            conversation = self.conversations.get(path.removeprefix("/conversations/"))
            if conversation is None:
                return 404, error_list(404)
            return 200, conversation
        return 404, error_list(404)

    def _reply(self, conversation_id: str, body: Any) -> tuple[int, Any]:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            return 404, error_list(404)
        if not isinstance(body, dict) or body.get("message_type") not in ("comment", "note", "quick_reply"):
            raise _BadRequest("message_type must be comment, note or quick_reply")
        if body.get("type") == "admin":
            if not body.get("admin_id"):
                raise _BadRequest("admin_id is required for admin replies")
            author = "admin"
        elif body.get("type") == "user":
            author = "user"
        else:
            raise _BadRequest("type must be admin or user")
        if not isinstance(body.get("body"), str) or not body["body"].strip():
            raise _BadRequest("body is required")
        now = int(time.time())
        with self._lock:
            part = self._part(body["message_type"], author, body["body"], created_at=now)
            container = conversation["conversation_parts"]
            container["conversation_parts"].append(part)
            container["total_count"] = len(container["conversation_parts"])
            conversation["updated_at"] = now
        return 200, conversation

    def notes(self, conversation_id: str) -> list[dict[str, Any]]:
        """Note parts of a conversation."""
        parts = self.conversations[conversation_id]["conversation_parts"]["conversation_parts"]
        return [p for p in parts if p.get("part_type") == "note"]

    # -- articles ----------------------------------------------------------------------------

    def _list_articles(self, query: dict[str, str]) -> dict[str, Any]:
        try:
            page = int(query.get("page", "1"))
            per_page = min(int(query.get("per_page", "15")), self.page_size)
        except ValueError as exc:
            raise _BadRequest("page and per_page must be integers") from exc
        items = sorted(self.articles.values(), key=lambda a: (-_int(a.get("updated_at")), str(a.get("id"))))
        total_pages = max(1, -(-len(items) // per_page))
        data = items[(page - 1) * per_page : page * per_page]
        pages: dict[str, Any] = {"type": "pages", "page": page, "per_page": per_page, "total_pages": total_pages}
        if self.next_style != "none":
            if page < total_pages:
                pages["next"] = (
                    f"https://api.intercom.io/articles?page={page + 1}&per_page={per_page}"
                    if self.next_style == "url"
                    else {"page": page + 1, "starting_after": _cursor([page * per_page, "articles", page])}
                )
            else:
                pages["next"] = None
        return {"type": "list", "pages": pages, "total_count": len(items), "data": data}

    # -- search ------------------------------------------------------------------------------

    def _search(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or "query" not in body:
            raise _BadRequest("query is required")
        pagination = body.get("pagination") or {}
        per_page = int(pagination.get("per_page", 20))
        if not 1 <= per_page <= 150:
            raise _BadRequest("per_page must be between 1 and 150")
        per_page = min(per_page, self.page_size)
        matches = [c for c in self.conversations.values() if _matches(c, body["query"])]
        sort = body.get("sort") or {"field": "id", "order": "ascending"}
        descending = sort.get("order") == "descending"

        def key(c: dict[str, Any]) -> list[Any]:
            value = c.get(sort["field"])
            return [_int(value) if sort["field"] in DATE_FIELDS else str(value), str(c.get("id"))]

        matches.sort(key=key, reverse=descending)
        total = len(matches)
        # Keyset cursor like Intercom's (it decodes to [sort value, id, page]): records deleted or
        # added meanwhile do not shift the pages after it.
        after = _decode_cursor(pagination.get("starting_after"))
        page = 1
        if after is not None:
            last, page = after[:2], after[2] + 1
            matches = [c for c in matches if (key(c) < last if descending else key(c) > last)]
        chunk = matches[:per_page]
        pages: dict[str, Any] = {"type": "pages", "page": page, "per_page": per_page,
                                 "total_pages": page - 1 + max(1, -(-len(matches) // per_page))}
        if len(matches) > per_page:
            pages["next"] = {"page": page + 1, "starting_after": _cursor([*key(chunk[-1]), page])}
        listed = [{k: v for k, v in c.items() if k != "conversation_parts"} for c in chunk]
        return {"type": "conversation.list", "pages": pages, "total_count": total, "conversations": listed}


class _BadRequest(Exception):
    pass


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _cursor(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def _decode_cursor(cursor: Any) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        value = json.loads(base64.b64decode(cursor))
        if not (isinstance(value, list) and len(value) == 3 and isinstance(value[2], int)):
            raise ValueError("not a cursor")
        return value
    except (ValueError, TypeError) as exc:
        raise _BadRequest("invalid starting_after cursor") from exc


def _day_start(ts: int) -> int:
    d = datetime.fromtimestamp(ts, UTC)
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def _matches(conversation: dict[str, Any], query: Any) -> bool:
    if not isinstance(query, dict):
        raise _BadRequest("query must be an object")
    op = query.get("operator")
    if op in ("AND", "OR"):
        subs = query.get("value")
        if not isinstance(subs, list) or not subs:
            raise _BadRequest(f"{op} needs a list of filters")
        results = [_matches(conversation, q) for q in subs]
        return all(results) if op == "AND" else any(results)
    name, value = query.get("field"), query.get("value")
    if name not in ("updated_at", "created_at", "state", "open", "id"):
        raise _BadRequest(f"unsupported field {name!r}")
    actual = conversation.get(name)
    if name in DATE_FIELDS:
        # Intercom compares timestamps by calendar day (workspace time zone; UTC here).
        try:
            day = _day_start(int(value))
        except (TypeError, ValueError) as exc:
            raise _BadRequest(f"{name} needs a unix timestamp") from exc
        when = _int(actual)
        if op == ">":
            return when >= day + DAY_S
        if op == "<":
            return when < day
        if op == "=":
            return day <= when < day + DAY_S
        raise _BadRequest(f"operator {op!r} is not supported on date fields")
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    raise _BadRequest(f"unsupported operator {op!r} for {name}")
