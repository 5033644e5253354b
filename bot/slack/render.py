"""Block Kit rendering: the answer, its numbered sources and the feedback buttons.

Document text is untrusted: whatever an article, a ticket or an LLM says must never ping a channel,
mention a user or group, or link anywhere but to the cited sources. So every piece of content goes
through :func:`mrkdwn`, which

- escapes ``&``, ``<`` and ``>`` (Slack's own escaping), so ``<!channel>``, ``<!here>``,
  ``<!everyone>``, ``<@U…>``, ``<!subteam^…>``, ``<#C…>`` and ``<http…|…>`` cannot be formed;
- breaks the bare words ``@channel``, ``@here`` and ``@everyone`` with a word joiner;
- turns Markdown links and bare URLs into Slack links only when they point to a cited source, and
  defangs any other http(s) URL (``https:\u200b//…``), so nothing else is clickable;

and section text is sent with ``verbatim: true``, so Slack does not auto-link URLs, channel names or
mentions on its side either. Only settings (the hand-off mention) are trusted Slack markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.answer.text_tables import TextTable, list_item, split_tables
from bot.models import Answer, AnswerReason, Citation, Visibility

#: Slack limits (api.slack.com/reference/block-kit/blocks): section text, blocks per message.
SECTION_TEXT_MAX = 3000
MESSAGE_BLOCKS_MAX = 50
#: Slack limit: a button's ``value``.
BUTTON_VALUE_MAX = 2000
#: Our choice: the ``text`` fallback (notifications, screen readers) is a short preview.
FALLBACK_TEXT_MAX = 300

ACTION_HELPFUL = "helpdesk_feedback_helpful"
ACTION_NOT_HELPFUL = "helpdesk_feedback_not_helpful"
ACTION_SHARE = "helpdesk_share"
FEEDBACK_BLOCK_ID = "helpdesk_feedback"
TALLY_BLOCK_ID = "helpdesk_feedback_tally"

WORD_JOINER = "\u2060"
ZERO_WIDTH_SPACE = "\u200b"

_BROADCAST_WORDS = re.compile(r"@(channel|here|everyone)\b", re.I)
_LINK_OR_URL = re.compile(
    r"\[(?P<label>[^\]\n]{1,500})\]\((?P<target>[^)\s]{1,2000})\)"  # [label](target)
    r"|(?P<url>\bhttps?://[^\s<>()\[\]\"'`]+)",  # a bare URL
    re.I,
)
_URL_TRAILING = ".,;:!?*_~"
_SAFE_URL = re.compile(r"^https?://[^\s<>|\x00-\x1f\x7f]+$", re.I)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*$", re.M)


@dataclass(frozen=True)
class SlackMessage:
    """One ``chat.postMessage`` worth: the fallback ``text`` and the ``blocks``."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, Any]:
        # unfurl off: a cited page's preview is noise, and content must not pull in previews either.
        return {"text": self.text, "blocks": self.blocks, "unfurl_links": False, "unfurl_media": False}


# --- text ----------------------------------------------------------------------------------------
def escape(text: str) -> str:
    """Slack-escape untrusted text: no control sequence (mention, broadcast, link) can survive."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST_WORDS.sub(lambda m: "@" + WORD_JOINER + m.group(1), text)


def is_safe_url(url: str | None) -> bool:
    """True for an http(s) URL that can stand inside Slack's ``<url|label>`` syntax unchanged."""
    return bool(url) and len(url or "") <= 2000 and _SAFE_URL.match(url or "") is not None


def _defang(url: str) -> str:
    return escape(re.sub(r"^(https?):", lambda m: m.group(1) + ":" + ZERO_WIDTH_SPACE, url, count=1, flags=re.I))


def mrkdwn(text: str, *, allowed_urls: Iterable[str] = ()) -> str:
    """Markdown-ish content → safe Slack mrkdwn; links survive only to ``allowed_urls``."""
    allowed = {u for u in allowed_urls if is_safe_url(u)}
    out: list[str] = []
    pos = 0
    for m in _LINK_OR_URL.finditer(text):
        out.append(escape(text[pos:m.start()]))
        pos = m.end()
        if m.group("url") is not None:
            url = m.group("url")
            trailing = ""
            while url and url[-1] in _URL_TRAILING:
                url, trailing = url[:-1], url[-1] + trailing
            out.append(f"<{url}>" if url in allowed else _defang(url))
            out.append(escape(trailing))
        else:
            label, target = m.group("label"), m.group("target")
            out.append(f"<{target}|{escape(label)}>" if target in allowed else escape(label))
    out.append(escape(text[pos:]))
    result = "".join(out)
    result = _HEADING.sub(lambda m: f"*{m.group(1)}*", result)
    return _BOLD.sub(lambda m: f"*{m.group(1)}*", result)


def tables_as_lists(text: str) -> str:
    """Markdown tables as Slack can show them: mrkdwn has no tables, and a row of pipes with a
    ``|---|---|`` rule under the header reads as noise. Each row becomes a bullet led by its first
    cell, the others named by their column's header: ``• *Growth* — Monthly price: $49 ·
    Shipments included: 1,500`` (the header's own first cell, the row labels' column, is implied by
    the lead); a table quoted without its header joins the cells with " — ". A citation marker
    stays with its row (a header's goes with the first row). The rest of the text is unchanged."""
    out: list[str] = []
    for piece in split_tables(text):
        out.extend([piece] if isinstance(piece, str) else _bullets(piece))
    return "\n".join(out)


def _bullets(table: TextTable) -> list[str]:
    # A row with no text ("||") is left as it was. Content is escaped later, by :func:`mrkdwn`.
    return [row.line if row.line is not None else "• " + list_item(row, lead=lambda t: f"*{t}*", cell=str)
            for row in table.labelled_rows()]


def _safe_cut(text: str, limit: int) -> int:
    """Where to cut ``text`` at most ``limit`` chars in: never inside a ``<link>`` or an ``&entity;``,
    preferably at a paragraph, line or word boundary."""
    if len(text) <= limit:
        return len(text)
    window = text[:limit]
    hard = limit
    lt = window.rfind("<")
    if lt != -1 and window.find(">", lt) == -1:
        hard = lt
    amp = window.rfind("&", 0, hard)
    if amp != -1 and ";" not in window[amp:hard] and hard - amp < 8:
        hard = amp
    for sep in ("\n\n", "\n", " "):
        i = window.rfind(sep, 0, hard)
        if i > hard // 2:
            return i
    return hard if hard > 0 else limit


def split_mrkdwn(text: str, limit: int = SECTION_TEXT_MAX) -> list[str]:
    """Split rendered mrkdwn into pieces of at most ``limit`` characters, at safe boundaries."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _safe_cut(rest, limit)
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if head:
            pieces.append(head)
    if rest:
        pieces.append(rest)
    return pieces


def preview(rendered: str, limit: int = FALLBACK_TEXT_MAX) -> str:
    """A short fallback ``text`` from rendered mrkdwn (already safe)."""
    rendered = rendered.strip()
    if len(rendered) <= limit:
        return rendered
    return rendered[: _safe_cut(rendered, limit - 1)].rstrip() + "…"


def relative_age(then: datetime, now: datetime) -> str:
    """``"3 days ago"``, ``"yesterday"``, ``"2 months ago"``; a future date reads ``"today"``."""
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = (now - then).total_seconds()
    if seconds < 60:
        return "just now" if seconds >= 0 else "today"
    for size, unit in ((365 * 86400, "year"), (30 * 86400, "month"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = int(seconds // size)
            if unit == "day" and n == 1:
                return "yesterday"
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"  # pragma: no cover - the loop always returns


# --- blocks --------------------------------------------------------------------------------------
def section(text: str) -> dict[str, Any]:
    """A section of already-safe mrkdwn; ``verbatim`` stops Slack's own auto-linking."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text, "verbatim": True}]}


def button(text: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {"type": "button", "text": {"type": "plain_text", "text": text, "emoji": True},
                         "action_id": action_id, "value": value[:BUTTON_VALUE_MAX]}
    if style:
        b["style"] = style
    return b


def feedback_buttons(answer_id: str) -> list[dict[str, Any]]:
    return [button(":thumbsup: Helpful", ACTION_HELPFUL, answer_id),
            button(":thumbsdown: Not helpful", ACTION_NOT_HELPFUL, answer_id)]


def source_line(c: Citation, now: datetime) -> str:
    """``[1] <url|Title › Section> · source · updated 3 days ago`` (the only links we produce)."""
    return f"[{c.n}] {source_description(c, now)}"


def source_description(c: Citation, now: datetime) -> str:
    """:func:`source_line` without its number: ``<url|Title › Section> · source · updated 3 days ago``."""
    title = c.title + (f" › {c.section}" if c.section else "")
    label = mrkdwn(title).replace("*", "")  # titles are content too (URLs defanged); no nested bold
    linked = f"<{c.url}|{label}>" if is_safe_url(c.url) else f"*{label}*"
    parts = [linked, mrkdwn(c.source)]
    if c.updated_at is not None:
        parts.append(f"updated {relative_age(c.updated_at, now)}")
    return " · ".join(parts)


def answer_messages(
    answer: Answer,
    *,
    answer_id: str,
    now: datetime,
    handoff: str,
    extra_buttons: Sequence[dict[str, Any]] = (),
) -> list[SlackMessage]:
    """Render an :class:`Answer` (or its abstention) as one or more messages of at most 50 blocks.

    Args:
        answer: what ``answer()`` returned.
        answer_id: the feedback buttons' value (how a click finds its answer).
        now: "updated N days ago" is counted from here.
        handoff: trusted Slack markup naming the human to ask (see :func:`abstention_message`).
        extra_buttons: put before the feedback buttons (the ephemeral answer's "Share in channel").
    """
    if answer.abstained or not answer.citations:
        return [abstention_message(handoff, closest=worth_pointing_to(answer), now=now)]
    rendered = mrkdwn(tables_as_lists(answer.text), allowed_urls=[c.url for c in answer.citations if c.url])
    body = [section(piece) for piece in split_mrkdwn(rendered)]
    sources = "*Sources*\n" + "\n".join(source_line(c, now) for c in answer.citations)
    tail: list[dict[str, Any]] = [{"type": "divider"}, *(section(p) for p in split_mrkdwn(sources))]
    if any(c.audience is Visibility.INTERNAL for c in answer.citations):
        tail.append(context(":lock: Includes internal sources: don't forward this to customers."))
    tail.append({"type": "actions", "block_id": FEEDBACK_BLOCK_ID,
                 "elements": [*extra_buttons, *feedback_buttons(answer_id)]})
    pages: list[list[dict[str, Any]]] = []
    while len(body) + len(tail) > MESSAGE_BLOCKS_MAX:
        pages.append(body[:MESSAGE_BLOCKS_MAX])
        body = body[MESSAGE_BLOCKS_MAX:]
    pages.append(body + tail)
    first = preview(rendered)
    return [SlackMessage(text=first if i == 0 else "(continued)", blocks=page) for i, page in enumerate(pages)]


#: Abstentions whose nearest source was about the question, though it did not answer it confidently.
_ON_TOPIC_ABSTENTIONS = (AnswerReason.BELOW_GATE, AnswerReason.NO_ANSWERING_UNIT)


def worth_pointing_to(answer: Answer) -> Citation | None:
    """The source an abstention may point to: the nearest one, when a passage was about the question.

    A question the gate's similarity floor stopped (confidence 0: nothing in the knowledge base is
    about it, "What's the weather?") gets no pointer, nor does one only internal knowledge answers
    (the nearest public source is not it), nor one where nothing was retrieved at all.
    """
    if answer.closest is None or answer.reason not in _ON_TOPIC_ABSTENTIONS or answer.confidence <= 0.0:
        return None
    return answer.closest


def abstention_message(handoff: str, *, closest: Citation | None = None, now: datetime | None = None) -> SlackMessage:
    """Say plainly that there is no answer and who to ask instead; name the nearest source, if any,
    as what it is: a place to look, not an answer."""
    text = (":grey_question: *I don't know.* I couldn't find a confident answer in the knowledge base. "
            f"Please ask {handoff}.")
    blocks = [section(text)]
    if closest is not None:
        line = source_description(closest, now or datetime.now(UTC))
        blocks.append(context(f"The closest I found, which may not answer it: {line}"))
    return SlackMessage(text=f"I don't know. Please ask {handoff}.", blocks=blocks)


def notice_message(text: str) -> SlackMessage:
    """A short message of ours (untrusted parts must be escaped by the caller)."""
    return SlackMessage(text=preview(text), blocks=[section(text)])


def failure_message(handoff: str) -> SlackMessage:
    return notice_message(f":warning: Sorry, I couldn't answer this just now. Please try again, or ask {handoff}.")


def tally_block(helpful: int, not_helpful: int) -> dict[str, Any]:
    return {"type": "context", "block_id": TALLY_BLOCK_ID,
            "elements": [{"type": "mrkdwn", "text": f":thumbsup: {helpful}  :thumbsdown: {not_helpful}"}]}
