"""Style adapter: does a LoRA on SmolLM2-135M move answers towards the team's voice, facts intact?

What it measures (on held-out pairs of ``../shared/data/tickets/reply_pairs.jsonl``)
    * ``style_score_*``: the mean probability, from a **style classifier**, that a text is written
      in the team's voice. It is a logistic regression trained on the *training* conversations
      only: positives are the team's replies (cleaned of handles and signatures,
      :func:`bot.finetune.neutral.clean_reply`), negatives are the neutral drafts of the same
      replies (:func:`bot.finetune.neutral.neutral_draft`). Both sides carry the same facts, so what
      it separates is voice (greetings, empathy, "let us know", contractions ...), not topic. Its
      features are hashed word unigrams and bigrams, punctuation and the first / last three
      tokens; ``style_embed_score_*`` is the same classifier on the project's sentence embeddings
      (:class:`bot.index.embeddings.Embedder`, all-MiniLM-L6-v2, standardised), which mostly see
      topic and so separate voice less well (see ``*_classifier_accuracy``, on held-out replies
      vs their drafts). Scored for: ``before`` = the neutral drafts (what the bot says without the adapter),
      ``after`` = the final texts (adapter + guard: a rejected rewrite counts as the draft),
      ``adapter_raw`` = the rewrites before the guard, ``base_model`` = SmolLM2 with the same prompt
      but no adapter (a control, on the first ``--control`` pairs; ``base_model_after_guard`` and
      ``base_model_guard_pass_rate``: the same through the guard), ``team`` = the real held-out
      replies (the ceiling). ``classifier_accuracy`` is its accuracy on held-out replies vs drafts.
    * ``similarity_to_reply_*``: mean cosine similarity (same embedder) between a text and the
      real reply of its pair, before and after.
    * ``voice_markers_*``: share of texts with a greeting or a pleasantry sentence (the phrase list
      of :mod:`bot.finetune.neutral`), before / after / team.
    * ``guard_pass_rate``: share of rewrites the guard accepted; ``guard_reasons``: why the others
      were rejected (by kind); ``facts_intact_rate``: share of final texts whose citation markers,
      numbers, URLs, emails, code spans and names equal the draft's (must be 1.0).
    * ``added_latency_ms_*``: wall-clock time of one restyle (generation + guard) per answer, after
      the model is loaded (``model_load_s``); ``train_s``, ``steps``, ``adapter_bytes``,
      ``eval_loss_*`` come from the training run.

How
    ``conversations.jsonl`` is exported with :func:`bot.finetune.dataset.export` (rewrite task,
    10% of conversations held out by a hash of their id), the adapter is trained with
    :func:`bot.finetune.train.train_adapter` (bounded by ``--steps`` and ``--max-train-minutes``),
    then held-out reply pairs (conversations in the validation split, replies not seen in
    training) are restyled through the real run-time path (:class:`LocalStyleAdapter` +
    :func:`bot.answer.style.apply_style`). Every input to the adapter is a neutral draft built from
    the real reply, with the reply's own citations-free facts: numbers, links, product names.

Data: the shared ticket data are for evaluation and local experiments only (licences differ,
some non-commercial). Everything is written under ``--work-dir`` (default: a temporary directory
outside the project, removed at the end unless ``--keep``) and never into the project; the adapter
is not meant to be shipped.

Usage
    nice -n 10 .venv/bin/python benchmarks/style_adapter.py                    # train + evaluate, all brands
    nice -n 10 .venv/bin/python benchmarks/style_adapter.py --company SpotifyCares   # one team's voice
    .venv/bin/python benchmarks/style_adapter.py --adapter /tmp/x/adapter      # evaluate an adapter

Output: one JSON line, {"benchmark": "style_adapter", "style_score_before": ..., "style_score_after": ..., ...}
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import emit, machine, note, peak_rss_mb, percentile, setup_logging  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "tickets"


def _voice_marker(text: str) -> bool:
    from bot.finetune.neutral import _GREETING, PLEASANTRIES

    low = text.lower().replace("\u2019", "'")
    return bool(_GREETING.match(text)) or any(p in low for p in PLEASANTRIES)


def _logreg(x: Any, y: Any, *, l2: float = 1e-3, steps: int = 1500, lr: float = 0.2) -> Any:
    """Plain L2-regularised logistic regression by gradient descent (numpy only); returns (w, b)."""
    import numpy as np

    w = np.zeros(x.shape[1], dtype=np.float64)
    b = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        g = p - y
        w -= lr * (x.T @ g / len(y) + l2 * w)
        b -= lr * float(g.mean())
    return w, b


LEXICAL_DIMS = 2**13


def _lexical(texts: list[str]) -> Any:
    """Hashed binary features: word unigrams and bigrams, punctuation, emoji, and the first / last
    three tokens marked as such (greetings open a reply, pleasantries close it)."""
    import zlib

    import numpy as np

    out = np.zeros((len(texts), LEXICAL_DIMS), dtype=np.float64)
    for i, text in enumerate(texts):
        toks = re.findall(r"[a-z0-9']+|[^\w\s]", text.lower().replace("\u2019", "'"))
        feats = toks + [f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)]
        feats += [f"^{t}" for t in toks[:3]] + [f"{t}$" for t in toks[-3:]]
        for f in feats:
            out[i, zlib.crc32(f.encode()) % LEXICAL_DIMS] = 1.0
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conversations", type=Path, default=SHARED / "conversations.jsonl")
    ap.add_argument("--pairs", type=Path, default=SHARED / "reply_pairs.jsonl")
    ap.add_argument("--work-dir", type=Path, default=None,
                    help="default: a new temporary directory, removed at the end unless --keep")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work directory (dataset, adapter, samples)")
    ap.add_argument("--adapter", type=Path, default=None, help="evaluate this adapter instead of training one")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-len", type=int, default=160)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lora-r", type=int, default=8)
    ap.add_argument("--target-modules", default="q_proj,v_proj")
    ap.add_argument("--max-train-minutes", type=float, default=18.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-pairs", type=int, default=60)
    ap.add_argument("--control", type=int, default=20, help="pairs also rewritten by the base model without adapter")
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--timeout-s", type=float, default=30.0)
    ap.add_argument("--classifier-examples", type=int, default=1200)
    ap.add_argument("--company", default="", help="one team only (the 'company' field, e.g. SpotifyCares); default: all")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    setup_logging("ERROR")

    if not args.pairs.is_file() or not args.conversations.is_file():
        emit({"benchmark": "style_adapter", "skipped": f"shared ticket data not found under {args.pairs.parent}"})
        return 0
    import importlib.util

    missing = [m for m in ("torch", "transformers", "peft", "gguf") if importlib.util.find_spec(m) is None]
    if missing:
        emit({"benchmark": "style_adapter", "skipped": f"finetune extra not installed: {', '.join(missing)}"})
        return 0

    import numpy as np

    from bot.answer.style import KEPT_RESTYLED, UNCHANGED, guard_restyle
    from bot.finetune.adapters import LocalStyleAdapter
    from bot.finetune.dataset import conversations_from_jsonl, export, is_validation, read_chat_jsonl
    from bot.finetune.neutral import clean_reply, neutral_draft
    from bot.finetune.train import TrainConfig, load_base, read_training_record, resolve_base, train_adapter
    from bot.index.embeddings import Embedder
    from bot.index.pii import PiiMasker

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="helpdesk-style-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data_dir = work / "dataset"
    fraction = 0.1
    source = args.conversations
    if args.company:  # one team's conversations, copied to the work dir (never into the project)
        source = work / f"conversations-{args.company}.jsonl"
        source.write_text("".join(line for line in args.conversations.open(encoding="utf-8")
                                  if json.loads(line).get("company") == args.company), encoding="utf-8")
    note(f"export {source.name} -> {data_dir}")
    report = export(conversations_from_jsonl(source), data_dir, validation_fraction=fraction,
                    seed=args.seed, source=f"conversations:{args.conversations.name}"
                    + (f" (company {args.company})" if args.company else ""))
    note(report.summary())

    # --- train (or reuse) -----------------------------------------------------------------------
    if args.adapter:
        adapter_dir = args.adapter
        training = read_training_record(adapter_dir)
    else:
        adapter_dir = work / "adapter"
        config = TrainConfig(steps=args.steps, batch_size=args.batch_size, max_len=args.max_len,
                             learning_rate=args.lr, lora_r=args.lora_r, lora_alpha=2 * args.lora_r,
                             target_modules=tuple(args.target_modules.split(",")), threads=args.threads,
                             max_minutes=args.max_train_minutes, seed=args.seed, eval_examples=48)
        note(f"train: {config.steps} steps x {config.batch_size}, max_len {config.max_len}, "
             f"modules {config.target_modules}, <= {config.max_minutes} min")

        def on_step(step: int, loss: float) -> None:
            if step == 1 or step % 10 == 0:
                note(f"step {step}: loss {loss:.3f}")

        training = train_adapter(data_dir, adapter_dir, config, on_step=on_step).as_dict()
    note(f"trained: {training['steps']} steps in {training['train_s']} s, eval loss "
         f"{training['eval_loss_before']} -> {training['eval_loss_after']}")

    # --- held-out pairs ---------------------------------------------------------------------------
    train_msgs = read_chat_jsonl(data_dir / "train.jsonl")
    seen = {re.sub(r"\W+", " ", m[-1]["content"].lower()).strip() for m in train_msgs}
    masker = PiiMasker()
    candidates = []
    for line in args.pairs.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if args.company and row.get("company") != args.company:
            continue
        if not is_validation(str(row["conversation_id"]), fraction, args.seed):
            continue
        reply = clean_reply(masker.mask(row["agent_reply"]))
        draft = neutral_draft(reply)
        if len(reply.split()) < 3 or len(draft.split()) < 2 or len(reply) > 600:
            continue
        if re.sub(r"\W+", " ", reply.lower()).strip() in seen:
            continue
        if guard_restyle(draft, reply)[1] not in (KEPT_RESTYLED, UNCHANGED):
            continue
        candidates.append((draft, reply))
    rng = random.Random(args.seed)
    rng.shuffle(candidates)
    pairs = candidates[: args.eval_pairs]
    note(f"held-out pairs: {len(candidates)} usable, evaluating {len(pairs)}")

    # --- restyle through the run-time path --------------------------------------------------------
    adapter = LocalStyleAdapter(adapter_dir, max_new_tokens=args.max_new_tokens, timeout_s=args.timeout_s,
                                threads=args.threads)
    t = time.perf_counter()
    adapter.load()
    load_s = time.perf_counter() - t
    finals, raws, reasons, latencies = [], [], [], []
    for i, (draft, _) in enumerate(pairs):
        t = time.perf_counter()
        try:  # what bot.answer.style.apply_style does, with the raw rewrite kept for the figures
            raw = adapter.restyle(draft)
        except Exception as exc:  # noqa: BLE001 - recorded; apply_style falls back the same way
            raw = None
            reason = f"adapter failed ({type(exc).__name__})"
            final = draft
        else:
            final, reason = guard_restyle(draft, raw)
        latencies.append((time.perf_counter() - t) * 1000)
        finals.append(final)
        raws.append(raw if raw is not None else draft)
        reasons.append(reason)
        if i < 3 or i % 10 == 0:
            note(f"[{i}] {reason[:60]} | draft: {draft[:90]!r} | raw: {(raw or '')[:120]!r}")

    # Control: the base model, same prompt, no adapter.
    control_n = min(args.control, len(pairs))
    control_raw: list[str] = []
    control_final: list[str] = []
    control_reasons: list[str] = []
    if control_n:
        base_only = LocalStyleAdapter(adapter_dir, max_new_tokens=args.max_new_tokens, timeout_s=args.timeout_s,
                                      threads=args.threads)
        model, tok = load_base(resolve_base(training.get("base")), threads=args.threads)
        model.eval()
        base_only._model, base_only._tokenizer = model, tok  # no LoRA
        for draft, _ in pairs[:control_n]:
            try:
                raw = base_only.restyle(draft)
            except Exception as exc:  # noqa: BLE001
                control_raw.append(draft)
                control_final.append(draft)
                control_reasons.append(f"adapter failed ({type(exc).__name__})")
                continue
            control_raw.append(raw)
            final, reason = guard_restyle(draft, raw)
            control_final.append(final)
            control_reasons.append(reason)
        del model, base_only

    # --- style classifiers, trained on the training split only ----------------------------------
    note("style classifiers")
    embedder = Embedder(threads=args.threads)
    sample = rng.sample(train_msgs, min(args.classifier_examples, len(train_msgs)))
    team_texts = [m[-1]["content"] for m in sample]
    draft_texts = [m[1]["content"] for m in sample]
    y = np.concatenate([np.ones(len(sample)), np.zeros(len(sample))])
    # 1. lexical (the primary style score); 2. the project's sentence embeddings, standardised.
    w_lex, b_lex = _logreg(_lexical(team_texts + draft_texts), y)
    emb_train = embedder.embed(team_texts + draft_texts).astype(np.float64)
    mu, sd = emb_train.mean(axis=0), emb_train.std(axis=0) + 1e-6
    w_emb, b_emb = _logreg((emb_train - mu) / sd, y)

    def logits(texts: list[str], kind: str) -> Any:
        if kind == "lexical":
            return _lexical(texts) @ w_lex + b_lex
        return ((embedder.embed(texts).astype(np.float64) - mu) / sd) @ w_emb + b_emb

    def score(texts: list[str], kind: str = "lexical") -> float:
        if not texts:
            return float("nan")
        return round(float((1 / (1 + np.exp(-logits(texts, kind)))).mean()), 4)

    drafts = [d for d, _ in pairs]
    replies = [r for _, r in pairs]

    def accuracy(kind: str) -> float:
        return round(float(np.mean(np.concatenate([logits(replies, kind) > 0, logits(drafts, kind) <= 0]))), 4)

    e_reply, e_draft, e_final = (embedder.embed(v) for v in (replies, drafts, finals))

    def facts_intact(draft: str, final: str) -> bool:
        return final == draft or guard_restyle(draft, final)[1] == KEPT_RESTYLED

    reason_kinds: dict[str, int] = {}
    for r in reasons:
        if r in (KEPT_RESTYLED,):
            continue
        for part in r.split("; "):
            kind = part.split(":", 1)[0]
            reason_kinds[kind] = reason_kinds.get(kind, 0) + 1
    passed = sum(r == KEPT_RESTYLED for r in reasons)
    result = {
        "benchmark": "style_adapter",
        "team": args.company or "all companies",
        "eval_pairs": len(pairs),
        "style_score_before": score(drafts),
        "style_score_after": score(finals),
        "style_score_adapter_raw": score(raws),
        "style_score_base_model": score(control_raw),
        "style_score_base_model_after_guard": score(control_final),
        "base_model_guard_pass_rate": round(sum(r == KEPT_RESTYLED for r in control_reasons) / control_n, 4)
        if control_n else None,
        "style_score_before_control_subset": score(drafts[:control_n]),
        "style_score_adapter_raw_control_subset": score(raws[:control_n]),
        "style_score_team": score(replies),
        "classifier_accuracy": accuracy("lexical"),
        "style_embed_score_before": score(drafts, "embed"),
        "style_embed_score_after": score(finals, "embed"),
        "style_embed_score_team": score(replies, "embed"),
        "embed_classifier_accuracy": accuracy("embed"),
        "similarity_to_reply_before": round(float(np.mean(np.sum(e_draft * e_reply, axis=1))), 4),
        "similarity_to_reply_after": round(float(np.mean(np.sum(e_final * e_reply, axis=1))), 4),
        "voice_markers_before": round(sum(map(_voice_marker, drafts)) / len(pairs), 4),
        "voice_markers_after": round(sum(map(_voice_marker, finals)) / len(pairs), 4),
        "voice_markers_team": round(sum(map(_voice_marker, replies)) / len(pairs), 4),
        "guard_pass_rate": round(passed / len(pairs), 4),
        "guard_reasons": dict(sorted(reason_kinds.items(), key=lambda kv: -kv[1])),
        "facts_intact_rate": round(sum(facts_intact(d, f) for d, f in zip(drafts, finals, strict=True)) / len(pairs), 4),
        "added_latency_ms_p50": round(percentile(latencies, 50), 1),
        "added_latency_ms_p95": round(percentile(latencies, 95), 1),
        "added_latency_ms_mean": round(float(np.mean(latencies)), 1),
        "model_load_s": round(load_s, 1),
        "train_s": training["train_s"],
        "train_load_s": training["load_s"],
        "steps": training["steps"],
        "seconds_per_step": training["seconds_per_step"],
        "train_examples": training["train_examples"],
        "identity_dropped": training.get("identity_dropped"),
        "eval_loss_before": training["eval_loss_before"],
        "eval_loss_after": training["eval_loss_after"],
        "adapter_bytes": training["adapter_bytes"],
        "trainable_params": training["trainable_params"],
        "config": {k: training["config"][k] for k in ("batch_size", "max_len", "learning_rate", "lora_r",
                                                      "target_modules", "threads")},
        "base": training["base"],
        "export": {"pairs": report.pairs, "train": report.train, "validation": report.validation,
                   "dropped": dict(report.dropped)},
        "peak_rss_mb": peak_rss_mb(),
        "work_dir": str(work),
        **machine(),
    }
    (work / "result.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (work / "samples.jsonl").write_text("\n".join(
        json.dumps({"draft": d, "reply": r, "raw": raw, "final": f, "reason": why})
        for (d, r), raw, f, why in zip(pairs, raws, finals, reasons, strict=True)) + "\n", encoding="utf-8")
    if args.work_dir is None and not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)  # a model trained on evaluation-only data is not kept
        result["work_dir"] = None
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
