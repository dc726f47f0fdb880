"""core.risk: the compiled scorer gives LightGBM's own scores and contributions (missing values, zeros
and values exactly at thresholds included) or refuses and leaves them to LightGBM; reasons are the
model's contributions;
the inspection budget keeps to its share, explores stably per record, and starts from warm scores."""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pytest

from smartcustoms.core.artefacts import ROOT_ENV
from smartcustoms.core.risk import (
    CompiledTrees,
    GbmModel,
    InspectionBudget,
    NotCompiled,
    Reason,
    top_reasons,
    uniforms,
)

FEATURE_COUNT = 6
NAMES = [f"f{i}" for i in range(FEATURE_COUNT)]
TOLERANCE = 1e-9
CONTRIBUTION_ROWS = 400  # rows of each case whose contributions are compared with pred_contrib


def training_data(seed: int = 0, rows: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Features with NaNs (f2, f3), exact zeros and integers (f1, f3); a label that depends on them."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURE_COUNT))
    x[:, 1] = np.round(x[:, 1])
    x[rng.random(rows) < 0.2, 2] = np.nan
    x[rng.random(rows) < 0.3, 3] = np.nan
    x[rng.random(rows) < 0.3, 3] = 0.0
    signal = x[:, 0] + np.nan_to_num(x[:, 2], nan=1.0) + 1.5 * np.isnan(x[:, 3]) - 0.5 * x[:, 1]
    return x, (signal + rng.normal(size=rows) > 0.8).astype(np.float64)


def train(rounds: int = 40, **params: Any) -> GbmModel:
    x, y = training_data()
    return GbmModel.train(x, y, NAMES, params=params, rounds=rounds)


def splits(booster: lightgbm.Booster) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        if "leaf_value" not in node:
            found.append(node)
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    return found


def hard_rows(booster: lightgbm.Booster, width: int, rows: int, seed: int = 1) -> np.ndarray:
    """Random rows where many values sit exactly on a split's threshold or one ulp either side, or are
    NaN, 0.0, -0.0, tiny (LightGBM reads |v| <= 1e-35f as zero), or infinite."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, width)) * 3
    special = [np.nan, 0.0, -0.0, 1e-36, -1e-36, 1e-35, -1e-35, 2e-35, -2e-35, math.inf, -math.inf]
    at_thresholds = [(s["split_feature"], s["threshold"]) for s in splits(booster)]
    for row in range(rows):
        for column in rng.choice(width, size=width // 2 + 1, replace=False):
            if rng.random() < 0.3:
                x[row, column] = special[rng.integers(len(special))]
            else:
                feature, threshold = at_thresholds[rng.integers(len(at_thresholds))]
                towards = (threshold, math.inf, -math.inf)[rng.integers(3)]
                x[row, feature] = np.nextafter(threshold, towards) if towards != threshold else threshold
    return x


def assert_same_as_lightgbm(model: GbmModel, x: np.ndarray) -> None:
    assert model.trees is not None, model.not_compiled_because
    expected_raw = model.booster.predict(x, raw_score=True, num_threads=1)
    np.testing.assert_allclose(model.trees.raw_scores(x), expected_raw, rtol=0, atol=TOLERANCE)
    expected = model.booster.predict(x, num_threads=1)
    np.testing.assert_allclose(model.score(x), expected, rtol=0, atol=TOLERANCE)
    some = x[:CONTRIBUTION_ROWS]  # LightGBM's TreeSHAP takes ~2 ms a row on the cargo model
    expected_contributions = model.booster.predict(some, pred_contrib=True, num_threads=1)
    np.testing.assert_allclose(model.contributions(some), expected_contributions, rtol=0, atol=TOLERANCE)
    # The same without the table of patterns (every leaf row by row), and with half of the table the
    # model has (leaves of both kinds, when its leaves have paths of several lengths).
    # (The real cargo model's default table holds some of its leaves: a test below.)
    shap = model.trees.shap
    assert (shap.table_start >= 0).any()
    for budget in (0, shap.table.nbytes // 2):
        trees = CompiledTrees(model.booster, pattern_table_bytes=budget)
        fewer = (trees.shap.table_start >= 0).sum() < (shap.table_start >= 0).sum()
        assert fewer or not shap.table.nbytes  # a model without splits has nothing to table
        np.testing.assert_allclose(trees.contributions(some), expected_contributions, rtol=0, atol=TOLERANCE)


# ------------------------------------------------------------------------------------ compiled scorer


def test_compiled_scores_equal_lightgbm_with_missing_values_and_values_at_thresholds() -> None:
    model = train()
    kinds = Counter((s["missing_type"], s["default_left"]) for s in splits(model.booster))
    assert {("NaN", True), ("NaN", False), ("None", True)} <= set(kinds)  # every rule is exercised
    x = hard_rows(model.booster, FEATURE_COUNT, 3000)
    assert_same_as_lightgbm(model, x)
    assert_same_as_lightgbm(model, training_data(seed=7, rows=1000)[0])


def test_zero_as_missing_sends_zero_and_nan_to_the_default_side() -> None:
    model = train(zero_as_missing=True)
    kinds = Counter((s["missing_type"], s["default_left"]) for s in splits(model.booster))
    assert {("Zero", True), ("Zero", False)} <= set(kinds)
    assert_same_as_lightgbm(model, hard_rows(model.booster, FEATURE_COUNT, 3000))


@pytest.mark.parametrize("leaves", [2, 16, 17, 63, 64])
def test_trees_of_any_size_up_to_64_leaves(leaves: int) -> None:
    model = train(rounds=15, num_leaves=leaves, min_data_in_leaf=3)
    assert model.trees is not None
    assert model.trees.chunks == -(-leaves // 16)
    assert_same_as_lightgbm(model, hard_rows(model.booster, FEATURE_COUNT, 500))


@pytest.mark.parametrize("rows", [0, 1, 15, 16, 17, 255, 256, 257, 511, 512, 513, 1100])
def test_any_number_of_rows(rows: int) -> None:
    model = train(rounds=20)
    x = hard_rows(model.booster, FEATURE_COUNT, rows)
    assert model.score(x).shape == (rows,)
    if rows:
        assert_same_as_lightgbm(model, x)


def test_trees_without_splits() -> None:
    """Features that never vary: every tree is a single leaf."""
    x, y = training_data()
    x[:, :] = 1.0
    model = GbmModel.train(x, y, NAMES, rounds=5)
    assert model.booster.num_trees() > 0 and not splits(model.booster)
    assert_same_as_lightgbm(model, training_data(seed=2, rows=40)[0])


def test_the_real_cargo_model_is_compiled_and_equal_to_lightgbm() -> None:
    from smartcustoms.plugins.cargo_risk.model import load_model, model_folder
    from smartcustoms.plugins.cargo_risk.tools.build import simulated_records
    from smartcustoms.plugins.cargo_risk.tools.replay import replay

    root = os.environ.get(ROOT_ENV, str(Path(__file__).parents[2] / ".smartcustoms" / "artefacts"))
    model = load_model(model_folder("", root)).model
    assert model.trees is not None
    tabled = model.trees.shap.table_start >= 0
    assert tabled.any() and not tabled.all()  # leaves of both kinds: patterns tabled, and row by row
    replayed = replay(simulated_records(seed=5, batches=20)).features
    assert np.isnan(replayed).any()
    assert_same_as_lightgbm(model, replayed)
    assert_same_as_lightgbm(model, hard_rows(model.booster, len(model.feature_names), 2000))


def test_categorical_splits_are_left_to_lightgbm() -> None:
    x, y = training_data()
    x[:, 4] = np.abs(np.round(x[:, 4] * 3))
    y = np.where(x[:, 4] == 2, 1.0, y)
    data = lightgbm.Dataset(x, label=y, categorical_feature=[4], free_raw_data=True)
    booster = lightgbm.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1}, data, num_boost_round=10
    )
    model = GbmModel(booster, NAMES)
    assert model.trees is None
    assert "categorical" in model.not_compiled_because
    np.testing.assert_array_equal(model.score(x[:100]), booster.predict(x[:100], num_threads=1))


def test_other_objectives_and_large_trees_are_refused() -> None:
    x, y = training_data()
    regression = lightgbm.train(
        {"objective": "regression", "verbose": -1, "num_threads": 1}, lightgbm.Dataset(x, label=y), 5
    )
    with pytest.raises(NotCompiled, match="binary"):
        CompiledTrees(regression)
    large = train(rounds=3, num_leaves=80, min_data_in_leaf=2)
    assert large.trees is None and "leaves" in large.not_compiled_because
    np.testing.assert_array_equal(large.score(x[:50]), large.booster.predict(x[:50], num_threads=1))


def test_wrong_input_is_refused() -> None:
    model = train(rounds=5)
    assert model.trees is not None
    with pytest.raises(ValueError, match="features must be"):
        model.score(np.zeros((3, FEATURE_COUNT + 1)))
    with pytest.raises(ValueError, match="float64"):
        model.trees.raw_scores(np.zeros((3, FEATURE_COUNT), dtype=np.float32))


def test_contributions_add_up_to_the_compiled_score() -> None:
    """Reasons and scores come from the same trees: the contributions sum to the raw score."""
    model = train()
    x = training_data(seed=3, rows=200)[0]
    assert model.trees is not None
    np.testing.assert_allclose(model.contributions(x).sum(axis=1), model.trees.raw_scores(x), atol=1e-9)


# -------------------------------------------------------------------------------------------- reasons


def test_top_reasons_are_the_largest_positive_contributions_in_order() -> None:
    contributions = np.array([0.5, -1.0, 2.0, 0.0, 0.25, 9.0])  # the last column is the bias
    values = np.array([1.0, 2.0, math.nan, 4.0, 5.0])
    reasons = top_reasons(contributions, NAMES[:5], values, k=3)
    assert [(r.feature, r.contribution) for r in reasons] == [("f2", 2.0), ("f0", 0.5), ("f4", 0.25)]
    assert math.isnan(reasons[0].value) and reasons[1:] == [Reason("f0", 1.0, 0.5), Reason("f4", 5.0, 0.25)]
    assert str(reasons[0]) == "f2=missing (+2.00)"
    assert str(reasons[1]) == "f0=1 (+0.50)"
    assert top_reasons(contributions, NAMES[:5], values, k=10)[-1].feature == "f4"  # never 0 or negative
    assert top_reasons(-np.abs(contributions), NAMES[:5], values) == []


# ----------------------------------------------------------------------------------- inspection budget


def test_the_share_selected_over_a_long_stream_is_the_budget() -> None:
    """About ``share`` of a long stream is selected, and again once the scores' scale has drifted and
    the memory has turned over."""
    rng = np.random.default_rng(0)
    budget = InspectionBudget(0.02, warm_scores=rng.beta(1, 20, size=2000), memory=5000)

    def share_selected(batches: range, spread: float) -> float:
        chosen = [
            budget.select(rng.beta(1, spread, size=100), [f"r{b}-{i}" for i in range(100)]) for b in batches
        ]
        return float(np.mean([selection.selected.mean() for selection in chosen]))

    assert share_selected(range(300), spread=20) == pytest.approx(0.02, abs=0.004)
    share_selected(range(300, 350), spread=5)  # the scale drifts up; 5,000 scores later it is forgotten
    assert share_selected(range(350, 650), spread=5) == pytest.approx(0.02, abs=0.004)


def test_exploration_is_a_stable_pick_per_record_id() -> None:
    ids = [f"decl-{i}" for i in range(20_000)]
    scores = np.zeros(len(ids))
    first = InspectionBudget(0.01, exploration_share=0.05, warm_scores=[1.0] * 100).select(scores, ids)
    again = InspectionBudget(0.01, exploration_share=0.05, warm_scores=[0.5] * 100).select(scores, ids)
    np.testing.assert_array_equal(first.explored, again.explored)  # a redelivered record: the same pick
    assert first.explored.mean() == pytest.approx(0.05, abs=0.006)
    np.testing.assert_array_equal(first.selected, first.explored)  # none of these scores is above 0.5


def _reference_uniform(record_id: str) -> float:
    """FNV-1a 64 and SplitMix64's finaliser, one id at a time in plain integers."""
    mask = 2**64 - 1
    raw = record_id.encode()
    if len(raw) > 64:
        raw = hashlib.blake2b(raw, digest_size=32).digest()
    h = 0xCBF29CE484222325
    for byte in raw:
        h = ((h ^ byte) * 0x100000001B3) & mask
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & mask
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & mask
    h ^= h >> 31
    return (h >> 11) / 2.0**53


def test_exploration_draws_are_a_fixed_hash_of_the_id_whatever_the_batch() -> None:
    """Every actor and every process draws the same number for an id (no per-process seed), alone or
    in a batch of ids of other lengths, non-ASCII and over 64 bytes."""
    ids = ["decl-1", "", "é-報關-9", "x" * 64, "y" * 65, "cd-3-0-1" * 40]
    expected = [_reference_uniform(rid) for rid in ids]
    np.testing.assert_array_equal(uniforms(ids), expected)
    np.testing.assert_array_equal([uniforms([rid])[0] for rid in ids], expected)
    assert uniforms([]).shape == (0,)


def test_explored_records_are_only_those_the_score_would_not_select() -> None:
    budget = InspectionBudget(0.5, exploration_share=0.5, warm_scores=np.linspace(0, 1, 101))
    scores = np.linspace(0, 1, 1000)
    selection = budget.select(scores, [str(i) for i in range(1000)])
    assert not (selection.explored & (scores > selection.threshold)).any()
    assert selection.selected[scores > selection.threshold].all()


def test_warm_scores_stand_in_only_while_the_live_sample_is_small() -> None:
    warm = np.linspace(0.0, 1.0, 10_001)
    budget = InspectionBudget(0.1, warm_scores=warm, min_sample=200)
    assert budget.threshold() == pytest.approx(0.9, abs=0.01)  # nothing live yet: the warm scores
    lone = budget.select(np.array([0.95]), ["first"])  # one record: judged against the warm scores
    assert lone.selected.all()
    low = InspectionBudget(0.1, warm_scores=warm).select(np.full(5, 0.5), [f"l{i}" for i in range(5)])
    assert not low.selected.any()


def test_a_first_large_batch_has_its_top_share_selected_whatever_the_warm_scores() -> None:
    """A site starting with no history scores lower than the validation set did: its budget still holds."""
    budget = InspectionBudget(0.02, warm_scores=np.linspace(0.5, 1.0, 2000))
    scores = np.linspace(0.0, 0.1, 300)  # every one below every warm score
    selection = budget.select(scores, [f"c{i}" for i in range(300)])
    assert 4 <= selection.selected.sum() <= 8  # about 2% of 300
    assert selection.selected[-4:].all()  # the highest of them
    cold = InspectionBudget(0.1)
    assert cold.threshold() == -math.inf
    assert cold.select(np.array([0.0, 0.5]), ["a", "b"]).selected.tolist() == [False, True]


def test_budget_arguments_are_checked() -> None:
    for share in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="inspection share"):
            InspectionBudget(share)
    with pytest.raises(ValueError, match="exploration share"):
        InspectionBudget(0.1, exploration_share=1.0)
    with pytest.raises(ValueError, match="2 scores for 1 records"):
        InspectionBudget(0.1).select(np.array([0.1, 0.2]), ["a"])
