"""Sync throughput: generated tickets through a fake Zendesk, the real sync engine and Qdrant Edge.

A local fake Zendesk (``tests/fakes/zendesk_server.py``, real HTTP, Zendesk's JSON) serves N
generated tickets of realistic length (a customer message, one or two public agent replies, an
internal note, some PII). It runs in a child process, so its own work and memory are not counted
as the pipeline's. Measured:

* full sync: tickets/s and chunks/s through ``SyncService.run`` (HTTP paging, one comments call
  per ticket, PII masking, chunking, sparse encoding, embedding, upserts, index builds, checkpoint);
* memory while it runs: resident memory when 10%, 25%, 50%, 75% and 100% of the tickets are
  indexed (sampled by a separate process, see ``MemoryWatch``), and the peak: a pipeline that
  streams stays flat, one that holds the source grows with it;
* ``--embeddings local``: the real local model embeds (the whole pipeline, model included), and
  the raw model's chunks/s on the same chunk texts is the ceiling;
* ``--embeddings fake-remote``: embedding is served by a fast local fake of an OpenAI-compatible
  ``/v1/embeddings`` server (another child process, one seeded random vector per text) through
  the real ``RemoteEmbedder``: the throughput of everything except the model, what a sync reaches
  with a GPU embedding server;
* in both modes, the local model's chunks/s at fp32 and at int8 on the same ``--model-sample``
  chunk texts of this run, interleaved (wall and CPU seconds);
* unchanged re-sync, and one changed ticket re-synced incrementally.

Usage::

    python benchmarks/sync_throughput.py --tickets 10000
    python benchmarks/sync_throughput.py --tickets 100000 --embeddings fake-remote

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from _common import MemoryWatch, cpu_s, emit, machine, note, peak_rss_mb, rss_mb, setup_logging, timed

from bot.index.chunking import SECTION_SEPARATOR
from bot.index.embeddings import Embedder
from bot.index.preparation import automatic_workers
from bot.models import Audience
from bot.runtime import Runtime
from bot.settings import Settings
from bot.sync.service import SyncService
from bot.sync.sources import Schedule, SourceConfig
from connectors.zendesk import ZendeskSettings
from tests.fakes.zendesk_server import FakeZendesk, comment

ENV = {"ZENDESK_EMAIL": "bench@acme.test", "ZENDESK_API_TOKEN": "bench"}
CUSTOMER, AGENT = 500, 900
FAKE_MODEL = "fake-embedding-384"

PROBLEMS = [
    ("label purchase fails with PCL-4031", "your postage balance was too low; add funds under Settings > Billing > Postage balance or turn on auto-reload"),
    ("tracking page shows the wrong logo", "upload the logo again under Settings > Tracking page > Branding and clear your browser cache"),
    ("Shopify orders are not syncing", "reconnect the store under Integrations > Shopify; orders from the last 30 days sync again within 15 minutes"),
    ("refund for a voided USPS label", "USPS refunds take up to 21 days and go back to your postage balance"),
    ("cannot add a fourth team member", "the Starter plan includes 2 seats; Growth includes 5 and extra seats cost $8 per month"),
    ("webhook signature does not verify", "compute the HMAC-SHA256 over the timestamp, a dot and the raw body with your signing secret"),
    ("customs form missing for an international parcel", "fill in the item descriptions and HS codes on the customs step before buying the label"),
    ("address validation rejects a valid address", "use the suggested address or override it with the checkbox; apartment numbers go on line 2"),
]
FILLER = ("I have tried the steps from the help center twice and it still happens on every order this week. "
          "Our team ships about forty parcels a day, so this is blocking us. ")


def generate(zd: FakeZendesk, n: int, seed: int) -> None:
    rng = random.Random(seed)
    zd.add_user(CUSTOMER, "Customer", "end-user")
    zd.add_user(AGENT, "Agent", "agent")
    for tid in range(1, n + 1):
        subject, fix = rng.choice(PROBLEMS)
        customer = (f"Hello, {subject} (order #{rng.randint(10000, 99999)}). " + FILLER * rng.randint(1, 4)
                    + f"You can reach me at buyer{tid}@example.com or +1 415 555 {rng.randint(1000, 9999)}.")
        comments = [comment(customer, author_id=CUSTOMER),
                    comment(f"Thanks for reaching out. The cause: {fix}. Let us know if it happens again.", author_id=AGENT)]
        if rng.random() < 0.5:
            comments.append(comment("It works now, thank you!", author_id=CUSTOMER))
            comments.append(comment("Glad to hear it. Closing this ticket.", author_id=AGENT))
        comments.append(comment(f"Internal: checked account {tid} in Backoffice, no credit needed.", author_id=AGENT, public=False))
        zd.add_ticket(tid, subject.capitalize(), requester_id=CUSTOMER, comments=comments)


# --- fakes in child processes ---------------------------------------------------------------------
def _serve_zendesk(conn: Any, tickets: int, seed: int, latency_ms: float = 0.0) -> None:
    import gc

    # A round trip to a real Zendesk: every request is answered latency_ms late (it sleeps, using no CPU).
    delay = (lambda _request: time.sleep(latency_ms / 1000)) if latency_ms > 0 else None
    zd = FakeZendesk(credentials=("bench@acme.test/token", "bench"), before_request=delay)
    generate(zd, tickets, seed)
    # The fake's 100k tickets are a heap of ~1 GB of dicts that never die: left to the collector, its
    # full collections cost the fake as much CPU as the pipeline's own work, on the same two cores.
    gc.freeze()
    zd.requests = _Discard()  # type: ignore[assignment] - 100k+ requests: keep none
    zd.start()
    conn.send(zd.url)
    while True:
        command = conn.recv()
        if command == "stop":
            zd.stop()
            return
        if command == "cpu":  # this process's CPU seconds: the fake shares the machine's cores
            conn.send(time.process_time())
            continue
        kind, tid = command  # ("comment", ticket id): one more customer comment on a ticket
        zd.add_comment(tid, comment("One more question about this ticket.", author_id=CUSTOMER))
        conn.send("ok")


def _serve_embeddings(conn: Any) -> None:
    from tests.fakes.openai_server import FakeOpenAI, text_hash_vector

    server = FakeOpenAI(embed=text_hash_vector, embedding_dim=384, record_embedding_requests=False)
    server.start()
    conn.send(server.url)
    conn.recv()  # any message: stop
    server.stop()


class _Discard(list):  # type: ignore[type-arg]
    def append(self, item: Any) -> None:
        pass


class ChildServer:
    """A fake server running in a child process; ``url`` once started."""

    def __init__(self, target: Any, *args: Any) -> None:
        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child, *args), daemon=True)

    def __enter__(self) -> ChildServer:
        self.proc.start()
        self.url = self.conn.recv()
        return self

    def ask(self, command: Any) -> Any:
        self.conn.send(command)
        return self.conn.recv()

    def __exit__(self, *exc: object) -> None:
        try:
            self.conn.send("stop")
        except OSError:
            pass
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.terminate()


# --- measuring ----------------------------------------------------------------------------------
class Progress:
    """Counts indexed tickets; notes the resident memory at fixed fractions of the run."""

    MARKS = (0.1, 0.25, 0.5, 0.75, 1.0)

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0
        self.rss_at: dict[str, float] = {}
        self._next = 0
        self.started = time.perf_counter()

    def __call__(self, n: int) -> None:
        self.done += n
        while self._next < len(self.MARKS) and self.done >= self.MARKS[self._next] * self.total:
            mark = self.MARKS[self._next]
            self.rss_at[f"{int(mark * 100)}%"] = rss_mb()
            note(f"  {self.done}/{self.total} tickets, {self.done / (time.perf_counter() - self.started):.0f}/s, "
                 f"rss {rss_mb():.0f} MB")
            self._next += 1


def model_speed(texts: list[str], rounds: int = 2) -> dict[str, Any]:
    """The local model at fp32 and int8 on the same texts, interleaved (wall and CPU seconds)."""
    models = {p: Embedder(precision=p) for p in ("fp32", "int8")}
    runs: dict[str, list[tuple[float, float]]] = {p: [] for p in models}
    for _ in range(rounds):
        for precision, model in models.items():
            wall0, cpu0 = time.perf_counter(), cpu_s()
            model.embed(texts)
            runs[precision].append((time.perf_counter() - wall0, cpu_s() - cpu0))
    out: dict[str, Any] = {"texts": len(texts)}
    for precision, values in runs.items():
        wall, cpu = min(v[0] for v in values), min(v[1] for v in values)
        out[precision] = {"chunks_per_s": round(len(texts) / wall, 1), "chunks_per_cpu_s": round(len(texts) / cpu, 1),
                          "wall_s": [round(v[0], 1) for v in values], "cpu_s": [round(v[1], 1) for v in values]}
    out["int8_speedup_wall"] = round(out["int8"]["chunks_per_s"] / out["fp32"]["chunks_per_s"], 2)
    out["int8_speedup_cpu"] = round(out["int8"]["chunks_per_cpu_s"] / out["fp32"]["chunks_per_cpu_s"], 2)
    return out


def chunk_texts(rt: Runtime, tickets: int, limit: int) -> list[str]:
    """Texts of the chunks of the first tickets, as the embedder saw them."""
    ids = [f"zd:ticket:{i}" for i in range(1, min(tickets, limit) + 1)]
    rows = rt.store.scroll_payloads("kb_internal", filter={"doc_id": ids}, fields=("title", "section", "text"))
    texts = [f"{p['title']}{SECTION_SEPARATOR + p['section'] if p['section'] else ''}\n\n{p['text']}" for p in rows]
    return texts[:limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--embeddings", choices=("local", "fake-remote"), default="local")
    parser.add_argument("--model-sample", type=int, default=400, help="chunk texts for the fp32 vs int8 comparison (0: skip)")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/bench-sync"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=None,
                        help="HELPDESK_INGEST_WORKERS (default: automatic, as with an embeddings server for fake-remote)")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="answer every fake Zendesk request this late (a network round trip; default 0)")
    parser.add_argument("--comment-requests", type=int, default=None,
                        help="the Zendesk source's comment_requests (default: the setting's default)")
    args = parser.parse_args(argv)
    setup_logging()
    shutil.rmtree(args.data_dir, ignore_errors=True)
    args.data_dir.mkdir(parents=True)
    watch = MemoryWatch(args.data_dir / "memory.log")
    # What the runtime chooses for this embedding mode (the embedder is built here, not from settings).
    workers = args.workers if args.workers is not None else automatic_workers(remote_embeddings=args.embeddings == "fake-remote")
    settings = Settings(data_dir=args.data_dir, sample_kb=False, ingest_workers=workers, _env_file=None)  # type: ignore[call-arg]
    with ChildServer(_serve_zendesk, args.tickets, args.seed, args.latency_ms) as zd:
        note(f"fake Zendesk serving {args.tickets} tickets at {zd.url}")
        import httpx

        remote_server = ChildServer(_serve_embeddings) if args.embeddings == "fake-remote" else None
        with httpx.Client(timeout=30) as client, (remote_server or _Null()) as emb:
            if remote_server is not None:
                from bot.index.remote_embeddings import RemoteEmbedder

                embedder: Any = RemoteEmbedder(base_url=f"{emb.url}/v1", api_key=None, model=FAKE_MODEL,
                                               batch_size=settings.embeddings_batch_size,
                                               concurrency=settings.embeddings_concurrency)
                note(f"fake embeddings server at {emb.url}")
            else:
                embedder = Embedder(threads=settings.embed_threads, batch_size=settings.embed_batch_size,
                                    precision=settings.embed_precision)
            rt = Runtime(settings, embedder=embedder)
            rt_workers = rt.ingest_workers
            concurrency = {} if args.comment_requests is None else {"comment_requests": args.comment_requests}
            src = ZendeskSettings(name="zd", base_url=zd.url, include_articles=False, **concurrency)
            service = SyncService([SourceConfig(name="zd", type="zendesk", schedule=Schedule(), settings=src)],
                                  ledger=rt.state.ledger, indexer=lambda: rt.indexer,
                                  client=client, environ=ENV, sleep=lambda s: None)
            rt.indexer  # noqa: B018 - collections open before the clock starts
            baseline_rss = rss_mb()
            progress = Progress(args.tickets)
            started, cpu0, fake_cpu0 = watch.mark(), cpu_s(), zd.ask("cpu")
            with timed() as full:
                report = service.run("zd", on_progress=progress)
            ended, full_cpu, fake_cpu = watch.mark(), cpu_s() - cpu0, zd.ask("cpu") - fake_cpu0
            assert report is not None
            workers_peak, workers_cpu = _workers_usage()
            chunks = report.stats.chunks_embedded
            note(f"full sync: {report.stats.added} tickets, {chunks} chunks in {full['s']:.1f} s")
            sync_peak = watch.peaks(started, ended)

            raw: dict[str, Any] = {}
            if args.embeddings == "local":
                texts = chunk_texts(rt, args.tickets, 2000)
                with timed() as t_raw:
                    embedder.embed(texts)
                raw = {"raw_embed_chunks_per_s": round(len(texts) / t_raw["s"], 1),
                       "full_vs_raw": round((chunks / full["s"]) / (len(texts) / t_raw["s"]), 3)}

            with timed() as unchanged:
                again = service.run("zd")
            assert again is not None and again.stats.chunks_embedded == 0

            zd.ask(("comment", args.tickets // 2))
            with timed() as one:
                changed = service.run("zd")
            assert changed is not None

            answer = rt.answers.answer("label purchase fails with PCL-4031", Audience.AGENT)
            model = model_speed(chunk_texts(rt, args.tickets, args.model_sample)) if args.model_sample else None
            rt.close()
    watch.close()
    emit({
        "benchmark": "sync_throughput",
        "embeddings": args.embeddings if args.embeddings == "fake-remote" else f"local {settings.embed_precision}",
        "tickets": args.tickets,
        "zendesk_latency_ms": args.latency_ms,
        "comment_requests": src.comment_requests,
        "ingest_workers": rt_workers,
        "chunks": chunks,
        "full_sync_s": round(full["s"], 1),
        "full_sync_cpu_s": round(full_cpu, 1),
        # CPU seconds of the whole run, by process, per ticket (ms): the two cores are shared by all of them.
        "cpu_ms_per_ticket": {"sync_process": round(full_cpu / args.tickets * 1000, 2),
                              "preparation_workers": round(workers_cpu / args.tickets * 1000, 2),
                              "fake_zendesk": round(fake_cpu / args.tickets * 1000, 2)},
        "full_docs_per_s": round(report.stats.added / full["s"], 1),
        "full_chunks_per_s": round(chunks / full["s"], 1),
        **raw,
        "memory_mb": {"before": baseline_rss, "at": progress.rss_at, "peak": sync_peak,
                      "preparation_workers_peak_rss": workers_peak},
        "pii_masked": report.stats.pii,
        "unchanged_resync_s": round(unchanged["s"], 2),
        "unchanged_fraction": round(unchanged["s"] / full["s"], 4),
        "one_changed_resync_s": round(one["s"], 2),
        "one_changed": {"updated": changed.stats.updated, "chunks_embedded": changed.stats.chunks_embedded,
                        "chunks_reused": changed.stats.chunks_reused},
        # Only meaningful with a real model (the fake's vectors are random per text).
        "answer_cites_ticket": (bool(answer.citations) and answer.citations[0].doc_id.startswith("zd:ticket:")
                                if args.embeddings == "local" else None),
        "local_model": model,
        "peak_rss_mb": peak_rss_mb(),
        "machine": machine(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    })
    return 0


def _workers_usage() -> tuple[list[float], float]:
    """Peak resident memory (VmHWM, MiB) of each preparation worker still running, and their CPU seconds."""
    peaks, cpu = [], 0.0
    for child in mp.active_children():
        if child.name.startswith("SpawnProcess"):
            try:
                status = dict(line.split(":", 1) for line in open(f"/proc/{child.pid}/status") if ":" in line)
                stat = open(f"/proc/{child.pid}/stat").read().rsplit(") ", 1)[1].split()
            except OSError:
                continue
            peaks.append(round(int(status["VmHWM"].split()[0]) / 1024, 1))
            cpu += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return peaks, cpu


class _Null:
    url = ""

    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


if __name__ == "__main__":
    sys.exit(main())
