"""Retrieved chunks back into passages: neighbouring chunks of one document read as one text.

The chunker cuts long sections with overlap, so the answer to a question often starts in one
chunk and ends in the next, or sits under a heading the next chunk no longer shows. When the
retriever returns consecutive chunks of a document, they are merged here (the overlap removed)
into one passage, so a composer can quote across the cut and see the heading above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.answer.retriever import RetrievedChunk
from bot.index.chunking import SECTION_SEPARATOR
from bot.models import Visibility

#: Shortest overlap between consecutive chunks that is trusted as the seam.
MIN_OVERLAP_CHARS = 20
#: How far back in the earlier chunk the seam is looked for when the overlap is not an exact suffix.
SEAM_SEARCH_CHARS = 1500


@dataclass(frozen=True)
class Passage:
    """One or more consecutive retrieved chunks of one document, as one text."""

    chunks: tuple[RetrievedChunk, ...]  # in document order
    text: str
    rank: int  # best retrieval rank among its chunks (0 = the retriever's first)
    #: Where each chunk's text starts in ``text`` (parallel to ``chunks``; overlaps are shared).
    starts: tuple[int, ...]

    @property
    def first(self) -> RetrievedChunk:
        return self.chunks[0]

    @property
    def doc_id(self) -> str:
        return self.first.doc_id

    @property
    def title(self) -> str:
        return self.first.title

    @property
    def audience(self) -> Visibility:
        return self.first.audience

    @property
    def updated_at(self) -> datetime | None:
        return self.first.updated_at

    @property
    def section(self) -> str:
        """The heading the passage starts under: its own section path, else the label in effect."""
        return self.first.section or self.first.context

    @property
    def score(self) -> float:
        return max(c.score for c in self.chunks)

    @property
    def similarity(self) -> float:
        return max(c.similarity for c in self.chunks)

    def line_chunks(self) -> list[RetrievedChunk]:
        """For each line of ``text`` (as ``str.splitlines`` counts them), the best-scored chunk
        holding its start: the part of the passage the retriever actually ranked there (a merged
        article's intro may rank first while its troubleshooting section ranked fifth)."""
        ends = [start + len(c.text) for start, c in zip(self.starts, self.chunks, strict=True)]
        out: list[RetrievedChunk] = []
        offset = 0
        for line in self.text.splitlines(keepends=True):
            holding = [c for c, start, end in zip(self.chunks, self.starts, ends, strict=True) if start <= offset < max(end, start + 1)]
            out.append(max(holding, key=lambda c: c.score) if holding else self._nearest(offset))
            offset += len(line)
        return out

    def _nearest(self, offset: int) -> RetrievedChunk:
        """The last chunk starting at or before ``offset`` (a seam the overlap did not cover)."""
        before = [c for c, start in zip(self.chunks, self.starts, strict=True) if start <= offset]
        return before[-1] if before else self.chunks[0]


def merge_passages(chunks: Sequence[RetrievedChunk]) -> list[Passage]:
    """Group ``chunks`` (best first) into passages; passages come back in retrieval order."""
    by_doc: dict[str, list[tuple[int, int, RetrievedChunk]]] = {}
    for rank, chunk in enumerate(chunks):
        by_doc.setdefault(chunk.doc_id, []).append((chunk.chunk_no, rank, chunk))
    passages: list[Passage] = []
    for items in by_doc.values():
        items.sort(key=lambda item: (item[0], item[1]))
        run = [items[0]]
        for item in items[1:]:
            if item[0] == run[-1][0]:
                continue  # the same chunk twice (never expected from one retrieval)
            if item[0] == run[-1][0] + 1:
                run.append(item)
            else:
                passages.append(_passage(run))
                run = [item]
        passages.append(_passage(run))
    passages.sort(key=lambda p: p.rank)
    return passages


def _passage(run: list[tuple[int, int, RetrievedChunk]]) -> Passage:
    text = run[0][2].text
    starts = [0]
    for (_, _, before), (_, _, chunk) in zip(run, run[1:], strict=False):
        if chunk.section and chunk.section != before.section:
            # A chunk that starts a new section carries its heading in the payload, not in its
            # text (the embedded header has it): write it back so the section reads as one.
            last = chunk.section.split(SECTION_SEPARATOR)[-1]
            starts.append(len(text) + 2)  # the heading line belongs to the chunk it heads
            text = f"{text}\n\n## {last}\n{chunk.text}"
        else:
            text, start = _joined(text, chunk.text)
            starts.append(start)
    return Passage(chunks=tuple(c for _, _, c in run), text=text, rank=min(r for _, r, _ in run), starts=tuple(starts))


def join_overlapping(earlier: str, later: str) -> str:
    """``earlier`` + ``later`` with the text they share at the seam written once."""
    return _joined(earlier, later)[0]


def _joined(earlier: str, later: str) -> tuple[str, int]:
    """:func:`join_overlapping`, and where ``later`` starts in the joined text."""
    for k in range(min(len(earlier), len(later)), MIN_OVERLAP_CHARS - 1, -1):
        if earlier.endswith(later[:k]):
            return earlier + later[k:], len(earlier) - k
    # The splitter trims white space at the cut: find the start of ``later`` in the earlier tail.
    head = later[:40].strip()
    if head:
        at = earlier.rfind(head, max(0, len(earlier) - SEAM_SEARCH_CHARS))
        if at >= 0:
            return earlier[:at] + later[later.find(head):], at
    return f"{earlier}\n{later}", len(earlier) + 1
