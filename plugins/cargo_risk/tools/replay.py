"""Replays declarations in time order through the plugin's own feature code, as the stream would.

Declarations go through ``CargoHistory`` in batches of ``batch_size`` on a ``MemoryState``, exactly as
the plugin computes them. Inspection outcomes come back ``outcome_lag_s`` after a declaration, and
only for declarations lodged before ``reveal_until_s``: a time split reveals the training period's
outcomes and none of the test period's, so test features never see test labels.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from smartcustoms.core.state import MemoryState
from smartcustoms.plugins.cargo_risk.features import CargoHistory, Declaration, Outcome
from smartcustoms.v1 import frame_pb2

OUTCOME_LAG_S = 3 * 86400.0


@dataclass(frozen=True)
class Replayed:
    """Declarations in time order, their feature rows, and their ground truth."""

    declarations: list[Declaration]
    records: list[frame_pb2.Record]
    features: np.ndarray
    illicit: np.ndarray  # 0/1
    duty_hkd: np.ndarray  # duty at stake (0 when honest or unknown)

    @property
    def times_s(self) -> np.ndarray:
        return np.array([d.at_s for d in self.declarations])


def labelled(record: frame_pb2.Record) -> bool:
    return record.fields.get("illicit", "") in ("0", "1")


def replay(
    records: Iterable[frame_pb2.Record],
    *,
    reveal_until_s: float = math.inf,
    outcome_lag_s: float = OUTCOME_LAG_S,
    batch_size: int = 100,
) -> Replayed:
    pairs = sorted(
        ((Declaration.from_record(r), r) for r in records if labelled(r)), key=lambda pair: time_key(pair[0])
    )
    declarations = [d for d, _ in pairs]
    ordered = [r for _, r in pairs]
    illicit = np.array([r.fields["illicit"] == "1" for r in ordered], dtype=np.float64)
    duty = np.array([_number(r.fields.get("duty_at_stake_hkd", "")) for r in ordered])
    history = CargoHistory(MemoryState())
    rows = np.empty((len(ordered), 0))
    pending: deque[int] = deque()
    chunks = []
    for start in range(0, len(ordered), batch_size):
        batch = declarations[start : start + batch_size]
        now_s = batch[0].at_s
        due = []
        while pending and declarations[pending[0]].at_s + outcome_lag_s <= now_s:
            due.append(pending.popleft())
        if due:
            outcomes = [Outcome(declarations[i], bool(illicit[i]), float(duty[i])) for i in due]
            history.add_outcomes(outcomes, token=f"outcomes-{start}")
        chunks.append(history.features(batch, token=f"batch-{start}"))
        pending.extend(i for i in range(start, start + len(batch)) if declarations[i].at_s < reveal_until_s)
    if chunks:
        rows = np.vstack(chunks)
    return Replayed(declarations, ordered, rows, illicit, duty)


def time_key(d: Declaration) -> float:
    """Sort key: declarations without a time first (they cannot see any history as of a time)."""
    return -math.inf if math.isnan(d.at_s) else d.at_s


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return 0.0
    return value if math.isfinite(value) and value > 0 else 0.0
