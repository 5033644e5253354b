"""The reader: which stretch of the retrieved passages answers the question.

Chunks are merged back into passages (:mod:`bot.answer.passages`), cut into units
(:mod:`bot.index.units`), every window of consecutive units becomes a candidate with features
(:mod:`bot.answer.windows`), and the shipped window ranker (:mod:`bot.answer.ranking`) scores
them. The :class:`Reading` is what both the extractive composer (which quotes the best windows)
and the answerability gate (which asks whether the best window is good enough) work from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from bot.answer.lookup import CachedEmbed, Embed, Lookup, find_lookup
from bot.answer.passages import Passage, merge_passages
from bot.answer.ranking import WindowRanker
from bot.answer.retriever import RetrievedChunk
from bot.answer.section_kinds import SectionKind, asked_kinds
from bot.answer.windows import FEATURES, Window, candidate_windows, question_keys, rare_terms
from bot.errors import ModelError
from bot.index.chunking import own_heading
from bot.index.sparse import SparseEncoder
from bot.index.units import Unit, split_units
from bot.index.word_vectors import WordVectors
from bot.models import TICKET_CUSTOMER_SECTION, DocumentKind

#: Chunks read in any case (the ones the answer is composed from), and at most this many more
#: lower-ranked ones that name a rare term of the question (see :func:`select_chunks`).
READ_CHUNKS = 5
MAX_NAMED_CHUNKS = 3
#: A ticket reply's salutation and closing, each a line of its own ("Hi Tom,", "Best regards,").
_SALUTATION = re.compile(r"^(?:hi|hello|hey|dear|good (?:morning|afternoon|evening))\b[^.!?\n]{0,40}[,!:]?$", re.I)
_CLOSING = re.compile(r"^(?:best|best regards|kind regards|warm regards|regards|many thanks|thanks|thank you|cheers"
                      r"|sincerely|all the best|best wishes|talk soon)[,!.]?$", re.I)
#: A reply's courtesy line, whole: thanks, apologies, sympathy ("Thanks for reaching out, and sorry
#: for the stress on a busy shipping day.", "Sorry you're stuck!"). Not one that goes on past a dash
#: or colon to say something ("Thanks for the photo — that's the browser adding its own header"),
#: nor one that turns ("Sorry, but we can't refund a used label.").
_COURTESY = re.compile(r"^(?:thanks(?!\s+to\b)|thank you|many thanks|sorry|apologies|we apologi[sz]e|i apologi[sz]e|we understand|"
                       r"i understand|happy to help|glad to help|great question|good question)\b", re.I)
_COURTESY_TURN = re.compile(r"[—–:;\d]| - |\b(?:but|however|unfortunately|can't|cannot|won't|not|only)\b", re.I)
COURTESY_WORDS = 25
#: The signature after a closing is at most this many words ("Jonas — Parcelly Support").
SIGNATURE_WORDS = 6


def quotable_units(passage: Passage, units: Sequence[Unit]) -> list[Unit]:
    """The units of ``passage`` an answer may quote: no headings, and in a ticket not the
    customer's own messages (they restate the problem; the agent's reply answers it), nor the
    reply's salutation ("Hi Tom,"), courtesy lines ("Thanks for reaching out, and sorry for the
    trouble."), closing ("Best,") and the signature line after it."""
    if passage.first.kind != DocumentKind.TICKET.value:
        return [u for u in units if u.quotable]
    out: list[Unit] = []
    after_closing = False
    for u in units:
        text = u.text.strip()
        signature = after_closing and _signature(text)
        after_closing = bool(_CLOSING.match(text))
        if not u.quotable or u.section == TICKET_CUSTOMER_SECTION or signature or after_closing or _SALUTATION.match(text) \
                or _courtesy(text):
            continue
        out.append(u)
    return out


def _courtesy(text: str) -> bool:
    return bool(_COURTESY.match(text)) and not _COURTESY_TURN.search(text) and len(text.split()) <= COURTESY_WORDS


def _signature(text: str) -> bool:
    """A name line after a closing: short, no full stop, mostly capitalised words ("Jonas — Parcelly
    Support", "The Parcelly team"), not a sentence ("It works now")."""
    words = [w for w in text.split() if w[:1].isalpha()]
    if not words or len(text.split()) > SIGNATURE_WORDS or text.endswith((".", "?", ":")) or ">" in text:
        return False
    return sum(w[0].isupper() for w in words) * 2 >= len(words)


def select_chunks(chunks: Sequence[RetrievedChunk], rare: set[str], sparse: SparseEncoder,
                  kinds: Sequence[SectionKind] = ()) -> list[RetrievedChunk]:
    """The chunks worth reading: the top ones, plus lower ones whose heading names a rare term, or
    that belong to the top document and name one in their text (the part of the best document
    that holds the error code or product the question names, ranked below its other parts), or
    that belong to the top article and are a section of a kind the question asks for (``kinds``,
    :mod:`bot.answer.section_kinds`: "who do I tell?" reads the runbook's "Escalate" section
    that retrieval ranked ninth)."""
    chosen = list(chunks[:READ_CHUNKS])
    if rare and chunks:
        top_document = chunks[0].doc_id
        named = [c for c in chunks[READ_CHUNKS:] if rare & sparse.term_set(f"{c.title} {c.section}")
                 or (c.doc_id == top_document and rare & sparse.term_set(c.text))]
        chosen += named[:MAX_NAMED_CHUNKS]
    top_article = next((c.doc_id for c in chunks if c.kind != DocumentKind.TICKET.value), None)
    if kinds and top_article is not None:
        kind_of = [c for c in chunks[READ_CHUNKS:] if c.doc_id == top_article and c not in chosen
                   and any(k.heading.search(own_heading(c.section)) for k in kinds)]
        chosen += kind_of[:MAX_NAMED_CHUNKS]
    return chosen


@dataclass(frozen=True)
class Reading:
    question: str
    #: The chunks read, in retrieval order (the top ones first).
    chunks: list[RetrievedChunk]
    #: The question's identifier-like terms (error codes, versions, names), stemmed.
    rare_terms: frozenset[str]
    passages: list[Passage]
    #: Every unit of each passage, headings included (for context when rendering).
    all_units: list[list[Unit]]
    #: The quotable units of each passage; windows index into these.
    units: list[list[Unit]]
    windows: list[Window]
    features: np.ndarray
    scores: np.ndarray
    #: A table row, column or code-named section the question names (:mod:`bot.answer.lookup`).
    lookup: Lookup | None = None

    def ranked(self) -> list[int]:
        """Window indices, best first; ties broken by passage rank, then position, then length."""
        return list(self._order)

    @cached_property
    def _order(self) -> tuple[int, ...]:
        # Sorted once per reading: the gate and the composer both ask.
        return tuple(sorted(range(len(self.windows)), key=lambda i: (
            -self.scores[i], self.passages[self.windows[i].passage].rank, self.windows[i].start, self.windows[i].end)))

    def window_units(self, window: Window) -> list[Unit]:
        return self.units[window.passage][window.start : window.end]


class Reader:
    """Reads retrieved chunks with a window ranker.

    Args:
        sparse: the encoder whose terms (lower-cased, stemmed, no stop words) the features count.
        ranker: the window ranker; its feature list must be :data:`FEATURES` and its heading terms.
        word_vectors: compares each unit's meaning with the question's (the ranker's ``meaning``).
        embed: embeds short texts (a table's row labels, section headings) for lookups, through a
            bounded cache (a knowledge base's headings come back question after question); without
            it a column lookup quotes only the rows whose label shares a question term, and no
            heading is looked up.
    """

    def __init__(self, *, sparse: SparseEncoder, ranker: WindowRanker, word_vectors: WordVectors,
                 embed: Embed | None = None) -> None:
        expected = (*FEATURES, *(f"heading:{t}" for t in ranker.heading_terms))
        if ranker.features != expected:
            raise ModelError("the window ranker was trained on other features than this version computes: "
                             "retrain it (benchmarks/train_answer_models.py)")
        self.sparse = sparse
        self.ranker = ranker
        self.word_vectors = word_vectors
        self.embed = CachedEmbed(embed) if embed is not None else None

    def read(self, question: str, chunks: Sequence[RetrievedChunk], *, question_vector: np.ndarray | None = None) -> Reading:
        """Read the top :data:`READ_CHUNKS` of ``chunks`` (best first), and any lower one whose
        title or heading names one of the question's rare terms (the article about error PCL-4031
        when another one merely mentions it). ``question_vector``: the question's embedding, when
        retrieval made one (else the lookups embed the question themselves)."""
        identifiers, names = question_keys(question, self.sparse)
        rare = rare_terms((identifiers, names), self.sparse, [f"{c.title}\n{c.text}" for c in chunks])
        chosen = select_chunks(chunks, rare, self.sparse, asked_kinds(question))
        passages = merge_passages(chosen)
        all_units = [split_units(p.text, section=p.section) for p in passages]
        units = [quotable_units(p, us) for p, us in zip(passages, all_units, strict=True)]
        windows, features = candidate_windows(question, passages, units, sparse=self.sparse, rare=rare,
                                              word_vectors=self.word_vectors, heading_terms=self.ranker.heading_terms)
        lookup = find_lookup(question, passages, all_units, units, identifiers=identifiers, names=names,
                             common_names=names - rare, sparse=self.sparse, embed=self.embed, question_vector=question_vector,
                             shortlist=self.word_vectors.similarities)
        return Reading(question=question, chunks=chosen, rare_terms=frozenset(rare), passages=passages,
                       all_units=all_units, units=units, windows=windows, features=features,
                       scores=self.ranker.score(features), lookup=lookup)
