"""Consecutive retrieved chunks of one document read as one passage."""

from __future__ import annotations

from bot.answer.passages import join_overlapping, merge_passages
from bot.answer.retriever import RetrievedChunk
from bot.models import Visibility


def chunk(doc: str, n: int, text: str, *, section: str = "", score: float = 1.0) -> RetrievedChunk:
    return RetrievedChunk(doc_id=doc, chunk_no=n, title=doc.upper(), url=None, source="s", audience=Visibility.PUBLIC,
                          section=section, text=text, updated_at=None, score=score, similarity=0.5)


def test_overlapping_neighbours_are_joined_once() -> None:
    a = "First sentence here. The overlap sentence is shared between both."
    b = "The overlap sentence is shared between both. Then the rest."
    assert join_overlapping(a, b) == "First sentence here. The overlap sentence is shared between both. Then the rest."
    assert join_overlapping("Alpha.", "Beta.") == "Alpha.\nBeta."


def test_passages_keep_retrieval_order_and_merge_only_neighbours() -> None:
    chunks = [chunk("b", 4, "B4."), chunk("a", 1, "A1 text goes on."), chunk("a", 0, "A0."), chunk("a", 3, "A3."),
              chunk("b", 5, "B5.", section="Limits")]
    passages = merge_passages(chunks)
    assert [(p.doc_id, [c.chunk_no for c in p.chunks], p.rank) for p in passages] == [
        ("b", [4, 5], 0), ("a", [0, 1], 1), ("a", [3], 3)]
    # A chunk that starts a new section gets its heading back in the merged text.
    assert passages[0].text == "B4.\n\n## Limits\nB5."
    assert passages[1].text == "A0.\nA1 text goes on."
