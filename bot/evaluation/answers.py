"""Answer-text evaluation: the real ``answer()`` on every question of a BEIR-layout set.

Over answerable questions (those with a qrels row) the answer text as a user sees it is scored
against the reference answer: token F1 and reference recall (:mod:`.text_scores`), embedding
cosine, words; an abstention scores 0 on all three. Over unanswerable questions (no qrels row)
the share declined. Two baselines are scored in the same run over the same retrieved passages:

* ``lead``: the first three sentences of the top passage (what a "show the best snippet" bot says);
* ``oracle``: the three consecutive sentences of the top passages that score the best token F1
  against the reference. It knows the reference, so no composer can be expected to reach it; it
  says how much of the answer the passages hold.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.answer.retriever import RetrievedChunk
from bot.answer.service import AnswerService
from bot.evaluation.text_scores import overlap, plain_text, sentences, word_count
from bot.index.embeddings import Embedder
from bot.models import Audience

#: Sentences in the LEAD and ORACLE windows.
BASELINE_SENTENCES = 3
#: Passages the ORACLE may choose from (the ones the composer sees).
ORACLE_PASSAGES = 5


def lead_text(passages: Sequence[RetrievedChunk]) -> str:
    """The first sentences of the top passage."""
    return " ".join(sentences(passages[0].text)[:BASELINE_SENTENCES]) if passages else ""


def oracle_text(passages: Sequence[RetrievedChunk], reference: str) -> str:
    """The window of consecutive sentences of the top passages with the best F1 against ``reference``."""
    best, best_f1 = "", -1.0
    for passage in passages[:ORACLE_PASSAGES]:
        units = sentences(passage.text)
        for start in range(max(len(units) - BASELINE_SENTENCES + 1, 1)):
            window = " ".join(units[start : start + BASELINE_SENTENCES])
            f1 = overlap(window, reference).f1
            if f1 > best_f1:
                best, best_f1 = window, f1
    return best


@dataclass
class AnswerEvalResult:
    metrics: dict[str, Any]
    rows: list[dict[str, Any]]  # one per question: _id, answer, abstained, citations


@dataclass
class _Scored:
    texts: list[str]
    references: list[str]


def evaluate_answers(
    service: AnswerService,
    embedder: Embedder,
    queries: Sequence[dict[str, Any]],
    qrels: dict[str, dict[str, float]],
    references: dict[str, str],
    *,
    audience: Audience = Audience.CUSTOMER,
    on_progress: Callable[[int], None] | None = None,
) -> AnswerEvalResult:
    rows: list[dict[str, Any]] = []
    systems = {"answer": _Scored([], []), "lead": _Scored([], []), "oracle": _Scored([], [])}
    answered_words: list[int] = []
    abstained_answerable = 0
    answerable = 0
    unanswerable = 0
    declined = 0
    for q in queries:
        qid, question = str(q["_id"]), str(q.get("text", ""))
        answer, passages = service.answer_with_passages(question, audience)
        rows.append({
            "_id": qid,
            "answer": answer.text,
            "abstained": answer.abstained,
            "citations": [c.doc_id for c in answer.citations],
        })
        if qid in qrels:
            answerable += 1
            abstained_answerable += answer.abstained
            if not answer.abstained:
                answered_words.append(word_count(answer.text))
            reference = references.get(qid)
            if reference is not None:
                # An abstention is scored as an empty answer: 0 F1, recall and cosine.
                systems["answer"].texts.append("" if answer.abstained else answer.text)
                systems["lead"].texts.append(lead_text(passages))
                systems["oracle"].texts.append(oracle_text(passages, reference))
                for s in systems.values():
                    s.references.append(reference)
        else:
            unanswerable += 1
            declined += answer.abstained
        if on_progress:
            on_progress(1)

    metrics: dict[str, Any] = {"n": answerable, "n_unanswerable": unanswerable}
    if answerable:
        metrics["abstain_rate"] = round(abstained_answerable / answerable, 4)
        metrics["answered_rate"] = round(1 - abstained_answerable / answerable, 4)
        metrics["words"] = round(statistics.mean(answered_words), 1) if answered_words else 0.0
    if unanswerable:
        metrics["decline_rate"] = round(declined / unanswerable, 4)
    scored = systems["answer"].references
    if scored:
        metrics["n_scored"] = len(scored)
        metrics["reference_words_median"] = statistics.median(word_count(r) for r in scored)
        for name, s in systems.items():
            scores = _score(embedder, s)
            if name == "answer":
                metrics.update(scores)
            else:
                metrics[name] = scores
        if metrics["oracle"]["f1"]:
            metrics["f1_vs_oracle"] = round(metrics["f1"] / metrics["oracle"]["f1"], 3)
    return AnswerEvalResult(metrics=metrics, rows=rows)


def _score(embedder: Embedder, scored: _Scored) -> dict[str, float]:
    f1, recall = [], []
    for text, reference in zip(scored.texts, scored.references, strict=True):
        o = overlap(text, reference)
        f1.append(o.f1)
        recall.append(o.recall)
    present = [i for i, t in enumerate(scored.texts) if plain_text(t).strip()]
    cosines = np.zeros(len(scored.texts), dtype=np.float32)
    if present:
        a = embedder.embed([plain_text(scored.texts[i]) for i in present])
        r = embedder.embed([plain_text(scored.references[i]) for i in present])
        cosines[present] = np.sum(a * r, axis=1)
    words = [word_count(t) for t in scored.texts if t]
    return {
        "f1": round(float(np.mean(f1)), 4),
        "recall": round(float(np.mean(recall)), 4),
        "cosine": round(float(np.mean(cosines)), 4),
        "words": round(statistics.mean(words), 1) if words else 0.0,
    }
