"""A real local HTTP server speaking Zendesk's JSON wire format, for connector tests.

    with FakeZendesk(credentials=("agent@acme.test/token", "tok")) as zd:
        zd.add_category(1, "Billing")
        zd.add_section(10, "Invoices", category_id=1)
        zd.add_article(100, "Download an invoice", "<p>Open <b>Billing</b>.</p>", section_id=10)
        zd.add_ticket(7, "Refund?", status="solved", requester_id=500,
                      comments=[comment("I want a refund", author_id=500),
                                comment("Done.", author_id=900)])
        ...  # point ZendeskConnector(base_url=zd.url) at it

Endpoints (payload shapes follow the zenpy recordings in ../shared/fixtures/zendesk; the data is
this module's own):

- ``GET /api/v2/help_center[/{locale}]/articles.json``, ``.../sections.json``,
  ``.../categories.json``: cursor pagination (``page[size]``, ``page[after]``; ``meta.has_more``,
  ``meta.after_cursor``, ``links``; like the real API, ``links.next`` is present on every page);
- ``GET /api/v2/incremental/tickets/cursor.json``: ``start_time`` or ``cursor``, ``per_page``;
  answers ``tickets``, ``after_cursor``, ``after_url``, ``end_of_stream``; order is
  (``generated_timestamp``, ``id``), every change moves a ticket to the end of the stream;
- ``GET /api/v2/tickets/{id}/comments.json``: cursor pagination, ``include=users`` side-load;
- ``GET /api/v2/tickets/{id}.json``: ``{"ticket": ...}`` (404 when unknown or deleted);
- ``PUT /api/v2/tickets/{id}.json``: ``{"ticket": {"comment": {...}, "additional_tags": [...]}}``
  adds the comment (authored by ``api_user_id``; ``public`` defaults to true as in Zendesk) and the
  tags, and answers ``{"ticket": ..., "audit": {"id", "events": [{"type": "Comment", ...}]}}``
  like the recordings (``notes`` lists the private comments added this way).

Scripting: the data (``add_*``, ``update_*``, ``delete_*``, or the dicts themselves) may change
between syncs; ``page_size`` caps every page; ``fail(pattern, status, ...)`` queues failures for
paths matching an fnmatch pattern (429 with Retry-After, 401, 500, a non-JSON body ...);
``replay(pattern, bodies)`` answers recorded bodies in order instead of the data;
``rate_limit_remaining`` sets the ``X-Rate-Limit-Remaining`` header; ``credentials`` turns on
HTTP Basic checking (401 with Zendesk's body otherwise); ``fail(..., method="PUT")`` limits a
failure to one method; ``before_request`` runs for every request before it is answered (a test
can hold the server there). Every request is in ``requests`` (with its JSON body, if any).
"""

from __future__ import annotations

import base64
import bisect
import fnmatch
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.fakes.local_server import LocalHTTPServer

DEFAULT_LOCALE = "en-us"
EPOCH = 1_726_000_000  # the fake clock's start (2024-09-10)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]  # last value of each parameter
    headers: dict[str, str]  # lower-cased names
    json: Any = None  # the parsed request body (PUT/POST), or None


@dataclass
class _Failure:
    status: int
    times: int
    headers: dict[str, str]
    body: bytes
    after: int  # matching requests to let through first
    method: str | None = None  # None: any method


@dataclass
class _Replay:
    bodies: list[Any]
    repeat_last: bool


def comment(
    body: str,
    *,
    author_id: int,
    public: bool | None = True,
    html: bool = True,
    comment_id: int | None = None,
) -> dict[str, Any]:
    """A ticket comment in the comments-list shape (``public: None`` drops the key)."""
    c: dict[str, Any] = {
        "id": comment_id,
        "type": "Comment",
        "author_id": author_id,
        "body": body,
        "html_body": f'<div class="zd-comment" dir="auto"><p dir="auto">{body}</p></div>' if html else "",
        "plain_body": body,
        "public": public,
        "attachments": [],
        "audit_id": None,
        "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": None,
        "metadata": {"system": {}, "custom": {}},
    }
    if public is None:
        del c["public"]
    return c


@dataclass
class FakeZendesk(LocalHTTPServer):
    http_methods = ("GET", "PUT", "POST")
    thread_name = "fake-zendesk"

    page_size: int = 100
    credentials: tuple[str, str] | None = None
    rate_limit_remaining: int | None = 699
    articles: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)  # locale -> id -> article
    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    categories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    api_user_id: int = 900  # the author of comments added through the API (the bot's agent account)
    before_request: Callable[[RecordedRequest], None] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._clock = EPOCH
        self._next_comment_id = 9_000_000
        self._failures: list[tuple[str, _Failure]] = []
        self._replays: list[tuple[str, _Replay]] = []
        #: The export stream sorted once per change of the data (every change ticks the clock), not per page.
        self._export_order: tuple[tuple[int, int], list[dict[str, Any]], list[tuple[int, int]]] | None = None

    # -- data ----------------------------------------------------------------------------------

    def tick(self) -> int:
        self._clock += 1
        return self._clock

    def _iso(self, ts: int) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def add_category(self, cid: int, name: str, *, locale: str = DEFAULT_LOCALE) -> dict[str, Any]:
        rec = {"id": cid, "url": f"{self._api}/help_center/{locale}/categories/{cid}.json",
               "html_url": f"{self._hc}/{locale}/categories/{cid}", "position": 0,
               "created_at": self._iso(EPOCH), "updated_at": self._iso(EPOCH), "name": name,
               "description": "", "locale": locale, "source_locale": DEFAULT_LOCALE, "outdated": False}
        self.categories.setdefault(locale, []).append(rec)
        return rec

    def add_section(self, sid: int, name: str, *, category_id: int, locale: str = DEFAULT_LOCALE) -> dict[str, Any]:
        rec = {"id": sid, "url": f"{self._api}/help_center/{locale}/sections/{sid}.json",
               "html_url": f"{self._hc}/{locale}/sections/{sid}", "category_id": category_id, "position": 0,
               "sorting": "manual", "created_at": self._iso(EPOCH), "updated_at": self._iso(EPOCH),
               "name": name, "description": "", "locale": locale, "source_locale": DEFAULT_LOCALE,
               "outdated": False, "parent_section_id": None, "theme_template": "section_page"}
        self.sections.setdefault(locale, []).append(rec)
        return rec

    def add_article(
        self,
        aid: int,
        title: str,
        body: str,
        *,
        locale: str = DEFAULT_LOCALE,
        section_id: int | None = None,
        draft: bool = False,
        user_segment_id: int | None = None,
        label_names: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        ts = self.tick()
        slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")
        rec = {
            "id": aid, "url": f"{self._api}/help_center/{locale}/articles/{aid}.json",
            "html_url": f"{self._hc}/{locale}/articles/{aid}-{slug}", "author_id": 900,
            "comments_disabled": False, "content_tag_ids": [], "label_names": list(label_names),
            "draft": draft, "promoted": False, "position": 0, "vote_sum": 0, "vote_count": 0,
            "section_id": section_id, "created_at": self._iso(ts), "updated_at": self._iso(ts),
            "edited_at": self._iso(ts), "name": title, "title": title, "body": body,
            "source_locale": DEFAULT_LOCALE, "locale": locale, "outdated": False, "outdated_locales": [],
            "permission_group_id": 1, "user_segment_id": user_segment_id,
            "user_segment_ids": [user_segment_id] if user_segment_id is not None else [],
        }
        self.articles.setdefault(locale, {})[aid] = rec
        return rec

    def update_article(self, aid: int, *, locale: str = DEFAULT_LOCALE, **changes: Any) -> None:
        rec = self.articles[locale][aid]
        rec.update(changes)
        rec["updated_at"] = rec["edited_at"] = self._iso(self.tick())

    def delete_article(self, aid: int, *, locale: str = DEFAULT_LOCALE) -> None:
        del self.articles[locale][aid]

    def add_raw_article(self, record: Any, *, locale: str = DEFAULT_LOCALE, key: int = -1) -> None:
        """Put any JSON value into the listing (for malformed-record tests)."""
        self.articles.setdefault(locale, {})[key] = record

    def add_user(self, uid: int, name: str, role: str) -> None:
        self.users[uid] = {"id": uid, "url": f"{self._api}/users/{uid}.json", "name": name,
                           "email": f"user{uid}@example.test", "role": role, "active": True}

    def add_ticket(
        self,
        tid: int,
        subject: str,
        *,
        status: str = "solved",
        requester_id: int = 500,
        comments: list[dict[str, Any]] | None = None,
        tags: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        ts = self.tick()
        rec = {
            "url": f"{self._api}/tickets/{tid}.json", "id": tid, "external_id": None,
            "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": self._iso(ts), "updated_at": self._iso(ts), "type": None,
            "subject": subject, "raw_subject": subject,
            "description": (comments or [{}])[0].get("body", ""), "priority": None, "status": status,
            "recipient": None, "requester_id": requester_id, "submitter_id": requester_id,
            "assignee_id": 900, "organization_id": None, "group_id": None, "collaborator_ids": [],
            "follower_ids": [], "email_cc_ids": [], "forum_topic_id": None, "problem_id": None,
            "has_incidents": False, "is_public": True, "due_at": None, "tags": list(tags),
            "custom_fields": [], "satisfaction_rating": None, "sharing_agreement_ids": [],
            "custom_status_id": 1, "fields": [], "followup_ids": [], "ticket_form_id": 1, "brand_id": 1,
            "allow_channelback": False, "allow_attachments": True, "from_messaging_channel": False,
            "generated_timestamp": ts,
        }
        self.tickets[tid] = rec
        self.comments[tid] = []
        for c in comments or []:
            self._store_comment(tid, c, ts)
        return rec

    def _store_comment(self, tid: int, c: dict[str, Any], ts: int) -> None:
        c = dict(c)
        if c.get("id") is None:
            self._next_comment_id += 1
            c["id"] = self._next_comment_id
        c["audit_id"] = c["id"] + 1
        c["created_at"] = self._iso(ts)
        self.comments[tid].append(c)

    def add_comment(self, tid: int, c: dict[str, Any]) -> None:
        ts = self.tick()
        self._store_comment(tid, c, ts)
        self._touch(tid, ts)

    def update_ticket(self, tid: int, **changes: Any) -> None:
        self.tickets[tid].update(changes)
        self._touch(tid, self.tick())

    def delete_ticket(self, tid: int) -> None:
        """Soft delete, as the export reports it: status ``deleted`` and a new timestamp."""
        self.update_ticket(tid, status="deleted")

    def add_raw_ticket(self, record: dict[str, Any]) -> None:
        """Put a (possibly malformed) record into the export stream at the current time."""
        ts = self.tick()
        record = {**record, "generated_timestamp": ts}
        self.tickets[-ts] = record  # keyed apart from real ids

    def _touch(self, tid: int, ts: int) -> None:
        self.tickets[tid]["updated_at"] = self._iso(ts)
        self.tickets[tid]["generated_timestamp"] = ts

    # -- scripting -----------------------------------------------------------------------------

    def fail(
        self,
        pattern: str,
        status: int,
        *,
        times: int = 1,
        after: int = 0,
        retry_after: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        method: str | None = None,
    ) -> None:
        """Answer ``times`` requests whose path matches ``pattern`` with ``status``, after letting
        ``after`` matching requests through (so "page 2 fails" is ``after=1``); ``method`` limits
        it to one HTTP method."""
        hdrs = dict(headers or {})
        if retry_after is not None:
            hdrs["Retry-After"] = retry_after
        if body is None:
            body = json.dumps(_ERROR_BODIES.get(status, {"error": "InternalError", "description": "Error"})).encode()
        with self._lock:
            self._failures.append((pattern, _Failure(status, times, hdrs, body, after, method.upper() if method else None)))

    def replay(self, pattern: str, bodies: list[Any], *, repeat_last: bool = False) -> None:
        """Answer requests matching ``pattern`` with these bodies, in order (recorded payloads)."""
        with self._lock:
            self._replays.append((pattern, _Replay(list(bodies), repeat_last)))

    def requests_to(self, pattern: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests
                if fnmatch.fnmatchcase(r.path, pattern) and (method is None or r.method == method.upper())]

    def notes(self, tid: int) -> list[dict[str, Any]]:
        """Private comments on a ticket (what the API added with ``public: false``)."""
        return [c for c in self.comments.get(tid, []) if c.get("public") is False]

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            return "http://127.0.0.1:0"  # links built before start; only shapes matter then
        return super().url

    @property
    def _api(self) -> str:
        return f"{self.url}/api/v2"

    @property
    def _hc(self) -> str:
        return f"{self.url}/hc"

    # -- handling ------------------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        path = parts.path
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            sent = json.loads(raw) if raw else None
        except ValueError:
            sent = None
        request = RecordedRequest(method, path, query, {k.lower(): v for k, v in h.headers.items()}, sent)
        with self._lock:
            self.requests.append(request)
        if self.before_request is not None:
            self.before_request(request)
        if self.credentials is not None and not self._authorized(h.headers.get("Authorization", "")):
            self._send(h, 401, json.dumps(_ERROR_BODIES[401]).encode())
            return
        failure = self._take_failure(path, method)
        if failure is not None:
            self._send(h, failure.status, failure.body, failure.headers)
            return
        if method != "GET":
            status, body = self._write(method, path, sent)
            self._send(h, status, json.dumps(body).encode())
            return
        replayed = self._take_replay(path)
        if replayed is not None:
            self._send(h, 200, json.dumps(replayed).encode())
            return
        status, body = self._route(path, query)
        self._send(h, status, json.dumps(body).encode())

    def _write(self, method: str, path: str, sent: Any) -> tuple[int, Any]:
        """``PUT /api/v2/tickets/{id}.json``: add a comment and tags, answer ticket + audit."""
        m = re.fullmatch(r"/api/v2/tickets/(\d+)\.json", path)
        if method != "PUT" or not m:
            return 404, {"error": "InvalidEndpoint", "description": "Not found"}
        tid = int(m.group(1))
        ticket = sent.get("ticket") if isinstance(sent, dict) else None
        if not isinstance(ticket, dict):
            return 400, {"error": "InvalidValue", "description": "ticket is required"}
        with self._lock:
            if tid not in self.tickets or self.tickets[tid].get("status") == "deleted":
                return 404, _ERROR_BODIES[404]
        events: list[dict[str, Any]] = []
        ts = self.tick()
        new = ticket.get("comment")
        if isinstance(new, dict):
            html_body = new.get("html_body") if isinstance(new.get("html_body"), str) else None
            plain = new.get("body") if isinstance(new.get("body"), str) else re.sub(r"<[^>]+>", " ", html_body or "")
            c = comment(plain.strip(), author_id=self.api_user_id, public=new.get("public", True) is not False)
            if html_body is not None:
                c["html_body"] = html_body
            with self._lock:
                self._store_comment(tid, c, ts)
                stored = self.comments[tid][-1]
            events.append({k: stored[k] for k in ("id", "type", "author_id", "body", "html_body", "plain_body",
                                                   "public", "attachments", "audit_id")})
        with self._lock:
            rec = self.tickets[tid]
            tags = ticket.get("additional_tags")
            if isinstance(tags, list):
                rec["tags"] = list(dict.fromkeys([*rec.get("tags", []), *(t for t in tags if isinstance(t, str))]))
            self._touch(tid, ts)
            audit_id = events[0]["audit_id"] if events else ts
            return 200, {"ticket": dict(rec), "audit": {
                "id": audit_id, "ticket_id": tid, "created_at": self._iso(ts), "author_id": self.api_user_id,
                "metadata": {"system": {}, "custom": {}}, "events": events,
                "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}}}}

    def _authorized(self, header: str) -> bool:
        assert self.credentials is not None
        expected = base64.b64encode(":".join(self.credentials).encode()).decode()
        return header == f"Basic {expected}"

    def _take_failure(self, path: str, method: str = "GET") -> _Failure | None:
        with self._lock:
            for pattern, failure in self._failures:
                if failure.method is not None and failure.method != method:
                    continue
                if failure.times > 0 and fnmatch.fnmatchcase(path, pattern):
                    if failure.after > 0:
                        failure.after -= 1
                        continue
                    failure.times -= 1
                    return failure
        return None

    def _take_replay(self, path: str) -> Any:
        with self._lock:
            for pattern, replay in self._replays:
                if replay.bodies and fnmatch.fnmatchcase(path, pattern):
                    if len(replay.bodies) == 1 and replay.repeat_last:
                        return replay.bodies[0]
                    return replay.bodies.pop(0)
        return None

    def _route(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        if m := re.fullmatch(r"/api/v2/help_center(?:/([a-z]{2}(?:-[a-z0-9]+)?))?/(articles|sections|categories)\.json", path):
            locale, kind = m.group(1) or DEFAULT_LOCALE, m.group(2)
            with self._lock:
                if kind == "articles":
                    records = list(self.articles.get(locale, {}).values())
                else:
                    records = list((self.sections if kind == "sections" else self.categories).get(locale, []))
            return 200, self._cursor_page(path, query, kind, records)
        if path == "/api/v2/incremental/tickets/cursor.json":
            return self._export(query)
        if m := re.fullmatch(r"/api/v2/tickets/(\d+)\.json", path):
            with self._lock:
                rec = self.tickets.get(int(m.group(1)))
                if rec is None or rec.get("status") == "deleted":
                    return 404, _ERROR_BODIES[404]
                return 200, {"ticket": {k: v for k, v in rec.items() if k != "generated_timestamp"}}
        if m := re.fullmatch(r"/api/v2/tickets/(\d+)/comments\.json", path):
            tid = int(m.group(1))
            with self._lock:
                if tid not in self.comments or self.tickets.get(tid, {}).get("status") == "deleted":
                    return 404, _ERROR_BODIES[404]
                records = list(self.comments[tid])
            page = self._cursor_page(path, query, "comments", records)
            if "users" in query.get("include", "").split(","):
                ids = {c.get("author_id") for c in page["comments"] if isinstance(c, dict)}
                page["users"] = [u for uid, u in self.users.items() if uid in ids]
            return 200, page
        return 404, {"error": "InvalidEndpoint", "description": "Not found"}

    def _cursor_page(self, path: str, query: dict[str, str], key: str, records: list[Any]) -> dict[str, Any]:
        """Zendesk's cursor pagination envelope; cursors are opaque base64 of an offset."""
        size = min(int(query.get("page[size]", self.page_size)), self.page_size)
        start = _decode_offset(query["page[after]"]) if "page[after]" in query else 0
        chunk = records[start:start + size]
        end = start + len(chunk)
        has_more = end < len(records)
        after, before = _encode_offset(end), _encode_offset(start)

        def link(**cur: str) -> str:
            q = {k: v for k, v in query.items() if not k.startswith("page[")}
            return f"{self.url}{path}?{urlencode({**q, **cur, 'page[size]': str(size)})}"

        return {
            key: chunk,
            "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": before},
            # Like the real API, "next" is present even on the last page: only has_more tells.
            "links": {"prev": link(**{"page[before]": before}), "next": link(**{"page[after]": after})},
        }

    def _export(self, query: dict[str, str]) -> tuple[int, Any]:
        size = min(int(query.get("per_page", 1000)), self.page_size)
        if "cursor" in query:
            try:
                position = _decode_position(query["cursor"])
            except ValueError:
                return 400, {"error": "InvalidPaginationParameter", "description": "invalid cursor"}
        elif "start_time" in query:
            position = (int(query["start_time"]) - 1, 2**63)
        else:
            return 400, {"error": "InvalidValue", "description": "start_time or cursor is required"}
        with self._lock:
            version = (self._clock, len(self.tickets))
            if self._export_order is None or self._export_order[0] != version:
                ordered = sorted(self.tickets.values(), key=lambda t: (t["generated_timestamp"], _sort_id(t)))
                self._export_order = (version, ordered, [(t["generated_timestamp"], _sort_id(t)) for t in ordered])
            _, stream, keys = self._export_order
        start = bisect.bisect_right(keys, position)  # the first ticket after the position
        chunk = stream[start:start + size]
        end = start + len(chunk) == len(stream)
        if chunk:
            last = chunk[-1]
            position = (last["generated_timestamp"], _sort_id(last))
        cursor = _encode_position(position)
        return 200, {
            "tickets": chunk,
            "after_url": f"{self._api}/incremental/tickets/cursor.json?{urlencode({'cursor': cursor})}",
            "before_url": None,
            "after_cursor": cursor,
            "before_cursor": None,
            "end_of_stream": end,
        }

    def _send(self, h: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json; charset=utf-8")
            h.send_header("Content-Length", str(len(payload)))
            h.send_header("X-Rate-Limit", "700")
            if self.rate_limit_remaining is not None:
                h.send_header("X-Rate-Limit-Remaining", str(self.rate_limit_remaining))
            for name, value in (headers or {}).items():
                h.send_header(name, value)
            h.end_headers()
            h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass


_ERROR_BODIES: dict[int, Any] = {
    401: {"error": "Couldn't authenticate you"},
    403: {"error": "Forbidden", "description": "You do not have access to this page."},
    404: {"error": "RecordNotFound", "description": "Not found"},
    429: {"error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded"},
    500: {"error": "InternalError", "description": "Something went wrong"},
    503: {"error": "ServiceUnavailable", "description": "Service temporarily unavailable"},
}


def _sort_id(ticket: dict[str, Any]) -> int:
    tid = ticket.get("id")
    return tid if isinstance(tid, int) and not isinstance(tid, bool) else -1


def _encode_offset(n: int) -> str:
    return base64.b64encode(f"offset:{n}".encode()).decode()


def _decode_offset(cursor: str) -> int:
    return int(base64.b64decode(cursor).decode().split(":", 1)[1])


def _encode_position(position: tuple[int, int]) -> str:
    # The real cursor is base64 of "<timestamp>.0||<ticket id>|"; same idea here.
    return base64.b64encode(f"{position[0]}.0||{position[1]}|".encode()).decode()


def _decode_position(cursor: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)\.0\|\|(-?\d+)\|", base64.b64decode(cursor).decode())
    if not m:
        raise ValueError(cursor)
    return int(m.group(1)), int(m.group(2))
