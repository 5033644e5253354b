"""Knowledge gaps: what people asked that the knowledge base did not answer, grouped by topic and reason.

A gap question is one the bot abstained on, or whose answer more people voted "not helpful" than
"helpful". Questions are embedded with the project's own model (all-MiniLM-L6-v2, unit vectors)
and grouped into topics greedily, newest first: a question joins the topic of its most similar
earlier question when their cosine similarity is at least ``HELPDESK_GAP_SIMILARITY`` (single
linkage, so "Do you ship to Antarctica?", "Can I send parcels to Antarctica?" and "Is shipping to
Antarctica supported?" form one topic), else it starts a new one.

Each topic is then split by *why* its questions went unanswered (the reason recorded with each
question, :attr:`bot.state.questions.QuestionView.gap_reason`), because the fixes differ: nothing
matched (write an article), sources came near but not near enough (the closest article needs a
passage that answers this), only internal knowledge answers a customer (publish it), the sources
matched but none answered, or an answer was given and voted "not helpful" (fix the cited article).
Every (topic, reason) group names the source that came closest most often and links to the Slack
threads or tickets the questions came from. Groups are listed largest first.

Vectors are cached per question id (questions never change), so a page view embeds only the
questions asked since the last one.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from bot.index.embeddings import Embedder
from bot.state.questions import NOT_HELPFUL, UNRECORDED, QuestionLog, QuestionView

#: Vectors kept between page views (384 floats each: ~1.5 KB).
CACHE_SIZE = 5000
#: Gap questions read from the log at most (newest first).
GAP_QUESTIONS_MAX = 500
#: Links to threads or tickets listed per group.
LINKS_SHOWN = 5

#: What each gap reason means for the team, and what usually fixes it.
REASONS: dict[str, tuple[str, str]] = {
    "nothing_retrieved": ("Nothing in the knowledge base matched", "write an article about it"),
    "below_gate": ("No source close enough to answer",
                   "the closest source may need a passage that answers this directly"),
    "only_internal": ("Only internal knowledge answers it (customer asked)",
                      "internal tickets or runbooks answer it: consider a public article"),
    "no_answering_unit": ("Sources matched, none answered", "the closest source is on topic but does not say it"),
    "composer_fallback": ("LLM composer failed (extractive fallback)",
                          "voted not helpful: check the LLM endpoint, then the cited source"),
    "answered": ("Answered", ""),
    NOT_HELPFUL: ("Answered, voted not helpful", "review the cited source"),
    UNRECORDED: ("Abstained (reason not recorded)", "asked before reasons were recorded"),
}


def reason_label(reason: str) -> str:
    return REASONS.get(reason, (reason, ""))[0]


def reason_hint(reason: str) -> str:
    return REASONS.get(reason, ("", ""))[1]


@dataclass
class Gap:
    """One group of unanswered questions on one topic, unanswered for one reason."""

    reason: str = UNRECORDED
    questions: list[QuestionView] = field(default_factory=list)
    #: Questions of the whole topic (all reasons): the group is part of a larger topic when bigger than ``count``.
    topic_size: int = 0

    @property
    def count(self) -> int:
        return len(self.questions)

    @property
    def representative(self) -> str:
        # The most recent wording (questions are held newest first).
        return self.questions[0].question

    @property
    def abstained(self) -> int:
        return sum(q.abstained for q in self.questions)

    @property
    def not_helpful(self) -> int:
        return sum(1 for q in self.questions if not q.abstained)

    @property
    def last_asked(self) -> datetime:
        return max(q.created_at for q in self.questions)

    @property
    def surfaces(self) -> list[str]:
        return sorted({q.surface for q in self.questions})

    @property
    def label(self) -> str:
        return reason_label(self.reason)

    @property
    def hint(self) -> str:
        return reason_hint(self.reason)

    @property
    def closest(self) -> dict[str, Any] | None:
        """The source that came closest for most of the group's questions (its best score among them)."""
        by_doc: dict[str, list[dict[str, Any]]] = {}
        for q in self.questions:
            c = q.closest
            if c and (c.get("doc_id") or c.get("title")):
                by_doc.setdefault(str(c.get("doc_id") or c.get("title")), []).append(c)
        if not by_doc:
            return None
        counts = Counter({doc: len(items) for doc, items in by_doc.items()})
        best_doc = max(counts, key=lambda d: (counts[d], max(float(c.get("score") or 0) for c in by_doc[d])))
        best = max(by_doc[best_doc], key=lambda c: float(c.get("score") or 0))
        return {**best, "questions": counts[best_doc]}

    @property
    def links(self) -> list[tuple[str, str]]:
        """(surface, link) of the newest questions that say where they were asked, one per link."""
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for q in self.questions:
            if q.link and q.link not in seen:
                seen.add(q.link)
                out.append((q.surface, q.link))
                if len(out) >= LINKS_SHOWN:
                    break
        return out

    def as_dict(self) -> dict[str, Any]:
        """The group as JSON (``helpdesk-bot gaps --json``)."""
        return {
            "reason": self.reason, "reason_label": self.label, "hint": self.hint, "count": self.count,
            "topic_size": self.topic_size, "question": self.representative,
            "questions": [q.question for q in self.questions], "abstained": self.abstained,
            "not_helpful": self.not_helpful, "last_asked": self.last_asked.isoformat(), "surfaces": self.surfaces,
            "closest": self.closest, "links": [{"surface": s, "url": u} for s, u in self.links],
        }


def group(questions: Sequence[QuestionView], vectors: np.ndarray, *, threshold: float) -> list[list[QuestionView]]:
    """Greedy single-linkage topics of ``questions`` (newest first) by cosine of unit ``vectors``."""
    if not questions:
        return []
    sims = vectors @ vectors.T
    owner: list[int] = []
    topics: list[list[QuestionView]] = []
    for i, q in enumerate(questions):
        best = int(np.argmax(sims[i, :i])) if i else -1
        if i and sims[i, best] >= threshold:
            t = owner[best]
        else:
            t = len(topics)
            topics.append([])
        owner.append(t)
        topics[t].append(q)
    return topics


def split_by_reason(topics: Sequence[Sequence[QuestionView]]) -> list[Gap]:
    """One :class:`Gap` per (topic, reason), largest first (then most recently asked)."""
    gaps: list[Gap] = []
    for topic in topics:
        by_reason: dict[str, Gap] = {}
        for q in topic:  # newest first within each group, as in the topic
            by_reason.setdefault(q.gap_reason, Gap(reason=q.gap_reason, topic_size=len(topic))).questions.append(q)
        gaps.extend(by_reason.values())
    return sorted(gaps, key=lambda gap: (-gap.count, -gap.last_asked.timestamp()))


class GapFinder:
    """Groups gap questions with the embedder ``embedder()`` gives (loaded on first use).

    Args:
        embedder: gives the embedding model (called once, when a first question needs a vector).
        threshold: ``HELPDESK_GAP_SIMILARITY``.
    """

    def __init__(self, embedder: Callable[[], Embedder], *, threshold: float) -> None:
        self._embedder = embedder
        self.threshold = threshold
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(self, questions: Sequence[QuestionView]) -> np.ndarray:
        with self._lock:
            missing = [q for q in questions if q.id not in self._cache]
        if missing:
            embedded = self._embedder().embed([q.question for q in missing])
            with self._lock:
                for q, v in zip(missing, embedded, strict=True):
                    self._cache[q.id] = np.asarray(v, dtype=np.float32)
        with self._lock:
            out = []
            for q in questions:
                self._cache.move_to_end(q.id)
                out.append(self._cache[q.id])
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return np.vstack(out) if out else np.zeros((0, 0), dtype=np.float32)

    def gaps(self, questions: Sequence[QuestionView]) -> list[Gap]:
        """The (topic, reason) groups of ``questions`` (gap questions, newest first)."""
        return split_by_reason(group(questions, self.vectors(questions), threshold=self.threshold))

    def find(self, log: QuestionLog, *, days: int, now: datetime | None = None,
             limit: int = GAP_QUESTIONS_MAX) -> list[Gap]:
        """The gaps of the questions log's last ``days`` days (at least one)."""
        since = (now or datetime.now(UTC)) - timedelta(days=max(days, 1))
        return self.gaps(log.gap_candidates(since=since, limit=limit))


def gaps_text(gaps: Sequence[Gap], *, limit: int = 20) -> str:
    """The groups as plain text (``helpdesk-bot gaps``)."""
    if not gaps:
        return "No knowledge gaps: every logged question was answered without complaint."
    lines = []
    for g in gaps[:limit]:
        lines.append(f"{g.count:>3}  {g.representative}")
        lines.append(f"     why: {g.label}" + (f" ({g.hint})" if g.hint else ""))
        c = g.closest
        if c:
            where = f" › {c['section']}" if c.get("section") else ""
            lines.append(f"     closest: {c.get('title')}{where} (score {float(c.get('score') or 0):.2f}"
                         + (f", {c['url']}" if c.get("url") else "") + ")")
        for surface, link in g.links:
            lines.append(f"     {surface}: {link}")
        lines.append(f"     last asked {g.last_asked:%Y-%m-%d %H:%M} UTC on {', '.join(g.surfaces)}")
    if len(gaps) > limit:
        lines.append(f"... and {len(gaps) - limit} smaller groups (--limit, --json)")
    return "\n".join(lines)
