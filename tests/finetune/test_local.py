"""``finetune train`` and the ``local`` style backend on a tiny, randomly initialised Llama built here.

Nothing is downloaded: the model (hidden size 32, 2 layers) and its byte-level BPE tokenizer are
made in a temporary directory. Without the ``finetune`` extra (CI installs only base + dev), the
tests that need torch are skipped and only the "extra missing" behaviour is checked.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.answer.style import StyleRouter, Surface, apply_style
from bot.finetune import MissingExtraError, StyleError, TrainingError, require_torch_stack
from bot.finetune.adapters import LocalStyleAdapter, style_router
from bot.finetune.dataset import Conversation, Turn, export
from bot.finetune.train import TrainConfig, encode_example, resolve_base, train_adapter


def _installed(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


HAVE_EXTRA = all(_installed(m) for m in ("torch", "transformers", "peft"))
needs_extra = pytest.mark.skipif(
    not HAVE_EXTRA, reason="the finetune extra (torch, transformers, peft) is not installed: "
                           "pip install 'helpdesk-bot[finetune]' torch==2.13.0")

CORPUS = [f"Hi there! Plan {i} has {i + 3} seats and costs ${i * 5} a month. Hope this helps, let us know!"
          for i in range(20)]


def test_missing_extra_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "peft", None)  # import peft -> ImportError
    with pytest.raises(MissingExtraError, match=r"peft not installed: pip install 'helpdesk-bot\[finetune\]'"):
        require_torch_stack()
    # The router falls back to the draft instead of failing the answer.
    adapter = LocalStyleAdapter(tmp_path / "no-adapter")
    assert apply_style(adapter, "Plan 2 has 5 seats [1].") == ("Plan 2 has 5 seats [1].", "adapter failed (MissingExtraError)")


def test_base_model_must_be_local(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="hub are not downloaded"):
        resolve_base("HuggingFaceTB/SmolLM2-135M-Instruct")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random Llama (hidden 32, 2 layers) and a byte-level BPE tokenizer, saved like a hub model."""
    if not HAVE_EXTRA:
        pytest.skip("the finetune extra is not installed")
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["</s>", "<pad>", "<s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 3, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", pad_token="<pad>", bos_token="<s>")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                         tie_word_embeddings=False, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
                         bos_token_id=fast.bos_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def trained(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    data = tmp_path_factory.mktemp("ft-data")
    convs = [Conversation(f"c{i}", (Turn("customer", f"How many seats on plan {i}?"), Turn("agent", text)))
             for i, text in enumerate(CORPUS)]
    export(convs, data, validation_fraction=0.2)
    out = tmp_path_factory.mktemp("adapter")
    config = TrainConfig(base=str(tiny_model), steps=4, batch_size=2, max_len=512, threads=1, eval_examples=4,
                         warmup_steps=1, learning_rate=1e-2)
    report = train_adapter(data, out, config)
    return out, report


@needs_extra
def test_training_writes_adapter_record_and_card(trained: tuple[Path, Any], tiny_model: Path) -> None:
    out, report = trained
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    record = json.loads((out / "training.json").read_text(encoding="utf-8"))
    assert record["base"] == str(tiny_model) and record["steps"] == 4 and not record["stopped_early"]
    assert record["train_examples"] > 10 and record["validation_examples"] >= 1
    assert record["eval_loss_before"] > 0 and record["eval_loss_after"] > 0
    assert record["adapter_bytes"] == report.adapter_bytes > 0
    assert record["config"]["target_modules"] == ["q_proj", "v_proj"] and record["data"]["task"] == "rewrite"
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "LoRA (PEFT): r=8" in card and "Validation loss" in card and str(tiny_model) in card


@needs_extra
def test_loss_is_only_on_the_reply(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    msgs = [{"role": "system", "content": "Rewrite."}, {"role": "user", "content": "Plan 1 has 4 seats."},
            {"role": "assistant", "content": "Hi there! Plan 1 has 4 seats."}]
    ids, labels = encode_example(tok, msgs, 512)  # type: ignore[misc]
    target = [t for t in labels if t != -100]
    assert tok.decode(target) == "Hi there! Plan 1 has 4 seats.</s>" and ids[-len(target):] == target
    assert encode_example(tok, msgs, 10) is None  # too long: skipped, not cut


@needs_extra
def test_local_backend_loads_once_and_is_bounded(trained: tuple[Path, Any]) -> None:
    out, _ = trained
    adapter = LocalStyleAdapter(out, max_new_tokens=64, timeout_s=5.0, threads=1)
    draft = "Plan 2 has 5 seats [1]."
    started = time.monotonic()
    try:
        text = adapter.restyle(draft)  # a random model rarely stops by itself ...
    except StyleError as exc:
        assert "token or time limit" in str(exc)  # ... then the bound, not a hang, ends it
    else:
        assert isinstance(text, str)
    assert time.monotonic() - started < 30
    model = adapter._model
    adapter.load()
    assert adapter._model is model  # loaded once
    with pytest.raises(StyleError, match="too long for the local style model"):
        adapter.restyle("Plan 2 has 5 seats. " * 40)
    # Through the router: whatever the tiny model writes, the grounded draft's facts survive.
    router = StyleRouter({Surface.HELPDESK_DRAFTS: adapter})
    outcome = router.restyle(Surface.HELPDESK_DRAFTS, draft)
    assert outcome.backend == "local"
    assert outcome.text == draft or outcome.reason == "restyled"


@needs_extra
def test_local_backend_returns_the_text_before_eos(trained: tuple[Path, Any], tiny_model: Path, tmp_path: Path) -> None:
    """A base whose output layer is zero always predicts token 0, the EOS here: an empty rewrite."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, _ = trained
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    with torch.no_grad():
        model.lm_head.weight.zero_()
    model.save_pretrained(tmp_path / "eos-base")
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(tmp_path / "eos-base")
    adapter = LocalStyleAdapter(out, base=str(tmp_path / "eos-base"), max_new_tokens=64, timeout_s=5.0, threads=1)
    assert adapter.restyle("Plan 2 has 5 seats [1].") == ""
    assert apply_style(adapter, "Plan 2 has 5 seats [1].") == ("Plan 2 has 5 seats [1].", "empty restyle")


@needs_extra
def test_router_from_settings_builds_one_local_backend(trained: tuple[Path, Any], settings: Any) -> None:
    out, _ = trained
    s = settings.model_copy(update={"style_helpdesk_drafts": "local", "style_slack_agent": "local",
                                    "style_local_adapter_dir": out, "style_threads": 1, "style_max_new_tokens": 48})
    router = style_router(s)
    adapter = router.adapter(Surface.HELPDESK_DRAFTS)
    assert isinstance(adapter, LocalStyleAdapter) and adapter is router.adapter(Surface.SLACK_AGENT)
    assert adapter.max_new_tokens == 48 and adapter.adapter_dir == out
    router.warm()
    assert adapter._model is not None


def test_near_copies_are_limited_in_training_data() -> None:
    import random

    from bot.finetune.train import _limit_identity

    def ex(user: str, assistant: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": "x"}, {"role": "user", "content": user},
                {"role": "assistant", "content": assistant}]

    copies = [ex(f"We are on plan {i}.", f"We're on plan {i}!") for i in range(30)]
    styled = [ex(f"Plan {i} has 3 seats.", f"Hi there! Plan {i} has 3 seats. Let us know!") for i in range(30)]
    kept, dropped = _limit_identity(copies + styled, 0.25, random.Random(0))
    assert len(kept) == 40 and dropped == 20 and all(m in kept for m in styled)
    assert _limit_identity(copies + styled, 1.0, random.Random(0)) == (copies + styled, 0)
