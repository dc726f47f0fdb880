"""Storage slot suggestions against first-fit, on the warehouse simulator's deposits.

The shelves start with the simulator's opening stock placed at random shelves with room (a
warehouse that has been in use); then each of the day's deposits (its case as the simulator's work
orders give it) is placed by each policy in turn, every item with a size of 1-3 units and an expected
retrieval date 1-180 days out drawn from the seed. Measured on the deposits: shelves per case (how
many shelves an officer visits to fetch a case's items) and the mean distance from the exit, in
shelves, of the items due out within 30 days.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import numpy as np

from smartcustoms.hardware.sim import warehouse as sim
from smartcustoms.plugins.evidence.stocktake import DEFAULT_LAYOUT, SOON_DAYS, Layout, first_fit, suggest_slot
from smartcustoms.plugins.evidence.tools.evaluate import case_of

TODAY = date(2025, 1, 1)


def slot_trial(
    seed: int, *, layout: Layout = DEFAULT_LAYOUT, horizon_ticks: int = 3600
) -> dict[str, dict[str, float]]:
    store = sim.EvidenceWarehouse(seed, horizon_ticks=horizon_ticks)
    rng = np.random.default_rng([seed, 7])
    used: dict[str, int] = defaultdict(int)
    slots = layout.slots()
    for _ in range(len(store.epcs) - sum(e.kind == "deposit" for e in store.events)):
        size = int(rng.integers(1, 4))
        free = [s for s in slots if used[s] + size <= layout.slot_capacity]
        used[free[int(rng.integers(len(free)))]] += size
    deposits = [
        (case_of(seed, e.item), int(rng.integers(1, 4)), int(rng.integers(1, 181)))
        for e in store.events
        if e.kind == "deposit"
    ]
    return {policy: _place(layout, dict(used), deposits, policy) for policy in ("suggested", "first_fit")}


def _place(
    layout: Layout, used: dict[str, int], deposits: list[tuple[str, int, int]], policy: str
) -> dict[str, float]:
    cases: dict[str, set[str]] = defaultdict(set)
    placed: list[tuple[str, str, int]] = []
    for case, size, days in deposits:
        if policy == "first_fit":
            slot = first_fit(layout, used, size)
        else:
            slot, _ = suggest_slot(
                layout, used, cases, case=case, size=size, due=TODAY + timedelta(days), today=TODAY
            )
        used[slot] = used.get(slot, 0) + size
        cases[slot].add(case)
        placed.append((case, slot, days))
    shelves: dict[str, set[str]] = defaultdict(set)
    for case, slot, _ in placed:
        shelves[case].add(slot)
    soon = [layout.distance(slot) for _, slot, days in placed if days <= SOON_DAYS]
    return {
        "deposits": float(len(placed)),
        "shelves_per_case": float(np.mean([len(s) for s in shelves.values()])) if shelves else 0.0,
        "due_soon_distance": float(np.mean(soon)) if soon else 0.0,
    }
