"""Risk on records: a gradient-boosted model with its own reasons, and an inspection budget.

Risk plugins (cargo declarations, vehicle crossings) score each record with a ``GbmModel``, a LightGBM
booster trained offline on labelled inspection outcomes and shipped as a versioned artefact. The
reasons given for a score are the model's own per-feature contributions (LightGBM's ``pred_contrib``,
TreeSHAP values in log-odds), never a hand-written explanation.

An ``InspectionBudget`` turns scores into selections: a record is selected when its score is above the
running (1 - share) quantile of recent scores, so about ``share`` of the flow is inspected whatever the
scores' scale, plus a small exploration share of random picks so that outcomes keep arriving for records
the model would not pick (without them, retraining only ever learns from its own selections). The
random pick is a hash of the record id, so a redelivered record gets the same decision.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import lightgbm

MODEL_FILE = "model.txt"
FEATURES_FILE = "features.json"

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 1,
}
DEFAULT_ROUNDS = 300


class GbmModel:
    """A LightGBM binary classifier and the names of its features, in column order."""

    def __init__(self, booster: lightgbm.Booster, feature_names: Sequence[str]) -> None:
        if booster.num_feature() != len(feature_names):
            count = booster.num_feature()
            raise ValueError(f"the model has {count} features, {len(feature_names)} names given")
        self.booster = booster
        self.feature_names = tuple(feature_names)

    @classmethod
    def train(
        cls,
        features: np.ndarray,
        labels: np.ndarray,
        feature_names: Sequence[str],
        *,
        seed: int = 0,
        params: dict[str, Any] | None = None,
        rounds: int = DEFAULT_ROUNDS,
    ) -> GbmModel:
        """Fit on ``features`` (n x f, NaN where a value is missing) and 0/1 ``labels``."""
        import lightgbm

        x, y = _matrix(features, len(feature_names)), np.asarray(labels, dtype=np.float64)
        if len(x) != len(y):
            raise ValueError(f"{len(x)} rows of features but {len(y)} labels")
        if not ((y == 0) | (y == 1)).all() or len(np.unique(y)) < 2:
            raise ValueError("labels must be 0 or 1, with both present")
        chosen = DEFAULT_PARAMS | {"seed": seed, "deterministic": True} | (params or {})
        data = lightgbm.Dataset(x, label=y, feature_name=list(feature_names), free_raw_data=True)
        return cls(lightgbm.train(chosen, data, num_boost_round=rounds), feature_names)

    @classmethod
    def load(cls, folder: Path) -> GbmModel:
        import lightgbm

        names = json.loads((folder / FEATURES_FILE).read_text())["features"]
        return cls(lightgbm.Booster(model_file=str(folder / MODEL_FILE)), names)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / MODEL_FILE))
        names = {"features": list(self.feature_names)}
        (folder / FEATURES_FILE).write_text(json.dumps(names, indent=1) + "\n")

    def score(self, features: np.ndarray) -> np.ndarray:
        """Probability of the positive class for each row."""
        x = _matrix(features, len(self.feature_names))
        return np.asarray(self.booster.predict(x, num_threads=1), dtype=np.float64)

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """Per-row, per-feature contributions to the log-odds (n x (f + 1)); the last column is the bias."""
        x = _matrix(features, len(self.feature_names))
        return np.asarray(self.booster.predict(x, pred_contrib=True, num_threads=1), dtype=np.float64)


def _matrix(features: np.ndarray, width: int) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != width:
        raise ValueError(f"features must be an (n, {width}) array, got shape {x.shape}")
    return x


@dataclass(frozen=True)
class Reason:
    """One feature's push on a score: its value and its contribution to the log-odds."""

    feature: str
    value: float
    contribution: float

    def __str__(self) -> str:
        value = "missing" if math.isnan(self.value) else f"{self.value:.4g}"
        return f"{self.feature}={value} ({self.contribution:+.2f})"


def top_reasons(
    contributions: np.ndarray, feature_names: Sequence[str], values: np.ndarray, k: int = 3
) -> list[Reason]:
    """The ``k`` features that raise this row's score most (positive contributions only), largest first."""
    row = np.asarray(contributions, dtype=np.float64)[: len(feature_names)]
    order = np.argsort(-row, kind="stable")[:k]
    return [Reason(feature_names[i], float(values[i]), float(row[i])) for i in order if row[i] > 0]


@dataclass(frozen=True)
class Selection:
    """Which records of a batch are selected for inspection, and why."""

    selected: np.ndarray  # bool: by score or by exploration
    explored: np.ndarray  # bool: picked at random (their score alone would not have selected them)
    threshold: float  # the score a record had to exceed


class InspectionBudget:
    """Selects about ``share`` of the flow by score, plus ``exploration_share`` at random.

    The threshold is the (1 - share) quantile of the last ``memory`` scores seen (``warm_scores`` stand
    in for the flow before the first batch, for example the scores of the model's validation set). Each
    batch is judged against the threshold before its own scores join the memory, so a batch of
    suspicious records is not diluted by itself.
    """

    def __init__(
        self,
        share: float,
        exploration_share: float = 0.0,
        warm_scores: Iterable[float] = (),
        memory: int = 20_000,
    ) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError(f"inspection share must be in (0, 1], got {share}")
        if not 0.0 <= exploration_share < 1.0:
            raise ValueError(f"exploration share must be in [0, 1), got {exploration_share}")
        if memory < 1:
            raise ValueError("memory must be at least one score")
        self.share, self.exploration_share = share, exploration_share
        self.recent: deque[float] = deque((float(s) for s in warm_scores), maxlen=memory)

    @property
    def threshold(self) -> float:
        """Scores above this are selected; with no scores seen yet, every record is."""
        if not self.recent:
            return -math.inf
        return float(np.quantile(np.fromiter(self.recent, dtype=np.float64), 1.0 - self.share))

    def select(self, scores: np.ndarray, record_ids: Sequence[str]) -> Selection:
        scores = np.asarray(scores, dtype=np.float64)
        if len(scores) != len(record_ids):
            raise ValueError(f"{len(scores)} scores for {len(record_ids)} records")
        threshold = self.threshold
        by_score = scores > threshold
        explored = ~by_score & np.array([_uniform(rid) < self.exploration_share for rid in record_ids], bool)
        self.recent.extend(scores.tolist())
        return Selection(by_score | explored, explored, threshold)


def _uniform(record_id: str) -> float:
    """A number in [0, 1) fixed by the record id."""
    digest = hashlib.blake2b(record_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64
