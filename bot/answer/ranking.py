"""Small learned linear models shipped as JSON: the window ranker and the answerability gate.

Both are trained offline by ``benchmarks/train_answer_models.py`` on the dev halves of the
evaluation sets (with cross-validation by question; the sealed halves judge them) and shipped in
``bot/answer/models/``. A model is a list of feature names, the training mean and scale of each
(features are standardised before weighting), the weights and a bias: a few kilobytes, no
dependency, microseconds to apply.
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


def load_model(name: str) -> LinearModel:
    """A model shipped in ``bot/answer/models/``."""
    try:
        text = importlib.resources.files("bot.answer").joinpath("models", name).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise ModelError(f"answer model {name} is missing from the installed package (reinstall helpdesk-bot)") from exc
    try:
        return LinearModel.from_json(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ModelError(f"answer model {name} is not valid JSON") from exc
