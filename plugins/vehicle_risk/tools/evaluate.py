"""``smartcustoms eval vehicle-risk``: the model against baselines on fleets it never saw.

The held-out seeds' crossings are replayed through the plugin's feature code (``tools.replay``) and
ranked three ways, measured in the same run on the same crossings:

* model: the ``vehicle-risk-model`` artefact's scores;
* rule: what a control point without a model would do: plates with prior seizures first (the record's
  ``prior_seizures_365d`` plus the seizures in the plugin's history), then same-day returners (the
  record's ``same_day_returns_30d``, a return within 24 h first), ties at random;
* random: a random order.

For 1, 2, 5 and 10% of crossings inspected (the top of each ranking): precision (share of searches that
find something illicit), recall of illicit crossings, and duty recovered (share of the duty at stake
found). A last line runs the plugin's own selection (its running ``InspectionBudget`` with the default
shares, over frames of 100 crossings in time order): what it actually selects online.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from smartcustoms.core.risk import InspectionBudget
from smartcustoms.plugins.vehicle_risk.model import RiskModel
from smartcustoms.plugins.vehicle_risk.plugin import RiskSettings
from smartcustoms.plugins.vehicle_risk.tools.replay import BATCH_SIZE, Replay, replay_seeds

SHARES = (0.01, 0.02, 0.05, 0.10)
SELECTORS = ("model", "rule", "random")


@dataclass(frozen=True)
class Outcome:
    """What searching a set of crossings finds."""

    searched: int
    precision: float
    recall: float
    duty_recovered: float  # share of the duty at stake


@dataclass(frozen=True)
class Report:
    seeds: tuple[int, ...]
    crossings: int
    illicit: int
    duty_at_stake_hkd: float
    model: str  # the artefact's name, version and hash
    by_share: dict[str, dict[float, Outcome]]  # selector -> share inspected -> outcome
    budget_share: float
    budget: Outcome  # the plugin's own running selection at its default shares


def outcome(chosen: np.ndarray, data: Replay) -> Outcome:
    """What searching the crossings ``chosen`` (indices or a mask) finds."""
    illicit, duty = data.illicit[chosen], data.duty_at_stake_hkd[chosen]
    searched = len(illicit)
    return Outcome(
        searched,
        float(illicit.sum() / searched) if searched else math.nan,
        float(illicit.sum() / max(data.illicit.sum(), 1)),
        float(duty.sum() / data.duty_at_stake_hkd.sum()) if data.duty_at_stake_hkd.sum() else math.nan,
    )


def ranking(keys: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Indices, highest first by ``keys[0]``, then ``keys[1]``, ...; remaining ties in random order."""
    tie_break = rng.random(len(keys[0])) if len(keys) else np.empty(0)
    return np.lexsort([tie_break, *reversed([-np.nan_to_num(k) for k in keys])])


def rule_keys(data: Replay) -> list[np.ndarray]:
    """Prior seizures first, then same-day returns (a return within the last 24 h first)."""
    seizures = np.nan_to_num(data.column("prior_seizures_365d")) + np.nan_to_num(
        data.column("plate_seizures_365d")
    )
    returns = np.nan_to_num(data.column("same_day_returns_30d")) + (
        np.nan_to_num(data.column("plate_opposite_24h")) > 0
    )
    return [seizures, returns]


def top(order: np.ndarray, share: float) -> np.ndarray:
    return order[: max(1, round(share * len(order)))]


def evaluate(model: RiskModel, seeds: Sequence[int], batches: int, *, rng_seed: int = 0) -> Report:
    data = replay_seeds(list(seeds), batches)
    scores = model.gbm.score(data.features)
    rng = np.random.default_rng(rng_seed)
    orders = {
        "model": ranking([scores], rng),
        "rule": ranking(rule_keys(data), rng),
        "random": rng.permutation(len(data)),
    }
    by_share = {name: {s: outcome(top(order, s), data) for s in SHARES} for name, order in orders.items()}
    settings = RiskSettings()
    budget = InspectionBudget(settings.inspect_share, settings.exploration_share, model.warm_scores)
    chosen = np.concatenate(
        [
            budget.select(scores[i : i + BATCH_SIZE], data.record_ids[i : i + BATCH_SIZE]).selected
            for i in range(0, len(data), BATCH_SIZE)
        ]
    )
    return Report(
        tuple(seeds),
        len(data),
        int(data.illicit.sum()),
        float(data.duty_at_stake_hkd.sum()),
        model.info.short,
        by_share,
        float(chosen.mean()),
        outcome(chosen, data),
    )


def format_report(report: Report) -> list[str]:
    lines = [
        f"vehicle_risk on held-out seeds {', '.join(map(str, report.seeds))}: "
        f"{report.crossings:,} crossings, {report.illicit} illicit "
        f"({report.illicit / report.crossings:.1%}), duty at stake HKD {report.duty_at_stake_hkd:,.0f}",
        f"model: {report.model}",
        "",
        f"{'inspected':>9}  {'selector':<8}  {'searched':>8}  {'precision':>9}  {'recall':>6}  "
        f"{'duty recovered':>14}",
    ]
    for share in SHARES:
        for n, name in enumerate(SELECTORS):
            lines.append(_row(f"{share:.0%}" if n == 0 else "", name, report.by_share[name][share]))
    lines += [
        "",
        "the plugin's own running selection (inspect_share 0.05, exploration_share 0.005):",
        _row(f"{report.budget_share:.1%}", "budget", report.budget),
    ]
    return lines


def _row(share: str, name: str, found: Outcome) -> str:
    return (
        f"{share:>9}  {name:<8}  {found.searched:>8}  {found.precision:>9.1%}  {found.recall:>6.1%}  "
        f"{found.duty_recovered:>14.1%}"
    )
