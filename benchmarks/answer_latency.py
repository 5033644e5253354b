"""Answer latency at scale: the real ``AnswerService.answer()`` over an embedded store of N chunks.

What it measures
    * ``p50_ms`` / ``p95_ms`` / ``p99_ms`` / ``mean_ms``: wall-clock time of
      ``AnswerService.answer(question, Audience.CUSTOMER)`` (question embedding, dense and sparse searches
      fused in Python, with the audience filter on ``kb_public``, confidence gate, extractive composer, citation
      check), after ``--warmup`` untimed calls, over ``--queries`` calls cycling through realistic
      questions about the bundled sample knowledge base;
    * ``p95_first_ms`` / ``p95_repeat_ms``: p95 of the answers to questions asked for the first
      time in this process (the reader embeds the headings it has not seen yet) and to repeated ones;
    * ``embed_ms_p50`` / ``search_ms_p50`` / ``compose_ms_p50``: medians of the stages the service
      itself reports in ``Answer.timings``;
    * ``first_answer_ms``: the first call after reopening (and after ``warm_cache``, if on), not in the percentiles;
    * ``fill_s``: writing the N points, including the index builds the store runs as the data
      arrives (``--tuning tuned``: every ``build_every_points``); ``build_s``: the time inside
      those builds plus the final ``optimize()`` of each collection (HNSW graphs, quantized
      vectors, sparse indexes); ``fill_build_s`` = fill + final build, the wall time to a
      searchable-and-indexed store; ``fill_build_cpu_s`` its CPU seconds (the build machine is
      shared: CPU seconds say what the work costs when wall time is stretched by others);
    * ``fill_peak``: peak memory while filling and building, sampled every 0.2 s by a separate
      process (``rss_mb`` total resident, ``anon_mb`` heap and other memory the process cannot
      give back, ``file_mb`` memory-mapped file pages the kernel may evict), plus ``vm_hwm_mb``,
      the kernel's exact peak of the total;
    * ``disk_mb``: the store folder on disk; ``segments``: segments per collection;
    * ``reopen_s``: ``EdgeStore(path)`` on the filled, closed store (what a restart costs);
      with ``--cold-reopen`` the kernel's page cache is dropped first (``reopen_cold: true``), as
      after a reboot; otherwise the store's files are usually still cached from the fill;
    * ``warm_cache``: after the reopen, the store's search files read into the page cache as
      ``serve`` does (:mod:`bot.index.page_cache`): seconds, MB, files; the benchmark waits for it
      before the first answer (``--no-warm-cache``: skipped, the answers fault the pages in);
    * ``during_sync``: the same answers timed while a real sync runs in another thread of the
      same process, into the same store (files connector over generated articles: chunking,
      embedding with the same model, upserts, index builds as they come due), with the sync's
      own chunks/s (``--sync-queries 0`` skips it); the sync's thread and its model's threads run at
      ``HELPDESK_SYNC_NICE`` as the scheduler's do (``HELPDESK_SYNC_NICE=0`` for the same priority);
    * ``serve_peak``: peak memory while answering (quiet, then during the sync).

How
    The store is built through :class:`bot.runtime.Runtime` (settings ``data_dir=--data-dir``, the
    embedded :class:`EdgeStore`, collections ``kb_public`` / ``kb_internal``). First the sample
    knowledge base is synced through the real path (``sync_source`` with the files connectors,
    PII masking, chunking, embedding), so real questions have real answers. Then synthetic chunks
    fill the store up to N points in total, ~70% public / 30% internal, written with
    ``store.upsert`` in batches of ``--batch`` points with payloads shaped like the Indexer's:

    * text: sentences drawn from a vocabulary of support words with Zipf-like frequencies (the
      words a help center really repeats, "order", "label", "account" ..., are the frequent
      ones, so sparse posting lists are long, as in a real corpus); sparse vectors come from the
      real :class:`SparseEncoder` over a cache of ``--text-cache`` texts reused round-robin;
    * dense: random unit vectors, plus a share (``--near-share``) of perturbed copies of the real
      chunks' vectors (cosine ~0.6 to the original) so the real answers have near neighbours to
      beat, as in a large same-domain knowledge base.

    A filled store is reused on a rerun with the same ``--chunks``, seed and ``--tuning``: only the
    reopen and the answers are measured again (``reused: true``; fill and build figures come from
    the run that built it). ``--tuning untuned`` builds the store as it was made before Qdrant's
    levers were used (no quantization, everything in RAM, one build at the end), for comparison.

Usage
    .venv/bin/python benchmarks/answer_latency.py --chunks 10000
    .venv/bin/python benchmarks/answer_latency.py --chunks 100000 --queries 200
    .venv/bin/python benchmarks/answer_latency.py --chunks 100000 --tuning untuned --data-dir /tmp/bench-untuned

Output: one JSON line,
    {"benchmark": "answer_latency", "chunks": 100000, "p50_ms": ..., "p95_ms": ..., "reopen_s": ..., ...}
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _common
import numpy as np
from _common import MemoryWatch, cpu_s, dir_size_mb, emit, note, peak_rss_mb, percentile, rss_mb, timed

from bot.index.edge_store import EdgeStore
from bot.index.embeddings import DIMENSIONS, Embedder
from bot.index.schema import collection_name, point_id
from bot.index.sparse import SparseEncoder
from bot.index.store import UNTUNED, StoredPoint, StoreTuning, VectorStore
from bot.models import Audience, Visibility
from bot.runtime import Runtime
from bot.settings import Settings
from bot.sync.priority import lower_thread_priority
from bot.sync.runner import sync_source
from connectors.files import FilesConnector, FilesConnectorSettings, sample_kb_path

META_FILE = "bench_latency.json"
SYNTHETIC_SOURCE = "synthetic"
#: The source the concurrent sync writes (generated articles, like the synthetic ones).
SYNC_SOURCE = "bench-sync"
TUNINGS = {"tuned": StoreTuning(), "untuned": UNTUNED,
           # HELPDESK_QDRANT_ON_DISK=false: the same levers with vectors, sparse and payload indexes in RAM.
           "tuned-ram": StoreTuning(vectors_on_disk=False, sparse_on_disk=False, quantized_on_disk=False,
                                    payload_indexes_on_disk=False),
           # Stop 25's defaults: the int8 copy of the vectors in RAM, the rest as tuned.
           "tuned-qram": StoreTuning(quantized_on_disk=False)}
CHUNKS_PER_DOC = 4
INTERNAL_SHARE = 0.3

#: Questions a customer could ask about the sample knowledge base (Parcelly, a shipping app);
#: used with, or instead of, ``sample_kb/questions.txt``.
QUESTIONS = [
    "How do I reset my password?",
    "The password reset email never arrived, what should I do?",
    "How do I add funds to my postage balance?",
    "Can I get a refund for a label I didn't use?",
    "How long does a USPS void refund take?",
    "How do I connect my Shopify store?",
    "My Shopify orders are not syncing",
    "How do I connect WooCommerce?",
    "How do I print labels in bulk?",
    "What label formats and printers are supported?",
    "How do I set up two-factor authentication?",
    "I lost my phone with my 2FA codes, how do I get back in?",
    "How do I invite a team member?",
    "What can the different team roles do?",
    "How do I change the email address I sign in with?",
    "How do I cancel my plan?",
    "Can I get a refund for my subscription?",
    "How do I update my credit card?",
    "My payment failed and my account is past due",
    "Where can I download my invoices?",
    "How do I set up webhooks?",
    "How do I verify a webhook signature?",
    "What are the API rate limits?",
    "How do I create an API key?",
    "Which carriers do you support?",
    "Can I use my own UPS account?",
    "How do I ship internationally and fill in customs forms?",
    "What does the tracking status 'in transit' mean?",
    "How do I customize my tracking page?",
    "How do I set up the returns portal?",
    "Why was I charged a carrier adjustment?",
    "How do I fix an address validation error?",
    "What does error PCL-4031 mean?",
    "How do I export my data?",
    "How do I close my account?",
    "Do you support single sign-on with SAML?",
    "Can customers get SMS notifications?",
    "How do I turn off shipment notification emails?",
    "What plans do you offer and how much do they cost?",
    "How do I get started with Parcelly?",
]

#: Support-center vocabulary, most frequent first (Zipf ranks follow this order).
VOCABULARY = """
order account label shipping customer refund payment store plan settings click email package
carrier tracking address password team invoice return page update create delivery postage balance
billing status error sync api webhook card charge cancel app integration notification service
report support change request user product rate days price customs international fee print
printer batch bulk export import data access role permission owner admin member invite security
reset sign login code verify token key limit subscription trial upgrade downgrade month annual
tax vat receipt pdf csv warehouse inventory item quantity weight dimensions box envelope pallet
pickup dropoff domestic zone surcharge adjustment claim insurance damaged lost delayed exception
signature confirmation residential commercial validation zip postal country state city street
phone sms message template brand logo color domain portal link button menu profile dashboard
filter search list view export schedule automation rule preset default format size thermal
zebra dymo rollo paper inch ups usps fedex dhl canada post royal mail parcel ground express
priority overnight economy freight commercial invoice harmonized tariff duty declaration origin
content description value currency shopify woocommerce bigcommerce ebay etsy amazon marketplace
connect disconnect reconnect authorize oauth scope secret endpoint retry timeout response header
payload event delivery attempt backoff disabled enabled log audit history export gdpr privacy
personal deletion erasure retention consent compliance two factor authentication backup device
recovery identity ownership transfer escalate outage incident known issue workaround duplicate
void voided pending approved rejected approval threshold manager agent ticket macro tag queue
priority sla response resolution satisfaction survey feedback note internal public draft
""".split()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chunks", type=int, required=True, help="points in the store in total (sample KB + synthetic)")
    p.add_argument("--queries", type=int, default=200, help="timed answer() calls")
    p.add_argument("--warmup", type=int, default=5, help="untimed answer() calls first")
    p.add_argument("--data-dir", default="/tmp/bench-latency", help="benchmark data directory (store under qdrant/)")
    p.add_argument("--batch", type=int, default=1000, help="points per upsert call while filling")
    p.add_argument("--text-cache", type=int, default=3000, help="distinct synthetic texts (sparse vectors reused)")
    p.add_argument("--near-share", type=float, default=0.1,
                   help="share of synthetic dense vectors that are perturbed copies of real chunks' vectors")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--refill", action="store_true", help="rebuild the store even if it already holds N points")
    p.add_argument("--tuning", choices=sorted(TUNINGS), default="tuned",
                   help="Qdrant levers: tuned (the product's), tuned-ram (the same, HELPDESK_QDRANT_ON_DISK=false), "
                        "tuned-qram (the int8 vectors in RAM, as before stop 26) "
                        "or untuned (as before them)")
    p.add_argument("--cold-reopen", action="store_true",
                   help="drop the kernel's page cache before the reopen (root only; else the reopen stays warm)")
    p.add_argument("--no-warm-cache", dest="warm_cache", action="store_false",
                   help="skip reading the store's search files into the page cache after the reopen (serve does it)")
    p.add_argument("--sync-queries", type=int, default=200, help="answers timed while a sync writes (0: skip)")
    p.add_argument("--sync-docs", type=int, default=40, help="generated articles per round of the concurrent sync")
    return p.parse_args(argv)


# --- synthetic corpus ---------------------------------------------------------------------------
class SyntheticCorpus:
    """Texts, titles and sparse vectors drawn from the support vocabulary with Zipf weights."""

    FILLERS = ("the", "to", "your", "a", "and", "for", "in", "is", "you", "can", "of", "on", "with", "if", "this")

    def __init__(self, rng: np.random.Generator, sparse: SparseEncoder, n_texts: int) -> None:
        self.rng = rng
        ranks = np.arange(1, len(VOCABULARY) + 1, dtype=np.float64)
        weights = 1.0 / ranks**1.07
        self.p = weights / weights.sum()
        self.texts = [self._text() for _ in range(n_texts)]
        self.sparse = [sparse.encode_document(t) for t in self.texts]

    def _words(self, n: int) -> list[str]:
        return [VOCABULARY[i] for i in self.rng.choice(len(VOCABULARY), size=n, p=self.p)]

    def _sentence(self) -> str:
        words = self._words(int(self.rng.integers(6, 14)))
        # Interleave stop words so texts look like prose (the sparse encoder drops them again).
        out = []
        for w in words:
            out.append(w)
            if self.rng.random() < 0.45:
                out.append(self.FILLERS[int(self.rng.integers(len(self.FILLERS)))])
        return " ".join(out).capitalize() + "."

    def _text(self) -> str:
        return " ".join(self._sentence() for _ in range(int(self.rng.integers(5, 12))))

    def title(self, doc_no: int) -> str:
        a, b, c = self._words(3)
        return f"{a.capitalize()} {b} {c} ({doc_no})"


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def synthetic_dense(rng: np.random.Generator, n: int, real: np.ndarray, near_share: float) -> np.ndarray:
    """Random unit vectors; a share of them at cosine ~0.6 from a random real chunk vector."""
    out = unit_rows(rng.standard_normal((n, DIMENSIONS)))
    if len(real) and near_share > 0:
        near = rng.random(n) < near_share
        k = int(near.sum())
        if k:
            base = real[rng.integers(len(real), size=k)]
            out[near] = unit_rows(0.6 * base + 0.8 * out[near])
    return out


def synthetic_points(corpus: SyntheticCorpus, rng: np.random.Generator, start: int, stop: int,
                     real: np.ndarray, near_share: float, base_time: datetime) -> dict[Visibility, list[StoredPoint]]:
    """Points ``start..stop-1`` of the synthetic corpus, grouped by collection audience."""
    dense = synthetic_dense(rng, stop - start, real, near_share)
    out: dict[Visibility, list[StoredPoint]] = {Visibility.PUBLIC: [], Visibility.INTERNAL: []}
    titles: dict[int, str] = {}
    for row, i in enumerate(range(start, stop)):
        doc_no, chunk_no = divmod(i, CHUNKS_PER_DOC)
        # Audience per document, deterministic: ~30% internal.
        internal = (doc_no * 2654435761 % 1000) < INTERNAL_SHARE * 1000
        audience = Visibility.INTERNAL if internal else Visibility.PUBLIC
        doc_id = f"{SYNTHETIC_SOURCE}:{'ticket' if internal else 'article'}:{doc_no}"
        title = titles.setdefault(doc_no, corpus.title(doc_no))
        text_no = i % len(corpus.texts)
        text = corpus.texts[text_no]
        payload = {
            "doc_id": doc_id,
            "chunk_no": chunk_no,
            "n_chunks": CHUNKS_PER_DOC,
            "source": SYNTHETIC_SOURCE,
            "kind": "ticket" if internal else "article",
            "audience": audience.value,
            "title": title,
            "url": None if internal else f"https://help.example.com/articles/{doc_no}",
            "section": f"Part {chunk_no + 1}",
            "text": text,
            "updated_at": (base_time - timedelta(minutes=doc_no)).isoformat(),
            "doc_hash": hashlib.sha256(f"{doc_id}|{title}".encode()).hexdigest(),
            "chunk_hash": hashlib.sha256(f"{title}|{chunk_no}|{text}".encode()).hexdigest(),
        }
        out[audience].append(StoredPoint(id=point_id(doc_id, chunk_no), dense=dense[row],
                                         sparse=corpus.sparse[text_no], payload=payload))
    return out


# --- building the store -------------------------------------------------------------------------
def bench_settings(data_dir: Path) -> Settings:
    # Explicit values win over the environment: always the embedded store, the extractive composer.
    return Settings(data_dir=data_dir, qdrant_url=None, composer="extractive", sample_kb=True, files_dir=None)


def collections(settings: Settings) -> dict[Visibility, str]:
    return {v: collection_name(settings.collection_prefix, v) for v in Visibility}


def total_points(store: VectorStore, names: dict[Visibility, str]) -> int:
    return sum(store.count(n) for n in names.values() if store.has_collection(n))


def real_vectors(store: VectorStore, names: dict[Visibility, str]) -> np.ndarray:
    """Dense vectors of the sample KB chunks already in the store."""
    vectors: list[np.ndarray] = []
    for name in names.values():
        for doc_id in store.doc_hashes(name):
            vectors.extend(store.dense_by_chunk_hash(name, doc_id).values())
    return np.stack(vectors) if vectors else np.zeros((0, DIMENSIONS), dtype=np.float32)


def fill(settings: Settings, embedder: Embedder, args: argparse.Namespace, watch: MemoryWatch) -> dict[str, Any]:
    """Sync the sample KB, add synthetic points up to ``args.chunks`` (builds as they come due), build, close."""
    rng = np.random.default_rng(args.seed)
    names = collections(settings)
    tuning = TUNINGS[args.tuning]
    store = EdgeStore(settings.store_dir, tuning=tuning)
    with Runtime(settings, store=store, embedder=embedder) as rt:
        with timed() as t_sync:
            for connector in rt.connectors():
                report = sync_source(connector, indexer=rt.indexer, state=rt.state.ledger, full=True)
                note(f"synced {connector.name}: {report.stats.added} docs, {report.stats.chunks_embedded} chunks")
        real = real_vectors(store, names)
        synthetic = max(args.chunks - total_points(store, names), 0)
        note(f"sample KB: {len(real)} real chunks; generating {synthetic} synthetic chunks")
        with timed() as t_gen:
            corpus = SyntheticCorpus(rng, rt.sparse, min(args.text_cache, max(synthetic, 1)))
        base_time = datetime(2026, 11, 1, tzinfo=UTC)
        started, cpu0, build0 = watch.mark(), cpu_s(), store.build_s
        with timed() as t_fill:
            for start in range(0, synthetic, args.batch):
                stop = min(start + args.batch, synthetic)
                for audience, points in synthetic_points(corpus, rng, start, stop, real, args.near_share,
                                                         base_time).items():
                    if points:
                        store.upsert(names[audience], points)
                if (stop // args.batch) % 50 == 0 or stop == synthetic:
                    note(f"  filled {stop}/{synthetic} (builds so far {store.build_s - build0:.0f} s, "
                         f"rss {rss_mb():.0f} MB)")
            store.flush()
        incremental_build_s = store.build_s - build0
        final: dict[str, float] = {}
        for name in names.values():
            with timed() as t_opt:
                store.optimize(name)
            final[name] = round(t_opt["s"], 2)
            note(f"final build of {name} in {final[name]} s: {store.shard_info(name)}")
        ended = watch.mark()
        counts = {v.value: store.count(n) for v, n in names.items()}
        segments = {n: store.shard_info(n)["segments"] for n in names.values()}
    fill_s = t_fill["s"]
    return {
        "chunks": args.chunks, "seed": args.seed, "near_share": args.near_share, "text_cache": args.text_cache,
        "tuning": args.tuning, "tuning_params": asdict(tuning),
        "real_chunks": len(real), "synthetic_chunks": synthetic, "counts": counts,
        "sample_sync_s": round(t_sync["s"], 2), "text_gen_s": round(t_gen["s"], 2),
        "fill_s": round(fill_s, 2), "fill_points_per_s": round(synthetic / fill_s, 1) if fill_s else None,
        "build_s": round(incremental_build_s + sum(final.values()), 2),
        "build_during_fill_s": round(incremental_build_s, 2), "final_build_s_by_collection": final,
        "fill_build_s": round(fill_s + sum(final.values()), 2),
        "fill_build_cpu_s": round(cpu_s() - cpu0, 1),
        "fill_peak": {**watch.peaks(started, ended), "vm_hwm_mb": peak_rss_mb()},
        "disk_mb": dir_size_mb(settings.store_dir), "segments": segments,
    }


def reusable(data_dir: Path, args: argparse.Namespace) -> dict[str, Any] | None:
    """The meta of a complete earlier fill with the same parameters, else None."""
    meta_path = data_dir / META_FILE
    if args.refill or not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    same = all(meta.get(k) == getattr(args, k) for k in ("chunks", "seed", "near_share", "text_cache", "tuning"))
    return meta if same else None


def reset_data_dir(data_dir: Path) -> None:
    """Remove an earlier benchmark store; refuse to touch a folder this benchmark did not make."""
    if data_dir.exists() and any(data_dir.iterdir()) and not (data_dir / META_FILE).exists():
        leftovers = {p.name for p in data_dir.iterdir()} - {"qdrant", "state.db", "memory.log", "sync-docs"}
        if leftovers:
            raise SystemExit(f"{data_dir} holds files this benchmark did not write ({sorted(leftovers)[:3]}); "
                             "pass an empty or new --data-dir")
    (data_dir / META_FILE).unlink(missing_ok=True)
    shutil.rmtree(data_dir / "qdrant", ignore_errors=True)
    shutil.rmtree(data_dir / "sync-docs", ignore_errors=True)
    (data_dir / "state.db").unlink(missing_ok=True)


# --- measuring ----------------------------------------------------------------------------------
def load_questions() -> list[str]:
    path = sample_kb_path() / "questions.txt"
    listed = [q.strip() for q in path.read_text(encoding="utf-8").splitlines() if q.strip()] if path.is_file() else []
    return list(dict.fromkeys(listed + QUESTIONS))


def measure_answers(rt: Runtime, questions: list[str], n: int, warmup: int) -> dict[str, Any]:
    service = rt.answers
    t0 = time.perf_counter()
    service.answer(questions[0], Audience.CUSTOMER)
    first_ms = (time.perf_counter() - t0) * 1000
    for i in range(warmup):
        service.answer(questions[(i + 1) % len(questions)], Audience.CUSTOMER)
    totals: list[float] = []
    by_pass: dict[str, list[float]] = {"first": [], "repeat": []}
    seen = {questions[i % len(questions)] for i in range(warmup + 1)}
    stages: dict[str, list[float]] = {"embed_ms": [], "search_ms": [], "compose_ms": []}
    answered = real_top = 0
    for i in range(n):
        q = questions[i % len(questions)]
        t = time.perf_counter()
        answer = service.answer(q, Audience.CUSTOMER)
        totals.append((time.perf_counter() - t) * 1000)
        by_pass["repeat" if q in seen else "first"].append(totals[-1])
        seen.add(q)
        for key, values in stages.items():
            if key in answer.timings:
                values.append(answer.timings[key])
        if not answer.abstained:
            answered += 1
            real_top += answer.citations[0].source not in (SYNTHETIC_SOURCE, SYNC_SOURCE)
        if any(c.audience is not Visibility.PUBLIC for c in answer.citations):
            raise AssertionError(f"a customer answer cited a non-public source: {q!r}")
    return {
        "p50_ms": round(percentile(totals, 50), 2),
        "p95_ms": round(percentile(totals, 95), 2),
        "p99_ms": round(percentile(totals, 99), 2),
        "mean_ms": round(float(np.mean(totals)), 2),
        "max_ms": round(max(totals), 2),
        "first_answer_ms": round(first_ms, 2),
        # Questions asked for the first time in this process (their headings not yet embedded) and again.
        **{f"p95_{k}_ms": round(percentile(v, 95), 2) for k, v in by_pass.items() if v},
        **{f"{k}_p50": round(percentile(v, 50), 2) for k, v in stages.items() if v},
        "answered_rate": round(answered / n, 3),
        "real_source_top_rate": round(real_top / max(answered, 1), 3),
    }


class ConcurrentSync:
    """A real sync in another thread of this process, writing into the same store until stopped.

    Each round writes ``docs`` new generated articles into a folder and syncs it with the files
    connector through the runtime's indexer (chunk, embed with the same model, upsert; index
    builds run inside the store's writes as they come due), as the scheduler does.
    """

    def __init__(self, rt: Runtime, folder: Path, corpus: SyntheticCorpus, docs: int) -> None:
        self.rt, self.folder, self.corpus, self.docs = rt, folder, corpus, docs
        self.stop = threading.Event()
        self.chunks = self.rounds = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="bench-sync", daemon=True)

    def _run(self) -> None:
        lower_thread_priority(self.rt.settings.sync_nice)  # as the scheduler's threads run
        settings = FilesConnectorSettings(name=SYNC_SOURCE, path=self.folder)
        try:
            while not self.stop.is_set():
                for i in range(self.docs):
                    n = self.rounds * self.docs + i
                    text = "\n\n".join(self.corpus.texts[(n * 7 + k) % len(self.corpus.texts)] for k in range(3))
                    (self.folder / f"{self.run_id}-doc-{n:06d}.md").write_text(f"# {self.corpus.title(n)}\n\n{text}\n", encoding="utf-8")
                report = sync_source(FilesConnector(settings), indexer=self.rt.indexer, state=self.rt.state.ledger, prune=False)
                self.chunks += report.stats.chunks_embedded
                self.rounds += 1
        except BaseException as exc:  # reported by the benchmark, never swallowed
            self.error = exc

    def __enter__(self) -> ConcurrentSync:
        # New documents every run: a store reused from an earlier run already holds that run's
        # ones, which a sync would find unchanged and not embed.
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.run_id = f"run{time.time_ns()}"
        self.started = time.perf_counter()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.elapsed = time.perf_counter() - self.started


def drop_page_cache() -> bool:
    """Write back and drop the kernel's page cache, so the reopen reads the store from disk as
    after a reboot; False (and a note) where this process may not."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        note(f"could not drop the page cache ({exc.strerror}); the reopen is warm")
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _common.setup_logging()
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = bench_settings(data_dir)
    watch = MemoryWatch(data_dir / "memory.log")
    note("loading the embedding model")
    # The documents' model as the product builds it (its threads at HELPDESK_SYNC_NICE when questions
    # have their own model); nothing else of this runtime is opened.
    embedder = Runtime(settings).embedder
    # Questions are embedded as the product does (HELPDESK_EMBED_QUERY_PRECISION).
    query_embedder = (embedder if settings.embed_query_precision == settings.embed_precision else
                      Embedder(threads=settings.embed_threads, max_tokens=settings.embed_max_tokens,
                               precision=settings.embed_query_precision))
    meta = reusable(data_dir, args)
    if meta is None:
        reset_data_dir(data_dir)
        meta = fill(settings, embedder, args, watch)
        (data_dir / META_FILE).write_text(json.dumps(meta, indent=2))
        reused = False
    else:
        note(f"reusing the filled store in {data_dir} ({args.chunks} points, {args.tuning})")
        reused = True

    cold = drop_page_cache() if args.cold_reopen else False
    with timed() as t_open:
        store = EdgeStore(settings.store_dir, tuning=TUNINGS[args.tuning])
    note(f"reopened the store in {t_open['s']:.2f} s")
    during: dict[str, Any] | None = None
    with Runtime(settings, store=store, embedder=embedder, query_embedder=query_embedder) as rt:
        present = total_points(store, collections(settings))
        if present < args.chunks:
            note(f"warning: the store holds {present} points, fewer than --chunks {args.chunks}")
        warmed: dict[str, Any] | None = None
        if args.warm_cache:
            # What `serve` does once the store is open; the benchmark waits for it to end.
            result = store.warm_caches().wait()
            if result is not None:
                warmed = {"s": result.seconds, "mb": round(result.bytes_read / 1e6, 1), "files": result.files,
                          "budget_mb": round(result.budget / 1e6, 1)}
                note(f"read {warmed['mb']} MB of search files into the page cache in {warmed['s']:.2f} s")
        questions = load_questions()
        note(f"timing {args.queries} answers over {len(questions)} distinct questions (warm-up {args.warmup})")
        serve_start = watch.mark()
        latency = measure_answers(rt, questions, args.queries, args.warmup)
        if args.sync_queries:
            corpus = SyntheticCorpus(np.random.default_rng(args.seed + 1), rt.sparse, 200)
            rt.indexer  # noqa: B018 - open the collections before the clock starts
            note(f"timing {args.sync_queries} answers while a sync writes into the same store")
            with ConcurrentSync(rt, data_dir / "sync-docs", corpus, args.sync_docs) as sync:
                during = measure_answers(rt, questions, args.sync_queries, 0)
            if sync.error is not None:
                raise sync.error
            during["sync_rounds"] = sync.rounds
            during["sync_chunks"] = sync.chunks
            during["sync_chunks_per_s"] = round(sync.chunks / sync.elapsed, 1) if sync.elapsed else None
        serve_peak = watch.peaks(serve_start)
        final_points = total_points(store, collections(settings))
    watch.close()

    result: dict[str, Any] = {
        "benchmark": "answer_latency",
        "chunks": present,
        "chunks_requested": args.chunks,
        "tuning": meta.get("tuning", args.tuning),
        "queries": args.queries,
        "audience": Audience.CUSTOMER.value,
        "composer": "extractive",
        **latency,
        "during_sync": during,
        "reopen_s": round(t_open["s"], 3),
        "reopen_cold": cold,
        "warm_cache": warmed,
        "fill_s": meta.get("fill_s"),
        "build_s": meta.get("build_s"),
        "fill_build_s": meta.get("fill_build_s"),
        "fill_build_cpu_s": meta.get("fill_build_cpu_s"),
        "fill_points_per_s": meta.get("fill_points_per_s"),
        "fill_peak": meta.get("fill_peak"),
        "disk_mb": meta.get("disk_mb"),
        "segments": meta.get("segments"),
        "counts": meta.get("counts"),
        "real_chunks": meta.get("real_chunks"),
        "points_after_sync": final_points,
        "reused": reused,
        "serve_peak": serve_peak,
        "rss_mb": rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
        "data_dir": str(data_dir),
        "machine": _common.machine(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
