"""A real local web site for the website connector's tests: pages, robots.txt, sitemaps, 304s.

    with FakeSite() as site:
        site.page("/help/reset", help_page("Reset your password", "<p>Open the sign-in page ...</p>"))
        site.text("/robots.txt", "User-agent: *\\nDisallow: /private/\\n")
        site.xml("/sitemap.xml", urlset([("{base}/help/reset", "2026-05-01")]))
        ...
        assert site.paths_requested() == ["/robots.txt", "/sitemap.xml", "/help/reset"]

``{base}`` in any body or ``Location`` header is replaced by the server's URL when served (the
port is only known once it runs). Scriptable between requests:

- ``resources``: path -> :class:`Resource` (``page``/``text``/``xml``/``binary``/``redirect``
  add one, ``remove`` deletes one: the path then answers 404, or 410 with ``gone=True``);
- ``etags`` / ``last_modified``: send those validators (and answer conditional requests with 304);
- ``fail(path, status, times=, retry_after=)``: the next ``times`` requests for ``path`` answer
  ``status`` (e.g. 429 with ``Retry-After``, 500, 403) before the real resource is served again;
- ``delay_s``: seconds every request waits before it is answered (a slow site: a sync that takes a while).

Every request is recorded (method, path, query, lower-cased headers, the status answered).
A path without a resource answers 404 with an HTML error page.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.local_server import LocalHTTPServer

#: The Last-Modified of every resource unless it says otherwise.
DEFAULT_LAST_MODIFIED = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
NAV_MARKER = "NAVIGATION-BOILERPLATE-7Q"
HEADER_MARKER = "HEADER-BOILERPLATE-3K"
FOOTER_MARKER = "FOOTER-BOILERPLATE-9Z"
ASIDE_MARKER = "ASIDE-BOILERPLATE-5M"
SCRIPT_MARKER = "SCRIPT-BOILERPLATE-2W"
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


@dataclass
class Resource:
    body: bytes | str
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    #: None: DEFAULT_LAST_MODIFIED when the site sends Last-Modified; set it to change the date.
    last_modified: datetime | None = None
    #: False: this resource never sends Last-Modified (whatever the site does).
    send_last_modified: bool = True


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names
    status: int  # what the fake answered


@dataclass
class _Failure:
    status: int
    headers: dict[str, str]


class FakeSite(LocalHTTPServer):
    http_methods = ("GET", "HEAD")
    thread_name = "fake-site"

    def __init__(self, *, etags: bool = True, last_modified: bool = True) -> None:
        self.etags = etags
        self.last_modified = last_modified
        self.delay_s = 0.0
        self.resources: dict[str, Resource] = {}
        self.gone: set[str] = set()
        self.requests: list[RecordedRequest] = []
        self._failures: dict[str, deque[_Failure]] = {}
        self._lock = threading.Lock()

    # -- scripting ----------------------------------------------------------------------------

    def page(self, path: str, html: str, **kwargs: Any) -> Resource:
        return self._set(path, Resource(body=html, **kwargs))

    def text(self, path: str, body: str, **kwargs: Any) -> Resource:
        return self._set(path, Resource(body=body, content_type="text/plain; charset=utf-8", **kwargs))

    def xml(self, path: str, body: str | bytes, **kwargs: Any) -> Resource:
        return self._set(path, Resource(body=body, content_type="application/xml", **kwargs))

    def binary(self, path: str, body: bytes, content_type: str) -> Resource:
        return self._set(path, Resource(body=body, content_type=content_type))

    def redirect(self, path: str, location: str, status: int = 301) -> Resource:
        return self._set(path, Resource(body=b"", status=status, headers={"Location": location}))

    def remove(self, path: str, *, gone: bool = False) -> None:
        with self._lock:
            self.resources.pop(path, None)
            if gone:
                self.gone.add(path)

    def fail(self, path: str, status: int, *, times: int = 1, retry_after: str | None = None,
             headers: dict[str, str] | None = None) -> None:
        h = dict(headers or {})
        if retry_after is not None:
            h["Retry-After"] = retry_after
        with self._lock:
            self._failures.setdefault(path, deque()).extend(_Failure(status, h) for _ in range(times))

    def _set(self, path: str, resource: Resource) -> Resource:
        with self._lock:
            self.resources[path] = resource
            self.gone.discard(path)
        return resource

    # -- what happened ------------------------------------------------------------------------

    def paths_requested(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def requests_for(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- handling -----------------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        head = method == "HEAD"
        parts = urlsplit(h.path)
        path = parts.path
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self._lock:
            queue = self._failures.get(path)
            failure = queue.popleft() if queue else None
            resource = self.resources.get(path)
            gone = path in self.gone
        if failure is not None:
            status, out_headers, body, ctype = failure.status, failure.headers, f"<h1>HTTP {failure.status}</h1>".encode(), "text/html"
        elif resource is None:
            status = 410 if gone else 404
            out_headers, body, ctype = {}, b"<html><body><h1>Page not found</h1></body></html>", "text/html; charset=utf-8"
        else:
            status, out_headers, body, ctype = self._serve(resource, headers)
        with self._lock:
            self.requests.append(RecordedRequest(method="HEAD" if head else "GET", path=path, query=parts.query,
                                                 headers=headers, status=status))
        try:
            h.send_response(status)
            for name, value in out_headers.items():
                h.send_header(name, value)
            if status != 304:
                h.send_header("Content-Type", ctype)
                h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            if not head and status != 304:
                h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _serve(self, resource: Resource, request_headers: dict[str, str]) -> tuple[int, dict[str, str], bytes, str]:
        raw = resource.body if isinstance(resource.body, bytes) else resource.body.encode("utf-8")
        body = raw.replace(b"{base}", self.url.encode())
        headers = {k: v.replace("{base}", self.url) for k, v in resource.headers.items()}
        if resource.status != 200:
            return resource.status, headers, body, resource.content_type
        etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"' if self.etags else None
        modified = (resource.last_modified or DEFAULT_LAST_MODIFIED) if (
            self.last_modified and resource.send_last_modified) else None
        if etag:
            headers["ETag"] = etag
        if modified:
            headers["Last-Modified"] = format_datetime(modified, usegmt=True)
        if_none_match = request_headers.get("if-none-match")
        if_modified_since = request_headers.get("if-modified-since")
        if if_none_match is not None:
            if etag and (if_none_match.strip() == "*" or etag in [t.strip() for t in if_none_match.split(",")]):
                return 304, headers, b"", resource.content_type
        elif if_modified_since and modified:
            try:
                since = parsedate_to_datetime(if_modified_since)
            except (TypeError, ValueError):
                since = None
            if since is not None and modified <= since:
                return 304, headers, b"", resource.content_type
        return 200, headers, body, resource.content_type


# -- content builders ---------------------------------------------------------------------------


def help_page(title: str, main_html: str, *, head_extra: str = "", nav_links: tuple[str, ...] = ("/", "/help/")) -> str:
    """A help-center page: site header, navigation, aside, footer and script around ``<main>``."""
    nav = "".join(f'<li><a href="{href}">{NAV_MARKER} {i}</a></li>' for i, href in enumerate(nav_links))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title} | Acme Help Center</title>{head_extra}"
        "<style>body { font-family: sans-serif; }</style></head><body>"
        f"<header><a href='/'>Acme</a> <span>{HEADER_MARKER}: Sign in · Contact sales</span>"
        f"<nav><ul>{nav}</ul></nav></header>"
        f"<aside><h3>Popular</h3><ul><li><a href='/help/'>{ASIDE_MARKER} popular articles</a></li></ul></aside>"
        f"<main><article><h1>{title}</h1>{main_html}</article></main>"
        f"<footer><p>{FOOTER_MARKER} © 2026 Acme Inc. All rights reserved.</p>"
        "<a href='/privacy'>Privacy</a> <a href='/terms'>Terms</a></footer>"
        f"<script>window.analytics = '{SCRIPT_MARKER}';</script>"
        "</body></html>"
    )


def urlset(entries: list[tuple[str, str | None]]) -> str:
    """A sitemap: ``(loc, lastmod or None)`` per page."""
    items = "".join(
        f"<url><loc>{loc}</loc>{f'<lastmod>{lastmod}</lastmod>' if lastmod else ''}</url>" for loc, lastmod in entries
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="{SITEMAP_NS}">{items}</urlset>'


def sitemap_index(locs: list[str]) -> str:
    """A sitemap index pointing at other sitemaps."""
    items = "".join(f"<sitemap><loc>{loc}</loc><lastmod>2026-05-01</lastmod></sitemap>" for loc in locs)
    return f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="{SITEMAP_NS}">{items}</sitemapindex>'
