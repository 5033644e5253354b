"""The Zendesk connector against a real local HTTP server speaking Zendesk's wire format."""

from __future__ import annotations

import base64
import email.utils
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.errors import ConfigError
from bot.models import Deleted, Document, DocumentKind, Visibility
from connectors.base import AuthError, Checkpoint, Skipped, TransientError, drain
from connectors.registry import CONNECTOR_TYPES, build_connector
from connectors.zendesk import ZendeskConnector, ZendeskSettings
from tests.fakes.zendesk_server import FakeZendesk, comment

EMAIL, TOKEN = "agent@acme.test", "tok-123"
ENV = {"ZENDESK_EMAIL": EMAIL, "ZENDESK_API_TOKEN": TOKEN}
CANARY = "CANARY-7f3a internal only"
REQUESTER, AGENT, CC_USER = 500, 900, 501
EXPORT = "/api/v2/incremental/tickets/cursor.json"
ARTICLES = "/api/v2/help_center/en-us/articles.json"
COMMENTS = "/api/v2/tickets/*/comments.json"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def zd() -> Iterator[FakeZendesk]:
    with FakeZendesk(credentials=(f"{EMAIL}/token", TOKEN)) as server:
        server.add_user(REQUESTER, "Carla Customer", "end-user")
        server.add_user(CC_USER, "Colin Cc", "end-user")
        server.add_user(AGENT, "Ada Agent", "agent")
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


def make(zd: FakeZendesk, client: httpx.Client, sleeps: Sleeps | None = None, **overrides) -> ZendeskConnector:  # type: ignore[no-untyped-def]
    settings = ZendeskSettings(name="zd", base_url=zd.url + "/", **overrides)
    return ZendeskConnector(settings, client=client, environ=ENV, sleep=sleeps if sleeps is not None else Sleeps())


def run(connector: ZendeskConnector, checkpoint: Checkpoint | None = None,  # type: ignore[no-untyped-def]
        skipped: list[str] | None = None):
    """Documents and deletions, and the checkpoint; skip reasons go to ``skipped``."""
    events, returned = drain(connector.sync(checkpoint))
    if skipped is not None:
        skipped.extend(e.reason for e in events if isinstance(e, Skipped))
    return [e for e in events if not isinstance(e, Skipped)], returned


def docs_of(events: list[Document | Deleted]) -> dict[str, Document]:
    return {e.id: e for e in events if isinstance(e, Document)}


def deleted_of(events: list[Document | Deleted]) -> set[str]:
    return {e.id for e in events if isinstance(e, Deleted)}


def standard_ticket(zd: FakeZendesk, tid: int = 7, status: str = "solved") -> None:
    zd.add_ticket(tid, "Refund for a double charge", status=status, requester_id=REQUESTER, tags=("billing",), comments=[
        comment("I was charged <b>twice</b> this month.", author_id=REQUESTER),
        comment(f"Customer is a reseller. {CANARY}", author_id=AGENT, public=False),
        comment("Refunded the second charge; it shows in 5 days.", author_id=AGENT),
        comment("Thanks, received it.", author_id=CC_USER),
    ])


# -- articles ----------------------------------------------------------------------------------


def test_articles_breadcrumb_markdown_audience_and_drafts(zd: FakeZendesk, client: httpx.Client) -> None:
    zd.add_category(1, "Billing")
    zd.add_section(10, "Invoices", category_id=1)
    zd.add_article(100, "Download an invoice", "<h2>Steps</h2><p>Open <b>Billing</b> &gt; Invoices.</p>",
                   section_id=10, label_names=("invoice",))
    zd.add_article(101, "Reseller price list", "<p>Resellers get 20% off.</p>", section_id=10, user_segment_id=77)
    zd.add_article(102, "Unreleased feature", "<p>Coming soon.</p>", section_id=10, draft=True)
    events, checkpoint = run(make(zd, client, include_tickets=False))
    docs = docs_of(events)
    assert set(docs) == {"zd:article:100", "zd:article:101"}
    assert deleted_of(events) == {"zd:article:102"}  # a draft is never indexed
    a = docs["zd:article:100"]
    assert (a.title, a.kind, a.audience, a.source) == ("Download an invoice", DocumentKind.ARTICLE, Visibility.PUBLIC, "zd")
    assert a.url == f"{zd.url}/hc/en-us/articles/100-Download-an-invoice"
    assert a.text.startswith("*Billing › Invoices*\n\n## Steps")
    assert "Open **Billing** > Invoices." in a.text
    assert a.metadata == {"locale": "en-us", "breadcrumb": "Billing › Invoices", "section_id": 10, "labels": ["invoice"]}
    assert a.updated_at is not None and a.updated_at.tzinfo is not None and a.updated_at.year == 2024
    assert docs["zd:article:101"].audience is Visibility.INTERNAL  # restricted to a user segment
    assert checkpoint.extra == {}
    assert zd.requests_to(EXPORT) == []


def test_article_pages_follow_cursor_and_stop_on_has_more(zd: FakeZendesk, client: httpx.Client) -> None:
    zd.page_size = 2
    for i in range(5):
        zd.add_article(200 + i, f"Article {i}", f"<p>Body {i}</p>")
    events, _ = run(make(zd, client, include_tickets=False))
    assert sorted(docs_of(events)) == [f"zd:article:{200 + i}" for i in range(5)]
    pages = zd.requests_to(ARTICLES)
    # links.next is on every page, the last one too: only meta.has_more may end the loop.
    assert len(pages) == 3
    assert [r.query.get("page[size]") for r in pages] == ["100", "100", "100"]
    afters = [r.query.get("page[after]") for r in pages]
    assert afters[0] is None
    assert [base64.b64decode(a).decode() for a in afters[1:]] == ["offset:2", "offset:4"]  # type: ignore[arg-type]


def test_locales_keep_distinct_ids_and_localized_breadcrumbs(zd: FakeZendesk, client: httpx.Client) -> None:
    zd.add_category(1, "Billing")
    zd.add_section(10, "Invoices", category_id=1)
    zd.add_category(1, "Abrechnung", locale="de")
    zd.add_section(10, "Rechnungen", category_id=1, locale="de")
    zd.add_article(300, "Download an invoice", "<p>English</p>", section_id=10)
    zd.add_article(300, "Rechnung herunterladen", "<p>Deutsch</p>", section_id=10, locale="de")
    connector = make(zd, client, include_tickets=False, locales=["en-us", "de"])
    docs = docs_of(run(connector)[0])
    assert set(docs) == {"zd:article:300", "zd:article:300:de"}
    assert docs["zd:article:300:de"].text == "*Abrechnung › Rechnungen*\n\nDeutsch"
    assert sorted(connector.list_ids()) == ["zd:article:300", "zd:article:300:de"]


# -- tickets -----------------------------------------------------------------------------------


def test_ticket_text_sections_in_order_without_internal_notes(zd: FakeZendesk, client: httpx.Client) -> None:
    standard_ticket(zd)
    events, checkpoint = run(make(zd, client, include_articles=False))
    t = docs_of(events)["zd:ticket:7"]
    assert (t.kind, t.audience, t.title) == (DocumentKind.TICKET, Visibility.INTERNAL, "Refund for a double charge")
    assert t.url == f"{zd.url}/agent/tickets/7"
    assert t.text == (
        "# Refund for a double charge\n\n"
        "## Customer\n\nI was charged **twice** this month.\n\n"
        "## Agent reply\n\nRefunded the second charge; it shows in 5 days.\n\n"
        "## Customer\n\nThanks, received it."  # an end user other than the requester (side-loaded role)
    )
    assert CANARY not in t.text and "Internal note" not in t.text
    assert t.metadata == {"ticket_id": 7, "status": "solved", "tags": ["billing"]}
    assert t.updated_at is not None and t.updated_at.tzinfo is not None
    assert isinstance(checkpoint.extra["tickets_cursor"], str)
    [req] = zd.requests_to(COMMENTS)
    assert req.path == "/api/v2/tickets/7/comments.json" and req.query["include"] == "users"


@pytest.mark.parametrize("include_notes", [False, True])
def test_internal_note_canary_never_public(zd: FakeZendesk, client: httpx.Client, include_notes: bool) -> None:
    zd.add_article(400, "Refund policy", "<p>Refunds take 5 days.</p>")
    standard_ticket(zd)
    zd.add_ticket(8, "Note without public flag", requester_id=REQUESTER, comments=[
        comment("Where is my order?", author_id=REQUESTER),
        comment(f"Flag missing, must count as private. {CANARY}", author_id=AGENT, public=None),
        comment("It ships tomorrow.", author_id=AGENT),
    ])
    events, _ = run(make(zd, client, include_internal_notes=include_notes))
    docs = docs_of(events)
    assert {d.id for d in docs.values() if d.audience is Visibility.PUBLIC} == {"zd:article:400"}
    for d in docs.values():
        if d.audience is Visibility.PUBLIC:
            assert CANARY not in d.text and CANARY not in d.title
    for tid in ("zd:ticket:7", "zd:ticket:8"):
        assert docs[tid].audience is Visibility.INTERNAL
        assert (CANARY in docs[tid].text) is include_notes
        assert ("## Internal note" in docs[tid].text) is include_notes
    if include_notes:
        assert "## Agent reply\n\nRefunded the second charge" in docs["zd:ticket:7"].text
        assert docs["zd:ticket:7"].text.index("## Internal note") < docs["zd:ticket:7"].text.index("## Agent reply")


def test_unresolved_and_deleted_tickets_yield_deleted_without_comment_fetch(zd: FakeZendesk, client: httpx.Client) -> None:
    standard_ticket(zd, 7, "solved")
    standard_ticket(zd, 8, "open")
    standard_ticket(zd, 9, "closed")
    standard_ticket(zd, 10, "solved")
    zd.delete_ticket(10)
    events, _ = run(make(zd, client, include_articles=False))
    assert set(docs_of(events)) == {"zd:ticket:7", "zd:ticket:9"}
    assert deleted_of(events) == {"zd:ticket:8", "zd:ticket:10"}
    assert sorted(r.path for r in zd.requests_to(COMMENTS)) == [
        "/api/v2/tickets/7/comments.json", "/api/v2/tickets/9/comments.json"]
    # Other statuses are a setting.
    zd.requests.clear()
    events, _ = run(make(zd, client, include_articles=False, ticket_statuses=("open",)))
    assert set(docs_of(events)) == {"zd:ticket:8"}


def test_export_pages_and_incremental_second_sync(zd: FakeZendesk, client: httpx.Client) -> None:
    zd.page_size = 2
    for tid in range(1, 6):
        zd.add_ticket(tid, f"Question {tid}", comments=[comment(f"Help {tid}", author_id=REQUESTER),
                                                      comment(f"Answer {tid}", author_id=AGENT)])
    connector = make(zd, client, include_articles=False, start_time=1_000)
    events, cp1 = run(connector)
    assert sorted(docs_of(events)) == [f"zd:ticket:{i}" for i in range(1, 6)]
    export = zd.requests_to(EXPORT)
    assert len(export) == 3
    assert export[0].query == {"start_time": "1000", "per_page": "1000"}
    assert "cursor" in export[1].query and "start_time" not in export[1].query
    assert export[2].query["cursor"] != export[1].query["cursor"]

    # Nothing changed: one export call with the saved cursor, no comment fetch, nothing yielded.
    zd.requests.clear()
    events, cp2 = run(connector, cp1)
    assert events == []
    assert [r.query.get("cursor") for r in zd.requests] == [cp1.extra["tickets_cursor"]]
    assert cp2.extra["tickets_cursor"] == cp1.extra["tickets_cursor"]

    # A new reply, a deletion and a new ticket: only those arrive, only their comments are fetched.
    zd.add_comment(3, comment("Follow-up: fixed for good.", author_id=AGENT))
    zd.delete_ticket(4)
    zd.add_ticket(6, "Question 6", comments=[comment("Help 6", author_id=REQUESTER)])
    zd.requests.clear()
    events, cp3 = run(connector, cp2)
    assert set(docs_of(events)) == {"zd:ticket:3", "zd:ticket:6"}
    assert deleted_of(events) == {"zd:ticket:4"}
    assert docs_of(events)["zd:ticket:3"].text.endswith("## Agent reply\n\nFollow-up: fixed for good.")
    # (ticket 3 now has 3 comments: two pages of 2)
    assert sorted(r.path for r in zd.requests_to(COMMENTS)) == [
        "/api/v2/tickets/3/comments.json", "/api/v2/tickets/3/comments.json", "/api/v2/tickets/6/comments.json"]
    assert cp3.extra["tickets_cursor"] != cp2.extra["tickets_cursor"]
    assert cp2 is not cp1 and cp3 is not cp2  # new checkpoints, the old ones untouched
    assert cp1.extra["tickets_cursor"] == cp2.extra["tickets_cursor"]


def test_comments_paginate_in_order(zd: FakeZendesk, client: httpx.Client) -> None:
    zd.page_size = 2
    zd.add_ticket(7, "Long thread", comments=[comment(f"message {i}", author_id=REQUESTER if i % 2 == 0 else AGENT)
                                              for i in range(5)])
    doc = docs_of(run(make(zd, client, include_articles=False))[0])["zd:ticket:7"]
    assert [line for line in doc.text.splitlines() if line.startswith("message")] == [f"message {i}" for i in range(5)]
    assert len(zd.requests_to(COMMENTS)) == 3


def test_comments_404_skips_one_ticket(zd: FakeZendesk, client: httpx.Client) -> None:
    standard_ticket(zd, 7)
    standard_ticket(zd, 8)
    zd.fail("/api/v2/tickets/7/comments.json", 404)
    skipped: list[str] = []
    events, _ = run(make(zd, client, include_articles=False), skipped=skipped)
    assert set(docs_of(events)) == {"zd:ticket:8"}
    assert skipped == ["ticket: ticket 7: comments not found (HTTP 404)"]


def _mixed_export(zd: FakeZendesk) -> None:
    """Solved tickets between ones that yield a deletion, a skip (404) and nothing to fetch."""
    for tid in range(1, 13):
        standard_ticket(zd, tid, "open" if tid in (4, 9) else "solved")
    zd.delete_ticket(6)
    zd.fail("/api/v2/tickets/8/comments.json", 404)


@pytest.mark.parametrize("comment_requests", [2, 4, 16])
def test_comments_requested_ahead_yield_the_same_events_in_the_same_order(
        zd: FakeZendesk, client: httpx.Client, comment_requests: int) -> None:
    _mixed_export(zd)
    one, one_cp = drain(make(zd, client, include_articles=False, comment_requests=1).sync(None))
    zd.fail("/api/v2/tickets/8/comments.json", 404)
    ahead, ahead_cp = drain(make(zd, client, include_articles=False, comment_requests=comment_requests).sync(None))
    assert ahead == one and ahead_cp.extra == one_cp.extra
    # Every kind of event is in the mix, in the export's order (ticket 6 moved to the end when deleted).
    kinds = [(type(e).__name__, e.id if not isinstance(e, Skipped) else e.reason) for e in ahead]
    assert kinds == [("Document", f"zd:ticket:{t}") for t in (1, 2, 3)] + [("Deleted", "zd:ticket:4")] + [
        ("Document", f"zd:ticket:{t}") for t in (5, 7)] + [("Skipped", "ticket: ticket 8: comments not found (HTTP 404)"),
        ("Deleted", "zd:ticket:9")] + [("Document", f"zd:ticket:{t}") for t in (10, 11, 12)] + [("Deleted", "zd:ticket:6")]


def test_comments_of_several_tickets_are_in_flight_at_once_and_never_more_than_the_setting(
        zd: FakeZendesk, client: httpx.Client) -> None:
    import threading

    for tid in range(1, 11):
        standard_ticket(zd, tid)
    # The first two comments requests are answered only once both have arrived: fetched one after
    # the other, the first would wait for the barrier in vain and the sync would fail.
    both_arrived = threading.Barrier(2, timeout=10)
    lock, in_flight, most = threading.Lock(), [0], [0]

    def before(request) -> None:  # type: ignore[no-untyped-def]
        if "/comments.json" not in request.path:
            return
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
            first_two = int(request.path.split("/")[4]) <= 2
        if first_two:
            both_arrived.wait()
        with lock:
            in_flight[0] -= 1

    zd.before_request = before
    events, _ = run(make(zd, client, include_articles=False, comment_requests=3))
    assert sorted(docs_of(events)) == sorted(f"zd:ticket:{t}" for t in range(1, 11))
    assert 2 <= most[0] <= 3


def test_an_outage_mid_page_surfaces_after_the_tickets_before_it_and_leaves_no_thread(
        zd: FakeZendesk, client: httpx.Client) -> None:
    import threading

    for tid in range(1, 21):
        standard_ticket(zd, tid)
    zd.fail("/api/v2/tickets/12/comments.json", 401)
    got: list[str] = []
    with pytest.raises(AuthError):
        for event in make(zd, client, include_articles=False, comment_requests=4).sync(None):
            got.append(event.id)
    assert got == [f"zd:ticket:{t}" for t in range(1, 12)]
    assert not [t for t in threading.enumerate() if t.name.startswith("zendesk-comments")]
    # A consumer that stops early (a stop signal between documents) leaves no thread either.
    zd.before_request = None
    events = make(zd, client, include_articles=False, comment_requests=4).sync(None)
    assert next(events).id == "zd:ticket:1"
    events.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("zendesk-comments")]


# -- failures ----------------------------------------------------------------------------------


def test_429_retry_after_seconds_is_slept(zd: FakeZendesk, client: httpx.Client) -> None:
    standard_ticket(zd)
    zd.fail(EXPORT, 429, retry_after="7")
    sleeps = Sleeps()
    events, _ = run(make(zd, client, sleeps, include_articles=False))
    assert sleeps == [7.0]
    assert set(docs_of(events)) == {"zd:ticket:7"}
    assert len(zd.requests_to(EXPORT)) == 2


def test_429_retry_after_http_date_is_slept(zd: FakeZendesk, client: httpx.Client) -> None:
    zd.add_article(100, "Invoices", "<p>x</p>")
    when = datetime.now(UTC) + timedelta(seconds=30)
    zd.fail(ARTICLES, 429, retry_after=email.utils.format_datetime(when, usegmt=True))
    sleeps = Sleeps()
    events, _ = run(make(zd, client, sleeps, include_tickets=False))
    assert len(sleeps) == 1 and 27.0 <= sleeps[0] <= 30.0
    assert set(docs_of(events)) == {"zd:article:100"}


def test_low_rate_limit_remaining_pauses(zd: FakeZendesk, client: httpx.Client) -> None:
    zd.rate_limit_remaining = 1
    sleeps = Sleeps()
    run(make(zd, client, sleeps, include_tickets=False))
    assert sleeps == [1.0, 1.0, 1.0]  # categories, sections, articles: each answered "1 left"


def test_wrong_credentials_raise_auth_error(zd: FakeZendesk, client: httpx.Client) -> None:
    connector = ZendeskConnector(ZendeskSettings(name="zd", base_url=zd.url), client=client,
                                 environ={"ZENDESK_EMAIL": EMAIL, "ZENDESK_API_TOKEN": "wrong"}, sleep=Sleeps())
    with pytest.raises(AuthError, match="HTTP 401"):
        run(connector)
    assert len(zd.requests) == 1  # never retried


def test_repeated_500_raises_transient_after_backoff(zd: FakeZendesk, client: httpx.Client) -> None:
    standard_ticket(zd)
    zd.fail(EXPORT, 500, times=100)
    sleeps = Sleeps()
    with pytest.raises(TransientError, match="HTTP 500"):
        run(make(zd, client, sleeps, include_articles=False))
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert len(zd.requests_to(EXPORT)) == 6


def test_one_500_then_success(zd: FakeZendesk, client: httpx.Client) -> None:
    standard_ticket(zd)
    zd.fail(COMMENTS, 503)
    sleeps = Sleeps()
    events, _ = run(make(zd, client, sleeps, include_articles=False))
    assert sleeps == [0.5] and set(docs_of(events)) == {"zd:ticket:7"}


def test_non_json_body_is_transient(zd: FakeZendesk, client: httpx.Client) -> None:
    zd.fail(EXPORT, 200, body=b"<html><body>Maintenance</body></html>")
    with pytest.raises(TransientError, match="not JSON"):
        run(make(zd, client, include_articles=False))


def test_malformed_records_are_skipped_and_reported(zd: FakeZendesk, client: httpx.Client) -> None:
    zd.add_article(100, "Good article", "<p>fine</p>")
    zd.add_raw_article({"title": "no id", "body": "<p>SECRET-BODY</p>"}, key=-1)
    zd.add_raw_article({"id": 101, "title": "no body", "body": None}, key=101)
    zd.add_raw_article("not an object", key=-2)
    standard_ticket(zd, 7)
    zd.add_raw_ticket({"id": "abc", "status": "solved", "subject": "bad id"})
    zd.add_raw_ticket({"id": 9, "status": None, "subject": "no status"})
    standard_ticket(zd, 8)
    skipped: list[str] = []
    events, checkpoint = run(make(zd, client), skipped=skipped)
    assert set(docs_of(events)) == {"zd:article:100", "zd:ticket:7", "zd:ticket:8"}
    assert skipped == [
        "article: article without a numeric id",
        "article: article 101: no body",
        "article: article record is a str, not an object",
        "ticket: ticket without a numeric id",
        "ticket: ticket 9: no status",
    ]
    assert not any("SECRET-BODY" in s for s in skipped)
    assert "tickets_cursor" in checkpoint.extra


# -- listing, auth, settings -------------------------------------------------------------------


def test_list_ids_is_complete_and_raises_on_a_failing_page(zd: FakeZendesk, client: httpx.Client) -> None:
    zd.page_size = 2
    for i in range(5):
        zd.add_article(500 + i, f"A{i}", "<p>x</p>")
    zd.add_article(599, "Draft", "<p>x</p>", draft=True)
    standard_ticket(zd)
    connector = make(zd, client)
    assert sorted(connector.list_ids()) == [f"zd:article:{500 + i}" for i in range(5)]
    assert connector.prune_scope() == ("zd:article:",)
    assert zd.requests_to(EXPORT) == [] and zd.requests_to(COMMENTS) == []
    zd.fail(ARTICLES, 500, times=100, after=1)  # page 1 answers, page 2 keeps failing
    with pytest.raises(TransientError):
        connector.list_ids()
    assert make(zd, client, include_articles=False).list_ids() == []


def test_missing_credential_env_var_is_a_config_error(zd: FakeZendesk) -> None:
    settings = ZendeskSettings(name="zd", base_url=zd.url)
    with pytest.raises(ConfigError, match="ZENDESK_API_TOKEN") as info:
        ZendeskConnector(settings, environ={"ZENDESK_EMAIL": EMAIL})
    assert EMAIL not in str(info.value)
    custom = ZendeskSettings(name="zd", base_url=zd.url, email_env="HD_MAIL", token_env="HD_TOKEN")
    with pytest.raises(ConfigError, match="HD_MAIL"):
        ZendeskConnector(custom, environ={"HD_TOKEN": TOKEN, "ZENDESK_EMAIL": EMAIL})


def test_authorization_header_is_basic_email_slash_token(zd: FakeZendesk, client: httpx.Client) -> None:
    zd.add_article(100, "A", "<p>x</p>")
    standard_ticket(zd)
    run(make(zd, client))
    expected = "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
    assert expected == "Basic YWdlbnRAYWNtZS50ZXN0L3Rva2VuOnRvay0xMjM="
    assert len(zd.requests) == 5
    assert {r.headers.get("authorization") for r in zd.requests} == {expected}


def test_builds_its_own_client_when_none_is_given(zd: FakeZendesk) -> None:
    zd.add_article(100, "A", "<p>x</p>")
    connector = ZendeskConnector(ZendeskSettings(name="zd", base_url=zd.url, include_tickets=False), environ=ENV)
    assert set(docs_of(run(connector)[0])) == {"zd:article:100"}
    connector.close()


def test_settings_defaults_validation_and_registry() -> None:
    s = ZendeskSettings(name="help", base_url="https://acme.zendesk.com/")
    assert (s.type, s.base_url, s.locales, s.ticket_statuses, s.start_time) == (
        "zendesk", "https://acme.zendesk.com", ("en-us",), ("solved", "closed"), 0)
    assert (s.email_env, s.token_env, s.include_articles, s.include_tickets, s.include_internal_notes) == (
        "ZENDESK_EMAIL", "ZENDESK_API_TOKEN", True, True, False)
    with pytest.raises(ValueError, match="tokn_env"):
        ZendeskSettings(name="help", base_url="https://acme.zendesk.com", tokn_env="X")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="https://"):
        ZendeskSettings(name="help", base_url="acme.zendesk.com")
    with pytest.raises(ValueError, match="locale"):
        ZendeskSettings(name="help", base_url="https://acme.zendesk.com", locales=[" "])
    settings_model, cls = CONNECTOR_TYPES["zendesk"].load()
    assert (settings_model, cls) == (ZendeskSettings, ZendeskConnector)
    built = build_connector(s, environ=ENV, sleep=Sleeps())
    assert isinstance(built, ZendeskConnector) and built.name == "help"
    built.close()
