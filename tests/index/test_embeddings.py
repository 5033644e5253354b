"""The embedder runs offline from files PyPI packages installed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.errors import ModelError
from bot.index.embeddings import Embedder, default_model_path
from bot.index.quantize import int8_model, remove_softmax_nan_guards


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


def test_embedder_works_with_networking_disabled(tmp_path: Path) -> None:
    # A fresh interpreter in which any socket connection raises: loading and running the model
    # must not need the network (no hub download, no tiktoken encodings). Its cache folder is
    # empty, so the int8 copy of the model is made here too, offline.
    code = """
import os, socket
os.environ["HF_HUB_OFFLINE"] = "1"
def refuse(*a, **k):
    raise OSError("network disabled in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
from bot.index.embeddings import Embedder, default_model_path
from bot.index.quantize import int8_model, remove_softmax_nan_guards
from bot.index.chunking import Chunker
from bot.models import Document
e = Embedder(threads=1)
c = Chunker()
chunks = c.chunk(Document(id="d", source="s", kind="article", audience="public", title="T", text="# T\\n\\n" + "Some text. " * 300))
v = e.embed([ch.text for ch in chunks])
print(len(chunks), v.shape)
"""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    n, _ = out.stdout.split(" ", 1)
    assert int(n) > 1
    made = list((tmp_path / "cache" / "helpdesk-bot").glob("all-MiniLM-L6-v2-int8-*.onnx"))
    assert len(made) == 1
    # The same inputs give the same bytes (a second machine or process converts identically).
    again = int8_model(default_model_path(), tmp_path / "again", stem="all-MiniLM-L6-v2")
    assert again.name == made[0].name and again.read_bytes() == made[0].read_bytes()
    # Already there: used as it is, not converted again.
    before = made[0].stat().st_mtime_ns
    assert int8_model(default_model_path(), made[0].parent, stem="all-MiniLM-L6-v2") == made[0]
    assert made[0].stat().st_mtime_ns == before


def test_int8_vectors_stay_close_to_fp32_in_the_same_space(embedder: Embedder) -> None:
    fp32 = Embedder(threads=2, precision="fp32")
    assert embedder.precision == "int8"
    assert (embedder.space, embedder.dim) == (fp32.space, fp32.dim) and embedder.name != fp32.name
    texts = ["How do I reset my password?", "Refunds for voided USPS labels take up to 21 days.",
             "Shopify orders are not syncing after reconnecting the store " * 8, "PCL-4031"]
    cos = (embedder.embed(texts) * fp32.embed(texts)).sum(axis=1)
    assert cos.min() >= 0.97, cos


def test_nan_guard_removal_touches_only_the_guard() -> None:
    import onnx
    from onnx import TensorProto, helper

    def graph(cond_op: str) -> onnx.ModelProto:
        nodes = [helper.make_node("Softmax", ["x"], ["p"]), helper.make_node(cond_op, ["p"], ["nan"]),
                 helper.make_node("Where", ["nan", "zero", "p"], ["guarded"]), helper.make_node("Relu", ["guarded"], ["y"])]
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                              [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])])
        return helper.make_model(g)

    guarded = graph("IsNaN")
    assert remove_softmax_nan_guards(guarded) == 2
    assert [n.op_type for n in guarded.graph.node] == ["Softmax", "Relu"]
    assert list(guarded.graph.node[1].input) == ["p"]
    other = graph("IsInf")  # not the NaN guard: left alone
    assert remove_softmax_nan_guards(other) == 0 and len(other.graph.node) == 4


def test_unknown_precision_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="unknown embedding precision 'int4'"):
        Embedder(precision="int4")


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        Embedder(model_path=tmp_path / "missing.onnx")


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_corrupt_model_file_is_a_clear_error(tmp_path: Path, precision: str) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not an onnx graph")
    with pytest.raises(ModelError, match="corrupt"):
        Embedder(model_path=bad, precision=precision, cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.onnx"))  # nothing half-made is left to be reused


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
