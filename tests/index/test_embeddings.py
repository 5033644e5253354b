"""The embedder runs offline from files PyPI packages installed."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.errors import ModelError
from bot.index.embeddings import Embedder


def test_embeddings_are_unit_vectors_and_semantic(embedder: Embedder) -> None:
    v = embedder.embed(["How do I reset my password?", "I forgot my password, how can I change it?",
                        "The parcel was delivered to the wrong address."])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > 0.7
    assert v[0] @ v[2] < 0.3


def test_length_sorted_batches_keep_input_order(embedder: Embedder) -> None:
    texts = ["short", "a much longer sentence about shipping labels and carriers " * 5, "medium length text here"]
    together = embedder.embed(texts)
    alone = np.stack([embedder.embed_one(t) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_long_text_is_truncated_not_rejected(embedder: Embedder) -> None:
    assert embedder.embed(["word " * 5000]).shape == (1, 384)


def test_embedder_works_with_networking_disabled() -> None:
    # A fresh interpreter in which any socket connection raises: loading and running the model
    # must not need the network (no hub download, no tiktoken encodings).
    code = """
import os, socket
os.environ["HF_HUB_OFFLINE"] = "1"
def refuse(*a, **k):
    raise OSError("network disabled in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
from bot.index.embeddings import Embedder
from bot.index.chunking import Chunker
from bot.models import Document
e = Embedder(threads=1)
c = Chunker()
chunks = c.chunk(Document(id="d", source="s", kind="article", audience="public", title="T", text="# T\\n\\n" + "Some text. " * 300))
v = e.embed([ch.text for ch in chunks])
print(len(chunks), v.shape)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    n, _ = out.stdout.split(" ", 1)
    assert int(n) > 1


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        Embedder(model_path=tmp_path / "missing.onnx")


def test_corrupt_model_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not an onnx graph")
    with pytest.raises(ModelError, match="corrupt"):
        Embedder(model_path=bad)


def test_socket_guard_really_blocks() -> None:
    # The guard used above is effective: a connection attempt under it fails.
    original = socket.socket.connect

    def refuse(*a, **k):  # type: ignore[no-untyped-def]
        raise OSError("blocked")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    try:
        with pytest.raises(OSError, match="blocked"):
            socket.create_connection(("127.0.0.1", 9), timeout=1)
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]
