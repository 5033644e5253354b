"""The default composer: no model, just the best passages, trimmed and cited.

Each of the top passages is cut into units (sentences, list items, whole tables, whole code
blocks). In each, the window of consecutive units that covers the most query terms (rarer terms
weigh more), within a length budget, is found; the best window over the top passages leads the
answer, in its original order so numbered steps stay numbered. A second source adds its best
unit when it covers the question well too. Every unit carries the citation of its document.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bot.answer.retriever import RetrievedChunk
from bot.index.sparse import SparseEncoder
from bot.models import Citation

#: Characters of answer text, roughly a short Slack message.
MAX_ANSWER_CHARS = 600
SECOND_SOURCE_CHARS = 250
MAX_SOURCES = 2
#: Passages considered for the leading window.
CANDIDATE_CHUNKS = 3
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(*])")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


@dataclass(frozen=True)
class Unit:
    text: str
    block: bool = False  # a table or code block: cited after it, not inside it


def split_units(passage: str) -> list[Unit]:
    """Sentences and list items of a passage in order; tables and code blocks kept whole; headings dropped."""
    units: list[Unit] = []
    lines = passage.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            units.append(Unit("\n".join(lines[i : j + 1]).strip(), block=True))
            i = j + 1
            continue
        if line.startswith("|"):
            j = i
            while j < len(lines) and lines[j].strip().startswith("|"):
                j += 1
            units.append(Unit("\n".join(x.strip() for x in lines[i:j]), block=True))
            i = j
            continue
        i += 1
        if not line or line.startswith("#"):
            continue
        if _LIST_ITEM.match(line):
            units.append(Unit(line))
        else:
            units.extend(Unit(s.strip()) for s in _SENTENCE_END.split(line) if s.strip())
    return units


@dataclass(frozen=True)
class _Window:
    score: float
    units: list[Unit]
    chunk: RetrievedChunk
    rank: int


class ExtractiveComposer:
    name = "extractive"

    def __init__(self, *, sparse: SparseEncoder | None = None, max_chars: int = MAX_ANSWER_CHARS) -> None:
        self.sparse = sparse or SparseEncoder()
        self.max_chars = max_chars

    def compose(self, question: str, chunks: list[RetrievedChunk], citations: list[Citation]) -> str:
        number = {c.doc_id: c.n for c in citations}
        terms = self.sparse.terms(question)
        # Within the retrieved passages a term that appears in fewer of them says more.
        chunk_terms = [set(self.sparse.terms(c.text)) for c in chunks]
        weights = {t: 1.0 + math.log((1 + len(chunks)) / (1 + sum(t in ct for ct in chunk_terms))) for t in set(terms)}
        windows: list[_Window] = []
        seen_docs: set[str] = set()
        for rank, chunk in enumerate(chunks):
            if chunk.doc_id in seen_docs:
                continue
            seen_docs.add(chunk.doc_id)
            units = split_units(chunk.text)
            if units:
                score, window = self._best_window(units, weights, self.max_chars)
                # Retrieval rank still counts: the fused ranking saw more than term overlap.
                windows.append(_Window(score * (1.0 - 0.1 * rank), window, chunk, rank))
            if len(windows) >= CANDIDATE_CHUNKS:
                break
        if not windows:
            return ""
        lead = max(windows, key=lambda w: (w.score, -w.rank))
        parts = [_render(lead.units, number[lead.chunk.doc_id])]
        total_weight = sum(weights.values()) or 1.0
        for w in sorted(windows, key=lambda w: w.rank):
            if w is lead or len(parts) >= MAX_SOURCES:
                continue
            score, extra = self._best_window(split_units(w.chunk.text), weights, SECOND_SOURCE_CHARS)
            if score / total_weight >= 0.5:
                parts.append(_render(extra, number[w.chunk.doc_id]))
        return "\n\n".join(parts)

    def _best_window(self, units: list[Unit], weights: dict[str, float], budget: int) -> tuple[float, list[Unit]]:
        unit_terms = [set(self.sparse.terms(u.text)) & set(weights) for u in units]
        best: tuple[float, int, int] = (-1.0, 0, 1)
        for start in range(len(units)):
            covered: set[str] = set()
            length = 0
            for end in range(start, len(units)):
                length += len(units[end].text)
                if length > budget and end > start:
                    break
                covered |= unit_terms[end]
                # Coverage first; a little credit for context, a little for coming early.
                score = sum(weights[t] for t in covered) + 0.01 * (end - start) - 0.001 * start
                if score > best[0]:
                    best = (score, start, end + 1)
        score, start, end = best
        # A list item without its lead-in reads badly: take the sentence introducing the list.
        if start > 0 and _LIST_ITEM.match(units[start].text) and not _LIST_ITEM.match(units[start - 1].text):
            start -= 1
        return score, _trim(units[start:end], budget + 200)


def _trim(units: list[Unit], budget: int) -> list[Unit]:
    out: list[Unit] = []
    used = 0
    for u in units:
        if used + len(u.text) > budget and out:
            break
        if len(u.text) > budget and not u.block:
            u = Unit(u.text[:budget].rsplit(" ", 1)[0] + " …")
        out.append(u)
        used += len(u.text)
    return out


def _render(units: list[Unit], n: int) -> str:
    return "\n".join(f"{u.text}\n[{n}]" if u.block else f"{u.text} [{n}]" for u in units)
