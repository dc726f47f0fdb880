"""The air cargo queue's pure parts: settings, the occupancy model, predicted call times against
queueing theory (Erlang C for M/M/c)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smartcustoms.core.air_queue import (
    Counter,
    OccupancyModel,
    QueueError,
    QueueSettings,
    Waiting,
    erlang_c,
    mmc_mean_wait_s,
    naive_call_time,
    order_key,
    predict_call_times,
)

MEAN_S = 300.0


def exponential_model(samples: int = 4000, seed: int = 3) -> OccupancyModel:
    """A model that has seen exponential occupancies and no no-shows."""
    model = OccupancyModel()
    rng = np.random.default_rng(seed)
    for duration in rng.exponential(MEAN_S, samples):
        model.add_occupancy("general", "c1", float(duration))
        model.add_call(no_show=False)
    return model


def test_erlang_c_known_values() -> None:
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)
    assert mmc_mean_wait_s(0.5, 1.0, 1) == pytest.approx(1.0)  # rho / (mu - lambda)
    with pytest.raises(ValueError):
        erlang_c(2, 2.0)


def test_a_ticket_behind_k_others_waits_k_plus_one_services_over_c() -> None:
    """With c counters busy and memoryless occupancies, the k-th ticket waiting is called after
    (k + 1) / (c mu) on average, whatever the counters' elapsed times."""
    model = exponential_model()
    counters = [Counter(f"c{j}", "general", since=1000.0 - 50.0 * j) for j in range(3)]
    waiting = [Waiting(f"t{i}", "general", 3) for i in range(10)]
    calls = predict_call_times(1000.0, waiting, counters, model, grace_s=180.0, draws=4000)
    assert calls is not None
    for k, call in enumerate(calls):
        assert call - 1000.0 == pytest.approx((k + 1) * MEAN_S / 3, rel=0.06)


def test_mean_prediction_over_the_stationary_queue_is_the_erlang_c_wait() -> None:
    """Averaged over the states an arrival finds in M/M/c (PASTA), the predicted wait is Erlang C's."""
    servers, arrival_rate, service_rate = 3, 1 / 150.0, 1 / MEAN_S
    load = arrival_rate / service_rate
    model = exponential_model()
    states = np.arange(60)
    weight = np.array(
        [
            load**n / math.factorial(n)
            if n <= servers
            else load**servers / math.factorial(servers) * (load / servers) ** (n - servers)
            for n in states
        ]
    )
    weight /= weight.sum()
    expected = 0.0
    for n, w in zip(states, weight, strict=True):
        busy = min(n, servers)
        counters = [Counter(f"c{j}", "general" if j < busy else "", 0.0) for j in range(servers)]
        waiting = [Waiting(f"t{i}", "general", 3) for i in range(max(0, n - servers) + 1)]
        calls = predict_call_times(0.0, waiting, counters, model, grace_s=180.0, draws=1000, seed=int(n))
        assert calls is not None
        expected += w * calls[-1]
    assert expected == pytest.approx(mmc_mean_wait_s(arrival_rate, service_rate, servers), rel=0.05)


def test_no_counter_open_means_no_prediction_and_idle_counters_call_at_once() -> None:
    model = exponential_model(200)
    assert predict_call_times(0.0, [Waiting("t", "general", 3)], [], model, grace_s=180.0) is None
    calls = predict_call_times(5.0, [Waiting("t", "general", 3)], [Counter("c1")], model, grace_s=180.0)
    assert calls == [5.0]
    assert naive_call_time(0.0, 4, 300.0, 2) == 600.0
    assert naive_call_time(0.0, 4, 300.0, 0) is None


def test_more_urgent_arrivals_of_the_last_hour_push_a_general_ticket_back() -> None:
    model = exponential_model(500)
    counters = [Counter("c1", "general", 0.0)]
    waiting = [Waiting("t", "general", 3)]
    before = predict_call_times(3600.0, waiting, counters, model, grace_s=180.0, draws=2000)
    for minute in range(0, 60, 5):
        model.add_arrival(minute * 60.0, 0, "perishables")
    after = predict_call_times(3600.0, waiting, counters, model, grace_s=180.0, draws=2000)
    assert before is not None and after is not None
    assert after[0] > before[0] + 60.0
    perishable = predict_call_times(3600.0, [Waiting("p", "perishables", 0)], counters, model, grace_s=180.0)
    assert perishable is not None and perishable[0] < after[0]


def test_the_model_learns_cargo_types_and_counter_speeds() -> None:
    model = OccupancyModel()
    for _ in range(20):
        model.add_occupancy("general", "fast", 200.0)
        model.add_occupancy("general", "slow", 400.0)
        model.add_occupancy("dangerous_goods", "fast", 900.0)
    assert model.mean_occupancy_s("dangerous_goods") > 2 * model.mean_occupancy_s("general")
    fast, slow = model.speeds(["fast", "slow"])
    assert slow > 1.2 * fast
    assert model.speeds(["unknown"])[0] == 1.0
    assert model.mean_occupancy_s("perishables") == pytest.approx(model.mean_occupancy_s())  # falls back


def test_settings_check_cargo_types_and_travel_times() -> None:
    settings = QueueSettings()
    assert settings.rank("perishables") < settings.rank("general")
    with pytest.raises(QueueError, match="unknown cargo type 'frozen'"):
        settings.rank("frozen")
    for bad in (-1.0, math.nan, 10 * 3600.0):
        with pytest.raises(QueueError, match="travel time"):
            settings.check_travel(bad)
    assert order_key(0, 99) < order_key(1, 1) < order_key(1, 2)
