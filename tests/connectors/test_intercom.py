"""The Intercom connector against a real local HTTP server speaking Intercom's 2.14 wire format."""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from bot.errors import ConfigError
from bot.models import Deleted, Document, DocumentKind, Visibility
from connectors.base import AuthError, Checkpoint, Skipped, TransientError, drain
from connectors.intercom import IntercomConnector, IntercomSettings
from connectors.registry import CONNECTOR_TYPES, build_connector
from tests.fakes.intercom_server import FakeIntercom, RecordedRequest

TOKEN = "test-token"
ENV = {"INTERCOM_ACCESS_TOKEN": TOKEN}
T = 1_773_144_000  # 2026-03-10 12:00:00 UTC
CANARY = "CANARY-7f3a-internal-only"
WORKSPACE = "https://app.intercom.com/a/inbox/abc123"

Connect = Callable[..., tuple[IntercomConnector, list[float]]]


@pytest.fixture
def fake() -> Iterator[FakeIntercom]:
    with FakeIntercom(page_size=2, token=TOKEN) as server:
        yield server


@pytest.fixture
def connect(fake: FakeIntercom) -> Iterator[Connect]:
    clients: list[httpx.Client] = []

    def make(environ: dict[str, str] | None = None, clock: Callable[[], float] | None = None,
             **options: Any) -> tuple[IntercomConnector, list[float]]:
        client = httpx.Client(base_url=fake.url, timeout=5)
        clients.append(client)
        sleeps: list[float] = []
        extra = {"clock": clock} if clock else {}
        settings = IntercomSettings(name="ic", base_url=fake.url, **options)
        connector = IntercomConnector(settings, client=client, environ=ENV if environ is None else environ,
                                      sleep=sleeps.append, **extra)
        return connector, sleeps

    yield make
    for client in clients:
        client.close()


def run(connector: IntercomConnector, checkpoint: Checkpoint | None = None,
        skipped: list[str] | None = None) -> tuple[list[Document], list[str], Checkpoint]:
    """Documents, deleted ids and the checkpoint; skip reasons go to ``skipped``."""
    events, returned = drain(connector.sync(checkpoint))
    docs: list[Document] = []
    deleted: list[str] = []
    for event in events:
        if isinstance(event, Deleted):
            assert event.source == connector.name
            deleted.append(event.id)
        elif isinstance(event, Skipped):
            if skipped is not None:
                skipped.append(event.reason)
        else:
            docs.append(event)
    assert returned is not None
    return docs, deleted, returned


def pages_requested(fake: FakeIntercom, since: int = 0) -> list[str]:
    return [r.query["page"] for r in fake.requests[since:] if r.path == "/articles"]


def add_articles(fake: FakeIntercom, n: int) -> None:
    for i in range(1, n + 1):
        fake.add_article(str(i), title=f"Article {i}", body=f"<p>Body {i}</p>", updated_at=T + 10 * i)


# -- articles ------------------------------------------------------------------------------------


@pytest.mark.parametrize("next_style", ["url", "object", "none"])
def test_articles_across_pages_published_only(fake: FakeIntercom, connect: Connect, next_style: str) -> None:
    fake.next_style = next_style
    fake.add_article("1", title="Reset your password", updated_at=T + 50,
                     body="<h2>Steps</h2><p>Click <b>Reset</b>.</p><ul><li>Check your inbox</li></ul>")
    fake.add_article("2", title="Plans", updated_at=T + 40, parent_id=None)
    fake.add_article("3", title="Secret draft", body=f"<p>{CANARY}</p>", state="draft", updated_at=T + 30)
    fake.add_article("4", title="Billing", updated_at=T + 20)
    fake.add_article("5", title="Exports", updated_at=T + 10, url=None)
    connector, sleeps = connect(include_conversations=False)

    docs, deleted, checkpoint = run(connector)

    assert [d.id for d in docs] == ["ic:article:1", "ic:article:2", "ic:article:4", "ic:article:5"]
    assert deleted == ["ic:article:3"]  # a draft is never a document; reported in case it was published before
    first = docs[0]
    assert (first.title, first.url, first.kind, first.audience, first.source) == (
        "Reset your password", "https://help.example.test/en/articles/1", DocumentKind.ARTICLE, Visibility.PUBLIC, "ic")
    assert first.text == "## Steps\n\nClick **Reset**.\n\n- Check your inbox"
    assert first.updated_at == datetime(2026, 3, 10, 12, 0, 50, tzinfo=UTC)
    assert first.metadata == {"parent_id": 10, "parent_type": "collection"}
    assert docs[1].metadata == {} and docs[3].url is None
    assert all(CANARY not in d.text and CANARY not in d.title for d in docs)
    assert pages_requested(fake) == ["1", "2", "3"]
    assert all(r.query["per_page"] == "50" for r in fake.requests)
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in fake.requests)
    assert all(r.headers["intercom-version"] == "2.14" for r in fake.requests)
    assert not fake.requests_to("POST", "/conversations/search")
    assert checkpoint.extra["articles"] == {"since": T + 50, "ids": ["1"]}
    assert checkpoint.updated_since == datetime(2026, 3, 10, 12, 0, 50, tzinfo=UTC)
    assert sleeps == []


def test_second_sync_fetches_only_changed_articles(fake: FakeIntercom, connect: Connect) -> None:
    add_articles(fake, 9)  # T+10 .. T+90, five pages of two
    connector, _ = connect(include_conversations=False)
    docs, _, cp1 = run(connector)
    assert len(docs) == 9 and pages_requested(fake) == ["1", "2", "3", "4", "5"]
    frozen = cp1.model_dump()

    fake.add_article("1", title="Article 1 v2", body="<p>New body</p>", updated_at=T + 100)  # changed
    fake.add_article("10", title="Article 10", updated_at=T + 95)  # new
    fake.add_article("11", title="Same second", updated_at=T + 90)  # new, same second as the checkpoint
    mark = len(fake.requests)
    docs, deleted, cp2 = run(connector, cp1)

    assert [d.id for d in docs] == ["ic:article:1", "ic:article:10", "ic:article:11"]
    assert docs[0].title == "Article 1 v2" and docs[0].text == "New body"
    assert deleted == []
    # Newest first: paging stops at the first page that reaches older articles (6 pages exist).
    assert pages_requested(fake, mark) == ["1", "2", "3"]
    assert cp1.model_dump() == frozen  # the old checkpoint is not mutated
    assert cp2.extra["articles"] == {"since": T + 100, "ids": ["1"]}

    mark = len(fake.requests)
    docs, deleted, cp3 = run(connector, cp2)
    assert (docs, deleted) == ([], [])
    assert pages_requested(fake, mark) == ["1"]
    assert cp3.extra == cp2.extra


def test_article_turned_draft_is_deleted_and_pruned(fake: FakeIntercom, connect: Connect) -> None:
    add_articles(fake, 3)
    connector, _ = connect(include_conversations=False)
    _, _, cp1 = run(connector)
    fake.add_article("2", title="Article 2", body=f"<p>{CANARY}</p>", state="draft", updated_at=T + 200)
    docs, deleted, _ = run(connector, cp1)
    assert docs == [] and deleted == ["ic:article:2"]
    assert connector.list_ids() == ["ic:article:1", "ic:article:3"]


def test_list_ids_is_complete_and_scoped_to_articles(fake: FakeIntercom, connect: Connect) -> None:
    add_articles(fake, 5)
    fake.add_article("6", title="Draft", state="draft", updated_at=T + 60)
    fake.add_conversation("900", updated_at=T)
    connector, _ = connect()
    assert connector.list_ids() == [f"ic:article:{i}" for i in range(1, 6)]
    assert pages_requested(fake) == ["1", "2", "3"]
    assert connector.prune_scope() == ("ic:article:",)

    del fake.articles["2"]  # deleted at the source: it vanishes from the listing
    assert connector.list_ids() == ["ic:article:1", "ic:article:3", "ic:article:4", "ic:article:5"]
    assert not fake.requests_to("POST", "/conversations/search")


def test_list_ids_raises_when_a_page_fails(fake: FakeIntercom, connect: Connect) -> None:
    add_articles(fake, 5)
    connector, sleeps = connect()
    fake.fail("GET", "/articles", 500, times=10, match={"page": "2"})
    with pytest.raises(TransientError, match="HTTP 500"):
        connector.list_ids()
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert pages_requested(fake) == ["1"] + ["2"] * 6


def test_list_ids_raises_when_the_listing_shifts(fake: FakeIntercom, connect: Connect) -> None:
    add_articles(fake, 5)
    connector, _ = connect()

    def delete_during_listing(request: RecordedRequest) -> None:
        if request.path == "/articles" and request.query.get("page") == "2":
            fake.articles.pop("5", None)  # page 2 now starts one article later: one would be missed

    fake.before_request = delete_during_listing
    with pytest.raises(TransientError, match="changed while it was being read"):
        connector.list_ids()


# -- conversations -------------------------------------------------------------------------------


def add_login_conversation(fake: FakeIntercom, cid: str = "101", state: str = "closed", updated_at: int = T) -> None:
    fake.add_conversation(
        cid,
        subject="<p>Can't log in</p>",
        source=("user", "<p>I cannot log in since <b>Monday</b>.</p>"),
        parts=[
            ("assignment", "admin", None),
            ("comment", "admin", "<p>Please try the reset link.</p>"),
            ("note", "admin", f"<p>{CANARY} customer is on legacy SSO</p>"),
            ("comment", "user", "<p>That worked, thanks!</p>"),
            ("note_and_reopen", "admin", f"<p>{CANARY} reopened</p>"),
            ("custom_action_finished", "admin", None),
            ("close", "admin", "<p>Glad to help.</p>"),
        ],
        state=state,
        updated_at=updated_at,
    )


def test_conversation_text_has_no_internal_notes_by_default(fake: FakeIntercom, connect: Connect) -> None:
    add_login_conversation(fake)
    add_login_conversation(fake, "102", state="open")
    fake.add_article("1", title="Login help", body="<p>Use the reset link.</p>", updated_at=T)
    connector, _ = connect(workspace_url=WORKSPACE)

    docs, deleted, checkpoint = run(connector)

    by_id = {d.id: d for d in docs}
    assert set(by_id) == {"ic:article:1", "ic:conversation:101"} and deleted == []
    conv = by_id["ic:conversation:101"]
    assert conv.text == (
        "# Can't log in\n\n"
        "## Customer\n\nI cannot log in since **Monday**.\n\n"
        "## Agent reply\n\nPlease try the reset link.\n\n"
        "## Customer\n\nThat worked, thanks!\n\n"
        "## Agent reply\n\nGlad to help."
    )
    assert (conv.title, conv.kind, conv.audience) == ("Can't log in", DocumentKind.TICKET, Visibility.INTERNAL)
    assert conv.url == f"{WORKSPACE}/inbox/conversation/101"
    assert conv.updated_at == datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert conv.metadata == {"state": "closed"}
    for doc in docs:
        assert CANARY not in doc.text and CANARY not in doc.title
    search = fake.requests_to("POST", "/conversations/search")[0].json
    assert search["query"] == {"field": "state", "operator": "=", "value": "closed"}
    assert search["sort"] == {"field": "updated_at", "order": "ascending"}
    assert [r.path for r in fake.requests if r.method == "GET" and r.path.startswith("/conversations/")] == [
        "/conversations/101"]
    assert checkpoint.extra["conversations"] == {"since": T, "ids": ["101"]}


def test_internal_notes_only_with_the_flag(fake: FakeIntercom, connect: Connect) -> None:
    add_login_conversation(fake)
    fake.add_article("1", title="Login help", body="<p>Use the reset link.</p>", updated_at=T)
    connector, _ = connect(include_internal_notes=True)

    docs, _, _ = run(connector)

    conv = next(d for d in docs if d.kind is DocumentKind.TICKET)
    assert conv.audience is Visibility.INTERNAL and conv.url is None
    assert conv.text.split("\n\n## ")[1:] == [
        "Customer\n\nI cannot log in since **Monday**.",
        "Agent reply\n\nPlease try the reset link.",
        f"Internal note\n\n{CANARY} customer is on legacy SSO",
        "Customer\n\nThat worked, thanks!",
        f"Internal note\n\n{CANARY} reopened",
        "Agent reply\n\nGlad to help.",
    ]
    public = [d for d in docs if d.audience is Visibility.PUBLIC]
    assert public and all(CANARY not in d.text for d in public)


def test_open_conversations_with_only_closed_off(fake: FakeIntercom, connect: Connect) -> None:
    fake.add_conversation("1", source=("user", "<p>Still broken</p>"), state="open", updated_at=T)
    fake.add_conversation("2", source=("admin", "<p>New feature!</p>"), parts=[("comment", "lead", "<p>Cool</p>")],
                          updated_at=T + 1, title="Announcement")
    connector, _ = connect(include_articles=False, only_closed=False)
    docs, _, _ = run(connector)
    assert [d.id for d in docs] == ["ic:conversation:1", "ic:conversation:2"]
    assert docs[0].title == "Still broken" and docs[0].text == "# Still broken\n\n## Customer\n\nStill broken"
    assert docs[1].title == "Announcement"
    assert docs[1].text == "# Announcement\n\n## Agent reply\n\nNew feature!\n\n## Customer\n\nCool"
    assert fake.requests_to("POST", "/conversations/search")[0].json["query"] == {
        "field": "updated_at", "operator": ">", "value": "0"}
    assert not fake.requests_to("GET", "/articles")


def test_conversation_search_pages_and_incremental_sync(fake: FakeIntercom, connect: Connect) -> None:
    for i in range(1, 6):
        fake.add_conversation(str(i), subject=f"Question {i}", source=("user", f"<p>Question {i}?</p>"),
                              parts=[("comment", "admin", f"<p>Answer {i}.</p>")], updated_at=T + i)
    connector, _ = connect(include_articles=False)
    docs, _, cp1 = run(connector)

    assert [d.id for d in docs] == [f"ic:conversation:{i}" for i in range(1, 6)]
    searches = [r.json for r in fake.requests_to("POST", "/conversations/search")]
    assert len(searches) == 3  # five closed conversations, two per page
    assert searches[0]["pagination"] == {"per_page": 150}
    cursors = [s["pagination"].get("starting_after") for s in searches]
    assert cursors[0] is None and cursors[1] and cursors[2] and cursors[1] != cursors[2]
    assert cp1.extra["conversations"] == {"since": T + 5, "ids": ["5"]}

    # Later the same day: one conversation gets a reply, one is new (in the checkpoint's second).
    fake.add_conversation("2", subject="Question 2", source=("user", "<p>Question 2?</p>"),
                          parts=[("comment", "admin", "<p>Answer 2.</p>"), ("comment", "admin", "<p>Update.</p>")],
                          updated_at=T + 3600)
    fake.add_conversation("6", subject="Question 6", source=("user", "<p>Question 6?</p>"), updated_at=T + 5)
    mark = len(fake.requests)
    docs, deleted, cp2 = run(connector, cp1)

    assert [d.id for d in docs] == ["ic:conversation:6", "ic:conversation:2"] and deleted == []
    assert docs[1].text.endswith("## Agent reply\n\nUpdate.")
    gets = [r.path for r in fake.requests[mark:] if r.method == "GET"]
    assert gets == ["/conversations/6", "/conversations/2"]
    query = fake.requests_to("POST", "/conversations/search")[-1].json["query"]
    # Search compares whole days, so it asks from a day before the checkpoint.
    assert query == {"operator": "AND", "value": [
        {"field": "updated_at", "operator": ">", "value": str(T + 5 - 86_400)},
        {"field": "state", "operator": "=", "value": "closed"},
    ]}
    assert cp2.extra["conversations"] == {"since": T + 3600, "ids": ["2"]}

    mark = len(fake.requests)
    docs, deleted, _ = run(connector, cp2)
    assert (docs, deleted) == ([], [])
    # The day's conversations are listed again (search has day precision) but none is fetched.
    assert [r.method for r in fake.requests[mark:]] == ["POST", "POST", "POST"]


def test_conversation_gone_before_its_fetch_is_deleted(fake: FakeIntercom, connect: Connect) -> None:
    for i in range(1, 4):
        fake.add_conversation(str(i), source=("user", f"<p>Message {i}</p>"), updated_at=T + i)

    def delete_on_fetch(request: RecordedRequest) -> None:
        if request.method == "GET" and request.path == "/conversations/2":
            del fake.conversations["2"]

    fake.before_request = delete_on_fetch
    connector, sleeps = connect(include_articles=False)
    docs, deleted, checkpoint = run(connector)
    assert [d.id for d in docs] == ["ic:conversation:1", "ic:conversation:3"]
    assert deleted == ["ic:conversation:2"]
    assert sleeps == [] and checkpoint.extra["conversations"]["since"] == T + 3
    assert connector.list_ids() == []  # conversations are never listed, so never pruned


# -- errors and rate limits ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "retry_after", "expected"),
    [
        ({}, "7", (7.0, 7.0)),
        ({}, "date", (28.0, 30.0)),
        ({"X-RateLimit-Reset": "1800000012", "X-RateLimit-Remaining": "0"}, None, (12.0, 12.0)),  # Intercom's own form
    ],
    ids=["seconds", "http-date", "x-ratelimit-reset"],
)
def test_429_is_retried_after_the_announced_wait(
    fake: FakeIntercom, connect: Connect, headers: dict[str, str], retry_after: str | None, expected: tuple[float, float]
) -> None:
    add_articles(fake, 1)
    if retry_after == "date":
        # Relative to the connector's injected clock, which the HTTP-date is now measured against.
        retry_after = email.utils.format_datetime(datetime.fromtimestamp(1_800_000_030, UTC), usegmt=True)
    fake.fail("GET", "/articles", 429, retry_after=retry_after, headers=headers)
    connector, sleeps = connect(include_conversations=False, clock=lambda: 1_800_000_000.0)
    docs, _, _ = run(connector)
    assert [d.id for d in docs] == ["ic:article:1"]
    assert len(sleeps) == 1 and expected[0] <= sleeps[0] <= expected[1]
    assert pages_requested(fake) == ["1", "1"]


def test_low_rate_budget_waits_for_the_reset(fake: FakeIntercom, connect: Connect) -> None:
    add_articles(fake, 3)
    fake.rate_remaining = 1
    fake.rate_reset = int(datetime.now(UTC).timestamp()) + 20
    connector, sleeps = connect(include_conversations=False)
    docs, _, _ = run(connector)
    assert len(docs) == 3
    assert len(sleeps) == 2 and all(17.0 <= s <= 20.0 for s in sleeps)  # one wait after each of the two pages


def test_refused_token_raises_auth_error(fake: FakeIntercom, connect: Connect) -> None:
    add_articles(fake, 1)
    fake.token = "another-token"
    connector, sleeps = connect()
    with pytest.raises(AuthError, match="HTTP 401") as info:
        run(connector)
    assert TOKEN not in str(info.value) and sleeps == []
    assert len(fake.requests) == 1


def test_repeated_server_errors_raise_transient_error(fake: FakeIntercom, connect: Connect) -> None:
    fake.add_conversation("1", updated_at=T)
    fake.fail("POST", "/conversations/search", 500, times=6)
    connector, sleeps = connect(include_articles=False)
    with pytest.raises(TransientError, match="HTTP 500 after 6 attempts"):
        run(connector)
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_one_server_error_is_retried(fake: FakeIntercom, connect: Connect) -> None:
    fake.add_conversation("1", source=("user", "<p>Hi</p>"), updated_at=T)
    fake.fail("GET", "/conversations/1", 503)
    connector, sleeps = connect(include_articles=False)
    docs, _, _ = run(connector)
    assert [d.id for d in docs] == ["ic:conversation:1"] and sleeps == [0.5]


def test_body_that_is_not_json_is_transient(fake: FakeIntercom, connect: Connect) -> None:
    add_articles(fake, 1)
    fake.fail("GET", "/articles", 200, body=b"<html>maintenance</html>", headers={"Content-Type": "text/html"})
    connector, _ = connect()
    with pytest.raises(TransientError, match="not JSON"):
        run(connector)


def test_malformed_records_are_reported_and_skipped(fake: FakeIntercom, connect: Connect) -> None:
    add_articles(fake, 2)
    fake.add_article("bad", title="Bad body", updated_at=T + 5)["body"] = {"html": CANARY}
    fake.add_article("noid", title="No id", updated_at=T + 6)["id"] = None
    fake.add_article("notitle", title="", updated_at=T + 7)
    fake.add_conversation("1", source=("user", "<p>Fine</p>"), updated_at=T + 1)
    fake.add_conversation("2", updated_at=T + 2)["source"] = CANARY
    fake.add_conversation("3", updated_at=T + 3)["conversation_parts"]["conversation_parts"] = ["oops"]
    fake.add_conversation("4", updated_at=T + 4)["updated_at"] = "yesterday"
    connector, _ = connect(include_internal_notes=True)

    skipped: list[str] = []
    docs, _, checkpoint = run(connector, skipped=skipped)

    assert sorted(d.id for d in docs) == ["ic:article:1", "ic:article:2", "ic:conversation:1"]
    assert sorted(skipped) == sorted([
        "article bad: body is not text (dict)",
        "article: record without an id",
        "article notitle: no title",
        "conversation 2: no source message",
        "conversation 3: conversation_parts is not a list of parts",
        "conversation 4: updated_at is not a unix timestamp",
    ])
    assert all(CANARY not in reason for reason in skipped)
    # Malformed records do not hold the checkpoint back: they are retried when they change.
    assert checkpoint.extra["conversations"]["since"] == T + 3


# -- configuration -------------------------------------------------------------------------------


def test_missing_token_variable_is_a_config_error(fake: FakeIntercom, connect: Connect) -> None:
    with pytest.raises(ConfigError, match="INTERCOM_ACCESS_TOKEN"):
        connect(environ={})
    with pytest.raises(ConfigError, match="MY_INTERCOM_TOKEN"):
        connect(environ={"MY_INTERCOM_TOKEN": "  "}, token_env="MY_INTERCOM_TOKEN")
    assert fake.requests == []


def test_settings_defaults_and_registry(fake: FakeIntercom) -> None:
    s = IntercomSettings()
    assert (s.type, s.name, s.base_url, s.token_env) == ("intercom", "intercom", "https://api.intercom.io", "INTERCOM_ACCESS_TOKEN")
    assert (s.include_articles, s.include_conversations, s.include_internal_notes, s.only_closed) == (True, True, False, True)
    assert s.workspace_url is None and s.conversations_per_page == 150
    with pytest.raises(ValidationError):
        IntercomSettings(include_internal_note=True)  # a typo is an error, not a silent default
    with pytest.raises(ValidationError):
        IntercomSettings(conversations_per_page=151)  # the search API's maximum
    assert CONNECTOR_TYPES["intercom"].load() == (IntercomSettings, IntercomConnector)

    # Built the way the sync engine builds it, with its own client.
    fake.add_article("1", title="One", updated_at=T)
    settings = IntercomSettings(name="ic", base_url=fake.url, include_conversations=False)
    connector = build_connector(settings, environ=ENV, sleep=lambda s: None)
    assert isinstance(connector, IntercomConnector)
    try:
        assert connector.list_ids() == ["ic:article:1"]
    finally:
        connector.close()
    assert fake.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert fake.requests[0].headers["intercom-version"] == "2.14"
