"""The Freshdesk connector against a real local HTTP server speaking Freshdesk's v2 API."""

from __future__ import annotations

import base64
import email.utils
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from bot.errors import ConfigError
from bot.models import Deleted, Document, DocumentKind, Visibility
from connectors.base import AuthError, Checkpoint, ConnectorError, Skipped, TransientError, drain
from connectors.freshdesk import FreshdeskConnector, FreshdeskSettings
from connectors.freshdesk import client as freshdesk_client
from connectors.freshdesk import connector as freshdesk_connector
from tests.fakes.freshdesk_server import TICKETS_PATH, FakeFreshdesk

API_KEY = "fd-test-key-123"
ENV = {"FRESHDESK_API_KEY": API_KEY}
CANARY = "CANARY-7f3a refund override code"
CATEGORIES = "/api/v2/solutions/categories"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fd() -> Iterator[FakeFreshdesk]:
    with FakeFreshdesk(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


def make(
    fd: FakeFreshdesk,
    client: httpx.Client | None,
    sleep: Sleeps | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> FreshdeskConnector:
    settings = FreshdeskSettings(name="fd", base_url=fd.url, **overrides)
    return FreshdeskConnector(
        settings,
        client=client,
        environ=ENV if environ is None else environ,
        sleep=sleep if sleep is not None else Sleeps(),
    )


def collect(
    connector: FreshdeskConnector, checkpoint: Checkpoint | None = None, skipped: list[str] | None = None
) -> tuple[list[Document | Deleted], Checkpoint]:
    """Documents and deletions, and the checkpoint; skip reasons go to ``skipped``."""
    events, returned = drain(connector.sync(checkpoint))
    if skipped is not None:
        skipped.extend(e.reason for e in events if isinstance(e, Skipped))
    assert returned is not None
    return [e for e in events if not isinstance(e, Skipped)], returned


def docs(events: list[Document | Deleted]) -> dict[str, Document]:
    return {e.id: e for e in events if isinstance(e, Document)}


def deleted(events: list[Document | Deleted]) -> list[str]:
    return [e.id for e in events if isinstance(e, Deleted)]


def roundtrip(checkpoint: Checkpoint) -> Checkpoint:
    """What the state store does with a checkpoint between runs."""
    return Checkpoint.model_validate_json(checkpoint.model_dump_json())


def seed_kb(fd: FakeFreshdesk) -> None:
    fd.add_category(1, "Billing")
    fd.add_folder(10, category_id=1, name="FAQ", visibility=1)
    fd.add_folder(11, category_id=1, name="Agent runbooks", visibility=3)
    fd.add_article(
        100,
        folder_id=10,
        title="Change your plan",
        description="<p>Open <b>Billing</b> and pick a plan.</p>",
        updated_at="2024-03-01T10:00:00Z",
        tags=("billing",),
    )
    fd.add_article(
        101,
        folder_id=10,
        title="Download invoices",
        description="<p>Invoices are under <i>Billing &gt; History</i>.</p>",
        updated_at="2024-03-02T10:00:00Z",
    )
    fd.add_article(
        102,
        folder_id=10,
        title="Upcoming pricing (draft)",
        description="<p>Secret new prices.</p>",
        status=1,
        updated_at="2024-03-03T10:00:00Z",
    )
    fd.add_article(
        103,
        folder_id=11,
        title="Issuing refunds",
        description=f"<p>Use {CANARY} in the admin panel.</p>",
        updated_at="2024-03-01T12:00:00Z",
    )


def seed_tickets(fd: FakeFreshdesk) -> None:
    fd.add_ticket(
        1,
        subject="Charged twice",
        description="<div>I was charged <b>twice</b>.</div>",
        status=4,
        updated_at="2024-03-05T10:00:00Z",
        tags=("billing",),
    )
    fd.add_conversation(
        1, 11, body=f"<div>Refund via {CANARY}.</div>", private=True, created_at="2024-03-05T09:00:00Z"
    )
    fd.add_conversation(
        1, 12, body="<div>Sorry! We refunded the second charge.</div>", created_at="2024-03-05T09:10:00Z"
    )
    fd.add_conversation(
        1, 13, body="<div>Thanks, got it.</div>", incoming=True, created_at="2024-03-05T09:20:00Z"
    )
    fd.add_ticket(
        2,
        subject="Export to CSV",
        description="<p>How do I export?</p>",
        status=5,
        updated_at="2024-03-06T10:00:00Z",
    )
    fd.add_conversation(
        2, 21, body="<p>Use <b>Reports &gt; Export</b>.</p>", created_at="2024-03-06T09:00:00Z"
    )
    fd.add_ticket(
        3,
        subject="Still broken",
        description="<p>Login fails.</p>",
        status=2,
        updated_at="2024-03-07T10:00:00Z",
    )


# -- settings and construction ----------------------------------------------------------------


def test_settings_defaults_validation_and_frozen() -> None:
    s = FreshdeskSettings(name="acme", base_url="https://acme.freshdesk.com/api/v2/")
    assert s.type == "freshdesk"
    assert s.base_url == "https://acme.freshdesk.com"
    assert (s.api_key_env, s.include_articles, s.include_tickets, s.include_internal_notes) == (
        "FRESHDESK_API_KEY",
        True,
        True,
        False,
    )
    assert s.ticket_statuses == (4, 5) and s.updated_since is None
    assert FreshdeskSettings(
        name="a", base_url="https://a.freshdesk.com", updated_since=datetime(2024, 1, 1)
    ).updated_since == datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(ValidationError):
        s.include_tickets = False  # type: ignore[misc]
    with pytest.raises(ValidationError, match="base_url"):
        FreshdeskSettings(name="acme", base_url="acme.freshdesk.com")
    with pytest.raises(ValidationError, match="name"):
        FreshdeskSettings(name="a:b", base_url="https://acme.freshdesk.com")
    with pytest.raises(ValidationError, match="type"):
        FreshdeskSettings(type="zendesk", name="a", base_url="https://acme.freshdesk.com")  # type: ignore[arg-type]


def test_missing_api_key_env_var_raises_config_error_naming_it() -> None:
    settings = FreshdeskSettings(name="fd", base_url="https://acme.freshdesk.com", api_key_env="ACME_FD_KEY")
    with pytest.raises(ConfigError, match="ACME_FD_KEY"):
        FreshdeskConnector(settings, environ={"FRESHDESK_API_KEY": "other"})
    with pytest.raises(ConfigError, match="ACME_FD_KEY"):
        FreshdeskConnector(settings, environ={"ACME_FD_KEY": "  "})


def test_basic_auth_with_api_key_and_x_on_every_request(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_kb(fd)
    seed_tickets(fd)
    collect(make(fd, client))
    expected = "Basic " + base64.b64encode(f"{API_KEY}:X".encode()).decode()
    assert len(fd.requests) >= 8
    assert {r.headers.get("authorization") for r in fd.requests} == {expected}


def test_builds_its_own_client_when_none_is_given(fd: FakeFreshdesk) -> None:
    seed_kb(fd)
    connector = make(fd, None, include_tickets=False)
    try:
        events, _ = collect(connector)
    finally:
        connector.close()
    assert sorted(docs(events)) == ["fd:article:100", "fd:article:101", "fd:article:103"]
    assert fd.requests[0].headers["authorization"].startswith("Basic ")


# -- articles -------------------------------------------------------------------------------------


def test_articles_audience_from_folder_visibility_and_drafts_never_indexed(
    fd: FakeFreshdesk, client: httpx.Client
) -> None:
    seed_kb(fd)
    events, _ = collect(make(fd, client, include_tickets=False))
    by_id = docs(events)
    assert sorted(by_id) == ["fd:article:100", "fd:article:101", "fd:article:103"]
    a = by_id["fd:article:100"]
    assert (a.title, a.kind, a.audience, a.source) == (
        "Change your plan",
        DocumentKind.ARTICLE,
        Visibility.PUBLIC,
        "fd",
    )
    assert a.url == f"{fd.url}/support/solutions/articles/100"
    assert a.text == "Open **Billing** and pick a plan."
    assert a.updated_at == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert a.metadata["tags"] == ["billing"] and a.metadata["folder_id"] == 10
    assert by_id["fd:article:101"].text == "Invoices are under *Billing > History*."
    # Agents-only folder (visibility 3): internal, and the canary stays out of public documents.
    assert by_id["fd:article:103"].audience is Visibility.INTERNAL
    assert all(CANARY not in d.text for d in by_id.values() if d.audience is Visibility.PUBLIC)
    # The draft is never a document; it is reported deleted in case a published version was indexed.
    assert all("Secret new prices" not in d.text for d in by_id.values())
    assert deleted(events) == ["fd:article:102"]


@pytest.mark.parametrize("visibility", [2, 4, None, "1", True])
def test_only_visibility_1_is_public(fd: FakeFreshdesk, client: httpx.Client, visibility: Any) -> None:
    fd.add_category(1)
    fd.add_folder(10, category_id=1, visibility=visibility)
    fd.add_article(100, folder_id=10, title="T", description="<p>x</p>")
    events, _ = collect(make(fd, client, include_tickets=False))
    assert docs(events)["fd:article:100"].audience is Visibility.INTERNAL


def test_article_pages_follow_the_link_header(fd: FakeFreshdesk, client: httpx.Client) -> None:
    fd.page_size = 2
    fd.add_category(1)
    fd.add_folder(10, category_id=1)
    for i in range(5):
        fd.add_article(200 + i, folder_id=10, title=f"A{i}", description=f"<p>Body {i}</p>")
    events, _ = collect(make(fd, client, include_tickets=False))
    assert sorted(docs(events)) == [f"fd:article:{200 + i}" for i in range(5)]
    pages = fd.requests_to("/api/v2/solutions/folders/10/articles")
    assert [(r.query["page"], r.query["per_page"]) for r in pages] == [
        ("1", "100"),
        ("2", "100"),
        ("3", "100"),
    ]


def test_without_link_header_a_short_page_ends_the_listing(
    fd: FakeFreshdesk, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(freshdesk_client, "FRESHDESK_PER_PAGE", 2)
    fd.link_headers = False
    fd.add_category(1)
    fd.add_folder(10, category_id=1)
    for i in range(5):
        fd.add_article(200 + i, folder_id=10, title=f"A{i}", description=f"<p>Body {i}</p>")
    events, _ = collect(make(fd, client, include_tickets=False))
    assert len(docs(events)) == 5
    pages = fd.requests_to("/api/v2/solutions/folders/10/articles")
    assert [(r.query["page"], r.query["per_page"]) for r in pages] == [("1", "2"), ("2", "2"), ("3", "2")]


def test_second_sync_yields_only_changed_articles(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_kb(fd)
    connector = make(fd, client, include_tickets=False)
    first, cp1 = collect(connector)
    assert len(docs(first)) == 3
    assert cp1.extra["articles_since"] == "2024-03-03T10:00:00Z"

    fd.update_article(100, description="<p>Plans changed.</p>", updated_at="2024-04-01T08:00:00Z")
    fd.add_article(
        104, folder_id=10, title="New one", description="<p>Hello</p>", updated_at="2024-04-01T08:00:00Z"
    )
    second, cp2 = collect(connector, roundtrip(cp1))
    assert sorted(docs(second)) == ["fd:article:100", "fd:article:104"]
    assert docs(second)["fd:article:100"].text == "Plans changed."
    assert deleted(second) == []

    # Another article saved in the very same second as the watermark: picked up, nothing repeated.
    fd.add_article(
        105, folder_id=10, title="Same second", description="<p>Tie</p>", updated_at="2024-04-01T08:00:00Z"
    )
    third, cp3 = collect(connector, roundtrip(cp2))
    assert list(docs(third)) == ["fd:article:105"]
    fourth, _ = collect(connector, roundtrip(cp3))
    assert fourth == []


def test_folder_visibility_change_re_emits_its_articles(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_kb(fd)
    connector = make(fd, client, include_tickets=False)
    _, cp1 = collect(connector)
    fd.set_folder_visibility(10, 2)  # FAQ now for logged-in users only
    second, _ = collect(connector, roundtrip(cp1))
    assert {i: d.audience for i, d in docs(second).items()} == {
        "fd:article:100": Visibility.INTERNAL,
        "fd:article:101": Visibility.INTERNAL,
    }


def test_unpublished_article_reported_deleted(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_kb(fd)
    connector = make(fd, client, include_tickets=False)
    _, cp1 = collect(connector)
    fd.update_article(101, status=1, updated_at="2024-05-01T00:00:00Z")
    second, _ = collect(connector, roundtrip(cp1))
    assert (docs(second), deleted(second)) == ({}, ["fd:article:101"])
    assert "fd:article:101" not in connector.list_ids()


def test_list_ids_is_complete_across_pages_and_scope_is_articles_only(
    fd: FakeFreshdesk, client: httpx.Client
) -> None:
    seed_kb(fd)
    fd.page_size = 1
    connector = make(fd, client)
    assert sorted(connector.list_ids()) == ["fd:article:100", "fd:article:101", "fd:article:103"]
    assert connector.prune_scope() == ("fd:article:",)
    fd.remove_article(101)
    assert sorted(connector.list_ids()) == ["fd:article:100", "fd:article:103"]
    no_articles = make(fd, client, include_articles=False)
    assert (no_articles.list_ids(), no_articles.prune_scope()) == ([], ())


def test_list_ids_raises_when_a_page_fails(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_kb(fd)
    fd.page_size = 1
    fd.fail("/api/v2/solutions/folders/10/articles", 500, times=50, query={"page": "2"})
    sleeps = Sleeps()
    with pytest.raises(TransientError, match="HTTP 500"):
        make(fd, client, sleeps).list_ids()
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_list_ids_raises_rather_than_stop_at_the_page_cap(
    fd: FakeFreshdesk, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(freshdesk_connector, "FRESHDESK_MAX_PAGES", 2)
    fd.page_size = 1
    seed_kb(fd)  # folder 10 holds 3 articles: 3 pages of 1
    with pytest.raises(ConnectorError, match="more than 2 pages"):
        make(fd, client).list_ids()


# -- tickets --------------------------------------------------------------------------------------


def test_ticket_text_has_customer_and_public_replies_only_by_default(
    fd: FakeFreshdesk, client: httpx.Client
) -> None:
    seed_kb(fd)
    seed_tickets(fd)
    events, _ = collect(make(fd, client))
    by_id = docs(events)
    t = by_id["fd:ticket:1"]
    assert t.text == (
        "# Charged twice\n\n## Customer\n\nI was charged **twice**.\n\n"
        "## Agent reply\n\nSorry! We refunded the second charge.\n\n## Customer\n\nThanks, got it."
    )
    assert (t.title, t.kind, t.audience) == ("Charged twice", DocumentKind.TICKET, Visibility.INTERNAL)
    assert t.url == f"{fd.url}/a/tickets/1"
    assert t.updated_at == datetime(2024, 3, 5, 10, tzinfo=UTC)
    assert t.metadata == {"status": "resolved", "tags": ["billing"]}
    assert by_id["fd:ticket:2"].metadata["status"] == "closed"
    assert "Reports > Export" in by_id["fd:ticket:2"].text
    assert all(CANARY not in d.text for d in by_id.values() if d.kind is DocumentKind.TICKET)
    assert all(CANARY not in d.text for d in by_id.values() if d.audience is Visibility.PUBLIC)


def test_internal_notes_only_with_the_flag_and_never_public(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_kb(fd)
    seed_tickets(fd)
    events, _ = collect(make(fd, client, include_internal_notes=True))
    by_id = docs(events)
    assert by_id["fd:ticket:1"].text == (
        "# Charged twice\n\n## Customer\n\nI was charged **twice**.\n\n"
        f"## Internal note\n\nRefund via {CANARY}.\n\n"
        "## Agent reply\n\nSorry! We refunded the second charge.\n\n## Customer\n\nThanks, got it."
    )
    holders = {d.id: d.audience for d in by_id.values() if CANARY in d.text}
    assert holders == {"fd:ticket:1": Visibility.INTERNAL, "fd:article:103": Visibility.INTERNAL}


def test_only_configured_statuses_are_indexed(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_tickets(fd)
    events, _ = collect(make(fd, client, include_articles=False))
    assert sorted(docs(events)) == ["fd:ticket:1", "fd:ticket:2"]
    assert deleted(events) == ["fd:ticket:3"]  # open: make sure nothing of it stays indexed
    assert fd.requests_to("/api/v2/tickets/3/conversations") == []
    events, _ = collect(make(fd, client, include_articles=False, ticket_statuses=(2,)))
    assert list(docs(events)) == ["fd:ticket:3"]
    assert sorted(deleted(events)) == ["fd:ticket:1", "fd:ticket:2"]


def test_ticket_listing_query_and_first_sync_start(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_tickets(fd)
    collect(make(fd, client, include_articles=False))
    listing = [r.query for r in fd.requests_to(TICKETS_PATH) if "filter" not in r.query]
    assert listing == [
        {
            "include": "description",
            "updated_since": "2000-01-01T00:00:00Z",
            "order_by": "updated_at",
            "order_type": "asc",
            "per_page": "100",
            "page": "1",
        }
    ]
    fd.requests.clear()
    events, _ = collect(
        make(fd, client, include_articles=False, updated_since=datetime(2024, 3, 6, 10, tzinfo=UTC))
    )
    first = fd.requests_to(TICKETS_PATH)[0].query
    assert first["updated_since"] == "2024-03-06T10:00:00Z"
    assert sorted(docs(events)) == ["fd:ticket:2"]


def test_ticket_pages_follow_the_link_header(fd: FakeFreshdesk, client: httpx.Client) -> None:
    fd.page_size = 2
    for i in range(1, 6):
        fd.add_ticket(i, subject=f"T{i}", description=f"<p>Q{i}</p>", updated_at=f"2024-03-0{i}T10:00:00Z")
    events, cp = collect(make(fd, client, include_articles=False))
    assert list(docs(events)) == [f"fd:ticket:{i}" for i in range(1, 6)]
    listing = [r.query["page"] for r in fd.requests_to(TICKETS_PATH) if "filter" not in r.query]
    assert listing == ["1", "2", "3"]
    assert cp.updated_since == datetime(2024, 3, 5, 10, tzinfo=UTC)
    assert cp.extra["tickets_seen"] == [5]


def test_second_sync_fetches_only_changed_tickets(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_tickets(fd)
    connector = make(fd, client, include_articles=False)
    _, cp1 = collect(connector)
    assert cp1.updated_since == datetime(2024, 3, 7, 10, tzinfo=UTC)
    before = cp1.model_dump()

    fd.update_ticket(2, updated_at="2024-03-08T10:00:00Z")
    fd.add_conversation(2, 22, body="<p>Also works from the API.</p>", created_at="2024-03-08T09:00:00Z")
    fd.add_ticket(4, subject="SSO setup", description="<p>Okta?</p>", updated_at="2024-03-08T11:00:00Z")
    fd.requests.clear()
    second, cp2 = collect(connector, roundtrip(cp1))
    assert cp1.model_dump() == before  # never mutated
    assert sorted(docs(second)) == ["fd:ticket:2", "fd:ticket:4"]
    assert "Also works from the API." in docs(second)["fd:ticket:2"].text
    assert deleted(second) == []  # ticket 3 (open, the boundary of sync 1) is not repeated
    listing = [r.query for r in fd.requests_to(TICKETS_PATH) if "filter" not in r.query]
    assert [q["updated_since"] for q in listing] == ["2024-03-07T10:00:00Z"]
    conversation_paths = sorted(r.path for r in fd.requests if r.path.endswith("/conversations"))
    assert conversation_paths == ["/api/v2/tickets/2/conversations", "/api/v2/tickets/4/conversations"]

    third, cp3 = collect(connector, roundtrip(cp2))
    assert third == [] and cp3.updated_since == datetime(2024, 3, 8, 11, tzinfo=UTC)


def test_page_cap_rolls_updated_since_forward(
    fd: FakeFreshdesk, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(freshdesk_connector, "FRESHDESK_MAX_PAGES", 2)
    fd.max_pages = 2  # the fake refuses page 3 with a 400, as Freshdesk refuses page 301
    fd.page_size = 2
    stamps = ["01", "02", "03", "04", "04", "05", "06", "07", "08"]  # tickets 4 and 5 share a second
    for i, day in enumerate(stamps, start=1):
        fd.add_ticket(i, subject=f"T{i}", description=f"<p>Q{i}</p>", updated_at=f"2024-03-{day}T10:00:00Z")
    events, cp = collect(make(fd, client, include_articles=False))
    assert [e.id for e in events if isinstance(e, Document)] == [f"fd:ticket:{i}" for i in range(1, 10)]
    listing = [
        (r.query["updated_since"], r.query["page"])
        for r in fd.requests_to(TICKETS_PATH)
        if "filter" not in r.query
    ]
    assert listing == [
        ("2000-01-01T00:00:00Z", "1"),
        ("2000-01-01T00:00:00Z", "2"),
        ("2024-03-04T10:00:00Z", "1"),
        ("2024-03-04T10:00:00Z", "2"),
        ("2024-03-06T10:00:00Z", "1"),
        ("2024-03-06T10:00:00Z", "2"),
    ]
    assert cp.updated_since == datetime(2024, 3, 8, 10, tzinfo=UTC)


def test_page_cap_full_of_one_second_is_reported_not_looped(
    fd: FakeFreshdesk, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(freshdesk_connector, "FRESHDESK_MAX_PAGES", 1)
    fd.max_pages = 1
    fd.page_size = 2
    for i in (1, 2, 3):
        fd.add_ticket(i, subject=f"T{i}", description="<p>Q</p>", updated_at="2024-03-01T10:00:00Z")
    fd.add_ticket(4, subject="T4", description="<p>Q</p>", updated_at="2024-03-02T10:00:00Z")
    skipped: list[str] = []
    events, _ = collect(make(fd, client, include_articles=False), skipped=skipped)
    assert list(docs(events)) == ["fd:ticket:1", "fd:ticket:2", "fd:ticket:4"]
    assert len(skipped) == 1 and "2024-03-01T10:00:00Z" in skipped[0]


def test_deleted_tickets_from_the_deleted_filter(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_tickets(fd)
    connector = make(fd, client, include_articles=False)
    _, cp1 = collect(connector)
    fd.delete_ticket(2, updated_at="2024-03-09T10:00:00Z")
    fd.requests.clear()
    second, cp2 = collect(connector, roundtrip(cp1))
    assert (docs(second), deleted(second)) == ({}, ["fd:ticket:2"])
    trash = [r.query for r in fd.requests_to(TICKETS_PATH) if r.query.get("filter") == "deleted"]
    assert [q["updated_since"] for q in trash] == ["2000-01-01T00:00:00Z"]
    third, _ = collect(connector, roundtrip(cp2))
    assert third == []
    trash = [r.query for r in fd.requests_to(TICKETS_PATH) if r.query.get("filter") == "deleted"]
    assert trash[-1]["updated_since"] == "2024-03-09T10:00:00Z"


def test_deleted_flag_in_the_listing_yields_deleted(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_tickets(fd)
    fd.deleted_in_listing = True
    fd.delete_ticket(1, updated_at="2024-03-09T10:00:00Z")
    events, _ = collect(make(fd, client, include_articles=False))
    assert "fd:ticket:1" not in docs(events)
    # Once from the listing's deleted flag, once from filter=deleted.
    assert deleted(events).count("fd:ticket:1") == 2
    assert fd.requests_to("/api/v2/tickets/1/conversations") == []


# -- errors, limits, malformed records ------------------------------------------------------------


def test_429_retry_after_seconds_is_slept_then_retried(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_kb(fd)
    fd.fail(CATEGORIES, 429, retry_after="7")
    sleeps = Sleeps()
    events, _ = collect(make(fd, client, sleeps, include_tickets=False))
    assert sleeps == [7.0]
    assert len(docs(events)) == 3
    assert len(fd.requests_to(CATEGORIES)) == 2


def test_429_retry_after_http_date_is_slept_then_retried(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_tickets(fd)
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    fd.fail(TICKETS_PATH, 429, retry_after=when)
    sleeps = Sleeps()
    events, _ = collect(make(fd, client, sleeps, include_articles=False))
    assert len(sleeps) == 1 and 25.0 <= sleeps[0] <= 30.0
    assert sorted(docs(events)) == ["fd:ticket:1", "fd:ticket:2"]


def test_low_rate_limit_remaining_pauses(fd: FakeFreshdesk, client: httpx.Client) -> None:
    fd.add_category(1)
    fd.rate_limit_remaining = 1
    sleeps = Sleeps()
    collect(make(fd, client, sleeps, include_tickets=False))
    assert sleeps == [1.0, 1.0]  # categories, then folders of category 1
    fd.rate_limit_remaining = 500
    sleeps.clear()
    collect(make(fd, client, sleeps, include_tickets=False))
    assert sleeps == []


def test_401_is_an_auth_error(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_kb(fd)
    with pytest.raises(AuthError, match="HTTP 401"):
        collect(make(fd, client, environ={"FRESHDESK_API_KEY": "wrong-key"}))
    assert len(fd.requests) == 1  # not retried


def test_repeated_500_is_a_transient_error(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_tickets(fd)
    fd.fail("/api/v2/tickets/1/conversations", 500, times=6)
    sleeps = Sleeps()
    with pytest.raises(TransientError, match="HTTP 500 after 6 attempts"):
        collect(make(fd, client, sleeps, include_articles=False))
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_a_500_then_success_is_retried(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_tickets(fd)
    fd.fail(TICKETS_PATH, 503, times=1)
    sleeps = Sleeps()
    events, _ = collect(make(fd, client, sleeps, include_articles=False))
    assert sleeps == [0.5] and sorted(docs(events)) == ["fd:ticket:1", "fd:ticket:2"]


def test_a_body_that_is_not_json_is_a_transient_error(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_kb(fd)
    fd.fail("/api/v2/solutions/categories/1/folders", 200, garbage=True)
    with pytest.raises(TransientError, match="not JSON"):
        collect(make(fd, client, include_tickets=False))


def test_malformed_records_are_skipped_and_reported(fd: FakeFreshdesk, client: httpx.Client) -> None:
    seed_kb(fd)
    seed_tickets(fd)
    fd.add_raw_article(
        10,
        {
            "title": "No id",
            "status": 2,
            "description": f"<p>{CANARY}</p>",
            "updated_at": "2024-03-01T00:00:00Z",
        },
    )
    fd.add_article(150, folder_id=10, title="Empty", description="")
    fd.articles[10][-1]["description_text"] = None
    fd.add_raw_ticket({"id": "seven", "subject": "bad id", "updated_at": "2024-03-05T11:00:00Z", "status": 4})
    fd.add_ticket(8, subject="Bad date", description="<p>x</p>", updated_at="2024-03-05T12:00:00Z")
    fd.update_ticket(8, updated_at="yesterday")
    fd.add_ticket(9, subject="Bad status", description="<p>x</p>", updated_at="2024-03-05T13:00:00Z")
    fd.update_ticket(9, status="resolved")
    fd.conversations[2].append({"id": 23, "body": f"<p>{CANARY}</p>", "private": "yes", "incoming": False})
    skipped: list[str] = []
    with capture_logs() as logs:
        events, _ = collect(make(fd, client), skipped=skipped)
    assert sorted(docs(events)) == [
        "fd:article:100",
        "fd:article:101",
        "fd:article:103",
        "fd:ticket:1",
        "fd:ticket:2",
    ]
    assert CANARY not in docs(events)["fd:ticket:2"].text
    assert skipped == [
        "article (no id): missing numeric id",
        "article 150: missing description (body)",
        "ticket 8: missing numeric id or readable updated_at",  # an unreadable date sorts first
        "ticket (no id): missing numeric id or readable updated_at",
        "ticket 9: status is not a number",
        "ticket 2 conversation 23: private/incoming flags missing",
    ]
    warnings = [e for e in logs if e["event"] == "freshdesk_record_skipped"]
    assert len(warnings) == 6
    assert all(CANARY not in repr(e) for e in logs)


# -- conformance with recorded payloads ---------------------------------------------------------


def test_recorded_payload_shapes_parse(fd: FakeFreshdesk, client: httpx.Client, shared_dir: Path) -> None:
    """python-freshdesk's sample v2 responses, served as they are, come out as expected."""
    v2 = shared_dir / "fixtures" / "freshdesk" / "v2"
    if not v2.is_dir():
        pytest.skip("no Freshdesk fixtures")
    load = lambda name: json.loads((v2 / name).read_text(encoding="utf-8"))  # noqa: E731
    fd.categories = load("solution_categories.json")  # category 2
    fd.folders = {2: load("solution_folders.json")}  # folder 3, no visibility field
    fd.articles = {3: load("solution_articles.json")}  # 4 published, 5 draft
    ticket = load("ticket_1.json")
    ticket["status"] = 4
    fd.tickets = [ticket]
    fd.conversations = {1: load("conversations.json")}  # a private note, then a public reply
    events, _ = collect(make(fd, client, updated_since=datetime(2016, 1, 1, tzinfo=UTC)))
    by_id = docs(events)
    assert sorted(by_id) == ["fd:article:4", "fd:ticket:1"]
    article = by_id["fd:article:4"]
    assert article.title == "Changing account details" and "**account details**" in article.text
    assert article.audience is Visibility.INTERNAL  # no visibility recorded: never guessed public
    assert deleted(events) == ["fd:article:5"]
    assert by_id["fd:ticket:1"].text == (
        "# This is a sample ticket\n\n## Customer\n\n"
        "This is a sample ticket, feel free to delete it.\n\n"
        "## Agent reply\n\nThis is a reply"
    )
