"""The default composer: no model, just the best passages, trimmed and cited.

The best-matching passage is cut into units (sentences and list items); the window of
consecutive units that covers the most query terms, within a length budget, is kept in its
original order, so numbered steps stay numbered. A second source adds its best unit when it
matches well too. Every unit ends with the citation of the document it came from.
"""

from __future__ import annotations

import re

from bot.answer.retriever import RetrievedChunk
from bot.index.sparse import SparseEncoder
from bot.models import Citation

#: Characters of answer text, roughly a short Slack message.
MAX_ANSWER_CHARS = 700
MAX_SOURCES = 2
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def split_units(passage: str) -> list[str]:
    """Sentences and list items of a passage, in order; table rows and headings kept whole."""
    units: list[str] = []
    for line in passage.splitlines():
        line = line.strip()
        if not line:
            continue
        if _LIST_ITEM.match(line) or line.startswith(("|", "#")):
            units.append(line)
            continue
        units.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return units


class ExtractiveComposer:
    name = "extractive"

    def __init__(self, *, sparse: SparseEncoder | None = None, max_chars: int = MAX_ANSWER_CHARS) -> None:
        self.sparse = sparse or SparseEncoder()
        self.max_chars = max_chars

    def compose(self, question: str, chunks: list[RetrievedChunk], citations: list[Citation]) -> str:
        number = {c.doc_id: c.n for c in citations}
        query_terms = set(self.sparse.terms(question))
        parts: list[str] = []
        used_docs: list[str] = []
        budget = self.max_chars
        for rank, chunk in enumerate(chunks):
            if chunk.doc_id in used_docs or len(used_docs) >= MAX_SOURCES:
                continue
            units = [u for u in split_units(chunk.text) if not u.startswith("#")]
            if not units:
                continue
            window = self._best_window(units, query_terms, budget if rank == 0 else min(budget, 250))
            if not window:
                continue
            if used_docs and self._coverage(window, query_terms) < 0.5:
                break  # a second source only when it clearly adds to the question
            n = number[chunk.doc_id]
            parts.append("\n".join(_cite(u, n) for u in window))
            used_docs.append(chunk.doc_id)
            budget -= sum(len(u) for u in window)
            if budget < 120:
                break
        return "\n\n".join(parts)

    def _coverage(self, units: list[str], query_terms: set[str]) -> float:
        if not query_terms:
            return 0.0
        found = set(self.sparse.terms(" ".join(units)))
        return len(found & query_terms) / len(query_terms)

    def _best_window(self, units: list[str], query_terms: set[str], budget: int) -> list[str]:
        unit_terms = [set(self.sparse.terms(u)) for u in units]
        best: tuple[float, int, int] = (-1.0, 0, 1)
        for start in range(len(units)):
            covered: set[str] = set()
            length = 0
            for end in range(start, len(units)):
                length += len(units[end])
                if length > budget and end > start:
                    break
                covered |= unit_terms[end] & query_terms
                # Coverage first; among equals prefer earlier starts and more context.
                score = len(covered) + 0.01 * (end - start) - 0.001 * start
                if score > best[0]:
                    best = (score, start, end + 1)
        _, start, end = best
        # A list item without its lead-in reads badly: include the sentence introducing the list.
        if start > 0 and _LIST_ITEM.match(units[start]) and not _LIST_ITEM.match(units[start - 1]):
            if sum(len(u) for u in units[start - 1 : end]) <= budget + 200:
                start -= 1
        return _trim(units[start:end], budget)


def _trim(units: list[str], budget: int) -> list[str]:
    out: list[str] = []
    used = 0
    for u in units:
        if used + len(u) > budget and out:
            break
        if len(u) > budget:
            u = u[: budget].rsplit(" ", 1)[0] + " …"
        out.append(u)
        used += len(u)
    return out


def _cite(unit: str, n: int) -> str:
    return f"{unit} [{n}]"
