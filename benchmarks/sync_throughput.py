"""Sync throughput: generated tickets through a fake Zendesk, the real sync engine and Qdrant Edge.

A local fake Zendesk (``tests/fakes/zendesk_server.py``, real HTTP, Zendesk's JSON) serves N
generated tickets of realistic length (a customer message, one or two public agent replies, an
internal note, some PII). Measured:

* full sync: docs/s and chunks/s through ``SyncService.run`` (HTTP paging, one comments call per
  ticket, PII masking, chunking, embedding, upserts, checkpoint), and the raw embedder's chunks/s
  on the same chunk texts (the ceiling);
* unchanged re-sync: the incremental export returns nothing new; time as a fraction of the full;
* one ticket changed: a new comment on one ticket, re-synced incrementally.

Usage: ``python benchmarks/sync_throughput.py [--tickets 10000] [--data-dir /tmp/bench-sync]``.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from pathlib import Path

from _common import emit, machine, note, peak_rss_mb, setup_logging, timed

from bot.index.chunking import SECTION_SEPARATOR
from bot.index.embeddings import Embedder
from bot.models import Audience
from bot.runtime import Runtime
from bot.settings import Settings
from bot.sync.service import SyncService
from bot.sync.sources import Schedule, SourceConfig
from connectors.zendesk import ZendeskSettings
from tests.fakes.zendesk_server import FakeZendesk, comment

ENV = {"ZENDESK_EMAIL": "bench@acme.test", "ZENDESK_API_TOKEN": "bench"}
CUSTOMER, AGENT = 500, 900

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/bench-sync"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    setup_logging()
    shutil.rmtree(args.data_dir, ignore_errors=True)
    settings = Settings(data_dir=args.data_dir, sample_kb=False, _env_file=None)  # type: ignore[call-arg]
    embedder = Embedder(threads=settings.embed_threads, batch_size=settings.embed_batch_size)
    with FakeZendesk(credentials=("bench@acme.test/token", "bench")) as zd:
        generate(zd, args.tickets, args.seed)
        note(f"fake Zendesk serving {args.tickets} tickets at {zd.url}")
        import httpx

        with httpx.Client(timeout=30) as client:
            rt = Runtime(settings, embedder=embedder)
            src = ZendeskSettings(name="zd", base_url=zd.url, include_articles=False)
            service = SyncService([SourceConfig(name="zd", type="zendesk", schedule=Schedule(), settings=src)],
                                  ledger=rt.state.ledger, indexer=lambda: rt.indexer,
                                  client=client, environ=ENV, sleep=lambda s: None)
            with timed() as full:
                report = service.run("zd")
            assert report is not None
            chunks = report.stats.chunks_embedded
            note(f"full sync: {report.stats.added} tickets, {chunks} chunks in {full['s']:.1f} s")

            # The raw embedder on the very same chunk texts (read back from the store).
            texts = [f"{p['title']}{SECTION_SEPARATOR + p['section'] if p['section'] else ''}\n\n{p['text']}"
                     for p in rt.store.scroll_payloads("kb_internal", fields=("title", "section", "text"))]
            with timed() as raw:
                embedder.embed(texts)
            note(f"raw embedder: {len(texts)} chunks in {raw['s']:.1f} s")

            with timed() as unchanged:
                again = service.run("zd")
            assert again is not None and again.stats.chunks_embedded == 0

            zd.add_comment(args.tickets // 2, comment("One more question about this ticket.", author_id=CUSTOMER))
            with timed() as one:
                changed = service.run("zd")
            assert changed is not None

            answer = rt.answers.answer("label purchase fails with PCL-4031", Audience.AGENT)
            rt.close()
    emit({
        "benchmark": "sync_throughput",
        "tickets": args.tickets,
        "chunks": chunks,
        "full_sync_s": round(full["s"], 1),
        "full_docs_per_s": round(report.stats.added / full["s"], 1),
        "full_chunks_per_s": round(chunks / full["s"], 1),
        "raw_embed_chunks_per_s": round(len(texts) / raw["s"], 1),
        "full_vs_raw": round((chunks / full["s"]) / (len(texts) / raw["s"]), 3),
        "pii_masked": report.stats.pii,
        "unchanged_resync_s": round(unchanged["s"], 2),
        "unchanged_fraction": round(unchanged["s"] / full["s"], 4),
        "one_changed_resync_s": round(one["s"], 2),
        "one_changed": {"updated": changed.stats.updated, "chunks_embedded": changed.stats.chunks_embedded,
                        "chunks_reused": changed.stats.chunks_reused},
        "answer_cites_ticket": bool(answer.citations) and answer.citations[0].doc_id.startswith("zd:ticket:"),
        "peak_rss_mb": peak_rss_mb(),
        "machine": machine(),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
