"""Ingest throughput: the real sync path against the raw embedder on the same texts.

What it measures
    (a) ``raw``: the embedder alone. The documents are masked and chunked first (with the same
        :class:`PiiMasker` and :class:`Chunker` settings the sync uses, so the chunk texts are
        exactly the ones the sync embeds; chunking is timed apart as ``chunk_s``), then
        ``Embedder.embed`` runs over all chunk texts in one call (it sorts by length, so padding is
        minimal: the embedder's best case). Every full sync (b) is bracketed by raw passes, and
        its ratio uses the mean of the pass just before and the one just after (on a shared machine
        the speed drifts; all passes and the 1-minute load average are in the output so the noise
        is visible). ``--rounds R`` repeats the full sync R times and reports the median ratio.
        ``--batched-raw`` adds a diagnostic pass in slices of the Indexer's embedding batch size.
    (b) ``full sync``: ``Indexer.index`` (built by :class:`bot.runtime.Runtime`) into a fresh
        embedded store: PII masking, chunking, hashing, embedding, sparse encoding, upserts, then a
        flush -> ``sync_chunks_per_s`` and ``sync_vs_raw`` = (b) / (a) (target >= 0.85).
        The Runtime is built and the collections created before the clock starts.
    (c) ``unchanged re-sync``: the same documents again (reading the stored hashes included) ->
        ``resync_unchanged_s`` and ``resync_unchanged_fraction`` of (b) (target <= 0.05).
    (d) ``one document changed``: the same documents with one paragraph appended to one of them ->
        ``resync_one_changed_s`` and how many chunks were embedded vs reused.

How
    The texts are the bundled sample knowledge base (articles and tickets, read by the files
    connectors exactly as a sync reads them) repeated to reach ``--docs`` documents: every copy
    after the first gets a variant number in its id and title and its ``##`` sections shuffled
    (deterministically), so every document and chunk hash differs and nothing is deduplicated.
    The embedder is loaded once and warmed up before anything is timed. The store lives in
    ``--work-dir`` (wiped at the start of every run).

Usage
    .venv/bin/python benchmarks/ingest_throughput.py --docs 400

Output: one JSON line,
    {"benchmark": "ingest_throughput", "docs": 400, "chunks": ..., "raw_chunks_per_s": ..., "sync_vs_raw": ..., ...}
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

import _common
from _common import emit, note, timed

from bot.index.embeddings import Embedder
from bot.index.indexer import EMBED_BATCH_CHUNKS
from bot.index.pii import PiiMasker
from bot.models import Document
from bot.runtime import Runtime
from bot.settings import Settings

TARGET_SYNC_VS_RAW = 0.85
TARGET_UNCHANGED_FRACTION = 0.05
WARMUP_TEXTS = 64


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docs", type=int, default=400, help="documents to ingest (the sample KB repeated and varied)")
    p.add_argument("--work-dir", default="/tmp/bench-ingest", help="scratch data directory (wiped at the start)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--rounds", type=int, default=1,
                   help="full syncs (each into a fresh store), each bracketed by raw passes; the median ratio is reported")
    p.add_argument("--batched-raw", action="store_true",
                   help="also time the raw embedder in slices of the Indexer's batch size (diagnostic)")
    return p.parse_args(argv)


# --- documents ----------------------------------------------------------------------------------
def sample_documents(rt: Runtime) -> list[Document]:
    """The sample knowledge base as the files connectors yield it (articles and tickets)."""
    docs: list[Document] = []
    for connector in rt.connectors():
        docs.extend(e for e in connector.sync(None) if isinstance(e, Document))
    return docs


def shuffle_sections(text: str, rng: random.Random) -> str:
    """The text with its ``## `` sections in a different order (the preamble stays first)."""
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.startswith("## "):
            blocks.append([])
        blocks[-1].append(line)
    head, sections = blocks[0], blocks[1:]
    if len(sections) > 1:
        rng.shuffle(sections)
    else:  # no sections to move: shuffle paragraphs instead
        paragraphs = "\n".join(head).split("\n\n")
        first, rest = paragraphs[:1], paragraphs[1:]
        rng.shuffle(rest)
        return "\n\n".join(first + rest)
    return "\n".join(line for block in [head, *sections] for line in block)


def corpus(base: list[Document], n: int, seed: int) -> list[Document]:
    """``n`` documents: the originals, then variants with distinct ids, titles and section order."""
    rng = random.Random(seed)
    out: list[Document] = []
    for i in range(n):
        doc = base[i % len(base)]
        variant = i // len(base)
        if variant:
            doc = doc.model_copy(update={
                "id": f"{doc.id}~v{variant}",
                "title": f"{doc.title} (variant {variant})",
                "text": shuffle_sections(doc.text, rng),
            })
        out.append(doc)
    return out


def changed_one(docs: list[Document]) -> tuple[list[Document], str]:
    """The same documents with one paragraph appended to the one in the middle."""
    k = len(docs) // 2
    doc = docs[k]
    edited = doc.model_copy(update={"text": doc.text + "\n\nUpdated: this step now also works from the mobile app."})
    return docs[:k] + [edited] + docs[k + 1 :], doc.id


# --- measurements -------------------------------------------------------------------------------
def chunk_texts(rt: Runtime, docs: list[Document]) -> tuple[list[str], float]:
    """The chunk texts the sync will embed (masked like the Indexer masks), and the chunking time."""
    mask_kinds, masker = rt.indexer.mask_kinds, PiiMasker()
    masked = [d.model_copy(update={"text": masker.mask(d.text), "title": masker.mask(d.title)})
              if d.kind in mask_kinds else d for d in docs]
    with timed() as t:
        texts = [c.text for d in masked for c in rt.chunker.chunk(d)]
    return texts, t["s"]


def measure_raw(embedder: Embedder, texts: list[str], *, batched: bool = False) -> float:
    """(a): chunks per second of ``Embedder.embed`` over ``texts`` (one call, or Indexer-sized slices)."""
    with timed() as t:
        if batched:
            for start in range(0, len(texts), EMBED_BATCH_CHUNKS):
                embedder.embed(texts[start : start + EMBED_BATCH_CHUNKS])
        else:
            embedder.embed(texts)
    return len(texts) / t["s"]


def timed_sync(rt: Runtime, docs: list[Document]) -> tuple[float, dict[str, Any]]:
    """One ``Indexer.index`` run over ``docs`` plus the flush that makes it durable."""
    with timed() as t:
        stats = rt.indexer.index(docs)
        rt.store.flush()
    return t["s"], stats.as_dict()


def settings_for(data_dir: Path) -> Settings:
    # Explicit values win over the environment: always a fresh embedded store, the sample KB only.
    return Settings(data_dir=data_dir, qdrant_url=None, sample_kb=True, files_dir=None)


def full_sync_round(data_dir: Path, embedder: Embedder, docs: list[Document]) -> tuple[Runtime, float, dict[str, Any]]:
    """(b): a Runtime on a fresh store, its collections created, then one timed full sync."""
    rt = Runtime(settings_for(data_dir), embedder=embedder)
    _ = rt.indexer  # opens the store and creates the collections: one-time set-up, not part of a sync
    seconds, stats = timed_sync(rt, docs)
    return rt, seconds, stats


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _common.setup_logging()
    work = Path(args.work_dir)
    shutil.rmtree(work, ignore_errors=True)
    settings = settings_for(work / "setup")
    embedder = Embedder(threads=settings.embed_threads, batch_size=settings.embed_batch_size,
                        max_tokens=settings.embed_max_tokens)
    load_before = os.getloadavg()
    with Runtime(settings, embedder=embedder) as rt:
        docs = corpus(sample_documents(rt), args.docs, args.seed)
        texts, chunk_s = chunk_texts(rt, docs)
    note(f"{len(docs)} documents, {len(texts)} chunks ({sum(len(d.text) for d in docs) // 1000} k characters)")
    embedder.embed(texts[:WARMUP_TEXTS])  # warm-up: ONNX Runtime allocates on the first runs

    note("raw embedder")
    raws = [measure_raw(embedder, texts)]
    raw_batched = measure_raw(embedder, texts, batched=True) if args.batched_raw else None
    syncs: list[float] = []
    ratios: list[float] = []
    for r in range(args.rounds):
        note(f"round {r + 1}/{args.rounds}: full sync into a fresh store")
        rt, full_s, full = full_sync_round(work / f"round-{r + 1}", embedder, docs)
        syncs.append(full["chunks_embedded"] / full_s)
        note(f"full sync: {full_s:.2f} s, {syncs[-1]:.1f} chunks/s, {full}")
        raws.append(measure_raw(embedder, texts))
        # The raw speed during the sync is estimated by the passes just before and after it.
        ratios.append(syncs[-1] / statistics.mean(raws[-2:]))
        note(f"raw: {raws[-2]:.1f} chunks/s before, {raws[-1]:.1f} after; ratio {ratios[-1]:.3f}")
        if r < args.rounds - 1:
            rt.close()
    try:
        note("unchanged re-sync")
        unchanged_s, unchanged = timed_sync(rt, docs)
        note(f"unchanged re-sync: {unchanged_s:.3f} s, {unchanged}")
        edited_docs, edited_id = changed_one(docs)
        note(f"re-sync with one document changed ({edited_id})")
        one_s, one = timed_sync(rt, edited_docs)
        note(f"one changed: {one_s:.3f} s, {one}")
    finally:
        rt.close()
    load_after = os.getloadavg()

    sync_vs_raw = statistics.median(ratios)
    unchanged_fraction = unchanged_s / full_s
    emit({
        "benchmark": "ingest_throughput",
        "docs": len(docs),
        "chunks": len(texts),
        "chunk_s": round(chunk_s, 2),
        "raw_chunks_per_s": round(statistics.median(raws), 2),
        "raw_chunks_per_s_passes": [round(x, 2) for x in raws],
        **({"raw_batched_chunks_per_s": round(raw_batched, 2)} if raw_batched else {}),
        "sync_s": round(full_s, 2),
        "sync_chunks_embedded": full["chunks_embedded"],
        "sync_chunks_per_s": round(statistics.median(syncs), 2),
        "sync_chunks_per_s_rounds": [round(x, 2) for x in syncs],
        "sync_docs_per_s": round(len(docs) / full_s, 2),
        "sync_vs_raw": round(sync_vs_raw, 3),
        "sync_vs_raw_rounds": [round(x, 3) for x in ratios],
        "resync_unchanged_s": round(unchanged_s, 3),
        "resync_unchanged_fraction": round(unchanged_fraction, 4),
        "resync_unchanged_docs_skipped": unchanged["unchanged"],
        "resync_one_changed_s": round(one_s, 3),
        "resync_one_changed_fraction": round(one_s / full_s, 4),
        "resync_one_changed_chunks_embedded": one["chunks_embedded"],
        "resync_one_changed_chunks_reused": one["chunks_reused"],
        "targets": {"sync_vs_raw_min": TARGET_SYNC_VS_RAW, "resync_unchanged_fraction_max": TARGET_UNCHANGED_FRACTION},
        "meets_targets": {"sync_vs_raw": sync_vs_raw >= TARGET_SYNC_VS_RAW,
                          "resync_unchanged_fraction": unchanged_fraction <= TARGET_UNCHANGED_FRACTION},
        "embed_threads": settings.embed_threads,
        "embed_batch_size": settings.embed_batch_size,
        "loadavg_1m": [round(load_before[0], 2), round(load_after[0], 2)],
        "machine": _common.machine(),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
