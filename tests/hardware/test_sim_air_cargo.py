"""The air cargo terminal simulator: deterministic days that follow their schedule and the queue's
rules, predictions calibrated on a steady M/M/c day, and ``smartcustoms eval queue``."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from smartcustoms.core.air_queue import Counter, Waiting
from smartcustoms.hardware.sim.air_cargo import HOUR_S, PROFILES, simulate_day
from smartcustoms.plugins.air_queue.tools.evaluate import run_day
from smartcustoms.runtime.cli import main


class Recorder:
    def __init__(self) -> None:
        self.open_counts: list[tuple[float, int]] = []
        self.calls: list[tuple[float, str]] = []
        self.endings: list[bool] = []

    def issued(
        self,
        now: float,
        ticket_id: str,
        cargo_type: str,
        rank: int,
        waiting: list[Waiting],
        counters: list[Counter],
    ) -> None:
        self.open_counts.append((now, len(counters)))

    def called(self, now: float, ticket_id: str, counter_id: str) -> None:
        self.calls.append((now, ticket_id))

    def ended(self, now: float, cargo_type: str, counter_id: str, occupancy_s: float, no_show: bool) -> None:
        self.endings.append(no_show)


def test_a_day_is_deterministic_and_follows_its_schedule() -> None:
    profile = PROFILES["main"]
    recorder = Recorder()
    day = simulate_day(profile, seed=5, observer=recorder)
    again = simulate_day(profile, seed=5)
    assert [(t.ticket_id, t.cargo_type, t.first_call_at) for t in day.tickets] == [
        (t.ticket_id, t.cargo_type, t.first_call_at) for t in again.tickets
    ]
    assert 200 < len(day.tickets) < 400
    schedule = dict(profile.counters_open)
    for now, open_counters in recorder.open_counts:
        hour = max(h for h in schedule if h * HOUR_S <= now)
        assert open_counters == schedule[hour]
    called = [t for t in day.tickets if t.first_call_at is not None]
    assert all(t.first_call_at >= t.issued_at for t in called)  # type: ignore[operator]
    assert {t.ticket_id for t in day.tickets if t.cancelled}.isdisjoint({t for _, t in recorder.calls})
    calls_per_ticket = np.bincount([int(t[1:]) for _, t in recorder.calls])
    assert calls_per_ticket.max() == 2  # a no-show who rejoined is called a second time, never a third
    assert 0 < sum(recorder.endings) < 0.15 * len(recorder.endings)


def test_predictions_are_calibrated_on_a_steady_mmc_day() -> None:
    """Steady Poisson arrivals and exponential occupancies: the mean predicted wait is the mean wait."""
    profile = dataclasses.replace(PROFILES["mmc"], arrivals_per_hour=(24.0,) * 24)
    predicted, actual = [], []
    for seed in (1, 2):
        day, forecaster = run_day(profile, seed, draws=64)
        for ticket in day.tickets:
            if ticket.first_call_at is not None:
                predicted.append(forecaster.predicted[ticket.ticket_id] - ticket.issued_at)
                actual.append(ticket.first_call_at - ticket.issued_at)
    assert np.mean(predicted) == pytest.approx(np.mean(actual), rel=0.1)


def test_eval_queue_prints_both_predictors_on_both_generators(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["eval", "queue", "--days", "1", "--json"])
    assert done.value.code == 0
    figures = json.loads(capsys.readouterr().out)
    assert [f["generator"] for f in figures] == ["main", "alt"]
    for f in figures:
        assert f["seeds"] == [1000]
        assert f["model"]["tickets"] == f["naive"]["tickets"] > 100
        assert f["model"]["mae_s"] > 0 and f["model"]["p90_s"] >= f["model"]["mae_s"] * 0.9
    with pytest.raises(SystemExit) as refused:
        main(["eval", "queue", "--seed", "3"])
    assert refused.value.code == 2  # tuning seeds are refused
