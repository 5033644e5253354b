"""Retrieval evaluation on a BEIR-layout set (corpus.jsonl, queries.jsonl, qrels.tsv).

Documents are ranked by their best chunk (a document counts once). Metrics: Recall@5, nDCG@10
and MRR@10 over the queries that have qrels; for queries without qrels (unanswerable) the share
on which the confidence gate abstains, and for answerable ones the share it answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.answer.service import AnswerService
from bot.models import Audience

#: Chunks retrieved per query before collapsing to documents.
EVAL_CHUNKS = 50


def rank_documents(doc_ids_by_chunk: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for d in doc_ids_by_chunk:
        seen.setdefault(d, None)
    return list(seen)


def ndcg_at(ranked: list[str], relevant: dict[str, float], k: int) -> float:
    dcg = sum(relevant.get(d, 0.0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevant: dict[str, float], k: int) -> float:
    return len(set(ranked[:k]) & set(relevant)) / len(relevant) if relevant else 0.0


def mrr_at(ranked: list[str], relevant: dict[str, float], k: int) -> float:
    for i, d in enumerate(ranked[:k]):
        if d in relevant:
            return 1.0 / (i + 1)
    return 0.0


@dataclass
class EvalResult:
    metrics: dict[str, Any]
    per_query: list[dict[str, Any]]


def evaluate(
    service: AnswerService,
    queries: list[dict[str, Any]],
    qrels: dict[str, dict[str, float]],
    *,
    on_progress: Callable[[int], None] | None = None,
) -> EvalResult:
    """Score ``service``'s retriever on ``queries``; abstention is ``service``'s own gate on the same retrieval."""
    answerable = {"recall@5": 0.0, "ndcg@10": 0.0, "mrr@10": 0.0}
    n = 0
    answered = 0
    unanswerable = 0
    abstained_unanswerable = 0
    per_query = []
    for q in queries:
        qid, text = str(q["_id"]), str(q.get("text", ""))
        retrieval = service.retriever.retrieve(text, Audience.AGENT, limit=EVAL_CHUNKS)
        ranked = rank_documents([c.doc_id for c in retrieval.chunks])
        assessment = service.assess_retrieval(text, retrieval)
        abstain = not assessment.passages or assessment.confidence < service.min_confidence
        relevant = qrels.get(qid)
        if relevant:
            n += 1
            answerable["recall@5"] += recall_at(ranked, relevant, 5)
            answerable["ndcg@10"] += ndcg_at(ranked, relevant, 10)
            answerable["mrr@10"] += mrr_at(ranked, relevant, 10)
            answered += not abstain
        else:
            unanswerable += 1
            abstained_unanswerable += abstain
        per_query.append({"id": qid, "ranked": ranked[:10], "abstained": abstain})
        if on_progress:
            on_progress(1)
    metrics: dict[str, Any] = {k: round(v / n, 4) if n else 0.0 for k, v in answerable.items()}
    metrics["n"] = n
    if unanswerable:
        metrics["n_unanswerable"] = unanswerable
        metrics["abstain_rate"] = round(abstained_unanswerable / unanswerable, 4)
    if n:
        metrics["answered_rate"] = round(answered / n, 4)
    return EvalResult(metrics=metrics, per_query=per_query)
