from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bot.index.sparse as sparse_module
from bot.index.chunking import LONG_SENTENCE_PIECE, Chunker
from bot.index.pii import PiiMasker
from bot.index.sparse import SparseEncoder, named_terms, same_family, term_index
from bot.models import Document, DocumentKind, Visibility


def _doc(text: str, title: str = "Shipping labels") -> Document:
    return Document(id="t:1", source="t", kind=DocumentKind.ARTICLE, audience=Visibility.PUBLIC, title=title, text=text)


def test_chunks_carry_title_and_section_path(chunker: Chunker) -> None:
    text = "# Shipping labels\n\nIntro.\n\n## Printing\n\n### Thermal printers\n\nUse 4x6 labels at 203 dpi.\n"
    chunks = chunker.chunk(_doc(text))
    assert chunks[0].text.startswith("Shipping labels")
    joined = "\n".join(c.text for c in chunks)
    assert "Use 4x6 labels at 203 dpi." in joined
    assert any("Printing" in c.section or "Printing" in c.text for c in chunks)


def test_long_sections_split_within_budget(chunker: Chunker) -> None:
    body = "## Steps\n\n" + " ".join(f"Step {i} explains one more detail about carriers and rates." for i in range(200))
    chunks = chunker.chunk(_doc(body))
    assert len(chunks) > 5
    for c in chunks:
        assert chunker.count_tokens(c.passage) <= 200
        assert c.text.startswith("Shipping labels › Steps")
    assert [c.chunk_no for c in chunks] == list(range(len(chunks)))


def test_a_sentence_too_long_for_a_chunk_is_never_cut_inside_a_token(chunker: Chunker) -> None:
    """A log line or a list of versions with no sentence end: chunks (and the next chunk's overlap)
    start and end between words, never inside "V9.0.0.8", "settings.json" or a Java class name."""
    tokens = ["IBM", "Integration", "Bus", "V9.0.0.8", "settings.json,", "com.ibm.portal.WpsException", "fails;",
              "see", "https://www.ibm.com/support/docview.wss?uid=swg21", "and", "ITM", "6.30.0.3"]
    body = "## Log\n\n" + " ".join(tokens[i % len(tokens)] for i in range(700))
    chunks = chunker.chunk(_doc(body))
    assert len(chunks) > 3
    words = set(tokens) | {t.rstrip(",.;") for t in tokens}
    for c in chunks:
        first, last = c.passage.split()[0], c.passage.split()[-1]
        assert first in words and last in words, (first, last)


@given(st.text(alphabet="ab9 .,;\n。！", max_size=60))
def test_long_sentence_pieces_cover_the_whole_text(text: str) -> None:
    assert "".join(re.findall(LONG_SENTENCE_PIECE, text)) == text


def test_small_sections_are_packed_together(chunker: Chunker) -> None:
    body = "\n\n".join(f"## Part {i}\n\nShort note {i}." for i in range(6))
    chunks = chunker.chunk(_doc(body))
    assert len(chunks) == 1
    assert "## Part 3" in chunks[0].passage


def test_chunk_hash_depends_on_text(chunker: Chunker) -> None:
    a = chunker.chunk(_doc("Alpha text."))[0]
    b = chunker.chunk(_doc("Beta text."))[0]
    assert a.content_hash != b.content_hash


def test_term_sets_are_the_terms_remembered_within_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    enc = SparseEncoder()
    monkeypatch.setattr(sparse_module._TERM_SETS, "max_entries", 2)
    texts = ["Refunds reach your card", "Voiding labels refunds postage", "Reset the password"]
    for text in texts:
        assert enc.term_set(text) == frozenset(enc.terms(text))
    assert enc.term_set(texts[2]) is enc.term_set(texts[2])  # read back, not made again
    assert list(sparse_module._TERM_SETS) == texts[1:]  # the least recently used went first


def test_sparse_bm25_saturation_and_stemming() -> None:
    enc = SparseEncoder()
    assert enc.terms("The Printers are printing labels") == ["printer", "print", "label"]
    once = enc.encode_document("label")
    many = enc.encode_document("label label label label")
    assert once.indices == many.indices == [term_index("label")]
    assert 1.0 < many.values[0] < (enc.k1 + 1) * 1.01  # grows, then saturates below k1 + 1
    q = enc.encode_query("label labels LABEL")
    assert q.indices == [term_index("label")] and q.values == [1.0]
    assert len(enc.encode_query("the and of")) == 0


@pytest.mark.parametrize(("a", "b", "family"), [
    ("extension", "extend", True), ("permission", "permit", True), ("processor", "process", True),
    ("connector", "connect", True), ("responses", "respond", True), ("labels", "label", True),
    ("account", "accept", False), ("install", "instance", False), ("shipment", "ship", False),
    ("configure", "confirm", False), ("cards", "cars", False), ("credit", "create", False),
])
def test_word_families_the_stemmer_keeps_apart_meet(a: str, b: str, family: bool) -> None:
    encoder = SparseEncoder()
    [x], [y] = encoder.terms(a), encoder.terms(b)
    assert same_family(x, y) is family
    assert (named_terms({x}, {y}) == {x}) is family


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", max_size=12), st.text(alphabet="abcdefghijklmnopqrstuvwxyz", max_size=12))
def test_word_families_are_symmetric_and_contain_every_stem(a: str, b: str) -> None:
    assert same_family(a, a)
    assert same_family(a, b) is same_family(b, a)
    assert named_terms(set(), {a}) == set() and named_terms({a}, set()) == set()


def test_pii_masking_counts_and_keeps_non_pii() -> None:
    m = PiiMasker(extra_patterns=[r"ORD-\d{6}"])
    text = ("Mail jane.doe@example.com or call +1 415 555 0134. Card 4242 4242 4242 4242, "
            "IBAN DE89 3704 0044 0532 0130 00. Order ORD-123456, code PCL-4031, version 4.1.1.2, on 2026-09-14.")
    masked = m.mask(text)
    for secret in ("jane.doe@example.com", "555 0134", "4242 4242", "DE89", "ORD-123456"):
        assert secret not in masked
    for kept in ("PCL-4031", "4.1.1.2", "2026-09-14"):
        assert kept in masked
    assert m.counts == {"email": 1, "phone": 1, "card": 1, "iban": 1, "custom": 1}


def test_pii_card_needs_luhn() -> None:
    m = PiiMasker()
    assert "1234 5678 9012 3456" in m.mask("tracking 1234 5678 9012 3456")  # fails Luhn: not a card


def test_pii_digits_inside_links_are_left_alone() -> None:
    m = PiiMasker()
    text = "See https://web.archive.org/web/20240101123456/https://x.example/a and call +1 415 555 0134."
    masked = m.mask(text)
    assert "https://web.archive.org/web/20240101123456/https://x.example/a" in masked
    assert "555 0134" not in masked and m.counts == {"phone": 1}


def test_pieces_of_a_split_sentence_say_where_they_were_cut(chunker: Chunker) -> None:
    """A sentence too long for one chunk: the chunk that ends inside it, and the next one that starts
    inside it, say so; whole sentences and packed sections are not marked."""
    long_sentence = " ".join(f"component{i} version 9.0.{i}" for i in range(150))
    body = f"## Log\n\nThe upgrade stopped.\n\n{long_sentence}\n\nRestart the server."
    chunks = chunker.chunk(_doc(body))
    assert len(chunks) >= 3
    assert not chunks[0].starts_mid_sentence and chunks[-1].ends_mid_sentence is False
    assert any(c.ends_mid_sentence for c in chunks[:-1]) and any(c.starts_mid_sentence for c in chunks[1:])
    for before, after in zip(chunks, chunks[1:], strict=False):
        if before.ends_mid_sentence:  # the next chunk goes on inside the same (very long) sentence
            assert not before.passage.rstrip().endswith((".", ":", ";")) and after.starts_mid_sentence
    whole = chunker.chunk(_doc("## Steps\n\n" + " ".join(f"Step {i} explains one detail." for i in range(200))))
    assert len(whole) > 3 and not any(c.starts_mid_sentence or c.ends_mid_sentence for c in whole)
    packed = chunker.chunk(_doc("\n\n".join(f"## Part {i}\n\nShort note {i}" for i in range(6))))
    assert not packed[0].starts_mid_sentence and not packed[0].ends_mid_sentence
