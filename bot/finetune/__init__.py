"""Fine-tuning a style adapter on the team's replies, and routing answers through it.

Retrieval supplies the facts; a small adapter supplies the team's voice. The pieces:

* :mod:`bot.finetune.neutral`: the deterministic *neutral draft* of an agent reply (greetings,
  sign-offs, emoji, @handles and pleasantries removed) and the cleaned reply used as the target,
  so a model learns ``neutral draft -> team voice``, the rewrite it does at run time;
* :mod:`bot.finetune.dataset`: ``finetune export``: tickets from the store or a conversations
  JSONL into chat-format JSONL (PII masked, internal notes excluded, duplicates and trivial
  replies dropped, train/validation split by conversation);
* :mod:`bot.finetune.train`: ``finetune train``: a LoRA adapter (PEFT) on a small local causal LM,
  on the CPU, offline (needs the ``finetune`` extra);
* :mod:`bot.finetune.openai_ft`: ``finetune openai``: the same file to an OpenAI-compatible
  fine-tuning API;
* :mod:`bot.finetune.adapters`: the run-time backends (``local``, ``openai``), built when a
  surface's setting names one; the per-surface router is :class:`bot.answer.style.StyleRouter`
  and every rewrite passes :func:`bot.answer.style.guard_restyle`.

Errors::

    HelpdeskBotError
    └── FinetuneError
        ├── MissingExtraError   torch / transformers / peft / gguf are not installed
        ├── DatasetError        an input or training file is missing, unreadable or yields no pairs
        ├── TrainingError       the base model or the adapter cannot be loaded, or training failed
        ├── FineTuneJobError    a fine-tuning job failed, was cancelled or did not finish in time
        └── StyleError          a style backend failed on one draft (callers keep the draft)
"""

from __future__ import annotations

from bot.errors import HelpdeskBotError

#: The instruction of every rewrite, in training data and at run time (they must be identical).
REWRITE_INSTRUCTION = (
    "Rewrite the draft reply in our support team's voice. Keep every fact, number, link, email address, "
    "product name, code span and [n] citation marker exactly as in the draft, and add none."
)

#: What to install for the local trainer and the local backend.
INSTALL_HINT = "pip install 'helpdesk-bot[finetune]' torch==2.13.0 (a CPU build; see README)"


class FinetuneError(HelpdeskBotError):
    """Root of the fine-tuning and style-adapter errors."""


class MissingExtraError(FinetuneError):
    """An optional dependency of the ``finetune`` extra is not installed."""


class DatasetError(FinetuneError):
    """An input or training file cannot be used."""


class TrainingError(FinetuneError):
    """The base model or adapter cannot be loaded, or training failed."""


class FineTuneJobError(FinetuneError):
    """A remote fine-tuning job failed, was cancelled or timed out."""


class StyleError(FinetuneError):
    """A style backend could not rewrite one draft."""


def require_torch_stack() -> None:
    """Raise :class:`MissingExtraError` unless torch, transformers and peft import."""
    missing = []
    for module in ("torch", "transformers", "peft"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise MissingExtraError(f"{', '.join(missing)} not installed: {INSTALL_HINT}")
