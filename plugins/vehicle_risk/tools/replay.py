"""A time-ordered replay of simulated crossings through the plugin's own feature code.

``replay(seed, batches)`` streams ``CrossingSimulator(seed)``'s first ``batches`` batches, in time
order, through ``crossing_features`` with a fresh ``MemoryState``: each crossing is judged against the
history of the crossings before it and then added to it, exactly as the plugin does on Redis. Each seed
is a different fleet (different plates, drivers and habits), so seeds never share a history.

Search reports close the loop as they would at a control point: a share ``searched_share`` of crossings
(picked by a hash of the record id, whatever the model thinks) is searched, and the report, closed an
hour after the crossing, is added to the plate's history with ``record_search``: a seizure, with the
duty at stake, when the crossing was illicit. Only the outcomes of earlier crossings' searches reach a
crossing's features; its own label (``illicit``, ``illicit_pattern``, ``duty_at_stake_hkd``) never
does. The labels are returned beside the features, for training and evaluation only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from smartcustoms.core.state import MemoryState
from smartcustoms.hardware.sim.records import CrossingSimulator
from smartcustoms.plugins.vehicle_risk.features import FEATURE_NAMES, crossing_features
from smartcustoms.plugins.vehicle_risk.history import CrossingHistory, record_search

BATCH_SIZE = 100  # crossings per simulator batch (12 s apart on average: 100 batches ~ 33 h of traffic)
SEARCHED_SHARE = 0.02  # crossings searched, at random, whose outcomes feed the history
SEARCH_CLOSED_AFTER_S = 3600.0


@dataclass(frozen=True)
class Replay:
    """Crossings of one or more replays, in time order within each seed."""

    features: np.ndarray  # (n, len(FEATURE_NAMES)) float64, NaN where missing
    illicit: np.ndarray  # (n,) 0/1
    duty_at_stake_hkd: np.ndarray  # (n,)
    record_ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.record_ids)

    def column(self, feature: str) -> np.ndarray:
        return self.features[:, FEATURE_NAMES.index(feature)]

    @classmethod
    def joined(cls, replays: list[Replay]) -> Replay:
        return cls(
            np.vstack([r.features for r in replays]),
            np.concatenate([r.illicit for r in replays]),
            np.concatenate([r.duty_at_stake_hkd for r in replays]),
            tuple(rid for r in replays for rid in r.record_ids),
        )


def replay(seed: int, batches: int, *, searched_share: float = SEARCHED_SHARE) -> Replay:
    """The features and labels of the first ``batches`` batches of ``CrossingSimulator(seed)``."""
    simulator = CrossingSimulator(seed)
    state = MemoryState()
    history = CrossingHistory(state)
    rows, illicit, duty, ids = [], [], [], []
    for index in range(batches):
        for record in simulator.batch(index, BATCH_SIZE).records:
            row = crossing_features(record, history)
            rows.append(row.values)
            truth = record.fields["illicit"] == "1"
            at_stake = float(record.fields["duty_at_stake_hkd"])
            illicit.append(truth)
            duty.append(at_stake)
            ids.append(record.record_id)
            at_s = row.crossing.at_s
            if row.plate is not None and at_s is not None and _searched(record.record_id, searched_share):
                found = at_stake if truth else None
                record_search(
                    state,
                    row.plate,
                    f"search-{record.record_id}",
                    at_s + SEARCH_CLOSED_AFTER_S,
                    duty_found_hkd=found,
                )
    features = np.vstack(rows) if rows else np.empty((0, len(FEATURE_NAMES)))
    return Replay(features, np.array(illicit, dtype=np.float64), np.array(duty), tuple(ids))


def replay_seeds(seeds: list[int], batches: int) -> Replay:
    return Replay.joined([replay(seed, batches) for seed in seeds])


def _searched(record_id: str, share: float) -> bool:
    digest = hashlib.blake2b(f"searched:{record_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 < share
