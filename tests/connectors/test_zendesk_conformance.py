"""The Zendesk connector reads real recorded Zendesk responses (zenpy's betamax cassettes, decoded).

The recordings live in ../shared/fixtures/zendesk/zenpy_recordings (GPL test data: read here,
never copied into the project); the fake server replays their response bodies verbatim. Skipped
where ../shared is absent.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.models import Deleted, Document, DocumentKind, Visibility
from connectors.base import Skipped, drain
from connectors.zendesk import ZendeskConnector, ZendeskSettings
from tests.fakes.zendesk_server import FakeZendesk

ENV = {"ZENDESK_EMAIL": "agent@acme.test", "ZENDESK_API_TOKEN": "tok"}
EXPORT = "/api/v2/incremental/tickets/cursor.json"
ALL_STATUSES = ("new", "open", "pending", "hold", "solved", "closed")


@pytest.fixture(scope="module")
def recordings(shared_dir: Path) -> Path:
    folder = shared_dir / "fixtures" / "zendesk" / "zenpy_recordings"
    if not folder.is_dir():
        pytest.skip(f"{folder} is not present")
    return folder


def interactions(folder: Path, cassette: str) -> list[dict[str, Any]]:
    path = folder / cassette
    if not path.is_file():
        pytest.skip(f"recording {cassette} is not present")
    return json.loads(path.read_text(encoding="utf-8"))


def recorded(folder: Path, cassette: str, path: str, **query: str) -> list[dict[str, Any]]:
    """Response bodies of the GET interactions to ``path`` whose query has these values."""
    out = []
    for i in interactions(folder, cassette):
        parts = urlsplit(i["uri"])
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if i["method"] == "GET" and parts.path == path and i["status"] == 200 and all(q.get(k) == v for k, v in query.items()):
            out.append(i["response_body"])
    assert out, f"no recorded GET {path} {query} in {cassette}"
    return out


@pytest.fixture
def zd() -> Iterator[FakeZendesk]:
    with FakeZendesk() as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


def run(connector: ZendeskConnector, skipped: list[str] | None = None):  # type: ignore[no-untyped-def]
    """Documents and deletions, and the checkpoint; skip reasons go to ``skipped``."""
    events, returned = drain(connector.sync(None))
    if skipped is not None:
        skipped.extend(e.reason for e in events if isinstance(e, Skipped))
    return [e for e in events if not isinstance(e, Skipped)], returned


def test_recorded_ticket_export_and_comments(recordings: Path, zd: FakeZendesk, client: httpx.Client) -> None:
    # A complete recorded export: 87 tickets (new, pending, open, one deleted), end_of_stream true.
    page = recorded(recordings, "TicketsIncrementalTest.test_get_values.json", EXPORT, start_time="0")[0]
    [comments] = recorded(recordings, "TestAttachmentUpload.test_redact_attachment-upload-single.json",
                          "/api/v2/tickets/33/comments.json")
    zd.replay(EXPORT, [page])
    zd.replay("/api/v2/tickets/*/comments.json", [comments], repeat_last=True)
    connector = ZendeskConnector(
        ZendeskSettings(name="zd", base_url=zd.url, include_articles=False, ticket_statuses=ALL_STATUSES),
        client=client, environ=ENV, sleep=lambda s: None)
    skipped: list[str] = []
    events, checkpoint = run(connector, skipped)

    tickets = page["tickets"]
    assert len(tickets) == 87
    live = [t for t in tickets if t["status"] != "deleted"]
    docs = {e.id: e for e in events if isinstance(e, Document)}
    assert skipped == []
    assert set(docs) == {f"zd:ticket:{t['id']}" for t in live}
    assert {e.id for e in events if isinstance(e, Deleted)} == {"zd:ticket:4034"}
    for t in live:
        d = docs[f"zd:ticket:{t['id']}"]
        assert (d.title, d.kind, d.audience) == (t["subject"], DocumentKind.TICKET, Visibility.INTERNAL)
        assert d.url == f"{zd.url}/agent/tickets/{t['id']}"
        assert d.metadata["status"] == t["status"]
        # The recorded comment is public and by someone other than the requester: an agent reply.
        assert d.text == f"# {t['subject']}\n\n## Agent reply\n\nSome comment"
    assert docs["zd:ticket:1"].title == "Sample ticket: Meet the ticket"
    assert checkpoint.extra["tickets_cursor"] == page["after_cursor"] == "MTcwNzI3MTc0MS4wfHw0MDQ1fA=="
    assert len(zd.requests_to("/api/v2/tickets/*/comments.json")) == len(live)


def test_recorded_export_cursor_chain_is_followed(recordings: Path, zd: FakeZendesk, client: httpx.Client) -> None:
    cassette = "TicketsIncrementalTest.test_pagination.json"
    first = recorded(recordings, cassette, EXPORT, start_time="0", per_page="1")[0]
    second = recorded(recordings, cassette, EXPORT, cursor=first["after_cursor"])[0]
    third = copy.deepcopy(recorded(recordings, cassette, EXPORT, cursor=second["after_cursor"])[0])
    third["end_of_stream"] = True  # the recording goes on for 80 pages; end it after three
    zd.replay(EXPORT, [first, second, third])
    connector = ZendeskConnector(ZendeskSettings(name="zd", base_url=zd.url, include_articles=False),
                                 client=client, environ=ENV, sleep=lambda s: None)
    events, checkpoint = run(connector)
    # The recorded cursors (base64 with '=' padding) are sent back exactly as received.
    assert [r.query.get("cursor") for r in zd.requests_to(EXPORT)] == [
        None, "MTY5NTA1MjY2My4wfHwyOHw=", "MTY5NTA1MjY2My4wfHwyOXw="]
    # Status "new" is not indexed by default: each recorded ticket leaves (or stays out of) the index.
    assert [e.id for e in events] == ["zd:ticket:28", "zd:ticket:29", "zd:ticket:30"]
    assert all(isinstance(e, Deleted) for e in events)
    assert checkpoint.extra["tickets_cursor"] == third["after_cursor"]
    assert zd.requests_to("/api/v2/tickets/*/comments.json") == []


def test_recorded_help_center_articles_and_categories(recordings: Path, zd: FakeZendesk, client: httpx.Client) -> None:
    # Categories: the recorded two-page cursor listing (page[size]=1), replayed verbatim.
    cat_pages = recorded(recordings, "CategoryTest.test_pagination.json", "/api/v2/help_center/categories.json",
                         **{"page[size]": "1"})
    cat_pages += recorded(recordings, "CategoryTest.test_pagination.json", "/api/v2/help_center/categories",
                          **{"page[after]": cat_pages[0]["meta"]["after_cursor"]})
    assert [p["meta"]["has_more"] for p in cat_pages] == [True, False]
    # Articles: there is no recorded article listing, only recorded article objects (from creates);
    # they are served in the listing envelope the recorded category listing uses.
    articles = []
    for cassette in ("TestHelpCenterCreateArticle.test_create_article_with_notify_subscribers-true.json",
                     "TestHelpCenterCreateArticle.test_create_article_false_notify_subscribers-false.json",
                     "TestHelpCenterCreateArticle.test_create_article_without_notify_subscribers-None.json"):
        articles += [i["response_body"]["article"] for i in interactions(recordings, cassette)
                     if i["method"] == "POST" and i["status"] == 201 and "article" in (i["response_body"] or {})]
    assert len(articles) == 3
    listing = {"articles": articles, "meta": cat_pages[1]["meta"], "links": cat_pages[1]["links"]}
    zd.replay("/api/v2/help_center/en-us/categories.json", cat_pages)
    zd.replay("/api/v2/help_center/en-us/articles.json", [listing])
    connector = ZendeskConnector(ZendeskSettings(name="zd", base_url=zd.url, include_tickets=False),
                                 client=client, environ=ENV, sleep=lambda s: None)
    skipped: list[str] = []
    events, _ = run(connector, skipped)

    assert skipped == []
    assert [r.query.get("page[after]") for r in zd.requests_to("/api/v2/help_center/en-us/categories.json")] == [
        None, "aQAAAAAAAAAAZIYhB2UAAAAAaZqM/BSaBQAA"]
    docs = {e.id: e for e in events if isinstance(e, Document)}
    assert set(docs) == {f"zd:article:{a['id']}" for a in articles}
    for a in articles:
        d = docs[f"zd:article:{a['id']}"]
        assert (d.title, d.url, d.kind) == (a["title"], a["html_url"], DocumentKind.ARTICLE)
        # Recorded articles carry a user_segment_id: restricted, so internal knowledge.
        assert a["user_segment_id"] is not None and d.audience is Visibility.INTERNAL
        # The body is one "<p>...</p>"; the article's section is not in the (empty) section listing.
        assert a["body"].startswith("<p>") and d.text == a["body"].removeprefix("<p>").removesuffix("</p>")
        assert d.updated_at is not None and d.updated_at.isoformat() == a["updated_at"].replace("Z", "+00:00")
