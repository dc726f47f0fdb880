"""``smartcustoms eval cargo``: a time split, the plugin's model against three baselines, at 1-10% inspected.

The earlier ``1 - test_share`` of the declarations (by time) trains; the later part tests, as DATE (KDD
2020) evaluates. Features come from ``replay``: test declarations see the training period's outcomes
and none of their own. For each inspection budget (share of the test period's declarations, the top
ones by score) the table gives precision (share of selections that were illicit), recall (share of the
illicit declarations selected) and revenue (share of the duty at stake in the test period that the
selections recover). Baselines, measured in the same run on the same split:

- random: a uniformly random selection (its expected precision is the illicit rate);
- rules: unit value below a third of the HS code's training median, or an origin and transit-hub pair
  whose training hit rate is over twice the overall rate;
- plain GBM: LightGBM on the raw fields (value, weight, quantity, and HS code, origin, importer,
  declarant, route as categories), no history features.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from smartcustoms.core.risk import GbmModel
from smartcustoms.plugins.cargo_risk.features import FEATURES, Declaration
from smartcustoms.plugins.cargo_risk.tools.replay import Replayed, replay
from smartcustoms.v1 import frame_pb2

BUDGETS = (0.01, 0.02, 0.05, 0.10)
TEST_SHARE = 0.2


@dataclass(frozen=True)
class Figures:
    """One method at one budget."""

    method: str
    share: float
    selected: int
    precision: float
    recall: float
    revenue: float


@dataclass
class Report:
    train_count: int
    test_count: int
    test_illicit: int
    test_duty_hkd: float
    figures: list[Figures] = field(default_factory=list)

    def table(self) -> str:
        lines = [
            f"train {self.train_count:,} declarations, test {self.test_count:,} (later in time), "
            f"{self.test_illicit:,} illicit in test, duty at stake HK${self.test_duty_hkd:,.0f}",
            f"{'method':<34} {'inspected':>9} {'selected':>8} {'precision':>9} {'recall':>7} {'revenue':>8}",
        ]
        for f in self.figures:
            lines.append(
                f"{f.method:<34} {f.share:>8.0%} {f.selected:>8,} {f.precision:>9.1%} {f.recall:>7.1%} "
                f"{f.revenue:>8.1%}"
            )
        return "\n".join(lines)


def evaluate(
    records: Iterable[frame_pb2.Record],
    *,
    test_share: float = TEST_SHARE,
    budgets: Sequence[float] = BUDGETS,
    seed: int = 0,
    shipped: GbmModel | None = None,
) -> Report:
    """Train on the earlier part, test on the later part; ``shipped`` (the artefact's model) is scored
    on the same test part as one more method."""
    if not 0.0 < test_share < 1.0:
        raise ValueError(f"test share must be between 0 and 1, got {test_share}")
    labelled_records = list(records)
    split_s = _split_time(labelled_records, test_share)
    data = replay(labelled_records, reveal_until_s=split_s)
    times = data.times_s
    train = ~(times >= split_s)  # declarations without a time train (NaN >= x is False)
    test = ~train
    if data.illicit[train].sum() < 2 or data.illicit[test].sum() < 1:
        raise ValueError("too few illicit declarations to train and test: need labels of both kinds")
    y, duty = data.illicit[test], data.duty_hkd[test]
    report = Report(int(train.sum()), int(test.sum()), int(y.sum()), float(duty.sum()))
    model = GbmModel.train(data.features[train], data.illicit[train], FEATURES, seed=seed)
    methods: dict[str, np.ndarray] = {"cargo_risk (history + GBM)": model.score(data.features[test])}
    if shipped is not None:
        methods["cargo_risk, shipped model"] = shipped.score(data.features[test])
    rng = np.random.default_rng(seed)
    methods["random"] = rng.random(int(test.sum()))
    methods["rules"] = _rules(data, train, test, rng)
    methods["plain GBM on raw fields"] = _plain_gbm(data, train, test, seed)
    for name, scores in methods.items():
        for share in budgets:
            report.figures.append(_figures(name, share, scores, y, duty, rng))
    return report


def _split_time(records: list[frame_pb2.Record], test_share: float) -> float:
    times = np.sort([t for t in (Declaration.from_record(r).at_s for r in records) if not math.isnan(t)])
    if len(times) < 10:
        raise ValueError("fewer than 10 declarations carry a declared_at time: cannot split by time")
    return float(times[int(len(times) * (1.0 - test_share))])


def _figures(
    method: str, share: float, scores: np.ndarray, y: np.ndarray, duty: np.ndarray, rng: np.random.Generator
) -> Figures:
    k = max(1, math.ceil(share * len(scores)))
    tie_break = rng.random(len(scores))
    chosen = np.lexsort((tie_break, -scores))[:k]
    hits = y[chosen].sum()
    total_duty = duty.sum()
    return Figures(
        method,
        share,
        k,
        precision=float(hits / k),
        recall=float(hits / max(y.sum(), 1)),
        revenue=float(duty[chosen].sum() / total_duty) if total_duty > 0 else math.nan,
    )


def _rules(data: Replayed, train: np.ndarray, test: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    decls = data.declarations
    unit_values: dict[str, list[float]] = {}
    pairs: dict[tuple[str, str], list[float]] = {}
    for i in np.flatnonzero(train):
        d = decls[i]
        uv = d.stats()["uv"]
        if not math.isnan(uv):
            unit_values.setdefault(d.hs_code, []).append(uv)
        pairs.setdefault((d.origin, d.hub), []).append(data.illicit[i])
    medians = {code: float(np.median(v)) for code, v in unit_values.items() if len(v) >= 5}
    overall = float(data.illicit[train].mean())
    risky = {p: float(np.mean(v)) for p, v in pairs.items() if len(v) >= 20 and np.mean(v) > 2 * overall}
    scores = []
    for i in np.flatnonzero(test):
        d = decls[i]
        uv, median = d.stats()["uv"], medians.get(d.hs_code, math.nan)
        gap = median - uv  # NaN when either is unknown
        score = 1.0 + gap if gap > math.log(3) else 0.0
        if (d.origin, d.hub) in risky:
            score += 1.0 + risky[(d.origin, d.hub)]
        scores.append(score)
    return np.array(scores) + 1e-9 * rng.random(len(scores))


def _plain_gbm(data: Replayed, train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
    import lightgbm

    decls = data.declarations
    categorical = ("hs_code", "origin", "importer", "declarant", "route")
    codes: dict[str, dict[str, int]] = {name: {} for name in categorical}
    for i in np.flatnonzero(train):
        for name in categorical:
            codes[name].setdefault(getattr(decls[i], name), len(codes[name]))

    def row(d: Declaration) -> list[float]:
        numbers = [math.log(x) if x > 0 else math.nan for x in (d.value_hkd, d.weight_kg, d.quantity)]
        return numbers + [float(codes[name].get(getattr(d, name), -1)) for name in categorical]

    x = np.array([row(d) for d in decls], dtype=np.float64)
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": seed, "deterministic": True}
    dataset = lightgbm.Dataset(x[train], label=data.illicit[train], categorical_feature=[3, 4, 5, 6, 7])
    booster = lightgbm.train(params, dataset, num_boost_round=300)
    return np.asarray(booster.predict(x[test], num_threads=1), dtype=np.float64)
