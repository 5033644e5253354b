"""A public website as a source: sitemap and same-host crawl, robots.txt, main text only.

Discovery, per crawl:

* ``robots.txt`` of every host we crawl is read first (stdlib :mod:`urllib.robotparser`, fetched
  through our own client): ``Disallow`` rules for our user agent are obeyed and ``Crawl-delay``
  spaces our requests to that host (with ``request_delay_s``, whichever is longer). A robots.txt
  that answers 404 (or another 4xx) allows everything; 401/403 raises :class:`AuthError` (the
  site blocks us: nothing is crawled and nothing gets deleted); 5xx after retries raises
  :class:`TransientError`. Python's parser matches rules by prefix, first match wins, without
  ``*``/``$`` wildcards.
* ``sitemap_url`` (a ``<urlset>`` or a ``<sitemapindex>`` pointing at more sitemaps, gzipped or
  not) gives pages and their ``<lastmod>``; any sitemap that cannot be fetched or parsed raises
  :class:`TransientError`, since a partial listing would prune pages that still exist.
* A breadth-first crawl from ``start_urls``, then the sitemap's pages, follows ``<a href>`` links.
  URLs are normalised (fragment stripped, relative links resolved against the page or its
  ``<base>``, scheme and host lower-cased, default port dropped, query string dropped unless
  ``keep_query_strings``). Only the hosts of ``start_urls`` and ``sitemap_url`` are ever
  requested; redirects are not followed blindly but treated as links, so a redirect off-host is
  never fetched either. Links to obvious non-HTML files (``.pdf``, images, archives ...) are not
  requested; any other response that is not ``text/html`` is not indexed.
* At most ``max_pages`` page URLs are requested per crawl (robots.txt and sitemaps not counted).

A page becomes a :class:`Document` (kind PAGE) with its main text as Markdown, extracted by
trafilatura (boilerplate, navigation, headers, footers, asides and scripts dropped); when
trafilatura finds nothing, BeautifulSoup keeps ``<main>``/``<article>`` without nav, header, footer,
aside, script and style, and markdownify converts it. The title is the ``<h1>`` of the main
content, else ``<title>``. A page whose ``<link rel=canonical>`` names another URL on the same host
is not indexed itself; its canonical URL is crawled instead, so one page is one document.
``<meta name=robots content=noindex|nofollow>`` and ``X-Robots-Tag: noindex`` are obeyed.

The document id is ``{name}:page:{sha1(normalised url)[:16]}``: stable for a URL.

Incremental sync: the checkpoint's ``extra["pages"]`` maps each indexed URL to its ``etag`` and
``last_modified`` validators (at most ``max_pages`` entries). The next sync sends
``If-None-Match`` / ``If-Modified-Since``; a 304 yields nothing (the page still exists). Pages known
from the checkpoint are requested again even when the page that linked them answered 304 (its
links are unchanged, so they are the same). A known page that now answers 404/410 (or another 4xx
but 429, or redirects, or is no longer an indexable HTML page) yields :class:`Deleted`; a page no
longer linked from anywhere is left to pruning. ``list_ids`` runs a fresh, unconditional crawl
(every page's body is needed for its links), so it costs one more full crawl per sync.

Requests: every request carries our ``User-Agent`` header per request, so a client passed in by
the caller (tests) is used as-is, with no auth; redirects are never followed by the client.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import urllib.robotparser
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Unpack
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import structlog
import trafilatura
from bs4 import BeautifulSoup, Tag, UnicodeDammit
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from trafilatura.settings import use_config

from bot.models import Deleted, Document, DocumentKind, Visibility
from connectors.base import (
    AuthError,
    Checkpoint,
    Connector,
    ConnectorParts,
    Skipped,
    SyncEvents,
    TransientError,
)
from connectors.http import VendorHttp
from connectors.markdown import html_to_markdown

log = structlog.get_logger(__name__)

DEFAULT_USER_AGENT = "helpdesk-bot/0.1 (+https://github.com/helpdesk-bot)"
REQUEST_TIMEOUT_S = 30.0
#: A help page larger than this is not a help page; it is skipped (our own limit).
MAX_PAGE_BYTES = 5 * 1024 * 1024
#: Google reads the first 500 KiB of a robots.txt (RFC 9309 §2.5 asks for at least that much).
MAX_ROBOTS_BYTES = 500 * 1024
#: sitemaps.org protocol: a sitemap holds at most 50,000 URLs and 50 MB (52,428,800 bytes) uncompressed.
MAX_SITEMAP_URLS = 50_000
MAX_SITEMAP_BYTES = 52_428_800
#: Sitemaps read per crawl, index files included (our own limit against sitemap loops and sprawl).
MAX_SITEMAPS = 100
#: Redirects followed for robots.txt (RFC 9309 §2.3.1.2: at least five).
MAX_ROBOTS_REDIRECTS = 5
#: The longest Crawl-delay we honour between two requests to a host (our own cap), in seconds.
MAX_CRAWL_DELAY_S = 60.0
HTML_CONTENT_TYPES = ("text/html", "application/xhtml+xml")
GONE_STATUSES = frozenset({404, 410})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
#: Links to these are never requested: they are not HTML pages.
NON_HTML_SUFFIXES = frozenset({
    ".pdf", ".zip", ".gz", ".tgz", ".tar", ".7z", ".rar", ".dmg", ".exe", ".msi", ".apk",
    ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".ico", ".bmp", ".tif", ".tiff", ".avif",
    ".mp3", ".mp4", ".m4a", ".wav", ".ogg", ".webm", ".mov", ".avi",
    ".css", ".js", ".mjs", ".json", ".xml", ".rss", ".atom", ".txt", ".csv",
    ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".ods", ".epub",
    ".woff", ".woff2", ".ttf", ".otf", ".eot",
})

_TRAFILATURA_CONFIG = use_config()
# trafilatura's timeout uses SIGALRM, which only works in the main thread; schedulers run us elsewhere.
_TRAFILATURA_CONFIG.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")


class WebSettings(BaseModel):
    """A website crawled from start URLs and/or a sitemap."""

    model_config = ConfigDict(frozen=True)

    type: Literal["web"] = "web"
    #: The source name: ``Document.source`` and the id prefix.
    name: str = Field(min_length=1)
    #: Pages the crawl starts from (absolute http(s) URLs); their hosts are the only ones crawled.
    start_urls: list[str] = Field(default_factory=list)
    #: A sitemap or sitemap index (absolute URL); its host is crawled too.
    sitemap_url: str | None = None
    #: Who may see this site's pages.
    audience: Visibility = Visibility.PUBLIC
    #: The most page URLs requested per crawl (robots.txt and sitemaps not counted).
    max_pages: int = Field(default=500, ge=1)
    #: True: only the exact hosts of start_urls/sitemap_url. False: their subdomains too
    #: (``docs.example.com`` for ``example.com`` or ``www.example.com``); never any other host.
    same_host_only: bool = True
    #: Regexes searched in the URL path; when given, only matching pages are fetched and indexed
    #: (start URLs are still fetched for their links).
    include_patterns: list[str] = Field(default_factory=list)
    #: Regexes searched in the URL path; matching pages are neither fetched nor indexed.
    exclude_patterns: list[str] = Field(default_factory=list)
    #: Keep query strings in URLs (by default ``/a?x=1`` and ``/a`` are the same page).
    keep_query_strings: bool = False
    #: Sent with every request and matched against robots.txt groups.
    user_agent: str = DEFAULT_USER_AGENT
    #: Seconds between two requests to one host (robots.txt's Crawl-delay wins when longer).
    request_delay_s: float = Field(default=0.0, ge=0.0)

    @field_validator("start_urls")
    @classmethod
    def _absolute_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            _require_http_url(url)
        return value

    @field_validator("sitemap_url")
    @classmethod
    def _absolute_sitemap(cls, value: str | None) -> str | None:
        if value is not None:
            _require_http_url(value)
        return value

    @field_validator("include_patterns", "exclude_patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _something_to_crawl(self) -> WebSettings:
        if not self.start_urls and not self.sitemap_url:
            raise ValueError("give start_urls, a sitemap_url, or both")
        return self


def _require_http_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"{url!r} is not an absolute http(s) URL")


def normalise_url(url: str, *, keep_query: bool = False) -> str | None:
    """The canonical form of an absolute http(s) URL, or None when it is not one.

    Lower-cases scheme and host, drops user info, default ports and the fragment, turns an empty
    path into ``/`` and drops the query string unless ``keep_query``.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None or port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query if keep_query else "", ""))


def _non_html(url: str) -> bool:
    return os.path.splitext(urlsplit(url).path)[1].lower() in NON_HTML_SUFFIXES


def _netloc(url: str) -> str:
    return urlsplit(url).netloc


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _bare_host(netloc: str) -> str:
    host = netloc.rsplit(":", 1)[0] if not netloc.endswith("]") else netloc
    return host[4:] if host.startswith("www.") else host


def _for_log(url: str) -> str:
    # Never log query strings: they can carry tokens.
    return url.split("?", 1)[0]


class _ClientErrorStatus(Exception):
    """A 4xx other than 429: the crawler decides what it means (gone, blocked, skipped)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class _ClientErrorsToCrawler:
    """The client VendorHttp sees: 4xx answers (but 429) are raised to the crawler untouched.

    VendorHttp turns every 4xx into AuthError or TransientError; for a website a 404 is news (a
    deleted page), not a failure, so those answers skip VendorHttp's translation. 429, 5xx and
    network errors still get its retries and Retry-After handling.
    """

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self._client.request(method, url, **kwargs)
        if 400 <= response.status_code < 500 and response.status_code != 429:
            raise _ClientErrorStatus(response)
        return response


@dataclass
class _Visit:
    """What one page request came to."""

    url: str
    #: indexed: an HTML page with main text (document set in sync mode); unchanged: 304;
    #: dropped: answered, but not a page to index (gone, redirect, not HTML, alias, noindex ...).
    outcome: Literal["indexed", "unchanged", "dropped"]
    document: Document | None = None
    validators: dict[str, str] = field(default_factory=dict)
    #: Why a dropped page is reported as skipped (an odd answer, too large); None: dropped quietly.
    skipped: str | None = None


class WebConnector(Connector):
    """Crawls one website (see the module docstring).

    Args:
        settings: the source's settings.
        **parts: the connector parts: ``client``, an ``httpx.Client`` used as-is (no base URL
            needed: every URL is absolute; by default one with a 30 s timeout and our User-Agent;
            redirects are never followed by it); ``sleep`` for retries, Retry-After and crawl
            delays. ``environ`` is unused: a public website needs no credentials.
    """

    settings: WebSettings

    def __init__(self, settings: WebSettings, **parts: Unpack[ConnectorParts]) -> None:
        super().__init__(settings)
        self._live_ids: list[str] | None = None
        self.http = VendorHttp.from_parts(
            parts, vendor="Website", wrap=_ClientErrorsToCrawler,
            build=lambda: httpx.Client(timeout=REQUEST_TIMEOUT_S, follow_redirects=False,
                                       headers={"User-Agent": settings.user_agent}),
        )

    def close(self) -> None:
        """Close the HTTP client if this connector made it."""
        self.http.close()

    def doc_id(self, url: str) -> str:
        """The document id of a normalised URL."""
        return f"{self.name}:page:{hashlib.sha1(url.encode('utf-8')).hexdigest()[:16]}"

    def prune_scope(self) -> tuple[str, ...]:
        return (f"{self.name}:page:",)

    def sync(self, checkpoint: Checkpoint | None) -> SyncEvents:
        started = datetime.now(UTC)
        self._live_ids = None
        known = _known_pages(checkpoint)
        crawl = _Crawl(self, known=known, build_documents=True)
        pages: dict[str, dict[str, str]] = {}
        counts = {"indexed": 0, "unchanged": 0, "dropped": 0, "deleted": 0, "skipped": 0}
        for visit in crawl.run():
            counts[visit.outcome] += 1
            if visit.skipped is not None:
                counts["skipped"] += 1
                yield Skipped(source=self.name, reason=visit.skipped)
            if visit.outcome == "indexed" and visit.document is not None:
                pages[visit.url] = visit.validators
                yield visit.document
            elif visit.outcome == "unchanged":
                pages[visit.url] = visit.validators
            elif visit.url in known:
                counts["deleted"] += 1
                yield Deleted(id=self.doc_id(visit.url), source=self.name)
        log.info("web_sync_finished", source=self.name, requests=crawl.fetched, truncated=crawl.truncated, **counts)
        # A complete crawl just saw every live page: list_ids() can answer from it instead of
        # crawling the whole site a second time.
        self._live_ids = None if crawl.truncated else list(dict.fromkeys(self.doc_id(u) for u in pages))
        capped = dict(list(pages.items())[: self.settings.max_pages])
        return Checkpoint(updated_since=started, extra={"pages": capped})

    def list_ids(self) -> list[str]:
        """Ids of every page a fresh, unconditional crawl finds now (raises if it cannot finish).

        Main text is not extracted here, so a page without any is listed though never indexed:
        harmless, since only indexed ids absent from this list are pruned.
        """
        if self._live_ids is not None:
            return list(self._live_ids)
        crawl = _Crawl(self, known={}, build_documents=False)
        ids = [self.doc_id(v.url) for v in crawl.run() if v.outcome == "indexed"]
        return list(dict.fromkeys(ids))


def _known_pages(checkpoint: Checkpoint | None) -> dict[str, dict[str, str]]:
    """The checkpoint's per-URL validators; anything malformed counts as unknown."""
    pages = (checkpoint.extra.get("pages") if checkpoint is not None else None) or {}
    if not isinstance(pages, dict):
        return {}
    out: dict[str, dict[str, str]] = {}
    for url, validators in pages.items():
        if isinstance(url, str) and isinstance(validators, dict):
            out[url] = {k: v for k, v in validators.items() if k in ("etag", "last_modified") and isinstance(v, str)}
    return out


class _Crawl:
    """One breadth-first crawl; robots.txt and sitemaps are read afresh for each."""

    def __init__(self, connector: WebConnector, *, known: dict[str, dict[str, str]], build_documents: bool) -> None:
        self.c = connector
        self.s = connector.settings
        self.known = known
        self.build_documents = build_documents
        self.keep_query = self.s.keep_query_strings
        self.start_urls = [u for u in (normalise_url(x, keep_query=self.keep_query) for x in self.s.start_urls) if u]
        sitemap = normalise_url(self.s.sitemap_url, keep_query=True) if self.s.sitemap_url else None
        self.sitemap_url = sitemap
        self.hosts = {_netloc(u) for u in [*self.start_urls, *([sitemap] if sitemap else [])]}
        self.include = [re.compile(p) for p in self.s.include_patterns]
        self.exclude = [re.compile(p) for p in self.s.exclude_patterns]
        self.robots: dict[str, urllib.robotparser.RobotFileParser] = {}
        self.lastmod: dict[str, datetime | None] = {}
        self.frontier: deque[str] = deque()
        self.seen: set[str] = set()
        #: URLs crawled because another page named them canonical: indexed whatever their own tag says.
        self.canonical_targets: set[str] = set()
        #: URLs not indexed because their canonical URL is; a page naming one of them canonical is indexed.
        self.aliases: set[str] = set()
        self.contacted: set[str] = set()
        self.fetched = 0
        self.truncated = False

    # -- the crawl -----------------------------------------------------------------------------

    def run(self) -> Iterator[_Visit]:
        for url in [*self.start_urls, *([self.sitemap_url] if self.sitemap_url else [])]:
            self._robots_for(url)
        if self.sitemap_url:
            self._read_sitemaps(self.sitemap_url)
        for url in self.start_urls:
            self._enqueue(url, forced=True)
        for url in self.lastmod:
            self._enqueue(url)
        # Pages found last time, in case the pages linking them answer 304 (and so show no links).
        leftovers = list(self.known)
        while True:
            if not self.frontier:
                if not leftovers:
                    break
                for url in leftovers:
                    self._enqueue(url)
                leftovers = []
                continue
            url = self.frontier.popleft()
            if not self._robots_for(url).can_fetch(self.s.user_agent, url):
                log.debug("web_robots_disallowed", source=self.c.name, url=_for_log(url))
                continue
            if self.fetched >= self.s.max_pages:
                self.truncated = True
                log.warning("web_max_pages_reached", source=self.c.name, max_pages=self.s.max_pages)
                break
            self.fetched += 1
            yield self._visit(url)

    def _allowed_host(self, netloc: str) -> bool:
        if netloc in self.hosts:
            return True
        if self.s.same_host_only:
            return False
        host = netloc.rsplit(":", 1)[0] if not netloc.endswith("]") else netloc
        return any(host.endswith("." + _bare_host(h)) or host == _bare_host(h) for h in self.hosts)

    def _path_wanted(self, url: str) -> bool:
        path = urlsplit(url).path
        if any(p.search(path) for p in self.exclude):
            return False
        return not self.include or any(p.search(path) for p in self.include)

    def _enqueue(self, url: str, *, forced: bool = False) -> None:
        """Queue a normalised URL once, if it is on our hosts, looks like HTML and is wanted."""
        if url in self.seen or not self._allowed_host(_netloc(url)) or _non_html(url):
            return
        if not forced and not self._path_wanted(url):
            return
        self.seen.add(url)
        self.frontier.append(url)

    def _crawlable(self, url: str) -> bool:
        """Whether the crawl may fetch and index this URL (host, file type, patterns, robots.txt)."""
        return (self._allowed_host(_netloc(url)) and not _non_html(url) and self._path_wanted(url)
                and self._robots_for(url).can_fetch(self.s.user_agent, url))

    # -- requests ------------------------------------------------------------------------------

    def _get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        """GET through VendorHttp, spacing requests to one host by the crawl delay."""
        host = _netloc(url)
        delay = self.s.request_delay_s
        robots = self.robots.get(host)
        if robots is not None:
            crawl_delay = robots.crawl_delay(self.s.user_agent)
            if crawl_delay:
                delay = max(delay, min(float(crawl_delay), MAX_CRAWL_DELAY_S))
        if delay > 0 and host in self.contacted:
            self.c.http.sleep(delay)
        self.contacted.add(host)
        return self.c.http.request(
            "GET", url, headers={"User-Agent": self.s.user_agent, **(headers or {})}, follow_redirects=False
        )

    def _robots_for(self, page_url: str) -> urllib.robotparser.RobotFileParser:
        """The robots.txt rules of a URL's host, fetched on first use in this crawl."""
        netloc = _netloc(page_url)
        cached = self.robots.get(netloc)
        if cached is not None:
            return cached
        parser = urllib.robotparser.RobotFileParser()
        url = f"{_origin(page_url)}/robots.txt"
        lines: list[str] | None = None
        for _ in range(MAX_ROBOTS_REDIRECTS + 1):
            try:
                response = self._get(url)
            except _ClientErrorStatus as exc:
                status = exc.response.status_code
                if status in (401, 403):
                    raise AuthError(f"{netloc} refused robots.txt (HTTP {status}): the site blocks crawlers "
                                    "or needs access; nothing was crawled") from exc
                break  # 404 and other 4xx: no rules
            if response.status_code in REDIRECT_STATUSES and response.headers.get("location"):
                target = normalise_url(urljoin(url, response.headers["location"]), keep_query=True)
                if target is None or not self._allowed_host(_netloc(target)):
                    break
                url = target
                continue
            if 200 <= response.status_code < 300:
                lines = response.content[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace").splitlines()
            break
        if lines is None:
            parser.allow_all = True
        else:
            parser.parse(lines)
        self.robots[netloc] = parser
        return parser

    # -- sitemaps ------------------------------------------------------------------------------

    def _read_sitemaps(self, first: str) -> None:
        queue: deque[str] = deque([first])
        done: set[str] = set()
        while queue:
            url = queue.popleft()
            if url in done:
                continue
            if len(done) >= MAX_SITEMAPS:
                log.warning("web_too_many_sitemaps", source=self.c.name, limit=MAX_SITEMAPS)
                break
            done.add(url)
            root = self._fetch_sitemap(url)
            kind = _local(root.tag)
            if kind == "sitemapindex":
                for loc in _locs(root, "sitemap"):
                    target = normalise_url(urljoin(url, loc), keep_query=True)
                    if target and self._allowed_host(_netloc(target)):
                        queue.append(target)
            elif kind == "urlset":
                count = 0
                for entry in root:
                    if _local(entry.tag) != "url":
                        continue
                    loc, lastmod = _child_text(entry, "loc"), _child_text(entry, "lastmod")
                    page = normalise_url(urljoin(url, loc), keep_query=self.keep_query) if loc else None
                    if page is None:
                        continue
                    count += 1
                    if count > MAX_SITEMAP_URLS:
                        break
                    self.lastmod.setdefault(page, _w3c_datetime(lastmod))
            else:
                raise TransientError(f"sitemap {_for_log(url)} is neither a <urlset> nor a <sitemapindex>")

    def _fetch_sitemap(self, url: str) -> ET.Element:
        try:
            response = self._get(url)
        except _ClientErrorStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise AuthError(f"sitemap {_for_log(url)} refused (HTTP {status})") from exc
            raise TransientError(f"sitemap {_for_log(url)} answered HTTP {status}; the crawl cannot be complete") from exc
        if response.status_code != 200:
            raise TransientError(f"sitemap {_for_log(url)} answered HTTP {response.status_code}")
        body = response.content
        if body[:2] == b"\x1f\x8b":  # a .xml.gz served as a file, not as Content-Encoding
            try:
                body = gzip.GzipFile(fileobj=io.BytesIO(body)).read(MAX_SITEMAP_BYTES + 1)
            except (OSError, EOFError) as exc:
                raise TransientError(f"sitemap {_for_log(url)} is not valid gzip") from exc
        if len(body) > MAX_SITEMAP_BYTES:
            raise TransientError(f"sitemap {_for_log(url)} is larger than {MAX_SITEMAP_BYTES} bytes")
        try:
            return ET.fromstring(body)
        except ET.ParseError as exc:
            raise TransientError(f"sitemap {_for_log(url)} is not valid XML ({exc})") from exc

    # -- one page ------------------------------------------------------------------------------

    def _visit(self, url: str) -> _Visit:
        known = self.known.get(url)
        headers: dict[str, str] = {}
        if known is not None:
            if known.get("etag"):
                headers["If-None-Match"] = known["etag"]
            if known.get("last_modified"):
                headers["If-Modified-Since"] = known["last_modified"]
        try:
            response = self._get(url, headers)
        except _ClientErrorStatus as exc:
            status = exc.response.status_code
            if status in (401, 403) and url in self.start_urls:
                raise AuthError(f"{_for_log(url)} answered HTTP {status}: the site refuses our crawler") from exc
            return _Visit(url, "dropped", skipped=None if status in GONE_STATUSES else self._skip(url, f"HTTP {status}"))
        status = response.status_code
        if status == 304:
            if known is None:  # a 304 we did not ask for: nothing to keep
                return _Visit(url, "dropped", skipped=self._skip(url, "HTTP 304 to an unconditional request"))
            return _Visit(url, "unchanged", validators=_validators(response, known))
        if status in REDIRECT_STATUSES:
            location = response.headers.get("location")
            target = normalise_url(urljoin(url, location), keep_query=self.keep_query) if location else None
            if target:
                self._enqueue(target)
            return _Visit(url, "dropped")
        if status != 200:
            return _Visit(url, "dropped")
        content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type not in HTML_CONTENT_TYPES:
            log.debug("web_not_html", source=self.c.name, url=_for_log(url), content_type=content_type)
            return _Visit(url, "dropped")
        if len(response.content) > MAX_PAGE_BYTES:
            return _Visit(url, "dropped", skipped=self._skip(url, f"larger than {MAX_PAGE_BYTES} bytes"))
        html = _decode(response)
        soup = BeautifulSoup(html, "lxml")
        robots_meta = _robots_directives(soup, response)
        if "nofollow" not in robots_meta:
            for link in _links(soup, url, keep_query=self.keep_query):
                self._enqueue(link)
        if "noindex" in robots_meta:
            return _Visit(url, "dropped")
        canonical = _canonical(soup, url, keep_query=self.keep_query)
        if (canonical and canonical != url and url not in self.canonical_targets and canonical not in self.aliases
                and self._crawlable(canonical)):
            # Index the page under its canonical URL only: crawled already, queued, or queued now.
            if canonical not in self.seen:
                self.canonical_targets.add(canonical)
                self._enqueue(canonical, forced=True)
            self.aliases.add(url)
            return _Visit(url, "dropped")
        if not self._path_wanted(url):  # a start URL outside include/exclude: crawled for its links only
            return _Visit(url, "dropped")
        if not self.build_documents:
            return _Visit(url, "indexed")
        document = self._document(url, html, soup, response)
        if document is None:
            log.debug("web_no_main_text", source=self.c.name, url=_for_log(url))
            return _Visit(url, "dropped")
        return _Visit(url, "indexed", document=document, validators=_validators(response, {}))

    def _document(self, url: str, html: str, soup: BeautifulSoup, response: httpx.Response) -> Document | None:
        text = extract_main_text(html, url=url)
        if not text:
            return None
        updated = _http_datetime(response.headers.get("last-modified")) or self.lastmod.get(url)
        return Document(
            id=self.c.doc_id(url),
            source=self.c.name,
            kind=DocumentKind.PAGE,
            audience=self.s.audience,
            title=_title(soup) or urlsplit(url).path,
            url=url,
            text=text,
            updated_at=updated,
        )

    def _skip(self, url: str, reason: str) -> str:
        """Log a page left out; returns the reason reported for it."""
        log.warning("web_page_skipped", source=self.c.name, url=_for_log(url), reason=reason)
        return f"{_for_log(url)}: {reason}"


# -- HTML ----------------------------------------------------------------------------------------


def extract_main_text(html: str, *, url: str | None = None) -> str:
    """The main content of an HTML page as Markdown ("" when there is none).

    Page landmarks that are never content go first (scripts, styles, forms, ``<nav>``, ``<aside>``,
    a ``<header>``/``<footer>`` outside ``<main>``/``<article>``, and their ARIA roles): on a short
    page trafilatura alone falls back to keeping the whole body, site header included. trafilatura
    then picks the main text and writes Markdown; when it finds nothing, markdownify converts
    ``<main>`` or ``<article>`` (else the body) of the cleaned page.
    """
    soup = BeautifulSoup(html, "lxml")
    _strip_landmarks(soup)
    cleaned = str(soup)
    text = trafilatura.extract(
        cleaned,
        url=url,
        output_format="markdown",
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        include_formatting=True,
        favor_recall=True,
        deduplicate=False,
        config=_TRAFILATURA_CONFIG,
    )
    if not text or not text.strip():
        main = soup.find("main") or soup.find("article") or soup.body or soup
        text = html_to_markdown(str(main), links=False)
    return _tidy_markdown(text)


_NEVER_CONTENT = ["script", "style", "noscript", "template", "iframe", "svg", "form", "nav", "aside"]
_NEVER_CONTENT_ROLES = re.compile(r"^(navigation|banner|contentinfo|complementary|search)$", re.I)


def _strip_landmarks(soup: BeautifulSoup) -> None:
    for tag in soup(_NEVER_CONTENT):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": _NEVER_CONTENT_ROLES}):
        if isinstance(tag, Tag) and not tag.decomposed:
            tag.decompose()
    for tag in soup(["header", "footer"]):
        if not tag.decomposed and tag.find_parent(["main", "article"]) is None:
            tag.decompose()


def _tidy_markdown(text: str) -> str:
    """Trailing spaces off, at most one blank line in a row, a blank line before each table."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.rstrip()
        if line.startswith("|") and out and out[-1] and not out[-1].startswith("|"):
            out.append("")
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def _decode(response: httpx.Response) -> str:
    """The page as text: the header's charset, else the document's own <meta charset>, else sniffed."""
    if response.charset_encoding:
        try:
            return response.content.decode(response.charset_encoding, errors="replace")
        except LookupError:
            pass
    dammit = UnicodeDammit(response.content, is_html=True)
    return dammit.unicode_markup or response.content.decode("utf-8", errors="replace")


def _links(soup: BeautifulSoup, page_url: str, *, keep_query: bool) -> Iterator[str]:
    base = page_url
    base_tag = soup.find("base", href=True)
    if isinstance(base_tag, Tag):
        base = urljoin(page_url, str(base_tag["href"]))
    for a in soup.find_all("a", href=True):
        href = str(a["href"]).strip()
        if not href or href.startswith(("#", "mailto:", "tel:", "javascript:", "data:")):
            continue
        try:
            absolute = urljoin(base, href)
        except ValueError:
            continue
        url = normalise_url(absolute, keep_query=keep_query)
        if url:
            yield url


def _canonical(soup: BeautifulSoup, page_url: str, *, keep_query: bool) -> str | None:
    for link in soup.find_all("link", href=True):
        rel = link.get("rel") or []
        rels = [rel] if isinstance(rel, str) else list(rel)
        if any(str(r).lower() == "canonical" for r in rels):
            try:
                return normalise_url(urljoin(page_url, str(link["href"])), keep_query=keep_query)
            except ValueError:
                return None
    return None


def _robots_directives(soup: BeautifulSoup, response: httpx.Response) -> set[str]:
    directives = {d.strip().lower() for d in response.headers.get("x-robots-tag", "").split(",") if d.strip()}
    for meta in soup.find_all("meta", attrs={"name": True, "content": True}):
        if str(meta["name"]).strip().lower() == "robots":
            directives |= {d.strip().lower() for d in str(meta["content"]).split(",")}
    if "none" in directives:
        directives |= {"noindex", "nofollow"}
    return directives


def _title(soup: BeautifulSoup) -> str | None:
    main = soup.find("main") or soup.find("article")
    candidates = [
        main.find("h1") if isinstance(main, Tag) else None,
        soup.title,
        soup.find("h1"),
    ]
    for tag in candidates:
        if isinstance(tag, Tag):
            text = " ".join(tag.get_text(" ", strip=True).split())
            if text:
                return text
    return None


# -- small parsers -------------------------------------------------------------------------------


def _validators(response: httpx.Response, previous: dict[str, str]) -> dict[str, str]:
    """ETag and Last-Modified to send next time (a 304 may carry fresh ones)."""
    out = dict(previous)
    if etag := response.headers.get("etag"):
        out["etag"] = etag
    if last_modified := response.headers.get("last-modified"):
        out["last_modified"] = last_modified
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(element: ET.Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name and child.text and child.text.strip():
            return child.text.strip()
    return None


def _locs(root: ET.Element, entry_name: str) -> Iterator[str]:
    for entry in root:
        if _local(entry.tag) == entry_name and (loc := _child_text(entry, "loc")):
            yield loc


def _w3c_datetime(value: str | None) -> datetime | None:
    """A sitemap <lastmod> (W3C datetime: a date, or a date and time with a zone)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _http_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
