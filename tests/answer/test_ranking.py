"""The window ranker's trees are evaluated in numpy exactly as LightGBM trained them, and the
shipped ranker loads, scores and refuses malformed files with a clear error."""

from __future__ import annotations

import json

import lightgbm
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answer.ranking import LinearModel, TreeEnsemble, WindowRanker, load_window_ranker
from bot.errors import ModelError


def _booster(x: np.ndarray, relevance: np.ndarray, groups: list[int], leaves: int, rounds: int):  # type: ignore[no-untyped-def]
    params = {"objective": "lambdarank", "num_leaves": leaves, "min_data_in_leaf": 5, "learning_rate": 0.1,
              "label_gain": list(range(int(relevance.max()) + 1)), "verbose": -1, "num_threads": 1, "seed": 3}
    return lightgbm.train(params, lightgbm.Dataset(x, relevance, group=groups), num_boost_round=rounds)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), leaves=st.integers(2, 15), rounds=st.integers(1, 30))
def test_trees_score_as_lightgbm_predicts(seed: int, leaves: int, rounds: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 6))
    x[:, 3] = rng.integers(0, 2, size=400)  # an indicator feature, as many of the ranker's are
    relevance = np.clip(np.round(2 * x[:, 0] + x[:, 3] + rng.normal(size=400)), 0, 6).astype(int)
    booster = _booster(x, relevance, [40] * 10, leaves, rounds)
    trees = TreeEnsemble.from_lightgbm(booster.dump_model())
    fresh = rng.normal(size=(200, 6))
    fresh[:, 3] = rng.integers(0, 2, size=200)
    np.testing.assert_allclose(trees.score(fresh), booster.predict(fresh), rtol=1e-9, atol=1e-9)
    # Through JSON, as shipped.
    again = TreeEnsemble.from_json(json.loads(json.dumps(trees.to_json())))
    np.testing.assert_allclose(again.score(fresh), booster.predict(fresh), rtol=1e-9, atol=1e-9)


def test_the_shortlist_is_scored_by_both_models_and_the_rest_keeps_its_linear_order_below_it() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 4))
    booster = _booster(x, (x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int), [30] * 10, 7, 10)
    linear = LinearModel(features=("a", "b", "c", "d"), mean=np.zeros(4), scale=np.ones(4),
                         weights=np.array([1.0, 0.5, 0.0, -0.2]))
    ranker = WindowRanker(linear=linear, trees=TreeEnsemble.from_lightgbm(booster.dump_model()), tree_scale=0.7,
                          linear_scale=1.3, linear_weight=0.5, shortlist=20)
    windows = rng.normal(size=(60, 4))
    scores = ranker.score(windows)
    lin = linear.score(windows)
    short = np.argsort(-lin, kind="stable")[:20]
    rest = np.setdiff1d(np.arange(60), short)
    expected = ranker.trees.score(windows[short]) / 0.7 + 0.5 * lin[short] / 1.3  # type: ignore[union-attr]
    np.testing.assert_allclose(scores[short], expected)
    assert scores[rest].max() < scores[short].min()
    assert list(np.argsort(-scores[rest], kind="stable")) == list(np.argsort(-lin[rest], kind="stable"))
    # Fewer windows than the shortlist: every one is scored by both.
    few = windows[:5]
    np.testing.assert_allclose(ranker.score(few), ranker.trees.score(few) / 0.7 + 0.5 * linear.score(few) / 1.3)  # type: ignore[union-attr]
    assert ranker.score(np.zeros((0, 4))).shape == (0,)


def test_the_shipped_ranker_round_trips_and_malformed_ones_are_refused() -> None:
    shipped = load_window_ranker()
    assert shipped.trees is not None and len(shipped.trees.roots) > 0
    data = shipped.to_json()
    again = WindowRanker.from_json(json.loads(json.dumps(data)))
    x = np.random.default_rng(1).normal(size=(150, len(shipped.features)))
    np.testing.assert_allclose(again.score(x), shipped.score(x))

    broken = json.loads(json.dumps(data))
    del broken["ensemble"]["tree_scale"]
    with pytest.raises(ModelError, match="malformed"):
        WindowRanker.from_json(broken)
    pointing_out = json.loads(json.dumps(data))
    pointing_out["ensemble"]["trees"]["left"][pointing_out["ensemble"]["trees"]["roots"][0]] = 10**9
    with pytest.raises(ModelError, match="nodes it does not have"):
        WindowRanker.from_json(pointing_out)
    unknown_feature = json.loads(json.dumps(data))
    root = unknown_feature["ensemble"]["trees"]["roots"][0]
    unknown_feature["ensemble"]["trees"]["feature"][root] = len(shipped.features) + 3
    with pytest.raises(ModelError, match="features it does not list"):
        WindowRanker.from_json(unknown_feature)
    with pytest.raises(ModelError, match="numerical"):
        TreeEnsemble.from_lightgbm({"tree_info": [{"tree_structure": {
            "decision_type": "==", "split_feature": 0, "threshold": "1||2",
            "left_child": {"leaf_value": 1.0}, "right_child": {"leaf_value": 0.0}}}]})
