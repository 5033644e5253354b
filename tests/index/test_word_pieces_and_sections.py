"""The two shortcuts hold to what they replace: word pieces (ids and counts) equal the tokenizer's own,
and the Markdown cut equals llama-index's ``MarkdownNodeParser`` (so chunks, and every stored
document hash, stay what they were)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llama_index.core import Document as LlamaDocument
from llama_index.core.node_parser import MarkdownNodeParser

from bot.index import word_pieces
from bot.index.chunking import markdown_sections
from bot.index.embeddings import load_tokenizer
from bot.index.word_pieces import WordPieces

TOKENIZER = load_tokenizer()


def encoded(text: str) -> int:
    return len(TOKENIZER.encode(text, add_special_tokens=False).ids)


def encoded_ids(text: str) -> list[int]:
    return list(TOKENIZER.encode(text, add_special_tokens=False).ids)


#: Support text as it comes (ASCII words, codes, punctuation, URLs), with what leaves the fast
#: path: accents, other scripts, control characters, odd white space.
_WORDS = st.sampled_from([
    "Reset", "password", "PCL-4031", "V9.0.0.8", "settings.json", "don't", "e-mail", "https://acme.test/a?b=1",
    "unbelievably", "WebSphereApplicationServer", "x" * 120, "café", "Größe", "東京", "naïve", "\x07", "\x0b", "\u00a0",
    "\u2028", "😀", "—", "“quoted”", "#", "##", "`code`", "1,500", "$49", "[credential]", "ÅNGSTRÖM", "[PAD]",
    "[mask]", "[SEP]x",
])
_TEXT = st.lists(st.one_of(_WORDS, st.text(max_size=12)), max_size=40).flatmap(
    lambda words: st.lists(st.sampled_from([" ", "\n", "\t", "", "  ", "\r\n", ". "]), min_size=len(words),
                           max_size=len(words)).map(lambda seps: "".join(w + s for w, s in zip(words, seps, strict=True))))


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_pieces_and_counts_equal_the_tokenizers_own(text: str) -> None:
    assert WordPieces(TOKENIZER).count(text) == encoded(text)  # counted cold: words looked up one by one
    pieces = WordPieces(TOKENIZER)
    assert pieces.ids(text) == encoded_ids(text)
    assert pieces.count(text) == encoded(text)  # every word cached: counted by length look-ups


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=300))
def test_pieces_and_counts_equal_on_any_ascii(text: str) -> None:
    pieces = WordPieces(TOKENIZER)
    assert pieces.ids(text) == encoded_ids(text)
    assert pieces.count(text) == encoded(text)


def test_pieces_stay_exact_when_the_word_cache_is_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(word_pieces, "MAX_CACHED_WORDS", 3)
    pieces = WordPieces(TOKENIZER)
    text = "Void the label within 30 days; the refund reaches your balance in 15 to 30 days."
    assert [pieces.count(text) for _ in range(3)] == [encoded(text)] * 3
    assert pieces.ids(text) == encoded_ids(text)
    assert len(pieces._pieces) <= 3
    blob = "a" * 5000 + " " + "b" * 101
    assert pieces.ids(blob) == encoded_ids(blob) and pieces.count(blob) == encoded(blob)
    assert all(len(word) <= word_pieces.MAX_CACHED_WORD_CHARS for word in pieces._pieces)  # long words not kept


def test_another_tokenizer_is_counted_by_encoding() -> None:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    words = Tokenizer(WordLevel({"[UNK]": 0, "hello": 1}, unk_token="[UNK]"))
    words.pre_tokenizer = Whitespace()
    pieces = WordPieces(words)
    assert pieces._fast is False
    assert pieces.count("hello big world, hello") == len(words.encode("hello big world, hello").ids) == 5
    assert pieces.ids("hello big world, hello") == [1, 0, 0, 0, 1]


# -- the Markdown cut ----------------------------------------------------------------------------

_PARSER = MarkdownNodeParser(include_metadata=True, include_prev_next_rel=False)


def parsed_by_llama_index(text: str) -> list[tuple[list[str], str]]:
    out = []
    for node in _PARSER.get_nodes_from_documents([LlamaDocument(text=text)]):
        body = node.get_content().strip()
        if body:
            out.append(([p for p in str(node.metadata.get("header_path", "")).strip("/").split("/") if p], body))
    return out


_LINES = st.lists(st.one_of(
    st.sampled_from(["# Title", "## Refunds", "### Steps", "#### a/b heading", "##\tTabbed", "#NoSpace", "# ",
                     "```", "  ```python", "", "   ", "Text under it.", "1. Click **Save**.", "| a | b |",
                     "    # indented", "## Refunds/Returns", "#", "##   "]),
    st.text(max_size=20)), max_size=30)


@settings(max_examples=300, deadline=None)
@given(_LINES)
def test_markdown_cut_equals_llama_index(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert markdown_sections(text) == parsed_by_llama_index(text)


def test_markdown_cut_keeps_code_blocks_and_parents() -> None:
    text = "# Guide\nIntro.\n## Setup\n```\n# not a heading\n```\n### Linux\nRun it.\n## Usage\nUse it."
    assert markdown_sections(text) == [
        ([], "# Guide\nIntro."),
        (["Guide"], "## Setup\n```\n# not a heading\n```"),
        (["Guide", "Setup"], "### Linux\nRun it."),
        (["Guide"], "## Usage\nUse it."),
    ]
