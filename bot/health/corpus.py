"""What the health finder reads from the index: the public articles, and the public replies of tickets.

Reads go through the :class:`~bot.answer.retriever.Retriever`: its ``related()`` finds the solved
tickets like an article's section, and the listing of articles and tickets below walks the same
collections the retriever answers from (``collections_for``) in its store. The retriever has no
listing method of its own yet; when it gets one, :class:`KnowledgeIndex` becomes a thin call to it.

Ticket text is Markdown with one section per message (``## Customer``, ``## Agent reply``,
``## Internal note``: every connector writes tickets that way). Only agent replies are what "the
team has been replying": customer messages are questions (often with the wrong number in them),
internal notes are not said to anyone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import TypeAdapter, ValidationError

from bot.answer.retriever import Retriever
from bot.index.chunking import SECTION_SEPARATOR
from bot.models import Audience, DocumentKind, Visibility

#: Section headings of a ticket's public replies (connectors write ``## Agent reply``).
REPLY_HEADINGS = ("agent reply", "reply", "public reply", "agent")
#: Kinds of public documents checked (a web page or a file of the help center is an article too).
ARTICLE_KINDS = (DocumentKind.ARTICLE.value, DocumentKind.PAGE.value, DocumentKind.FILE.value)
_INLINE_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.M)
_FIELDS = ("doc_id", "chunk_no", "kind", "title", "url", "source", "section", "text", "updated_at", "audience")


@dataclass(frozen=True)
class Passage:
    """One indexed chunk of an article: its section path and text."""

    chunk_no: int
    section: str
    text: str


@dataclass
class Article:
    """A public article as indexed, its chunks in order."""

    doc_id: str
    title: str
    url: str | None
    source: str
    updated_at: datetime | None
    passages: list[Passage] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.passages)


@dataclass
class TicketText:
    """A ticket's public replies, as indexed (chunks joined in order)."""

    doc_id: str
    title: str
    url: str | None
    updated_at: datetime | None
    replies: str


_DATETIME = TypeAdapter(datetime)


def _parse_dt(value: object) -> datetime | None:
    """A payload's ``updated_at`` (ISO 8601), or None when it is missing or not a date."""
    try:
        return _DATETIME.validate_python(value) if value else None
    except ValidationError:
        return None


def public_replies(text: str, section: str) -> list[str]:
    """The agent-reply parts of one ticket chunk (its first part is under ``section``; packed sections
    that follow carry their own ``## Heading`` line)."""
    parts: list[tuple[str, str]] = []
    heading, start = section.split(SECTION_SEPARATOR)[-1] if section else "", 0
    for m in _INLINE_HEADING.finditer(text):
        parts.append((heading, text[start:m.start()]))
        heading, start = m.group(1).split(SECTION_SEPARATOR)[-1], m.end()
    parts.append((heading, text[start:]))
    return [body.strip() for head, body in parts if is_reply_heading(head) and body.strip()]


def is_reply_heading(heading: str) -> bool:
    h = heading.strip().lower()
    return any(h == r or h.startswith(r + " ") for r in REPLY_HEADINGS)


class KnowledgeIndex:
    """The public articles and the tickets' public replies in the retriever's collections.

    Args:
        retriever: the one reader of the index.
    """

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever

    def _payloads(self, visibility: Visibility, kinds: Iterable[str]) -> list[dict]:  # type: ignore[type-arg]
        store = self.retriever.store
        collections = [name for name, v in self.retriever.collections_for(Audience.AGENT) if v is visibility]
        out = []
        for name in collections:
            if store.has_collection(name):
                out.extend(store.scroll_payloads(name, filter={"audience": [visibility.value], "kind": list(kinds)},
                                                 fields=_FIELDS))
        return out

    def public_articles(self) -> list[Article]:
        """Every public article, page and file, with its chunks in order."""
        articles: dict[str, Article] = {}
        for p in self._payloads(Visibility.PUBLIC, ARTICLE_KINDS):
            if p.get("audience") != Visibility.PUBLIC.value or not p.get("doc_id"):
                continue  # belt and braces, as in the retriever
            a = articles.setdefault(p["doc_id"], Article(doc_id=p["doc_id"], title=p.get("title", ""), url=p.get("url"),
                                                         source=p.get("source", ""),
                                                         updated_at=_parse_dt(p.get("updated_at"))))
            a.passages.append(Passage(chunk_no=int(p.get("chunk_no", 0)), section=p.get("section", ""),
                                      text=p.get("text", "")))
        for a in articles.values():
            a.passages.sort(key=lambda x: x.chunk_no)
        return sorted(articles.values(), key=lambda a: a.doc_id)

    def tickets(self) -> list[TicketText]:
        """Every indexed ticket with its public replies (internal collection; agents' knowledge)."""
        chunks: dict[str, list[dict]] = {}  # type: ignore[type-arg]
        for p in self._payloads(Visibility.INTERNAL, (DocumentKind.TICKET.value,)):
            if p.get("doc_id"):
                chunks.setdefault(p["doc_id"], []).append(p)
        out = []
        for doc_id, parts in chunks.items():
            parts.sort(key=lambda x: int(x.get("chunk_no", 0)))
            replies = "\n\n".join(r for p in parts for r in public_replies(p.get("text", ""), p.get("section", "")))
            first = parts[0]
            out.append(TicketText(doc_id=doc_id, title=first.get("title", ""), url=first.get("url"),
                                  updated_at=_parse_dt(first.get("updated_at")), replies=replies))
        return out
