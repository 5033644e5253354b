"""The answerability gate: abstain with a clear "I don't know" instead of guessing.

A cosine threshold cannot tell an on-topic question the knowledge base does not answer from one
it does: both retrieve passages about the right product. What separates them is whether the
best candidate answer (:mod:`bot.answer.reader`) really covers the question, its rare terms
(the error code, the version, the product the asker named) above all, and whether the top
sources agree. :data:`GATE_FEATURES` describe that; a logistic model trained offline on the
dev halves (``benchmarks/train_answer_models.py``, techqa's unanswerable questions and off-topic
questions from the other sets as negatives) turns them into the probability that the question
is answerable from these passages. Two rules sit under the model: nothing retrieved is about the
question (:func:`below_floor`), or the question names a CVE no passage mentions
(:data:`UNIQUE_IDENTIFIER`); either declines outright. That probability is :attr:`bot.models.Answer.confidence`, and
``HELPDESK_MIN_CONFIDENCE`` is the least probability at which the bot answers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from bot.answer.lookup import LookupKind
from bot.answer.ranking import LinearModel
from bot.answer.reader import Reading
from bot.answer.retriever import RetrievedChunk
from bot.answer.windows import FEATURES
from bot.errors import ModelError
from bot.index.chunking import own_heading
from bot.index.sparse import SparseEncoder, named_terms
from bot.index.units import Unit

#: Everything the gate can weigh; a trained model uses some of them, by name.
GATE_FEATURES: tuple[str, ...] = (
    "best_score", "margin_to_other_document", "best_coverage", "best_rare", "passage_coverage", "passage_rare",
    "restates", "top_similarity", "similarity_margin", "top_fused_score", "distinct_documents", "question_terms",
    "has_rare_terms", "heading_names_question", "best_meaning", "top_meaning", "missing_identifier",
    "names_table_cells", "heading_shares_question",
)
#: Below this best cosine similarity no passage is about the question at all (off-topic questions
#: score 0.27 at the median and 0.43 at the 99th percentile on the dev sets; answerable ones 0.36
#: at the 1st percentile), whatever else the model says. A model may carry its own in its meta.
DEFAULT_SIMILARITY_FLOOR = 0.35
#: An identifier that names exactly one thing: a CVE names one vulnerability, and the bulletin about
#: it names the CVE. A question naming CVEs that no passage read mentions asks about something the
#: knowledge base does not cover, however close the passages are in words: a bulletin about another
#: CVE of the same product is not an answer but a wrong one. (Error codes are not such names: a
#: technote often answers a symptom without the code the asker's log showed.)
UNIQUE_IDENTIFIER = re.compile(r"(?<![\w-])CVE-\d{4}-\d{4,}(?![\w-])", re.I)
_F = {name: n for n, name in enumerate(FEATURES)}
#: Terms only (lower-cased, stemmed, no stop words): the same for every BM25 setting.
_TERMS = SparseEncoder()
#: A heading shares the question when it holds at least this many of its terms, and half of them.
MIN_SHARED_HEADING_TERMS = 2


def missing_identifiers(question: str, chunks: Sequence[RetrievedChunk]) -> tuple[str, ...]:
    """The CVEs the question names, when not one of them occurs in ``chunks`` (titles included);
    () when it names none or the chunks mention one."""
    named = sorted({m.group(0).upper() for m in UNIQUE_IDENTIFIER.finditer(question)})
    if not named:
        return ()
    mentioned = {m.group(0).upper() for c in chunks for m in UNIQUE_IDENTIFIER.finditer(f"{c.title}\n{c.text}")}
    return () if mentioned.intersection(named) else tuple(named)


def gate_features(reading: Reading) -> dict[str, float] | None:
    """The gate's features for ``reading``, by name; None when there is nothing to answer from."""
    if not reading.windows:
        return None
    ranked = reading.ranked()
    best = ranked[0]
    row = reading.features[best]
    best_doc = reading.passages[reading.windows[best].passage].doc_id
    other = [reading.scores[i] for i in ranked if reading.passages[reading.windows[i].passage].doc_id != best_doc]
    scores = reading.scores
    by_doc: dict[str, float] = {}
    for p in reading.passages:
        by_doc[p.doc_id] = max(by_doc.get(p.doc_id, -1.0), p.similarity)
    sims = sorted(by_doc.values(), reverse=True)
    return {
        "best_score": float(scores[best]),
        "margin_to_other_document": float(scores[best] - (max(other) if other else float(np.min(scores)))),
        "best_coverage": float(row[_F["coverage"]]),
        "best_rare": float(row[_F["rare"]]),
        "passage_coverage": float(row[_F["passage_coverage"]]),
        "passage_rare": float(row[_F["passage_rare"]]),
        "restates": float(row[_F["restates"]]),
        "top_similarity": sims[0],
        "similarity_margin": sims[0] - sims[1] if len(sims) > 1 else sims[0],
        "top_fused_score": max(p.score for p in reading.passages),
        "distinct_documents": float(len(by_doc)),
        "question_terms": float(row[_F["question_terms"]]),
        "has_rare_terms": float(bool(reading.rare_terms)),
        # The best window's heading says nothing the question does not ("Free trial" for "Is
        # there a free trial?") and its passage holds every term of the question.
        "heading_names_question": float(row[_F["heading_overlap"]] >= 1.0 and row[_F["passage_coverage"]] >= 0.999),
        # How close in meaning the best window's best unit, and the closest unit read, come to the question.
        "best_meaning": float(row[_F["meaning"]]),
        "top_meaning": float(np.max(reading.features[:, _F["meaning"]])),
        "missing_identifier": float(bool(missing_identifiers(reading.question, reading.chunks))),
        # The question names a row or the columns of a table read (:mod:`bot.answer.lookup`).
        "names_table_cells": float(reading.lookup is not None and reading.lookup.kind is not LookupKind.SECTION),
        # The best window's heading holds half of the question's terms, two at least ("Turn on
        # auto-reload" for "is auto-reload on by default?").
        "heading_shares_question": float(_heading_shares(reading.question, reading.window_units(reading.windows[best]))),
    }


def _heading_shares(question: str, units: Sequence[Unit]) -> bool:
    asked = _TERMS.term_set(question)
    heading = _TERMS.term_set(own_heading(units[0].section)) if units else frozenset()
    return len(named_terms(heading, asked)) >= max(MIN_SHARED_HEADING_TERMS, (len(asked) + 1) // 2)


def below_floor(features: dict[str, float], floor: float) -> bool:
    """No passage is about the question: its best similarity is under ``floor``.

    A short question ("Is there a free trial?") embeds far from any long passage even when a
    section is headed with its very words, so a heading that names the question lifts the floor,
    and so does a table whose row or columns it names ("What is the difference between the Growth
    and Pro plans?" embeds at 0.33 against the pricing article); the model still weighs the low
    similarity.
    """
    return (features["top_similarity"] < floor and not features["heading_names_question"]
            and not features["names_table_cells"] and not features["heading_shares_question"])


def ruled_out(features: dict[str, float], floor: float) -> bool:
    """Declined whatever the model says: nothing is about the question (:func:`below_floor`), or it
    names a CVE no passage mentions (:data:`UNIQUE_IDENTIFIER`)."""
    return below_floor(features, floor) or bool(features["missing_identifier"])


class AnswerabilityGate:
    """``confidence(reading)``: the probability that the passages answer the question."""

    def __init__(self, model: LinearModel) -> None:
        unknown = [f for f in model.features if f not in GATE_FEATURES]
        if unknown:
            raise ModelError(f"the answerability model uses features this version does not compute ({', '.join(unknown)}): "
                             "retrain it (benchmarks/train_answer_models.py)")
        self.model = model
        self.similarity_floor = float(model.meta.get("similarity_floor", DEFAULT_SIMILARITY_FLOOR))

    def confidence(self, reading: Reading) -> float:
        features = gate_features(reading)
        if features is None or ruled_out(features, self.similarity_floor):
            return 0.0
        x = np.array([[features[f] for f in self.model.features]])
        p = float(self.model.probability(x)[0])
        return 0.0 if math.isnan(p) else p
