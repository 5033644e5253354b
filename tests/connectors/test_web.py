"""The website connector against a real local site: discovery, robots.txt, main text, 304s, deletions."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from bot.models import Deleted, Document, DocumentKind, Visibility
from connectors import web
from connectors.base import AuthError, Checkpoint, Skipped, TransientError, drain
from connectors.registry import CONNECTOR_TYPES
from connectors.web import DEFAULT_USER_AGENT, WebConnector, WebSettings, extract_main_text, normalise_url
from tests.fakes.web_server import (
    ASIDE_MARKER,
    DEFAULT_LAST_MODIFIED,
    FOOTER_MARKER,
    HEADER_MARKER,
    NAV_MARKER,
    SCRIPT_MARKER,
    FakeSite,
    help_page,
    sitemap_index,
    urlset,
)

SECRET_CANARY = "PRIVATE-CANARY-41"
ROBOTS = """\
User-agent: otherbot
Disallow: /

User-agent: helpdesk-bot
Disallow: /private/

# Everyone else may not read the help center; our own group above must be the one applied.
User-agent: *
Disallow: /help/
"""
RESET_MAIN = (
    "<p>If you forgot your password, open the sign-in page and choose <strong>Forgot password</strong>. "
    "We email a reset link that stays valid for 30 minutes.</p>"
    "<h2>Steps</h2><ol><li>Open the sign-in page.</li><li>Click Forgot password.</li>"
    "<li>Follow the link in the email.</li></ol>"
    "<p>Administrators can also reset a password from the command line:</p>"
    "<pre><code>acme users reset --email alice@example.com</code></pre>"
    "<table><tr><th>Plan</th><th>Link validity</th></tr><tr><td>Free</td><td>30 min</td></tr>"
    "<tr><td>Pro</td><td>2 hours</td></tr></table>"
)
#: Pages that become documents in a full crawl of the default site.
DOC_PATHS = ["/help/", "/help/reset-password", "/help/billing", "/help/orphan", "/help/two-factor", "/help/deep"]
SITEMAP_PATHS = ["/sitemap_index.xml", "/sitemaps/pages.xml", "/sitemaps/more.xml"]


def build_site(site: FakeSite, offhost: FakeSite) -> None:
    off = offhost.url
    site.text("/robots.txt", ROBOTS)
    site.xml("/sitemap_index.xml", sitemap_index(["{base}/sitemaps/pages.xml", "{base}/sitemaps/more.xml",
                                                  f"{off}/sitemap.xml"]))
    site.xml("/sitemaps/pages.xml", urlset([
        ("{base}/help/", None),
        ("{base}/help/reset-password", "2026-04-01"),
        ("{base}/help/billing", "2026-04-02T10:00:00+00:00"),
        (f"{off}/help/elsewhere", None),
        ("{base}/private/secret", None),
    ]))
    site.xml("/sitemaps/more.xml", urlset([("{base}/help/orphan", "2026-03-15T08:00:00Z")]))
    site.page("/help/", help_page("Help Center", (
        "<p>Answers to the questions customers ask most about accounts, billing and security.</p><ul>"
        "<li><a href='reset-password'>Reset your password</a></li>"
        "<li><a href='./billing#plans'>Billing and plans</a></li>"
        "<li><a href='{base}/help/two-factor'>Two-factor authentication</a></li>"
        "<li><a href='/help/reset-password?utm_source=newsletter#steps'>Reset (newsletter link)</a></li>"
        "<li><a href='#top'>Back to top</a></li>"
        f"<li><a href='{off}/help/elsewhere'>Our partner's help</a></li>"
        "<li><a href='/private/secret'>Staff only</a></li>"
        "<li><a href='/files/guide.pdf'>Admin guide (PDF)</a></li>"
        "<li><a href='/download/report'>Yearly report</a></li>"
        "<li><a href='mailto:support@acme.test'>Write to us</a></li>"
        "<li><a href='/old/reset'>Old reset page</a></li>"
        "<li><a href='/go/partner'>Partner (redirects off-site)</a></li></ul>"
    )))
    site.page("/help/reset-password", help_page("Reset your password", RESET_MAIN,
                                                head_extra="<link rel='canonical' href='{base}/help/reset-password'>"))
    site.page("/help/billing", help_page("Billing and plans", (
        "<p id='plans'>Invoices are issued on the first day of each month and can be paid by card or bank "
        "transfer. Growth costs $49 per month; Pro costs $129 per month.</p>"
        "<p>The <a href='billing-legacy'>old billing page</a> moved here.</p>"
    )))
    site.page("/help/billing-legacy", help_page("Billing (old)", (
        "<p>Invoices are issued on the first day of each month. This page is kept for old bookmarks.</p>"
    ), head_extra="<link rel='canonical' href='/help/billing'>"))
    site.page("/help/two-factor", help_page("Two-factor authentication", (
        "<p>Turn on two-factor authentication under Settings, Security. You need an authenticator app; "
        "we show a QR code to scan and ten recovery codes to keep somewhere safe.</p>"
        "<p>More detail is in the <a href='deep'>deep dive</a>.</p>"
    )))
    site.page("/help/deep", help_page("Two-factor deep dive", (
        "<p>Recovery codes can each be used once. If you lose your phone and your codes, an account owner "
        "can reset two-factor for you from the members page.</p>"
    )))
    site.page("/help/orphan", help_page("Data export", (
        "<p>Export all your data as CSV from Settings, Data. Large exports are emailed to you as a link "
        "that expires after seven days.</p>"
    )), send_last_modified=False)
    site.page("/private/secret", help_page("Staff handbook", f"<p>{SECRET_CANARY} internal escalation numbers.</p>"))
    site.binary("/files/guide.pdf", b"%PDF-1.7 fake admin guide", "application/pdf")
    site.binary("/download/report", b"%PDF-1.7 fake yearly report", "application/pdf")
    site.redirect("/old/reset", "{base}/help/reset-password")
    site.redirect("/go/partner", f"{off}/help/elsewhere", status=302)
    offhost.text("/robots.txt", "User-agent: *\nAllow: /\n")
    offhost.xml("/sitemap.xml", urlset([(f"{off}/help/elsewhere", None)]))
    offhost.page("/help/elsewhere", help_page("Partner page", "<p>Someone else's help page.</p>"))


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def offhost() -> Iterator[FakeSite]:
    with FakeSite() as s:
        yield s


@pytest.fixture
def site(offhost: FakeSite) -> Iterator[FakeSite]:
    with FakeSite() as s:
        build_site(s, offhost)
        yield s


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


def make(site: FakeSite, client: httpx.Client, sleep: Sleeps | None = None, **overrides: Any) -> WebConnector:
    options: dict[str, Any] = {"name": "site", "start_urls": [f"{site.url}/help/"],
                               "sitemap_url": f"{site.url}/sitemap_index.xml"}
    options.update(overrides)
    return WebConnector(WebSettings(**options), client=client, sleep=sleep if sleep is not None else Sleeps())


def collect(connector: WebConnector, checkpoint: Checkpoint | None = None,
            skipped: list[str] | None = None) -> tuple[list[Any], Checkpoint]:
    """Documents and deletions (skip reasons go to ``skipped``), and the checkpoint as the runner stores it: through JSON."""
    events, returned = drain(connector.sync(checkpoint))
    if skipped is not None:
        skipped.extend(e.reason for e in events if isinstance(e, Skipped))
    assert returned is not None
    return [e for e in events if not isinstance(e, Skipped)], Checkpoint.model_validate_json(returned.model_dump_json())


def page_id(site: FakeSite, path: str, name: str = "site") -> str:
    return f"{name}:page:{hashlib.sha1(f'{site.url}{path}'.encode()).hexdigest()[:16]}"


def docs_by_path(site: FakeSite, events: list[Any]) -> dict[str, Document]:
    docs = [e for e in events if isinstance(e, Document)]
    by_path = {d.url.removeprefix(site.url): d for d in docs if d.url}
    assert len(by_path) == len(docs), "one document per URL"
    return by_path


def page_requests(site: FakeSite) -> list[str]:
    return [p for p in site.paths_requested() if p != "/robots.txt" and p not in SITEMAP_PATHS]


# -- discovery ------------------------------------------------------------------------------------


def test_sitemap_index_and_crawl_discover_every_page_once(site: FakeSite, client: httpx.Client) -> None:
    events, _ = collect(make(site, client))
    by_path = docs_by_path(site, events)
    # orphan: only in a nested sitemap; two-factor and deep: only reachable by links (two levels).
    assert sorted(by_path) == sorted(DOC_PATHS)
    for path, doc in by_path.items():
        assert doc.id == page_id(site, path)
        assert (doc.kind, doc.audience, doc.source, doc.url) == (DocumentKind.PAGE, Visibility.PUBLIC, "site",
                                                                 f"{site.url}{path}")
    requested = site.paths_requested()
    assert requested[:4] == ["/robots.txt", *SITEMAP_PATHS]
    assert requested.count("/robots.txt") == 1
    # Relative, fragment, query-string and redirect variants of one page are one request.
    assert requested.count("/help/reset-password") == 1
    assert requested.count("/help/billing") == 1
    assert all(r.query == "" for r in site.requests)
    assert "/old/reset" in requested  # a same-host redirect is followed as a link ...
    assert all(r.headers.get("user-agent") == DEFAULT_USER_AGENT for r in site.requests)


def test_off_host_disallowed_and_non_html_never_fetched_or_indexed(
        site: FakeSite, offhost: FakeSite, client: httpx.Client) -> None:
    events, _ = collect(make(site, client))
    assert offhost.requests == []  # linked, in the sitemap, in the sitemap index, and a redirect target
    requested = site.paths_requested()
    assert not [p for p in requested if p.startswith("/private/")]
    assert "/files/guide.pdf" not in requested  # a .pdf link is not even requested
    assert "/download/report" in requested  # no telling suffix: requested, but it is not HTML ...
    urls = {d.url for d in events if isinstance(d, Document)}
    assert f"{site.url}/download/report" not in urls  # ... so not indexed
    assert all(SECRET_CANARY not in d.text for d in events if isinstance(d, Document))


def test_robots_rules_of_other_agents_do_not_apply_and_missing_robots_allows_all(
        site: FakeSite, client: httpx.Client) -> None:
    # Our group (helpdesk-bot) applies, not "*" (which disallows /help/): the help pages were crawled.
    events, _ = collect(make(site, client))
    assert len(docs_by_path(site, events)) == len(DOC_PATHS)
    site.remove("/robots.txt")
    site.clear_log()
    events, _ = collect(make(site, client))
    assert "/private/secret" in docs_by_path(site, events)
    assert site.requests_for("/robots.txt")[0].status == 404


def test_canonical_alias_is_not_a_second_document(site: FakeSite, client: httpx.Client) -> None:
    events, _ = collect(make(site, client))
    by_path = docs_by_path(site, events)
    assert "/help/billing-legacy" in site.paths_requested()
    assert "/help/billing-legacy" not in by_path
    assert by_path["/help/billing"].title == "Billing and plans"


def test_canonical_target_is_crawled_when_only_the_alias_is_linked(offhost: FakeSite, client: httpx.Client) -> None:
    with FakeSite() as site:
        site.page("/start", help_page("Start", "<p>Start here for everything.</p><a href='/old'>Old</a>"))
        site.page("/old", help_page("Old address", "<p>The refund policy lives at its new address now, "
                                    "with the same text as before.</p>", head_extra="<link rel=canonical href='/new'>"))
        site.page("/new", help_page("Refund policy", "<p>Refunds are possible within 30 days of payment.</p>"))
        events, _ = collect(make(site, client, start_urls=[f"{site.url}/start"], sitemap_url=None))
        assert sorted(docs_by_path(site, events)) == ["/new", "/start"]


def test_max_pages_caps_requests_documents_and_checkpoint(site: FakeSite, client: httpx.Client) -> None:
    connector = make(site, client, max_pages=3)
    events, checkpoint = collect(connector)
    assert len(page_requests(site)) == 3
    # Breadth first: the start URL, then the sitemap's pages in order.
    assert sorted(docs_by_path(site, events)) == ["/help/", "/help/billing", "/help/reset-password"]
    assert len(checkpoint.extra["pages"]) == 3
    site.clear_log()
    assert len(connector.list_ids()) == 3
    assert len(page_requests(site)) == 3


def test_include_and_exclude_patterns(site: FakeSite, client: httpx.Client) -> None:
    events, _ = collect(make(site, client, include_patterns=["^/help/"], exclude_patterns=[r"/billing", r"/deep$"]))
    assert sorted(docs_by_path(site, events)) == ["/help/", "/help/orphan", "/help/reset-password", "/help/two-factor"]
    requested = site.paths_requested()
    assert not {"/help/billing", "/help/deep", "/", "/privacy", "/download/report"} & set(requested)


def test_subdomains_only_when_same_host_only_is_false(client: httpx.Client) -> None:
    settings = WebSettings(name="s", start_urls=["https://www.acme.test/help/"], same_host_only=False)
    crawl = web._Crawl(WebConnector(settings, client=client), known={}, build_documents=False)
    assert crawl._allowed_host("docs.acme.test") and crawl._allowed_host("acme.test")
    assert not crawl._allowed_host("acme.test.evil.example") and not crawl._allowed_host("notacme.test")
    strict = web._Crawl(WebConnector(settings.model_copy(update={"same_host_only": True}), client=client),
                        known={}, build_documents=False)
    assert strict._allowed_host("www.acme.test") and not strict._allowed_host("docs.acme.test")


def test_normalise_url() -> None:
    assert normalise_url("HTTPS://Help.Acme.test:443/a/b?x=1#frag") == "https://help.acme.test/a/b"
    assert normalise_url("http://acme.test:8080", keep_query=True) == "http://acme.test:8080/"
    assert normalise_url("http://u:p@acme.test/a?x=1", keep_query=True) == "http://acme.test/a?x=1"
    assert normalise_url("mailto:a@b.c") is None and normalise_url("/relative") is None


# -- main text ------------------------------------------------------------------------------------


def test_boilerplate_removed_and_main_text_kept(site: FakeSite, client: httpx.Client) -> None:
    events, _ = collect(make(site, client))
    by_path = docs_by_path(site, events)
    reset = by_path["/help/reset-password"]
    assert reset.title == "Reset your password"  # the <h1>, not "<title> | Acme Help Center"
    assert "choose **Forgot password**" in reset.text
    assert "valid for 30 minutes" in reset.text
    assert "Follow the link in the email." in reset.text
    assert "acme users reset --email alice@example.com" in reset.text
    assert "| Pro | 2 hours |" in reset.text
    for doc in by_path.values():
        for marker in (NAV_MARKER, HEADER_MARKER, FOOTER_MARKER, ASIDE_MARKER, SCRIPT_MARKER, "font-family"):
            assert marker not in doc.text, (doc.url, marker)
    # Last-Modified header first; the sitemap's <lastmod> when the page sends none.
    assert reset.updated_at == DEFAULT_LAST_MODIFIED
    assert by_path["/help/orphan"].updated_at == datetime(2026, 3, 15, 8, 0, tzinfo=UTC)


def test_fallback_extraction_when_trafilatura_finds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web.trafilatura, "extract", lambda *a, **k: None)
    text = extract_main_text(help_page("Short", "<p>Only <b>this</b> matters.</p>"))
    assert text.startswith("# Short")
    assert "Only **this** matters." in text
    for marker in (NAV_MARKER, HEADER_MARKER, FOOTER_MARKER, ASIDE_MARKER, SCRIPT_MARKER):
        assert marker not in text


def test_noindex_page_not_indexed_but_followed(offhost: FakeSite, client: httpx.Client) -> None:
    with FakeSite() as site:
        site.page("/hub", help_page("Hub", "<p>All guides are listed below for your convenience.</p>"
                                    "<a href='/guide'>Guide</a>", head_extra="<meta name='robots' content='noindex'>"))
        site.page("/guide", help_page("Guide", "<p>The guide explains how to invite your team members.</p>"))
        site.page("/nofollow", help_page("No follow", "<p>Links here are not to be followed by crawlers.</p>"
                                         "<a href='/hidden'>x</a>", head_extra="<meta name=robots content=nofollow>"))
        site.page("/hidden", help_page("Hidden", "<p>Reached only through a nofollow page.</p>"))
        events, _ = collect(make(site, client, start_urls=[f"{site.url}/hub", f"{site.url}/nofollow"],
                                 sitemap_url=None))
        assert sorted(docs_by_path(site, events)) == ["/guide", "/nofollow"]
        assert "/hidden" not in site.paths_requested()


def test_audience_setting_applies(site: FakeSite, client: httpx.Client) -> None:
    events, _ = collect(make(site, client, audience="internal"))
    assert {d.audience for d in events if isinstance(d, Document)} == {Visibility.INTERNAL}


# -- incremental sync -----------------------------------------------------------------------------


def test_second_sync_sends_validators_gets_304s_and_reyields_only_a_changed_page(
        site: FakeSite, client: httpx.Client) -> None:
    connector = make(site, client)
    _, first = collect(connector)
    pages = first.extra["pages"]
    assert sorted(u.removeprefix(site.url) for u in pages) == sorted(DOC_PATHS)
    assert site.requests_for("/help/reset-password")[0].status == 200
    assert pages[f"{site.url}/help/reset-password"]["last_modified"] == "Fri, 01 May 2026 09:30:00 GMT"
    site.clear_log()

    events, second = collect(connector, first)
    assert events == []
    assert sorted(page_requests(site)) == sorted(DOC_PATHS)  # hub's links unseen (304), known pages still asked
    for path in DOC_PATHS:
        (request,) = site.requests_for(path)
        assert request.headers["if-none-match"] == pages[f"{site.url}{path}"]["etag"]
        assert request.headers["if-none-match"].startswith('"') and request.status == 304
    assert second.extra["pages"] == pages

    site.page("/help/billing", help_page("Billing and plans", "<p>From June, Growth costs $59 per month and "
                                         "Pro $149 per month; invoices still arrive on the first day.</p>"))
    site.clear_log()
    events, third = collect(connector, second)
    (changed,) = events
    assert changed.id == page_id(site, "/help/billing")
    assert "Growth costs $59 per month" in changed.text
    assert third.extra["pages"][f"{site.url}/help/billing"]["etag"] != pages[f"{site.url}/help/billing"]["etag"]


def test_if_modified_since_alone_when_the_site_sends_no_etag(offhost: FakeSite, client: httpx.Client) -> None:
    with FakeSite(etags=False) as site:
        build_site(site, offhost)
        connector = make(site, client)
        _, first = collect(connector)
        site.clear_log()
        events, _ = collect(connector, first)
        # /help/orphan sends neither validator: it is fetched in full again (the runner's hash skips it).
        assert [e.url for e in events] == [f"{site.url}/help/orphan"]
        assert "if-modified-since" not in site.requests_for("/help/orphan")[0].headers
        (request,) = site.requests_for("/help/billing")
        assert "if-none-match" not in request.headers
        assert request.headers["if-modified-since"] == "Fri, 01 May 2026 09:30:00 GMT"
        assert request.status == 304


def test_removed_pages_yield_deleted_and_leave_list_ids(site: FakeSite, client: httpx.Client) -> None:
    connector = make(site, client)
    events, first = collect(connector)
    assert sorted(connector.list_ids()) == sorted(d.id for d in events if isinstance(d, Document))
    site.remove("/help/deep")  # 404
    site.remove("/help/orphan", gone=True)  # 410
    events, second = collect(connector, first)
    assert all(isinstance(e, Deleted) and e.source == "site" for e in events)
    assert sorted(e.id for e in events) == sorted([page_id(site, "/help/deep"), page_id(site, "/help/orphan")])
    assert f"{site.url}/help/deep" not in second.extra["pages"]
    ids = set(connector.list_ids())
    assert ids == {page_id(site, p) for p in DOC_PATHS if p not in ("/help/deep", "/help/orphan")}


def test_unlinked_page_leaves_list_ids(site: FakeSite, client: httpx.Client) -> None:
    connector = make(site, client)
    site.page("/help/", help_page("Help Center", "<p>Answers to the questions customers ask most, in one "
                                  "place.</p><a href='reset-password'>Reset</a>"))
    ids = set(connector.list_ids())
    # two-factor (and deep, linked only from it) are no longer reachable: the runner prunes them.
    assert ids == {page_id(site, p) for p in ["/help/", "/help/reset-password", "/help/billing", "/help/orphan"]}


def test_checkpoint_with_garbage_extra_is_a_full_sync(site: FakeSite, client: httpx.Client) -> None:
    events, _ = collect(make(site, client), Checkpoint(extra={"pages": ["not", "a", "dict"]}))
    assert len(docs_by_path(site, events)) == len(DOC_PATHS)
    assert all("if-none-match" not in r.headers for r in site.requests)


# -- rate limits and failures ---------------------------------------------------------------------


def test_429_retry_after_seconds_honoured_with_injected_sleep(site: FakeSite, client: httpx.Client) -> None:
    sleeps = Sleeps()
    site.fail("/help/billing", 429, retry_after="7")
    events, _ = collect(make(site, client, sleeps))
    assert sleeps == [7.0]
    assert "/help/billing" in docs_by_path(site, events)
    assert [r.status for r in site.requests_for("/help/billing")] == [429, 200]


def test_429_retry_after_http_date_honoured(site: FakeSite, client: httpx.Client) -> None:
    sleeps = Sleeps()
    when = datetime.now(UTC) + timedelta(seconds=30)
    site.fail("/sitemaps/more.xml", 429, retry_after=format_datetime(when, usegmt=True))
    events, _ = collect(make(site, client, sleeps))
    assert len(sleeps) == 1 and 25.0 <= sleeps[0] <= 30.0
    assert "/help/orphan" in docs_by_path(site, events)


def test_crawl_delay_and_request_delay_space_requests(site: FakeSite, client: httpx.Client) -> None:
    sleeps = Sleeps()
    site.text("/robots.txt", ROBOTS.replace("Disallow: /private/\n", "Disallow: /private/\nCrawl-delay: 2\n"))
    collect(make(site, client, sleeps, request_delay_s=0.5))
    # Every request after robots.txt waits the longer of the two; robots.txt itself does not wait.
    assert sleeps == [2.0] * (len(site.requests) - 1)
    sleeps.clear()
    site.text("/robots.txt", ROBOTS)
    site.clear_log()
    collect(make(site, client, sleeps, request_delay_s=0.5))
    assert sleeps == [0.5] * (len(site.requests) - 1)


def test_sitemap_5xx_after_retries_raises_transient_from_sync_and_list_ids(
        site: FakeSite, client: httpx.Client) -> None:
    sleeps = Sleeps()
    connector = make(site, client, sleeps)
    site.fail("/sitemaps/pages.xml", 503, times=6)
    with pytest.raises(TransientError, match="HTTP 503"):
        connector.list_ids()
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]  # capped exponential backoff, never a real sleep
    assert page_requests(site) == []  # nothing crawled on a partial discovery
    site.fail("/sitemaps/pages.xml", 500, times=6)
    with pytest.raises(TransientError):
        collect(connector)


@pytest.mark.parametrize("body", [b"<html>not a sitemap</html>", b"<<<", None])
def test_broken_or_missing_sitemap_raises_transient(site: FakeSite, client: httpx.Client, body: bytes | None) -> None:
    if body is None:
        site.remove("/sitemaps/more.xml")
    else:
        site.xml("/sitemaps/more.xml", body)
    with pytest.raises(TransientError, match="sitemap"):
        make(site, client).list_ids()


def test_gzipped_sitemap(offhost: FakeSite, client: httpx.Client) -> None:
    with FakeSite() as site:
        site.page("/a", help_page("A page", "<p>Listed only in a gzipped sitemap file.</p>"))
        xml = urlset([("{base}/a", "2026-02-01")]).replace("{base}", site.url)
        site.binary("/sitemap.xml.gz", gzip.compress(xml.encode()), "application/x-gzip")
        events, _ = collect(make(site, client, start_urls=[], sitemap_url=f"{site.url}/sitemap.xml.gz"))
        assert sorted(docs_by_path(site, events)) == ["/a"]


def test_page_500_after_retries_propagates_transient(site: FakeSite, client: httpx.Client) -> None:
    site.fail("/help/two-factor", 500, times=6)
    with pytest.raises(TransientError, match="HTTP 500"):
        collect(make(site, client))


def test_robots_403_is_auth_error_and_nothing_is_crawled(site: FakeSite, client: httpx.Client) -> None:
    site.fail("/robots.txt", 403)
    with pytest.raises(AuthError, match="robots.txt"):
        make(site, client).list_ids()
    assert site.paths_requested() == ["/robots.txt"]


def test_start_url_403_is_auth_error(site: FakeSite, client: httpx.Client) -> None:
    site.fail("/help/", 403)
    with pytest.raises(AuthError, match="HTTP 403"):
        collect(make(site, client, sitemap_url=None))


def test_odd_pages_are_skipped_and_reported_while_others_arrive(
        site: FakeSite, client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web, "MAX_PAGE_BYTES", 4000)
    site.page("/help/deep", help_page("Huge", "<p>" + "padding " * 1000 + "</p>"))
    site.fail("/help/billing", 400)
    skipped: list[str] = []
    events, _ = collect(make(site, client), skipped=skipped)
    assert sorted(docs_by_path(site, events)) == ["/help/", "/help/orphan", "/help/reset-password", "/help/two-factor"]
    assert skipped == [f"{site.url}/help/billing: HTTP 400", f"{site.url}/help/deep: larger than 4000 bytes"]


# -- settings -------------------------------------------------------------------------------------


def test_settings_validation_and_registry() -> None:
    with pytest.raises(ValidationError, match="start_urls, a sitemap_url"):
        WebSettings(name="s")
    with pytest.raises(ValidationError, match="absolute http"):
        WebSettings(name="s", start_urls=["/help/"])
    with pytest.raises(ValidationError, match="invalid regular expression"):
        WebSettings(name="s", start_urls=["https://acme.test/"], include_patterns=["(unclosed"])
    s = WebSettings(name="s", sitemap_url="https://acme.test/sitemap.xml")
    assert (s.type, s.max_pages, s.audience, s.user_agent, s.same_host_only) == (
        "web", 500, Visibility.PUBLIC, DEFAULT_USER_AGENT, True)
    assert CONNECTOR_TYPES["web"].load() == (WebSettings, WebConnector)
    connector = WebConnector(s, environ={})
    assert connector.prune_scope() == ("s:page:",)
    built = connector.http.owned_client
    assert built is not None and built.headers["user-agent"] == DEFAULT_USER_AGENT
    assert built.follow_redirects is False
    connector.close()
    assert built.is_closed


def test_list_ids_after_a_complete_sync_does_not_crawl_again(site: FakeSite, client: httpx.Client) -> None:
    connector = make(site, client)
    events, _ = collect(connector)
    before = len(site.requests)
    assert sorted(connector.list_ids()) == sorted(d.id for d in events if isinstance(d, Document))
    assert len(site.requests) == before
