"""Consecutive retrieved chunks of one document read as one passage."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_each_line_of_a_merged_passage_knows_the_chunk_it_was_read_from() -> None:
    # An article's intro (ranked low) and its "Limits" section (ranked first) merged into one passage.
    intro = "Parcelly limits requests.\nEach account has one limit."
    overlap = "The limit is shared by all keys."
    chunks = [chunk("a", 1, f"{overlap}\nSee the table below.", score=3.0),
              chunk("a", 0, f"{intro}\n{overlap}", score=0.5),
              chunk("a", 2, "| Plan | Limit |\n| Pro | 600 |", section="Limits", score=2.0)]
    (passage,) = merge_passages(chunks)
    lines = passage.text.splitlines()
    by_line = passage.line_chunks()
    assert len(by_line) == len(lines)
    owner = {line: c.chunk_no for line, c in zip(lines, by_line, strict=True)}
    assert owner["Parcelly limits requests."] == 0
    # The seam both chunks hold belongs to the better-ranked one.
    assert owner[overlap] == 1 and owner["See the table below."] == 1
    # The heading written back belongs to the chunk it heads.
    assert owner["## Limits"] == 2 and owner["| Pro | 600 |"] == 2


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_TEXT, st.sampled_from(["", "Limits", "Other"])), min_size=1, max_size=5))
def test_line_chunks_cover_every_line_whatever_the_chunks(parts: list[tuple[str, str]]) -> None:
    chunks = [chunk("a", n, t, section=s, score=float(n)) for n, (t, s) in enumerate(parts)]
    (passage,) = merge_passages(chunks)
    assert len(passage.line_chunks()) == len(passage.text.splitlines())
    assert {c.chunk_no for c in passage.line_chunks()} <= {c.chunk_no for c in chunks}
