"""Retrieval evaluation on a BEIR-layout set (corpus.jsonl, queries.jsonl, qrels.tsv).

Documents are ranked by their best chunk (a document counts once). Metrics: Recall@5, nDCG@10
and MRR@10 over the queries that have qrels; for queries without qrels (unanswerable) the share
on which the confidence gate abstains, and for answerable ones the share it answers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.answer.confidence import should_abstain
from bot.answer.retriever import Retriever
from bot.errors import InputError
from bot.models import Audience, Document, DocumentKind, Visibility

#: Chunks retrieved per query before collapsing to documents.
EVAL_CHUNKS = 50


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from exc
    except FileNotFoundError as exc:
        raise InputError(f"file not found: {path}") from exc


def corpus_documents(path: Path) -> Iterator[Document]:
    for row in read_jsonl(path):
        if "_id" not in row:
            raise InputError(f"{path}: every corpus line needs an '_id'")
        title = str(row.get("title") or "").strip()
        text = str(row.get("text") or "").strip()
        yield Document(
            id=str(row["_id"]), source="eval", kind=DocumentKind.ARTICLE, audience=Visibility.PUBLIC,
            title=title or text[:80], url=row.get("url"), text=text or title,
        )


def read_qrels(path: Path) -> dict[str, dict[str, float]]:
    qrels: dict[str, dict[str, float]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise InputError(f"file not found: {path}") from exc
    for line in lines:
        parts = line.strip().split("\t")
        if len(parts) < 3 or parts[0] == "query-id":
            continue
        try:
            score = float(parts[2])
        except ValueError:
            continue
        if score > 0:
            qrels.setdefault(parts[0], {})[parts[1]] = score
    return qrels


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
    retriever: Retriever,
    queries: list[dict[str, Any]],
    qrels: dict[str, dict[str, float]],
    *,
    min_confidence: float,
    on_progress: Callable[[int], None] | None = None,
) -> EvalResult:
    answerable = {"recall@5": 0.0, "ndcg@10": 0.0, "mrr@10": 0.0}
    n = 0
    answered = 0
    unanswerable = 0
    abstained_unanswerable = 0
    per_query = []
    for q in queries:
        qid, text = str(q["_id"]), str(q.get("text", ""))
        retrieval = retriever.retrieve(text, Audience.AGENT, limit=EVAL_CHUNKS)
        ranked = rank_documents([c.doc_id for c in retrieval.chunks])
        abstain = should_abstain(retrieval, min_confidence)
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
