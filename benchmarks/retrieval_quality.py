"""Retrieval quality: our hybrid retriever against dense-only and BM25-only, same index, same run.

What it measures
    For each BEIR-layout eval set in ``<shared>/eval/<set>/`` (``corpus.jsonl``,
    ``queries.dev.jsonl``, ``qrels.dev.tsv``) it scores three rankings of the *same* chunked index
    with the *same* embedder:

    * ``ours``:  the real :class:`bot.answer.retriever.Retriever` (dense and sparse searches fused
      by weighted z-scores, :mod:`bot.answer.fusion`) with the retrieval parameters from :class:`bot.settings.Settings`,
      scored by :func:`bot.evaluation.retrieval.evaluate` itself, i.e. exactly what
      ``helpdesk-bot eval retrieval`` reports, including the confidence gate's ``abstain_rate``
      (unanswerable queries declined) and ``answered_rate`` (answerable ones answered);
    * ``dense``: the dense search alone (cosine);
    * ``bm25``:  the sparse search alone (the sparse vectors are BM25-saturated term frequencies,
      Qdrant applies IDF); a query with no indexable term (all stop words) ranks nothing.

    Baselines go through :meth:`VectorStore.search` with one :class:`SignalQuery`, the same call
    the retriever makes per signal, so no product code is added or changed for them.
    ``--dense-weights 0.3 0.4 0.5`` also scores ``ours`` at each dense weight (sparse = 1 - it):
    the sweep the fusion weights were chosen from, once, over all sets together. Metrics (all from :mod:`bot.evaluation.retrieval`):
    nDCG@10, Recall@5 and MRR@10 over documents, a document counting once at its best chunk,
    over the top ``EVAL_CHUNKS`` (50) chunks, averaged over the queries that have qrels.

How
    One index per set: :class:`EdgeStore` under ``--index-root/<set>`` (or ``--index-dir-pattern``,
    e.g. ``/tmp/ev-{set}`` to reuse indexes built by ``helpdesk-bot eval retrieval --index-dir``,
    which have the same layout), filled by the real :class:`Indexer` (``masker=None``,
    ``collection_prefix="eval"``). Rerunning reuses the index: unchanged documents are skipped by
    content hash, so only the first run pays for embedding (emanual: ~15 min on 2 cores).
    An index held by another process (an Edge shard has a single writer) is reported as skipped,
    never waited for.

Usage
    .venv/bin/python benchmarks/retrieval_quality.py --sets wixqa
    .venv/bin/python benchmarks/retrieval_quality.py --index-dir-pattern '/tmp/ev-{set}'

Output: one JSON line,
    {"benchmark": "retrieval_quality", "sets": {"wixqa": {"ours": {...}, "dense": {...}, "bm25": {...}, ...}}}
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import _common
from _common import emit, note, timed

from bot.answer.retriever import RetrievalParams, Retriever
from bot.answer.service import AnswerService
from bot.errors import StoreLockedError
from bot.evaluation.beir import corpus_documents, read_jsonl, read_qrels
from bot.evaluation.retrieval import EVAL_CHUNKS, evaluate, mrr_at, ndcg_at, rank_documents, recall_at
from bot.index.chunking import Chunker
from bot.index.edge_store import EdgeStore
from bot.index.embeddings import Embedder
from bot.index.indexer import Indexer
from bot.index.sparse import SparseEncoder
from bot.index.store import SignalQuery, VectorStore
from bot.models import Audience
from bot.settings import Settings

DEFAULT_SETS = ("wixqa", "techqa", "emanual")
COLLECTION_PREFIX = "eval"
#: Prefetch depth used by ``helpdesk-bot eval retrieval`` (so figures match it): at least 100.
EVAL_MIN_PREFETCH = 100


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS), help="eval sets to score (folders of <shared>/eval)")
    p.add_argument("--shared", default=str(_common.PROJECT_ROOT.parent / "shared"),
                   help="the shared folder holding eval/<set>/ (default: ../shared next to the project)")
    p.add_argument("--index-root", default="/tmp/bench-index", help="indexes live in <index-root>/<set>")
    p.add_argument("--index-dir-pattern", default=None,
                   help="overrides --index-root: a path with {set}, e.g. /tmp/ev-{set}, to reuse existing indexes")
    p.add_argument("--dense-weights", type=float, nargs="*", default=[],
                   help="also score ours at these dense weights (sparse weight = 1 - dense weight)")
    p.add_argument("--max-queries", type=int, default=None,
                   help="score only the first N queries of each set (quick checks; the default is all)")
    return p.parse_args(argv)


# --- data and index ---------------------------------------------------------------------------
def load_set(folder: Path, max_queries: int | None) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    queries = list(read_jsonl(folder / "queries.dev.jsonl"))
    if max_queries is not None:
        queries = queries[:max_queries]
    return queries, read_qrels(folder / "qrels.dev.tsv")


def build_index(store: VectorStore, embedder: Embedder, sparse: SparseEncoder, settings: Settings,
                corpus: Path) -> dict[str, Any]:
    """Bring the index in step with the corpus (a no-op apart from hashing when it already is)."""
    indexer = Indexer(
        store=store, embedder=embedder, sparse=sparse, masker=None, collection_prefix=COLLECTION_PREFIX,
        chunker=Chunker(chunk_tokens=settings.chunk_tokens, overlap_tokens=settings.chunk_overlap_tokens),
    )
    docs = list(corpus_documents(corpus))
    with timed() as t:
        stats = indexer.index(docs, on_progress=_progress_every(len(docs), "index"))
        ids = {d.id for d in docs}
        stale = [d for v in indexer.stored_hashes().values() for d in v if d not in ids]
        stats.deleted += indexer.delete(stale)
        store.flush()
        if stats.chunks_embedded or stats.deleted:
            indexer.optimize()
    chunks = sum(store.count(name) for name in indexer.collections.values())
    return {"docs": len(docs), "chunks": chunks, "index_s": round(t["s"], 2), "reused": stats.chunks_embedded == 0,
            "chunks_embedded": stats.chunks_embedded, "docs_added": stats.added, "docs_updated": stats.updated,
            "docs_deleted": stats.deleted}


def _progress_every(total: int, what: str, every: int = 500):  # type: ignore[no-untyped-def]
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if done % every == 0 or done == total:
            note(f"  {what}: {done}/{total}")

    return advance


# --- scoring ----------------------------------------------------------------------------------
def retrieval_params(settings: Settings) -> RetrievalParams:
    """The Settings' retrieval parameters, with the prefetch depth the CLI's eval uses."""
    s = settings
    return RetrievalParams(limit=10, prefetch_limit=max(s.prefetch_limit, EVAL_MIN_PREFETCH),
                           dense_weight=s.dense_weight, sparse_weight=s.sparse_weight)


def score_ours(retriever: Retriever, queries: list[dict[str, Any]], qrels: dict[str, dict[str, float]],
               min_confidence: float) -> dict[str, Any]:
    with timed() as t:
        result = evaluate(AnswerService(retriever=retriever, min_confidence=min_confidence), queries, qrels)
    metrics = dict(result.metrics)
    metrics["query_ms_mean"] = round(t["s"] * 1000 / max(len(queries), 1), 2)
    return metrics


def score_single(method: str, store: VectorStore, retriever: Retriever, queries: list[dict[str, Any]],
                 qrels: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Dense-only (``method="dense"``) or BM25-only (``"bm25"``): one signal's search, unfused."""
    p = retriever.params
    collections = [name for name, _ in retriever.collections_for(Audience.AGENT) if store.has_collection(name)]
    texts = [str(q.get("text", "")) for q in queries]
    started = time.perf_counter()
    dense_vectors = retriever.embedder.embed(texts)  # one batch: same vectors as embed_one, faster
    totals = {"recall@5": 0.0, "ndcg@10": 0.0, "mrr@10": 0.0}
    n = no_terms = 0
    for q, text, dense in zip(queries, texts, dense_vectors, strict=True):
        sparse = retriever.sparse.encode_query(text)
        query = SignalQuery(dense=dense, limit=p.prefetch_limit) if method == "dense" else SignalQuery(
            sparse=sparse, limit=p.prefetch_limit)
        no_terms += method == "bm25" and not len(sparse)
        hits: list[tuple[float, str, str]] = []
        for collection in collections:
            found = store.search(collection, [query])[0][:EVAL_CHUNKS]
            docs = {h.id: h.payload["doc_id"] for h in store.retrieve(collection, [f.id for f in found], with_dense=False)}
            hits.extend((f.score, f.id, docs[f.id]) for f in found if f.id in docs)
        hits.sort(key=lambda h: (-h[0], h[1]))
        ranked = rank_documents([doc_id for _, _, doc_id in hits[:EVAL_CHUNKS]])
        relevant = qrels.get(str(q["_id"]))
        if relevant:
            n += 1
            totals["recall@5"] += recall_at(ranked, relevant, 5)
            totals["ndcg@10"] += ndcg_at(ranked, relevant, 10)
            totals["mrr@10"] += mrr_at(ranked, relevant, 10)
    elapsed = time.perf_counter() - started
    metrics: dict[str, Any] = {k: round(v / n, 4) if n else 0.0 for k, v in totals.items()}
    metrics["n"] = n
    if method == "bm25":
        metrics["queries_without_terms"] = no_terms
    metrics["query_ms_mean"] = round(elapsed * 1000 / max(len(queries), 1), 2)
    return metrics


def run_set(name: str, folder: Path, index_dir: Path, embedder: Embedder, sparse: SparseEncoder,
            settings: Settings, max_queries: int | None, dense_weights: list[float]) -> dict[str, Any]:
    queries, qrels = load_set(folder, max_queries)
    try:
        store = EdgeStore(index_dir)
    except StoreLockedError:
        note(f"{name}: {index_dir} is in use by another process: skipped")
        return {"skipped": f"index {index_dir} locked by another process"}
    try:
        note(f"{name}: indexing {folder / 'corpus.jsonl'} into {index_dir}")
        index = build_index(store, embedder, sparse, settings, folder / "corpus.jsonl")
        note(f"{name}: index ready ({index['chunks']} chunks, {index['index_s']} s); scoring {len(queries)} queries")
        retriever = Retriever(store=store, embedder=embedder, sparse=sparse, params=retrieval_params(settings),
                              collection_prefix=COLLECTION_PREFIX)
        result: dict[str, Any] = {"ours": score_ours(retriever, queries, qrels, settings.min_confidence)}
        note(f"{name}: ours {result['ours']}")
        for method in ("dense", "bm25"):
            result[method] = score_single(method, store, retriever, queries, qrels)
            note(f"{name}: {method} {result[method]}")
        for weight in dense_weights:
            params = replace(retrieval_params(settings), dense_weight=weight, sparse_weight=1 - weight)
            swept = Retriever(store=store, embedder=embedder, sparse=sparse, params=params, collection_prefix=COLLECTION_PREFIX)
            result[f"ours@dense_weight={weight}"] = score_ours(swept, queries, qrels, settings.min_confidence)
            note(f"{name}: dense weight {weight}: {result[f'ours@dense_weight={weight}']}")
    finally:
        store.close()
    result["queries"] = len(queries)
    result["index"] = {"dir": str(index_dir), **index}
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _common.setup_logging()
    eval_root = Path(args.shared) / "eval"
    out: dict[str, Any] = {"benchmark": "retrieval_quality"}
    if not eval_root.is_dir():
        out["skipped"] = f"no eval sets: {eval_root} does not exist"
        emit(out)
        return 0
    settings = Settings()
    params = retrieval_params(settings)
    out["config"] = {"prefetch_limit": params.prefetch_limit, "fusion": "z-score",
                     "dense_weight": params.dense_weight, "sparse_weight": params.sparse_weight,
                     "min_confidence": settings.min_confidence, "chunk_tokens": settings.chunk_tokens,
                     "chunk_overlap_tokens": settings.chunk_overlap_tokens, "eval_chunks": EVAL_CHUNKS,
                     "max_queries": args.max_queries}
    embedder = Embedder(threads=settings.embed_threads, batch_size=settings.embed_batch_size,
                        max_tokens=settings.embed_max_tokens)
    sparse = SparseEncoder()
    sets: dict[str, Any] = {}
    for name in args.sets:
        folder = eval_root / name
        if not (folder / "corpus.jsonl").is_file():
            sets[name] = {"skipped": f"{folder} has no corpus.jsonl"}
            continue
        index_dir = Path(args.index_dir_pattern.format(set=name)) if args.index_dir_pattern else Path(args.index_root) / name
        sets[name] = run_set(name, folder, index_dir, embedder, sparse, settings, args.max_queries, args.dense_weights)
    out["sets"] = sets
    emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
