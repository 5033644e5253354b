"""Static word-piece vectors of the shipped model: made once, reused, meaningful, and clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.errors import ModelError
from bot.index.embeddings import default_cache_dir
from bot.index.word_vectors import RECIPE_VERSION, load_word_vectors, shared_word_vectors


def _table_file() -> Path:
    shared_word_vectors()  # made (once) in the default cache folder
    files = sorted(default_cache_dir().glob(f"word-vectors-*-r{RECIPE_VERSION}.npy"))
    assert len(files) >= 1
    return files[-1]


def test_the_table_covers_the_vocabulary_and_is_reused() -> None:
    vectors = shared_word_vectors()
    assert vectors.table.shape == (vectors.tokenizer.get_vocab_size(), 384)
    made = _table_file().stat().st_mtime_ns
    again = load_word_vectors(default_cache_dir())
    assert _table_file().stat().st_mtime_ns == made  # read back, not made again
    np.testing.assert_array_equal(np.asarray(again.table[:50]), np.asarray(vectors.table[:50]))


def test_meaning_without_shared_words() -> None:
    vectors = shared_word_vectors()
    sims = vectors.similarities("How do I get my money back?", [
        "Refunds reach your card within 5 business days.",
        "Open Settings and click Change password.",
    ])
    assert sims[0] > sims[1]
    out = vectors.embed(["", "   ", "[CLS] [SEP]", "Refund"])
    assert not np.isnan(out).any()
    assert np.allclose(out[:3], 0.0)  # nothing to embed: no direction, no NaN
    assert abs(float(np.linalg.norm(out[3])) - 1.0) < 1e-5


def test_a_corrupt_table_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    source = _table_file()
    shutil.copy(source, tmp_path / source.name)
    (tmp_path / source.name).write_bytes(b"not a numpy file")
    with pytest.raises(ModelError, match="unreadable.*delete it"):
        load_word_vectors(tmp_path)


def test_a_cache_folder_that_cannot_be_made_fails_before_any_work(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ModelError, match="HELPDESK_MODEL_CACHE_DIR"):
        load_word_vectors(blocker / "cache")


def test_a_texts_vector_is_the_same_alone_in_a_batch_and_from_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    vectors = shared_word_vectors()
    texts = ["Refunds reach your card within 5 business days.", "Open Settings and click Change password.", ""]
    vectors._cache.clear()
    batch = vectors.embed(texts)
    alone = np.stack([vectors._embed([t])[0] for t in texts])  # computed afresh, one at a time
    np.testing.assert_array_equal(batch, alone)
    np.testing.assert_array_equal(vectors.embed(list(reversed(texts))), batch[::-1])  # read back from the cache
    # The cache is bounded: the least recently used texts go first.
    monkeypatch.setattr(vectors._cache, "max_entries", 2)
    vectors.embed(["one more text", "and another"])
    assert list(vectors._cache) == ["one more text", "and another"]
