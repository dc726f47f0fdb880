"""Predicted call times against what happened, on simulated days: the queue model beside the naive
baseline (place x mean occupancy / open counters).

``Forecaster`` watches a simulated day as the live service would (``smartcustoms.core.air_queue``
learning from the day so far) and predicts each ticket's call time when the ticket is issued; the
error is predicted minus actual first call time, over tickets that were called (cancelled ones have no
actual call).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from smartcustoms.core.air_queue import (
    DEFAULT_DRAWS,
    Counter,
    OccupancyModel,
    Waiting,
    naive_call_time,
    predict_call_times,
)
from smartcustoms.hardware.sim.air_cargo import PROFILES, DayProfile, DayResult, simulate_day


@dataclass
class Forecaster:
    """An ``Observer`` of the simulator that predicts at issue time with the model and the baseline."""

    grace_s: float
    draws: int = DEFAULT_DRAWS
    model: OccupancyModel = field(default_factory=OccupancyModel)
    predicted: dict[str, float] = field(default_factory=dict)
    naive: dict[str, float] = field(default_factory=dict)
    # every prediction of a ticket while it waited: (when, model, naive), updated at each ticket issued
    updates: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)

    def issued(
        self,
        now: float,
        ticket_id: str,
        cargo_type: str,
        rank: int,
        waiting: list[Waiting],
        counters: list[Counter],
    ) -> None:
        self.model.add_arrival(now, rank, cargo_type)
        place = next(i for i, t in enumerate(waiting) if t.ticket_id == ticket_id)
        calls = predict_call_times(
            now,
            waiting,
            counters,
            self.model,
            grace_s=self.grace_s,
            draws=self.draws,
            seed=len(self.predicted),
        )
        mean_s = self.model.mean_occupancy_s()
        naive = [naive_call_time(now, i + 1, mean_s, len(counters)) for i in range(len(waiting))]
        if calls is None or naive[place] is None:
            return
        self.predicted[ticket_id] = calls[place]
        self.naive[ticket_id] = naive[place]  # type: ignore[assignment]  # not None: checked above
        for ticket, call, plain in zip(waiting, calls, naive, strict=True):
            self.updates.setdefault(ticket.ticket_id, []).append((now, call, plain or 0.0))

    def called(self, now: float, ticket_id: str, counter_id: str) -> None:
        return None

    def ended(self, now: float, cargo_type: str, counter_id: str, occupancy_s: float, no_show: bool) -> None:
        self.model.add_call(no_show)
        if not no_show:
            self.model.add_occupancy(cargo_type, counter_id, occupancy_s)


@dataclass(frozen=True)
class Errors:
    """Absolute errors of predicted call times, in seconds."""

    tickets: int
    mae_s: float
    p90_s: float
    bias_s: float  # mean of predicted - actual: positive when it predicts too late

    @classmethod
    def of(cls, predicted: list[float], actual: list[float]) -> Errors:
        error = np.array(predicted) - np.array(actual)
        if not error.size:
            return cls(0, float("nan"), float("nan"), float("nan"))
        absolute = np.abs(error)
        return cls(len(error), float(absolute.mean()), float(np.quantile(absolute, 0.9)), float(error.mean()))


AHEAD_S = 900.0  # the updated prediction a driver with 15 minutes to travel sets off on


@dataclass(frozen=True)
class Evaluation:
    profile: str
    seeds: tuple[int, ...]
    model: Errors
    naive: Errors
    mean_wait_s: float
    # the last prediction made at least AHEAD_S before the call, over tickets that waited that long
    model_ahead: Errors
    naive_ahead: Errors


def run_day(profile: DayProfile, seed: int, draws: int = DEFAULT_DRAWS) -> tuple[DayResult, Forecaster]:
    forecaster = Forecaster(profile.grace_s, draws)
    return simulate_day(profile, seed, forecaster), forecaster


def evaluate(profile_name: str, seeds: tuple[int, ...], draws: int = DEFAULT_DRAWS) -> Evaluation:
    """Errors of both predictors over the called tickets of the given days."""
    predicted: list[float] = []
    naive: list[float] = []
    actual: list[float] = []
    waits: list[float] = []
    ahead: tuple[list[float], list[float], list[float]] = ([], [], [])
    for seed in seeds:
        day, forecaster = run_day(PROFILES[profile_name], seed, draws)
        for ticket in day.tickets:
            call = ticket.first_call_at
            if (
                call is None
                or ticket.ticket_id not in forecaster.predicted
                or ticket.ticket_id not in forecaster.naive
            ):
                continue
            predicted.append(forecaster.predicted[ticket.ticket_id])
            naive.append(forecaster.naive[ticket.ticket_id])
            actual.append(call)
            waits.append(call - ticket.issued_at)
            early = [u for u in forecaster.updates.get(ticket.ticket_id, []) if u[0] <= call - AHEAD_S]
            if early:
                ahead[0].append(early[-1][1])
                ahead[1].append(early[-1][2])
                ahead[2].append(call)
    return Evaluation(
        profile_name,
        seeds,
        Errors.of(predicted, actual),
        Errors.of(naive, actual),
        float(np.mean(waits)) if waits else float("nan"),
        Errors.of(ahead[0], ahead[2]),
        Errors.of(ahead[1], ahead[2]),
    )
