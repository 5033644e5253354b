"""Knowledge gaps: what people asked that the knowledge base did not answer, grouped by meaning.

A gap question is one the bot abstained on, or whose answer more people voted "not helpful" than
"helpful". Questions are embedded with the project's own model (all-MiniLM-L6-v2, unit vectors)
and grouped greedily, newest first: a question joins the group of its most similar earlier question
when their cosine similarity is at least ``HELPDESK_GAP_SIMILARITY`` (single linkage, so "Do you
ship to Antarctica?", "Can I send parcels to Antarctica?" and "Is shipping to Antarctica
supported?" form one gap), else it starts a new group. Groups are listed largest first.

Vectors are cached per question id (questions never change), so a page view embeds only the
questions asked since the last one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from bot.index.embeddings import Embedder
from bot.state.questions import QuestionView

#: Vectors kept between page views (384 floats each: ~1.5 KB).
CACHE_SIZE = 5000


@dataclass
class Gap:
    """One group of similar unanswered questions."""

    questions: list[QuestionView] = field(default_factory=list)

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


def group(questions: Sequence[QuestionView], vectors: np.ndarray, *, threshold: float) -> list[Gap]:
    """Greedy single-linkage grouping of ``questions`` (newest first) by cosine of unit ``vectors``."""
    if not questions:
        return []
    sims = vectors @ vectors.T
    owner: list[int] = []
    gaps: list[Gap] = []
    for i, q in enumerate(questions):
        best = int(np.argmax(sims[i, :i])) if i else -1
        if i and sims[i, best] >= threshold:
            g = owner[best]
        else:
            g = len(gaps)
            gaps.append(Gap())
        owner.append(g)
        gaps[g].questions.append(q)
    return sorted(gaps, key=lambda gap: (-gap.count, -gap.last_asked.timestamp()))


class GapFinder:
    """Groups gap questions with the embedder ``embedder()`` gives (loaded on the first page view)."""

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
        return group(questions, self.vectors(questions), threshold=self.threshold)
