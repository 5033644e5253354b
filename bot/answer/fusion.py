"""Fusing the dense and the sparse signal: weighted z-scores, not reciprocal ranks.

Each signal's scores over the candidates it returned are standardised (minus their mean, over
their standard deviation), so a cosine of 0.6 and a BM25 score of 14 become comparable "how far
above this question's usual candidate" numbers; the fused score is their weighted sum. A
candidate one signal did not return takes that signal's lowest standardised score (it ranked
below everything that signal saw). Unlike reciprocal-rank fusion this keeps the size of the gaps:
when one signal is sure (a rare error code that BM25 matches in one passage only) its large
margin carries the ranking, and when it is not, the other decides.

Chosen once over the dev halves of all three evaluation sets together
(``benchmarks/retrieval_quality.py --dense-weights ...``):
z-score fusion with dense weight 0.4 and sparse weight 0.6 was at or above the better single
signal on every set, which RRF was not (emanual: RRF 0.62 nDCG@10, sparse alone 0.67).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def standardised(scores: Sequence[float]) -> list[float]:
    """``(score - mean) / std``; all zeros when the scores do not vary (one candidate, or ties)."""
    if not scores:
        return []
    mean = sum(scores) / len(scores)
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    if std < 1e-9:
        return [0.0] * len(scores)
    return [(s - mean) / std for s in scores]


def fuse(signals: Sequence[tuple[float, Sequence[tuple[K, float]]]]) -> list[tuple[K, float]]:
    """Weighted z-score fusion of ``(weight, [(key, score), ...])`` signals, best first.

    Signals that returned nothing (a question with no searchable words) drop out and the others'
    weights are renormalised. Ties are broken by the key, so one question always gets one order.
    """
    live = [(w, list(cands)) for w, cands in signals if cands and w > 0]
    if not live:
        return []
    total = sum(w for w, _ in live)
    fused: dict[K, float] = {}
    standard: list[tuple[float, dict[K, float], float]] = []
    for weight, candidates in live:
        z = standardised([score for _, score in candidates])
        by_key: dict[K, float] = {}
        for (key, _), value in zip(candidates, z, strict=True):
            by_key[key] = max(value, by_key.get(key, value))
        standard.append((weight / total, by_key, min(z)))
        for key in by_key:
            fused.setdefault(key, 0.0)
    for share, by_key, floor in standard:
        for key in fused:
            fused[key] += share * by_key.get(key, floor)
    return sorted(fused.items(), key=lambda kv: (-kv[1], str(kv[0])))
