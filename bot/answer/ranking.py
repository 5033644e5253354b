"""Small learned models shipped as JSON: the window ranker and the answerability gate.

Both are trained offline by ``benchmarks/train_answer_models.py`` on the dev halves of the
evaluation sets (with cross-validation by question; the sealed halves judge them) and shipped in
``bot/answer/models/``. A linear model is a list of feature names, the training mean and scale of
each (features are standardised before weighting), the weights and a bias: a few kilobytes, no
dependency, microseconds to apply. The window ranker adds boosted regression trees (LambdaRank,
trained with LightGBM, evaluated here in numpy: no LightGBM at run time), combined with its
linear model per question (:class:`WindowRanker`).
"""

from __future__ import annotations

import importlib.resources
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bot.errors import ModelError

WINDOW_RANKER = "window_ranker.json"
ANSWERABILITY = "answerability.json"


@dataclass(frozen=True)
class LinearModel:
    """``weights · (x - mean) / scale + bias`` over named features."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float = 0.0
    #: Model-specific vocabulary, e.g. the window ranker's heading terms (appended features).
    heading_terms: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.mean) == len(self.scale) == len(self.weights) == n):
            raise ModelError(f"model has {n} features but {len(self.mean)}/{len(self.scale)}/{len(self.weights)} "
                             "means/scales/weights")

    def score(self, x: np.ndarray) -> np.ndarray:
        """Scores of the rows of ``x`` (shape (n, len(features)))."""
        if x.size == 0:
            return np.zeros(len(x))
        return ((x - self.mean) / self.scale) @ self.weights + self.bias

    def probability(self, x: np.ndarray) -> np.ndarray:
        """The logistic of :meth:`score` (for models trained as classifiers)."""
        return 1.0 / (1.0 + np.exp(-self.score(x)))

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "weights": self.weights.tolist(), "bias": self.bias, "heading_terms": list(self.heading_terms),
                "meta": self.meta}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinearModel:
        try:
            return cls(
                features=tuple(data["features"]), mean=np.asarray(data["mean"], dtype=np.float64),
                scale=np.asarray(data["scale"], dtype=np.float64), weights=np.asarray(data["weights"], dtype=np.float64),
                bias=float(data.get("bias", 0.0)), heading_terms=tuple(data.get("heading_terms", ())),
                meta=dict(data.get("meta", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model file is malformed: {exc}") from exc


@dataclass(frozen=True)
class TreeEnsemble:
    """A sum of binary regression trees over the rows of a feature matrix.

    The trees are flattened into node arrays: node ``i`` sends a row to ``left[i]`` when
    ``x[feature[i]] <= threshold[i]``, else to ``right[i]``; a leaf has ``left[i] == -1`` and
    contributes ``value[i]``. ``roots`` holds each tree's first node.
    """

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.feature)
        if not (len(self.threshold) == len(self.left) == len(self.right) == len(self.value) == n):
            raise ModelError("tree ensemble node arrays differ in length")
        inner = self.left >= 0
        if np.any(self.left[inner] >= n) or np.any(self.right[inner] >= n) or np.any(self.right[inner] < 0) \
                or np.any(self.roots >= n) or np.any(self.roots < 0):
            raise ModelError("tree ensemble points at nodes it does not have")

    def score(self, x: np.ndarray) -> np.ndarray:
        """The ensemble's sum for each row of ``x``, shape (len(x),)."""
        if x.size == 0 or not len(self.roots):
            return np.zeros(len(x))
        # Every (row, tree) pair walks down at once; pairs that reached a leaf drop out of the walk.
        n, trees = len(x), len(self.roots)
        flat = np.ascontiguousarray(x, dtype=np.float64).ravel()
        node = np.tile(self.roots, n)
        offset = np.repeat(np.arange(n) * x.shape[1], trees)  # where each pair's row starts in ``flat``
        walking = np.flatnonzero(self.left[node] >= 0)
        while walking.size:
            at = node[walking]
            go_left = flat[offset[walking] + self.feature[at]] <= self.threshold[at]
            nxt = np.where(go_left, self.left[at], self.right[at])
            node[walking] = nxt
            walking = walking[self.left[nxt] >= 0]
        return self.value[node].reshape(n, trees).sum(axis=1)

    def to_json(self) -> dict[str, Any]:
        return {"feature": self.feature.tolist(), "threshold": self.threshold.tolist(), "left": self.left.tolist(),
                "right": self.right.tolist(), "value": self.value.tolist(), "roots": self.roots.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TreeEnsemble:
        try:
            return cls(feature=np.asarray(data["feature"], dtype=np.int64),
                       threshold=np.asarray(data["threshold"], dtype=np.float64),
                       left=np.asarray(data["left"], dtype=np.int64), right=np.asarray(data["right"], dtype=np.int64),
                       value=np.asarray(data["value"], dtype=np.float64), roots=np.asarray(data["roots"], dtype=np.int64))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"tree ensemble is malformed: {exc}") from exc

    @classmethod
    def from_lightgbm(cls, dump: dict[str, Any]) -> TreeEnsemble:
        """The trees of a LightGBM ``Booster.dump_model()`` (numerical ``<=`` splits, no missing values)."""
        feature: list[int] = []
        threshold: list[float] = []
        left: list[int] = []
        right: list[int] = []
        value: list[float] = []

        def add(node: dict[str, Any]) -> int:
            at = len(feature)
            feature.append(0)
            threshold.append(0.0)
            left.append(-1)
            right.append(-1)
            value.append(0.0)
            if "leaf_value" in node:
                value[at] = float(node["leaf_value"])
                return at
            if node.get("decision_type") != "<=":
                raise ModelError(f"unsupported split {node.get('decision_type')!r} (numerical '<=' only)")
            feature[at], threshold[at] = int(node["split_feature"]), float(node["threshold"])
            left[at] = add(node["left_child"])
            right[at] = add(node["right_child"])
            return at

        roots = [add(tree["tree_structure"]) for tree in dump["tree_info"]]
        return cls(np.array(feature, dtype=np.int64), np.array(threshold), np.array(left, dtype=np.int64),
                   np.array(right, dtype=np.int64), np.array(value), np.array(roots, dtype=np.int64))


@dataclass(frozen=True)
class WindowRanker:
    """Scores one question's candidate windows with a linear model and, on its shortlist, trees.

    The linear model scores every window; the ``shortlist`` best of them are scored again by the
    trees, and their score is ``trees / tree_scale + linear_weight * linear / linear_scale`` (the
    scales: each model's typical spread of scores within a question, measured in training). The
    windows off the shortlist keep their linear order below the lowest shortlisted one. The trees
    cost ~0.05 ms a window here, so scoring the shortlist rather than every window (1,500 for a
    long technote) keeps the reader fast; on the dev halves a shortlist of 100 or all windows
    pick the same answers within noise (cross-validated composed F1 0.438 / 0.459 vs 0.435 / 0.459).

    Without trees it is the linear model alone (the ranker shipped before the trees).
    """

    linear: LinearModel
    trees: TreeEnsemble | None = None
    tree_scale: float = 1.0
    linear_scale: float = 1.0
    linear_weight: float = 1.0
    shortlist: int = 100

    def __post_init__(self) -> None:
        if self.tree_scale <= 0 or self.linear_scale <= 0 or self.shortlist < 1:
            raise ModelError("window ranker scales and shortlist must be positive")

    @property
    def features(self) -> tuple[str, ...]:
        return self.linear.features

    @property
    def heading_terms(self) -> tuple[str, ...]:
        return self.linear.heading_terms

    @property
    def meta(self) -> dict[str, Any]:
        return self.linear.meta

    def score(self, x: np.ndarray) -> np.ndarray:
        """Scores of one question's windows (rows of ``x``), higher is better."""
        linear = self.linear.score(x)
        if self.trees is None or not len(linear):
            return linear
        order = np.argsort(-linear, kind="stable")  # ties: the earlier window first
        short, rest = order[: self.shortlist], order[self.shortlist :]
        scores = np.empty(len(linear))
        scores[short] = (self.trees.score(x[short]) / self.tree_scale
                         + self.linear_weight * linear[short] / self.linear_scale)
        if len(rest):
            cut = linear[rest[0]]
            scores[rest] = scores[short].min() - 1.0 - self.linear_weight * (cut - linear[rest]) / self.linear_scale
        return scores

    def to_json(self) -> dict[str, Any]:
        data = self.linear.to_json()
        if self.trees is not None:
            data["ensemble"] = {"trees": self.trees.to_json(), "tree_scale": self.tree_scale,
                                "linear_scale": self.linear_scale, "linear_weight": self.linear_weight,
                                "shortlist": self.shortlist}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WindowRanker:
        linear = LinearModel.from_json(data)
        ensemble = data.get("ensemble")
        if ensemble is None:
            return cls(linear=linear)
        try:
            trees = TreeEnsemble.from_json(ensemble["trees"])
            ranker = cls(linear=linear, trees=trees, tree_scale=float(ensemble["tree_scale"]),
                         linear_scale=float(ensemble["linear_scale"]), linear_weight=float(ensemble["linear_weight"]),
                         shortlist=int(ensemble["shortlist"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model file is malformed: {exc}") from exc
        if len(trees.feature) and int(trees.feature.max()) >= len(linear.features):
            raise ModelError("the window ranker's trees split on features it does not list")
        return ranker


def load_window_ranker() -> WindowRanker:
    """The shipped window ranker."""
    return WindowRanker.from_json(_shipped_json(WINDOW_RANKER))


def load_model(name: str) -> LinearModel:
    """A linear model shipped in ``bot/answer/models/``."""
    return LinearModel.from_json(_shipped_json(name))


def _shipped_json(name: str) -> dict[str, Any]:
    try:
        text = importlib.resources.files("bot.answer").joinpath("models", name).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise ModelError(f"answer model {name} is missing from the installed package (reinstall helpdesk-bot)") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"answer model {name} is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ModelError(f"answer model {name} is not a JSON object")
    return data
