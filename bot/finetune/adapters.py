"""Run-time style backends (the per-surface router is :class:`bot.answer.style.StyleRouter`).

Backends, chosen per surface by settings (``HELPDESK_STYLE_HELPDESK_DRAFTS``,
``HELPDESK_STYLE_SLACK_AGENT``, ``HELPDESK_STYLE_SLACK_CUSTOMER``):

* ``none`` (default): :class:`~bot.answer.style.NoStyle`, the draft as it is;
* ``local``: :class:`LocalStyleAdapter`, the base model plus the LoRA adapter that ``finetune
  train`` wrote, loaded once (lazily, or by ``StyleRouter.warm``) and shared by every surface;
  generation is greedy and bounded in new tokens and in seconds, one at a time;
* ``openai``: :class:`OpenAIStyleAdapter`, a fine-tuned model name on an OpenAI-compatible
  endpoint (``finetune openai`` records it), or a LoRA adapter that vLLM serves by name
  (``vllm serve BASE --enable-lora --lora-modules team-voice=ADAPTER_DIR``).

Whatever the backend, :func:`bot.answer.style.apply_style` guards the result: the unstyled draft is
kept (and the reason logged) when a rewrite drops or adds a citation, number, URL, email, code span
or product name, or when the backend fails, times out or runs out of tokens.

    router = style_router(settings)                            # a bot.answer.style.StyleRouter
    answer = router.apply(Surface.SLACK_CUSTOMER, answer)      # Answer in, Answer out
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import structlog

from bot.answer.style import StyleAdapter, StyleRouter, surface_backends
from bot.finetune import REWRITE_INSTRUCTION, StyleError, TrainingError, require_torch_stack
from bot.settings import Settings

log = structlog.get_logger(__name__)

#: Where ``finetune openai`` records the fine-tuned model, under the data directory.
OPENAI_MODEL_RECORD = Path("finetune") / "openai_model.json"
#: Default adapter directory of ``finetune train``, under the data directory.
DEFAULT_ADAPTER_DIR = Path("finetune") / "adapter"
#: A rewrite may be this much longer than the draft (in tokens), plus a constant for a greeting.
REWRITE_TOKEN_FACTOR = 1.5
REWRITE_TOKEN_EXTRA = 48


class OpenAIStyleAdapter:
    """Rewrites through a chat completion on an OpenAI-compatible endpoint (fine-tuned model or vLLM LoRA)."""

    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None,
        base_url: str | None,
        timeout_s: float = 20.0,
        max_retries: int = 1,
        max_tokens: int = 400,
        http_client: object | None = None,
    ) -> None:
        from openai import OpenAI

        if not model:
            raise StyleError("no style model configured: set HELPDESK_STYLE_OPENAI_MODEL or run `finetune openai`")
        self.model = model
        self.max_tokens = max_tokens
        self.client = OpenAI(api_key=api_key or "not-needed", base_url=base_url, timeout=timeout_s,
                             max_retries=max_retries, http_client=http_client)  # type: ignore[arg-type]

    def restyle(self, draft: str) -> str:
        import openai

        messages = [{"role": "system", "content": REWRITE_INSTRUCTION}, {"role": "user", "content": draft}]
        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=messages, temperature=0.0, max_tokens=self.max_tokens  # type: ignore[arg-type]
            )
        except openai.APITimeoutError as exc:
            raise StyleError("the style endpoint timed out") from exc
        except openai.APIStatusError as exc:
            raise StyleError(f"the style endpoint answered HTTP {exc.status_code}") from exc
        except openai.APIError as exc:
            raise StyleError(f"the style endpoint failed ({type(exc).__name__})") from exc
        except (ValueError, TypeError) as exc:
            raise StyleError("the style endpoint returned something that is not a chat completion") from exc
        try:
            choice = response.choices[0]
            content = choice.message.content or ""
        except (AttributeError, IndexError, TypeError) as exc:
            raise StyleError("the style endpoint returned a completion without a message") from exc
        if getattr(choice, "finish_reason", "stop") == "length":
            raise StyleError("the rewrite ran out of tokens")
        return content.strip()


class LocalStyleAdapter:
    """Base model + LoRA adapter on the CPU; loaded once, generation bounded in tokens and seconds.

    Args:
        adapter_dir: a directory written by ``finetune train`` (its ``training.json`` names the base).
        max_new_tokens: most tokens a rewrite may have (a draft needing more is left as it is).
        timeout_s: most seconds one rewrite may take (``generate(max_time=...)``).
        threads: torch threads (0 = every core).
        base: another base model than the one recorded (same architecture).
    """

    name = "local"

    def __init__(self, adapter_dir: Path, *, max_new_tokens: int = 160, timeout_s: float = 20.0,
                 threads: int = 0, base: str | None = None) -> None:
        self.adapter_dir = Path(adapter_dir)
        self.max_new_tokens = max_new_tokens
        self.timeout_s = timeout_s
        self.threads = threads
        self.base = base
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self.load_s: float | None = None

    def load(self) -> None:
        """Load the base model and merge the adapter into it (once; later calls return at once).

        Raises:
            MissingExtraError: the ``finetune`` extra is not installed.
            TrainingError: the adapter or its base model cannot be loaded.
        """
        with self._lock:
            if self._model is not None:
                return
            require_torch_stack()
            from bot.finetune.train import load_base, read_training_record, resolve_base

            started = time.monotonic()
            record = read_training_record(self.adapter_dir)
            model, tokenizer = load_base(resolve_base(self.base or record.get("base")), threads=self.threads)
            from peft import PeftModel

            try:
                model = PeftModel.from_pretrained(model, str(self.adapter_dir)).merge_and_unload()
            except (OSError, ValueError, RuntimeError, KeyError) as exc:
                raise TrainingError(f"cannot load the adapter in {self.adapter_dir}: {type(exc).__name__}") from exc
            model.eval()
            self._model, self._tokenizer = model, tokenizer
            self.load_s = time.monotonic() - started
            log.info("style_local_loaded", adapter=str(self.adapter_dir), load_s=round(self.load_s, 1))

    def restyle(self, draft: str) -> str:
        self.load()
        import torch

        from bot.finetune.train import format_prompt, set_threads

        tok = self._tokenizer
        prompt = format_prompt(tok, [{"role": "system", "content": REWRITE_INSTRUCTION},
                                     {"role": "user", "content": draft}])
        ids = tok(prompt, add_special_tokens=False, return_tensors="pt")
        draft_tokens = len(tok(draft, add_special_tokens=False)["input_ids"])
        budget = int(draft_tokens * REWRITE_TOKEN_FACTOR) + REWRITE_TOKEN_EXTRA
        if budget > self.max_new_tokens:
            raise StyleError(f"the draft is too long for the local style model ({draft_tokens} tokens)")
        with self._lock:
            set_threads(self.threads)
            with torch.inference_mode():
                out = self._model.generate(
                    **ids, max_new_tokens=budget, do_sample=False, use_cache=True, max_time=self.timeout_s,
                    pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                )
        new = out[0, ids["input_ids"].shape[1]:].tolist()
        if tok.eos_token_id not in new:
            raise StyleError("the rewrite hit the token or time limit")
        return str(tok.decode(new[: new.index(tok.eos_token_id)], skip_special_tokens=True)).strip()


def read_openai_record(data_dir: Path) -> dict[str, Any] | None:
    """What ``finetune openai`` recorded (model name, job id ...), or None."""
    path = data_dir / OPENAI_MODEL_RECORD
    if not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except ValueError:
        return None


def style_router(settings: Settings, *, http_client: object | None = None) -> StyleRouter:
    """The router of every surface, with the backends the settings ask for (a local model loads on first use)."""
    return StyleRouter.from_backends(surface_backends(settings),
                                     build=lambda backend: build_backend(backend, settings, http_client=http_client))


def build_backend(backend: str, settings: Settings, *, http_client: object | None = None) -> StyleAdapter:
    """The ``local`` or ``openai`` style backend, configured from ``settings``.

    Raises:
        StyleError: the backend is unknown, or ``openai`` has no model to call.
    """
    data_dir = Path(settings.data_dir)
    if backend == "local":
        adapter_dir = settings.style_local_adapter_dir or data_dir / DEFAULT_ADAPTER_DIR
        return LocalStyleAdapter(Path(adapter_dir), max_new_tokens=settings.style_max_new_tokens,
                                 timeout_s=settings.style_timeout_s, threads=settings.style_threads)
    if backend == "openai":
        model = settings.style_openai_model or (read_openai_record(data_dir) or {}).get("model") or ""
        key = settings.style_openai_api_key or settings.openai_api_key
        return OpenAIStyleAdapter(
            model=model, api_key=key.get_secret_value() if key else None,
            base_url=settings.style_openai_base_url or settings.openai_base_url,
            timeout_s=settings.style_timeout_s, max_retries=settings.openai_max_retries,
            max_tokens=settings.style_max_new_tokens, http_client=http_client,
        )
    raise StyleError(f"unknown style backend {backend!r} (none, local or openai)")
