"""Block Kit rendering: content can never ping, mention or link; Slack's size limits hold."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answer.text_tables import is_table_line, split_tables
from bot.models import Answer, AnswerReason, Citation, Visibility
from bot.slack import render
from bot.slack.conversation import plain_text
from tests.support.slack import strings_in

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
CITED = "https://help.parcelly.example/articles/reset-your-password"


def cite(n: int = 1, **kw) -> Citation:  # type: ignore[no-untyped-def]
    values = dict(n=n, doc_id=f"d{n}", title="Reset your password", url=CITED, source="help-center",
                  audience=Visibility.PUBLIC, updated_at=NOW - timedelta(days=3))
    values.update(kw)
    return Citation(**values)


def rendered(text: str, citations: list[Citation] | None = None) -> list[render.SlackMessage]:
    answer = Answer(text=text, citations=citations if citations is not None else [cite()], confidence=0.8)
    return render.answer_messages(answer, answer_id="0123456789abcdef", now=NOW, handoff="a human in #support")


def strings(messages: list[render.SlackMessage]) -> list[str]:
    return [text for m in messages for text in (m.text, *strings_in(m.blocks))]


HOSTILE = [
    "<!channel> the API is down",
    "<!here|here> look",
    "<!everyone>",
    "ping <@U024BE7LH> and <@W0123|boss>",
    "<!subteam^SAZ94GDB8|@security> please",
    "<#C0CARRIER|carrier-escalations>",
    "<https://evil.example/login|Click to reset>",
    "<mailto:ceo@evil.example|mail>",
    "&lt;!channel&gt; pre-escaped",
    "@channel and @here and @everyone",
    "visit https://evil.example/phish?a=1&b=2 now",
    "[Reset it here](https://evil.example/reset)",
]


@pytest.mark.parametrize("content", HOSTILE)
def test_content_cannot_mention_broadcast_or_link(content: str) -> None:
    messages = rendered(f"{content} [1]", [cite(title=content, source=content)])
    for s in strings(messages):
        # Slack control sequences: only our one cited link and nothing else.
        for seq in re.findall(r"<([^>]*)>", s):
            assert seq.startswith(CITED + "|"), (content, s)
        assert not re.search(r"@(channel|here|everyone)\b", s), s
        assert "https://evil" not in s  # not even as a bare URL Slack could auto-link
    body = messages[0].blocks[0]["text"]
    assert body["type"] == "mrkdwn" and body["verbatim"] is True


def test_cited_links_survive_other_links_lose_their_target() -> None:
    text = (f"Use [the reset page]({CITED}) or see {CITED}. Ignore [this](https://evil.example/x) "
            "and https://other.example/page. [1]")
    body = rendered(text)[0].blocks[0]["text"]["text"]
    assert f"<{CITED}|the reset page>" in body
    assert f"<{CITED}>." in body
    assert "Ignore this and https:\u200b//other.example/page." in body


def test_markdown_emphasis_and_headings_become_mrkdwn() -> None:
    body = rendered("## Steps\nClick **Forgot password?** [1]")[0].blocks[0]["text"]["text"]
    assert body == "*Steps*\nClick *Forgot password?* [1]"


def test_a_quoted_table_becomes_one_bullet_per_row_named_by_its_header() -> None:
    text = ("| Plan | Monthly price | Shipments included |\n|---|---|---|\n| Starter | $19 | 200 |\n"
            "| Growth | **$49** | 1,500 | [1]\nPrices exclude tax. [1]")
    body = rendered(text)[0].blocks[0]["text"]["text"]
    assert body == ("• *Starter* — Monthly price: $19 · Shipments included: 200\n"
                    "• *Growth* — Monthly price: *$49* · Shipments included: 1,500 [1]\n"
                    "Prices exclude tax. [1]")
    # Rows quoted without their header: the cells in order.
    assert render.tables_as_lists("| Starter | 60 |\n| Growth | 120 | [1]") == "• Starter — 60\n• Growth — 120 [1]"
    # A header that fits no row is kept as a row of its own.
    assert render.tables_as_lists("| Plan | Price |\n|---|---|\n| Starter |") == "• Plan — Price\n• Starter"
    # Escaped pipes stay inside their cell; table rows hostile content is escaped like any other.
    body = rendered("| Code | Meaning |\n|---|---|\n| PCL-1 | a \\| b <!channel> |\n[1]")[0].blocks[0]["text"]["text"]
    assert body == "• *PCL-1* — Meaning: a \\| b &lt;!channel&gt;\n[1]"


_TABLE_LINES = st.lists(st.one_of(
    st.sampled_from(["| a | b |", "|---|---|", "| --- | :---: |", "| **x** | y | [2]", "||", "| only |", "| p | q | r |",
                     "plain line", "", "a | b", "|not closed", "[1]"]),
    st.text(alphabet="|ab -:*[]1", max_size=12)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(_TABLE_LINES)
def test_tables_as_lists_keeps_every_other_line_and_every_cell(lines: list[str]) -> None:
    text = "\n".join(lines)
    lines = text.split("\n")
    # The answer's text cut into plain runs and tables, joined back, is the text.
    assert "\n".join(p if isinstance(p, str) else p.source() for p in split_tables(text)) == text
    out = render.tables_as_lists(text)
    def tableish(line: str) -> bool:
        return is_table_line(line)

    others = [line for line in lines if not tableish(line)]
    kept = [line for line in out.split("\n") if not line.startswith("• ") and not tableish(line)]
    assert kept == others  # text that is not a table is untouched, in order
    flat = out.replace("**", "")
    for piece in split_tables(text):
        if isinstance(piece, str):
            continue
        for row in piece.rows:
            for cell in row.cells:
                assert cell.replace("**", "") in flat
            assert row.marker in flat  # no citation marker is lost
        if piece.header is not None:  # its first cell, the row labels' column, is implied by each row's lead
            named = any(len(row.cells) == len(piece.header.cells) > 1 for row in piece.rows)
            assert all(cell.replace("**", "") in flat for cell in piece.header.cells[1 if named else 0:])
            assert piece.header.marker in flat


def test_sources_block_and_buttons() -> None:
    citations = [cite(1), cite(2, title="Team <roles>", url="javascript:alert(1)", source="kb", section="Admins",
                                audience=Visibility.INTERNAL, updated_at=NOW - timedelta(hours=5)),
                 cite(3, title="Plans", url=None, updated_at=None)]
    blocks = rendered("See [1], [2] and [3].", citations)[0].blocks
    sources = blocks[2]["text"]["text"]
    assert blocks[1] == {"type": "divider"}
    assert sources.splitlines() == [
        "*Sources*",
        f"[1] <{CITED}|Reset your password> · help-center · updated 3 days ago",
        "[2] *Team &lt;roles&gt; › Admins* · kb · updated 5 hours ago",  # an unsafe URL is not linked
        "[3] *Plans* · help-center",
    ]
    assert blocks[3]["elements"][0]["text"].startswith(":lock: Includes internal sources")
    actions = blocks[4]
    assert actions["block_id"] == render.FEEDBACK_BLOCK_ID
    assert [(b["action_id"], b["value"]) for b in actions["elements"]] == [
        (render.ACTION_HELPFUL, "0123456789abcdef"), (render.ACTION_NOT_HELPFUL, "0123456789abcdef")]


def test_abstention_is_plain_and_points_to_a_human() -> None:
    answer = Answer(text="I don't know: ...", abstained=True)
    [msg] = render.answer_messages(answer, answer_id="0123456789abcdef", now=NOW, handoff="<#C0SUPPORT>")
    assert "I don't know" in msg.blocks[0]["text"]["text"]
    assert "Please ask <#C0SUPPORT>." in msg.blocks[0]["text"]["text"]
    assert [b["type"] for b in msg.blocks] == ["section"]


def test_an_on_topic_abstention_names_the_closest_source_as_a_place_to_look() -> None:
    closest = Citation(n=0, doc_id="a1", title="Set up webhooks", section="Retries", url=CITED, source="help-center",
                       audience=Visibility.PUBLIC, updated_at=NOW - timedelta(days=3))
    below_gate = Answer(text="I don't know: ...", abstained=True, confidence=0.31, reason=AnswerReason.BELOW_GATE,
                        closest=closest)
    [msg] = render.answer_messages(below_gate, answer_id="0123456789abcdef", now=NOW, handoff="<#C0SUPPORT>")
    assert [b["type"] for b in msg.blocks] == ["section", "context"]
    assert msg.blocks[1]["elements"][0]["text"] == (
        f"The closest I found, which may not answer it: <{CITED}|Set up webhooks › Retries> · help-center · "
        "updated 3 days ago")
    # Off-topic (stopped by the similarity floor: confidence 0), only internal knowledge answers, or
    # nothing retrieved: no pointer.
    for answer in (below_gate.model_copy(update={"confidence": 0.0}),
                   below_gate.model_copy(update={"reason": AnswerReason.ONLY_INTERNAL}),
                   below_gate.model_copy(update={"reason": AnswerReason.NOTHING_RETRIEVED, "closest": None})):
        [msg] = render.answer_messages(answer, answer_id="0123456789abcdef", now=NOW, handoff="<#C0SUPPORT>")
        assert [b["type"] for b in msg.blocks] == ["section"]


def test_split_respects_the_section_limit_and_never_breaks_an_escape_or_a_link() -> None:
    unit = f"a&b <{CITED}|link> " + "x" * 40 + "\n"
    text = render.mrkdwn(unit.replace(f"<{CITED}|link>", f"[link]({CITED})") * 200, allowed_urls=[CITED])
    pieces = render.split_mrkdwn(text)
    assert len(pieces) > 1 and all(len(p) <= render.SECTION_TEXT_MAX for p in pieces)
    for p in pieces:
        assert p.count("<") == p.count(">")
        assert not re.search(r"&(?!amp;|lt;|gt;)", p)
    words = "".join(pieces).replace("\n", "")
    assert words.count("a&amp;b") == 200

    no_spaces = "y" * 7000
    assert [len(p) for p in render.split_mrkdwn(no_spaces)] == [3000, 3000, 1000]


def test_fifty_blocks_per_message_with_sources_and_buttons_last() -> None:
    text = "\n\n".join(f"paragraph {i} " + "z" * 2900 for i in range(120)) + " [1]"
    messages = rendered(text)
    assert len(messages) == 3
    assert all(len(m.blocks) <= render.MESSAGE_BLOCKS_MAX for m in messages)
    assert messages[-1].blocks[-1]["type"] == "actions"
    assert messages[1].text == "(continued)"
    assert len(messages[0].text) <= render.FALLBACK_TEXT_MAX


@pytest.mark.parametrize(("delta", "expected"), [
    (timedelta(seconds=5), "just now"), (timedelta(minutes=1), "1 minute ago"), (timedelta(hours=3), "3 hours ago"),
    (timedelta(days=1, hours=2), "yesterday"), (timedelta(days=3), "3 days ago"), (timedelta(days=65), "2 months ago"),
    (timedelta(days=800), "2 years ago"), (timedelta(days=-2), "today"),
])
def test_relative_age(delta: timedelta, expected: str) -> None:
    assert render.relative_age(NOW - delta, NOW) == expected


def test_relative_age_of_a_naive_datetime_is_utc() -> None:
    assert render.relative_age(datetime(2026, 9, 28, 12, 0), NOW) == "3 days ago"


def test_plain_text_of_an_incoming_message() -> None:
    raw = "<@UBOT111> how do I use <https://shop.example|my shop> in <#C0123|general> &amp; <!here>? &lt;b&gt;"
    assert plain_text(raw) == "how do I use my shop in #general & ? <b>"
