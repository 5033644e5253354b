"""Draft quality: leave-one-out drafts over past support conversations, against random baselines.

What it measures (details and caveats: :mod:`bot.helpdesk.simulate`)
    Every conversation of ``../shared/data/tickets/conversations.jsonl`` becomes an internal ticket
    document (agent replies as text) in a temporary embedded store; for a seeded sample of them the
    product drafts a reply to the customer's first turn (AnswerService, agent audience, extractive
    composer, the configured confidence gate) with the conversation itself filtered out of
    retrieval. Reported: ``cite_rate``, ``abstain_rate``, and the similarity of the draft to the
    agent's real first reply (embedding ``cosine`` with the project's Embedder, SQuAD-style
    ``token_f1``) next to two baselines: a random other conversation's first reply, and a random
    other reply of the same company.

Usage
    .venv/bin/python benchmarks/draft_quality.py                # 300 drafts over the whole corpus
    .venv/bin/python benchmarks/draft_quality.py --limit 100 --kb-limit 500   # quicker
    .venv/bin/helpdesk-bot simulate --limit 300                  # the same, from the CLI

Output: one JSON line (``{"benchmark": "draft_quality", "skipped": ...}`` when the data is absent).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import _common


def main() -> int:
    from bot.helpdesk.simulate import DEFAULT_CONVERSATIONS, DEFAULT_LIMIT, DEFAULT_SEED, run_simulation
    from bot.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=Path, default=DEFAULT_CONVERSATIONS)
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="conversations drafted (a seeded sample)")
    parser.add_argument("--kb-limit", type=int, default=None, help="documents in the knowledge base (default: all)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    _common.setup_logging()
    result = run_simulation(Settings(), conversations=args.conversations, limit=args.limit, seed=args.seed,
                            kb_limit=args.kb_limit, progress=_common.note)
    result["machine"] = _common.machine()
    result["peak_rss_mb"] = _common.peak_rss_mb()
    _common.emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
