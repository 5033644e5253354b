"""Sparse lexical vectors: BM25 term-frequency saturation on the document side, IDF in Qdrant.

Qdrant's ``Modifier.IDF`` computes inverse document frequency over the collection at query
time, so a document vector only carries the saturated term frequency and a query vector the
term presence. Terms are lower-cased word tokens, English stop words removed, Snowball-stemmed,
hashed to a stable 31-bit index (the same on every machine and every run).
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from functools import lru_cache

import snowballstemmer

from bot.index.text_cache import TextCache

#: BM25 parameters (Robertson et al.; the usual defaults).
BM25_K1 = 1.2
BM25_B = 0.75
#: Typical number of terms in a chunk after stop-word removal: the length normaliser's pivot.
AVERAGE_CHUNK_TERMS = 80.0
#: Extra times a heading term counts in a chunk (0: headings count like body text).
HEADING_WEIGHT = 1.0

TOKEN = re.compile(r"\w+", re.UNICODE)
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just let me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves s t d ll m re ve y""".split()
)


class SparseVector:
    """Indices and values of a sparse vector (backend-neutral)."""

    __slots__ = ("indices", "values")

    def __init__(self, indices: list[int], values: list[float]) -> None:
        self.indices = indices
        self.values = values

    def __len__(self) -> int:
        return len(self.indices)


class SparseEncoder:
    """Encodes documents and queries into BM25-style sparse vectors."""

    def __init__(self, *, k1: float = BM25_K1, b: float = BM25_B, average_terms: float = AVERAGE_CHUNK_TERMS,
                 heading_weight: float = HEADING_WEIGHT):
        self.heading_weight = heading_weight
        self.k1 = k1
        self.b = b
        self.average_terms = average_terms
        self._stemmer = snowballstemmer.stemmer("english")

    def terms(self, text: str) -> list[str]:
        words = [w for w in TOKEN.findall(text.lower()) if w not in STOP_WORDS and not w.startswith("_")]
        return [self._stem(w) for w in words if len(w) > 1 or w.isdigit()]

    def term_set(self, text: str) -> frozenset[str]:
        """``frozenset(self.terms(text))``, remembered for the :data:`TERM_SET_CACHE` texts asked
        for last (the terms depend on the text alone). The reader asks for the same passages',
        units' and headings' terms question after question; the index writes each text once and
        uses :meth:`terms`."""
        return _TERM_SETS.get_many([text], lambda missing: [frozenset(self.terms(t)) for t in missing])[0]

    def _stem(self, word: str) -> str:
        return _stem_cached(self._stemmer, word)

    @property
    def signature(self) -> str:
        """What the document vectors depend on: a new one re-encodes every document on the next sync."""
        return f"bm25:{self.k1}:{self.b}:{self.average_terms}:{self.heading_weight}"

    def encode_document(self, text: str, *, heading: str = "") -> SparseVector:
        """BM25 term weights of ``text``; terms of ``heading`` (the title and section path at the
        start of ``text``) count :attr:`heading_weight` more times (a BM25F-style field boost: a
        chunk whose heading names the error code is about it, not merely mentioning it)."""
        counts = Counter(self.terms(text))
        length = sum(counts.values())
        if heading and self.heading_weight:
            for term, tf in Counter(self.terms(heading)).items():
                counts[term] += self.heading_weight * tf
        norm = self.k1 * (1 - self.b + self.b * length / self.average_terms)
        by_index: dict[int, float] = {}
        for term, tf in counts.items():
            idx = term_index(term)
            by_index[idx] = by_index.get(idx, 0.0) + tf * (self.k1 + 1) / (tf + norm)
        return _vector(by_index)

    def encode_query(self, text: str) -> SparseVector:
        by_index: dict[int, float] = {}
        for term in set(self.terms(text)):
            by_index[term_index(term)] = 1.0
        return _vector(by_index)


#: A stem of at least this many letters names the longer stems it starts (by a suffix of at most
#: FAMILY_SUFFIX letters): "connect" / "connector", "process" / "processor".
FAMILY_PREFIX = 5
FAMILY_SUFFIX = 3
#: Latin verb stems whose nouns the stemmer spells otherwise: "extend" / "extens", "permit" / "permiss".
_FAMILY_ENDINGS = (("d", "s"), ("t", "ss"))


def same_family(a: str, b: str) -> bool:
    """Whether stems ``a`` and ``b`` are one word's family: equal; the shorter (of at least
    :data:`FAMILY_PREFIX` letters) starts the longer, which adds at most :data:`FAMILY_SUFFIX`; or a
    verb and its noun the stemmer keeps apart ("extend" and "extension" stem to "extend" and
    "extens"). "account" / "accept", "install" / "instance" or "ship" / "shipment" do not meet."""
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    if len(short) >= FAMILY_PREFIX and long_.startswith(short) and len(long_) - len(short) <= FAMILY_SUFFIX:
        return True
    return len(short) >= FAMILY_PREFIX and any(
        x.endswith(v) and y == x[: -len(v)] + n for x, y in ((a, b), (b, a)) for v, n in _FAMILY_ENDINGS)


def named_terms(terms: Iterable[str], asked: AbstractSet[str]) -> set[str]:
    """The ``terms`` (a heading's) that one of the ``asked`` terms names, itself or its family (:func:`same_family`)."""
    return {t for t in terms if t in asked or any(same_family(t, q) for q in asked)}


@lru_cache(maxsize=200_000)
def term_index(term: str) -> int:
    return zlib.crc32(term.encode("utf-8")) & 0x7FFFFFFF


def _stem_cached(stemmer: snowballstemmer.stemmer, word: str) -> str:
    cached = _STEMS.get(word)
    if cached is None:
        cached = stemmer.stemWord(word)
        if len(_STEMS) < 500_000:
            _STEMS[word] = cached
    return cached


_STEMS: dict[str, str] = {}
#: Texts whose term sets :meth:`SparseEncoder.term_set` keeps (least recently used dropped first;
#: a passage's text and its terms are a few kB: tens of MB at most).
TERM_SET_CACHE = 8_000
_TERM_SETS: TextCache[frozenset[str]] = TextCache(TERM_SET_CACHE)


def _vector(by_index: dict[int, float]) -> SparseVector:
    indices = sorted(by_index)
    return SparseVector(indices, [float(by_index[i]) for i in indices])
