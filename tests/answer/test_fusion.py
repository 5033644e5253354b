"""Weighted z-score fusion of the dense and sparse signals."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from bot.answer.fusion import fuse, standardised


def test_standardised_is_zero_mean_unit_variance_and_flat_when_scores_do_not_vary() -> None:
    z = standardised([1.0, 2.0, 3.0])
    assert math.isclose(sum(z), 0.0, abs_tol=1e-12) and math.isclose(sum(v * v for v in z) / 3, 1.0)
    assert standardised([0.7, 0.7]) == [0.0, 0.0]
    assert standardised([]) == []


def test_a_confident_signal_outweighs_a_flat_one() -> None:
    # BM25 sees one passage far above the rest (a rare error code); the dense scores are flat.
    dense = [("a", 0.61), ("b", 0.60), ("c", 0.60), ("d", 0.59)]
    sparse = [("c", 14.0), ("a", 2.0), ("b", 1.9), ("d", 1.8)]
    assert fuse([(0.4, dense), (0.6, sparse)])[0][0] == "c"
    # Reciprocal ranks would have put "a" first (rank 1 + rank 2 beats rank 3 + rank 1 at these weights).


def test_a_candidate_missing_from_one_signal_takes_that_signal_s_floor() -> None:
    fused = dict(fuse([(1.0, [("a", 3.0), ("b", 2.9), ("d", 0.0)]), (1.0, [("b", 5.0), ("c", 4.9), ("d", 0.0)])]))
    assert set(fused) == {"a", "b", "c", "d"}
    assert max(fused, key=fused.__getitem__) == "b"  # high in both
    # Each of a and c is high in one signal and at the other signal's floor: between b and d.
    assert fused["b"] > fused["a"] > fused["d"] and fused["b"] > fused["c"] > fused["d"]


def test_an_empty_signal_drops_out_and_ties_break_by_key() -> None:
    assert [k for k, _ in fuse([(0.4, [("b", 1.0), ("a", 1.0)]), (0.6, [])])] == ["a", "b"]
    assert fuse([(0.4, []), (0.6, [])]) == []


scores = st.lists(st.tuples(st.sampled_from("abcdefgh"), st.floats(-1e6, 1e6, allow_nan=False)), max_size=12)


@given(scores, scores, st.floats(0.01, 10), st.floats(0.01, 10))
def test_fusion_is_total_ordered_and_deterministic(dense, sparse, wd, ws) -> None:  # type: ignore[no-untyped-def]
    out = fuse([(wd, dense), (ws, sparse)])
    assert [k for k, _ in out] == sorted({k for k, _ in dense} | {k for k, _ in sparse},
                                         key=lambda k: (-dict(out)[k], k))
    assert out == fuse([(wd, list(dense)), (ws, list(sparse))])
    assert all(math.isfinite(v) for _, v in out)
