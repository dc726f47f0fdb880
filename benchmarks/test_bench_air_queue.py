"""The air cargo queue (issue 14): predicted call times for a whole queue on one core, beside the naive
baseline over the same queue.

- framework path: ``predict_call_times`` for 50 waiting tickets of four cargo types at 5 busy counters,
  with a model that learned 300 occupancies and an hour of arrivals (128 drawn futures, more urgent
  arrivals drawn in each): what the gateway computes for every board, ticket view and tick;
- bare baseline: ``naive_call_time`` for the same 50 tickets (place x mean occupancy / open counters).

Nothing asserts a time; the figures are printed with the machine. Run alone:
``.venv/bin/pytest benchmarks/test_bench_air_queue.py -p no:cacheprovider -s``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from benchkit.machine import describe, format_description

from smartcustoms.core.air_queue import (
    CARGO_TYPES,
    DEFAULT_PRIORITIES,
    Counter,
    OccupancyModel,
    Waiting,
    naive_call_time,
    predict_call_times,
)

ROUNDS = 5
QUEUE = 50
COUNTERS = 5
NOW_S = 7200.0


def _model() -> OccupancyModel:
    rng = np.random.default_rng(7)
    model = OccupancyModel()
    for i in range(300):
        cargo = CARGO_TYPES[i % len(CARGO_TYPES)]
        model.add_occupancy(cargo, f"c{i % COUNTERS}", float(rng.gamma(2.8, 150)))
        model.add_call(no_show=bool(rng.random() < 0.06))
    for minute in range(60):
        cargo = CARGO_TYPES[minute % len(CARGO_TYPES)]
        model.add_arrival(NOW_S - 3600 + 60 * minute, DEFAULT_PRIORITIES[cargo], cargo)
    return model


def test_queue_predictions_per_second(benchmark: Any) -> None:
    model = _model()
    waiting = [
        Waiting(
            f"t{i}", CARGO_TYPES[i % len(CARGO_TYPES)], DEFAULT_PRIORITIES[CARGO_TYPES[i % len(CARGO_TYPES)]]
        )
        for i in range(QUEUE)
    ]
    waiting.sort(key=lambda t: t.rank)
    counters = [Counter(f"c{j}", "general", NOW_S - 100.0 * j) for j in range(COUNTERS)]
    mean_s = model.mean_occupancy_s()

    def framework() -> list[float] | None:
        return predict_call_times(NOW_S, waiting, counters, model, grace_s=180.0)

    def bare() -> list[float | None]:
        return [naive_call_time(NOW_S, place, mean_s, COUNTERS) for place in range(1, QUEUE + 1)]

    framework_s, bare_s = [], []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        bare()
        bare_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        calls = framework()
        framework_s.append(time.perf_counter() - started)
        assert calls is not None and calls == sorted(calls)  # the queue's order holds
    benchmark.pedantic(framework, rounds=1, iterations=1)
    figures = {
        "tickets": QUEUE,
        "counters": COUNTERS,
        "queue_predictions_per_s": round(1 / min(framework_s), 1),
        "ms_per_queue": round(1000 * min(framework_s), 2),
        "naive_us_per_queue": round(1e6 * min(bare_s), 1),
    }
    benchmark.extra_info.update({**figures, "machine": describe()})
    print()
    print("\n".join(format_description(describe())))
    print(
        f"air queue: {figures['queue_predictions_per_s']:,} whole-queue predictions/s "
        f"({figures['ms_per_queue']} ms for {QUEUE} tickets at {COUNTERS} counters), "
        f"naive baseline {figures['naive_us_per_queue']} us"
    )
