"""Unit-level MaxSim: does ranking chunks by their best unit beat ranking them by their own vector?

Issue 10 asked to measure Qdrant's multivector (late interaction: a chunk stored as the vectors of
its units, a query scored against it by MaxSim, i.e. its best unit) against re-scoring the
candidates in Python. On each dev half of ``../shared/eval`` (the dev-eval indexes, brought up to
date first), for the questions with qrels:

* ``hybrid``: the product's retrieval (dense + BM25, fused), as ``helpdesk-bot eval retrieval``
  ranks documents (each by its best chunk, 50 chunks);
* ``dense_chunk``: the chunks' own stored vectors only, exact cosine over the whole collection;
* ``store_maxsim``: every chunk stored in a Qdrant Edge shard as a multivector (one vector per
  quotable unit: sentence, list item, step, table row under its header, each embedded with its
  section heading in front, with the product's document embedder), the query scored by
  ``MultiVectorComparator.MaxSim`` over the whole collection;
* ``hybrid_rescored``: the hybrid's 50 chunks re-ranked in Python by their best unit's cosine
  (the same unit vectors);
* ``hybrid_plus_maxsim``: the hybrid's 50 chunks re-ranked by the sum of the two scores, each
  standardised over the 50 (equal weights, fixed before measuring: not tuned);
* ``hybrid_plus_static_maxsim``: the same with the reader's static word vectors
  (:mod:`bot.index.word_vectors`) scoring the units at query time, nothing stored per unit.

Reported per set: nDCG@10 and Recall@5 of each ranking; the units embedded, their embedding rate
and the shard's build time and size; per query, the store's MaxSim search time against the Python
re-scoring time (both after the question is embedded, which the product does anyway).

Usage::

    .venv/bin/python benchmarks/unit_maxsim.py [--sets wixqa techqa emanual]

Needs ``../shared/eval`` (skips cleanly without it) and builds the dev-eval indexes on first use
(``/tmp/dev-eval-index-<set>``, as ``../shared/tools/dev-eval`` does). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

import _common
import numpy as np
import qdrant_edge as qe
from _common import emit, note

from bot.answer.windows import unit_text
from bot.evaluation.beir import index_corpus, read_jsonl, read_qrels
from bot.evaluation.retrieval import EVAL_CHUNKS, ndcg_at, rank_documents, recall_at
from bot.index.edge_store import EdgeStore
from bot.index.units import split_units
from bot.index.word_vectors import shared_word_vectors
from bot.models import Audience
from bot.runtime import Runtime
from bot.settings import Settings

UNITS = "units"
SYSTEMS = ("hybrid", "dense_chunk", "store_maxsim", "hybrid_rescored", "hybrid_plus_maxsim", "hybrid_plus_static_maxsim")


def unit_texts(text: str, section: str) -> list[str]:
    """A chunk's quotable units as embedded: a table row under its header, the section heading in front."""
    out = []
    for u in split_units(text, section=section):
        if not u.quotable:
            continue
        out.append(f"{u.section}\n{unit_text(u)}" if u.section else unit_text(u))
    return out or [text[:2000]]


def standardised(x: np.ndarray) -> np.ndarray:
    sd = float(np.std(x))
    return (x - float(np.mean(x))) / sd if sd > 0 else np.zeros_like(x)


def measure_set(name: str, folder: Path, index_dir: Path, work: Path) -> dict[str, Any]:
    qrels = read_qrels(folder / "qrels.dev.tsv")
    queries = [q for q in read_jsonl(folder / "queries.dev.jsonl") if str(q["_id"]) in qrels]
    with Runtime(Settings(collection_prefix="eval", _env_file=None), store=EdgeStore(index_dir)) as rt:  # type: ignore[call-arg]
        note(f"{name}: bringing the index up to date")
        index_corpus(rt.indexer, folder / "corpus.jsonl")
        keys: list[tuple[str, int]] = []
        chunk_vectors: list[np.ndarray] = []
        units_of: list[list[str]] = []
        for collection, _ in rt.retriever.collections_for(Audience.AGENT):
            for payload, dense in rt.store.scroll(collection, fields=["doc_id", "chunk_no", "text", "section"],
                                                  with_dense=True):
                keys.append((str(payload["doc_id"]), int(payload["chunk_no"])))
                chunk_vectors.append(np.asarray(dense, dtype=np.float32))
                units_of.append(unit_texts(str(payload["text"]), str(payload.get("section") or "")))
        flat = [t for us in units_of for t in us]
        note(f"{name}: {len(keys)} chunks, {len(flat)} units; embedding the units")
        t0, c0 = time.perf_counter(), _common.cpu_s()
        vectors = np.vstack([rt.embedder.embed(flat[i : i + 256]) for i in range(0, len(flat), 256)])
        embed_s, embed_cpu = time.perf_counter() - t0, _common.cpu_s() - c0
        offsets = np.cumsum([0, *(len(us) for us in units_of)])
        unit_vectors = {key: vectors[offsets[n] : offsets[n + 1]] for n, key in enumerate(keys)}
        dense_matrix = np.vstack(chunk_vectors)

        shard_dir = work / name
        shutil.rmtree(shard_dir, ignore_errors=True)
        shard_dir.parent.mkdir(parents=True, exist_ok=True)
        config = qe.EdgeConfig(vectors={UNITS: qe.EdgeVectorParams(
            size=vectors.shape[1], distance=qe.Distance.Cosine,
            multivector_config=qe.MultiVectorConfig(comparator=qe.MultiVectorComparator.MaxSim))})
        t0 = time.perf_counter()
        shard = qe.EdgeShard.create(str(shard_dir), config)
        for start in range(0, len(keys), 256):
            shard.update(qe.UpdateOperation.upsert_points([
                qe.Point(id=n, vector={UNITS: unit_vectors[keys[n]].tolist()}, payload={"doc_id": keys[n][0]})
                for n in range(start, min(start + 256, len(keys)))]))
        shard.optimize()
        build_s = time.perf_counter() - t0
        disk_mb = sum(p.stat().st_size for p in shard_dir.rglob("*") if p.is_file()) / 1e6

        totals = {s: {"ndcg@10": 0.0, "recall@5": 0.0} for s in SYSTEMS}
        store_ms: list[float] = []
        python_ms: list[float] = []
        static_ms: list[float] = []
        word_vectors = shared_word_vectors()
        units_by_key = dict(zip(keys, units_of, strict=True))
        for q in queries:
            relevant = qrels[str(q["_id"])]
            retrieval = rt.retriever.retrieve(str(q["text"]), Audience.AGENT, limit=EVAL_CHUNKS)
            qv = np.asarray(retrieval.question_vector, dtype=np.float32)
            ranked: dict[str, list[str]] = {"hybrid": rank_documents([c.doc_id for c in retrieval.chunks])}
            ranked["dense_chunk"] = rank_documents([keys[i][0] for i in np.argsort(-(dense_matrix @ qv), kind="stable")[:EVAL_CHUNKS]])
            t0 = time.perf_counter()
            points = shard.query(qe.QueryRequest(limit=EVAL_CHUNKS, query=qe.Query.Nearest([qv.tolist()], using=UNITS),
                                                 with_payload=True, with_vector=False))
            store_ms.append((time.perf_counter() - t0) * 1000)
            ranked["store_maxsim"] = rank_documents([str(p.payload["doc_id"]) for p in points])
            t0 = time.perf_counter()
            best_unit = np.array([float(np.max(unit_vectors[(c.doc_id, c.chunk_no)] @ qv)) for c in retrieval.chunks])
            order = np.argsort(-best_unit, kind="stable")
            python_ms.append((time.perf_counter() - t0) * 1000)
            ranked["hybrid_rescored"] = rank_documents([retrieval.chunks[i].doc_id for i in order])
            fused = np.array([c.score for c in retrieval.chunks])
            both = np.argsort(-(standardised(fused) + standardised(best_unit)), kind="stable")
            ranked["hybrid_plus_maxsim"] = rank_documents([retrieval.chunks[i].doc_id for i in both])
            # The same, with the reader's static word vectors instead of the model (no unit embedded at ingest).
            t0 = time.perf_counter()
            static = np.array([float(np.max(word_vectors.similarities(str(q["text"]), units_by_key[(c.doc_id, c.chunk_no)])))
                               for c in retrieval.chunks])
            static_ms.append((time.perf_counter() - t0) * 1000)
            both = np.argsort(-(standardised(fused) + standardised(static)), kind="stable")
            ranked["hybrid_plus_static_maxsim"] = rank_documents([retrieval.chunks[i].doc_id for i in both])
            for s in SYSTEMS:
                totals[s]["ndcg@10"] += ndcg_at(ranked[s], relevant, 10)
                totals[s]["recall@5"] += recall_at(ranked[s], relevant, 5)
        shard.close()
        shutil.rmtree(shard_dir, ignore_errors=True)
    n = len(queries)
    return {
        "questions": n, "chunks": len(keys), "units": len(flat), "units_per_chunk": round(len(flat) / max(len(keys), 1), 1),
        **{s: {k: round(v / n, 4) for k, v in m.items()} for s, m in totals.items()},
        "units_embedded_per_s": round(len(flat) / embed_s, 1), "units_embed_cpu_s": round(embed_cpu, 1),
        "maxsim_shard_build_s": round(build_s, 2), "maxsim_shard_disk_mb": round(disk_mb, 1),
        "store_maxsim_ms_p50": round(float(np.percentile(store_ms, 50)), 2),
        "store_maxsim_ms_p95": round(float(np.percentile(store_ms, 95)), 2),
        "python_rescore_ms_p50": round(float(np.percentile(python_ms, 50)), 2),
        "python_rescore_ms_p95": round(float(np.percentile(python_ms, 95)), 2),
        "static_rescore_ms_p50": round(float(np.percentile(static_ms, 50)), 2),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared", default=str(_common.PROJECT_ROOT.parent / "shared"))
    p.add_argument("--sets", nargs="+", default=["wixqa", "techqa", "emanual"])
    p.add_argument("--index-dir-pattern", default="/tmp/dev-eval-index-{set}")
    p.add_argument("--work-dir", type=Path, default=Path("/tmp/bench-maxsim"))
    args = p.parse_args()
    _common.setup_logging()
    eval_root = Path(args.shared) / "eval"
    if not eval_root.is_dir():
        emit({"benchmark": "unit_maxsim", "skipped": f"no evaluation data under {eval_root}"})
        return 0
    out: dict[str, Any] = {"benchmark": "unit_maxsim"}
    for name in args.sets:
        if (eval_root / name / "corpus.jsonl").is_file():
            out[name] = measure_set(name, eval_root / name, Path(args.index_dir_pattern.format(set=name)), args.work_dir)
            note(f"{name}: " + ", ".join(f"{s} {out[name][s]['ndcg@10']:.4f}" for s in SYSTEMS))
    out["machine"] = _common.machine()
    emit(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
