"""The air cargo clearance queue, pure: cargo types and priorities, the order of the queue, a model of
counter occupancy learned from the day's history, predicted call times, and queueing theory to check
them against (Erlang C for M/M/c).

Drivers of freight forwarders take a ticket for collecting cargo. The queue is served in priority order
(a lower rank first; ``QueueSettings.priorities`` maps each cargo type to its rank) and, within a rank, in
the order tickets joined. A counter is *occupied* by a ticket from the moment the ticket is called until
the counter calls the next one: that occupancy (walking up, checks, release) is what the model learns, by
cargo type and counter. A driver who does not come within ``grace_s`` of being called is a no-show: the
counter skips to the next ticket, and the driver may rejoin once, at the back of the ticket's rank.

Predicted call times (``predict_call_times``) are the mean over ``draws`` simulated futures of the
queue: each busy counter frees after a residual occupancy drawn from the learned occupancies longer than
what has already elapsed, then the waiting tickets go in order to the first free counter, each occupying
it for a drawn occupancy (a drawn no-show occupies it for the grace time). Tickets of a more urgent rank
that have not arrived yet go ahead too: each drawn future has Poisson arrivals of those ranks at the rates
of the last hour over the next ``FUTURE_HORIZON_S``, served before the ticket when they are there as a
counter frees. For Poisson arrivals and exponential
occupancies the mean prediction is the M/M/c wait (tests check it against ``mmc_mean_wait_s``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

CARGO_TYPES = ("general", "perishables", "dangerous_goods", "express")
# Lower rank is called first; configurable per terminal (``QueueSettings.priorities``).
DEFAULT_PRIORITIES: Mapping[str, int] = {"perishables": 0, "dangerous_goods": 1, "express": 2, "general": 3}
DEFAULT_OCCUPANCY_S = 300.0  # what a counter's occupancy is assumed to be before the day has any
MIN_SAMPLES = 5  # occupancies of a cargo type before its own distribution is used
PRIOR_WEIGHT = 10.0  # pseudo-occupancies pulling a counter's speed towards 1
NO_SHOW_PRIOR = (1.0, 20.0)  # no-shows, calls: a prior no-show rate of 5%
RATE_WINDOW_S = 3600.0  # arrivals of more urgent ranks counted over this last stretch
# Future arrivals of more urgent ranks are drawn this far ahead only: the last hour's rates say less and
# less about later (rushes end, counters change). Chosen on the simulator's "main" days, seeds 1-8: 600 s
# kept the error at issue of 900 s and cut the error 15 minutes before the call by a fifth.
FUTURE_HORIZON_S = 600.0
DEFAULT_DRAWS = 128


class QueueError(ValueError):
    """A request the queue cannot take (unknown cargo type, bad settings): the message says why."""


@dataclass(frozen=True)
class QueueSettings:
    """A terminal's rules: ranks per cargo type, the no-show grace time, how early to tell drivers to set
    off (on top of their own travel estimate), and how many times a no-show may rejoin."""

    priorities: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    grace_s: float = 180.0
    set_off_margin_s: float = 300.0
    max_rejoins: int = 1
    max_travel_s: float = 4 * 3600.0

    def rank(self, cargo_type: str) -> int:
        """The rank of a cargo type; QueueError for a type the terminal does not know."""
        if cargo_type not in self.priorities:
            known = ", ".join(sorted(self.priorities))
            raise QueueError(f"unknown cargo type {cargo_type!r} (known: {known})")
        return self.priorities[cargo_type]

    def check_travel(self, travel_s: float) -> float:
        if not math.isfinite(travel_s) or not 0 <= travel_s <= self.max_travel_s:
            raise QueueError(f"travel time must be between 0 and {self.max_travel_s:.0f} s, got {travel_s}")
        return float(travel_s)


SETTING_BOUNDS: Mapping[str, tuple[float, float]] = {
    "grace_s": (30.0, 3600.0),
    "set_off_margin_s": (0.0, 3600.0),
    "max_rejoins": (0, 3),
    "max_travel_s": (600.0, 12 * 3600.0),
}


def settings_from(values: Mapping[str, object]) -> QueueSettings:
    """Settings from what an operator gave (as stored, or as changed), checked; QueueError says what is
    wrong. ``priorities`` maps 1-12 cargo types (lower-case names) to ranks 0-9."""
    known = {"priorities", *SETTING_BOUNDS}
    if unknown := sorted(set(values) - known):
        raise QueueError(f"unknown queue settings {unknown} (known: {sorted(known)})")
    fields: dict[str, object] = {}
    if "priorities" in values:
        priorities = values["priorities"]
        if not isinstance(priorities, Mapping) or not 1 <= len(priorities) <= 12:
            raise QueueError("priorities must map 1-12 cargo types to ranks")
        for cargo, rank in priorities.items():
            if not (isinstance(cargo, str) and cargo.replace("_", "").isalpha() and cargo.islower()):
                raise QueueError(f"a cargo type is a lower-case name, got {cargo!r}")
            if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank <= 9:
                raise QueueError(f"the rank of {cargo} must be a whole number 0-9, got {rank!r}")
        fields["priorities"] = dict(priorities)
    for name, (low, high) in SETTING_BOUNDS.items():
        if name in values:
            value = values[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise QueueError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
            fields[name] = int(value) if name == "max_rejoins" else float(value)
    return QueueSettings(**fields)  # type: ignore[arg-type]  # checked field by field above


def order_key(rank: int, joined_seq: int) -> float:
    """The sort key of a waiting ticket: rank first, then the order it joined (or rejoined) in."""
    return rank * 1e12 + joined_seq


@dataclass(frozen=True)
class Waiting:
    """A ticket in the queue, in queue order."""

    ticket_id: str
    cargo_type: str
    rank: int


@dataclass(frozen=True)
class Counter:
    """An open counter: idle, or occupied by a ticket of ``cargo_type`` since ``since`` (unix s)."""

    counter_id: str
    cargo_type: str = ""
    since: float = 0.0

    @property
    def busy(self) -> bool:
        return bool(self.cargo_type)


class OccupancyModel:
    """Counter occupancy learned from the day's history: per cargo type an empirical distribution, scaled
    by a per-counter speed (the counter's occupancies over what its cargo types take elsewhere, shrunk
    towards 1); the no-show rate; arrivals by rank, for the load of more urgent ranks."""

    def __init__(self, default_occupancy_s: float = DEFAULT_OCCUPANCY_S) -> None:
        self.default_occupancy_s = default_occupancy_s
        self._by_cargo: dict[str, list[float]] = {}
        self._by_counter: dict[str, list[tuple[str, float]]] = {}
        self._arrivals: list[tuple[float, int, str]] = []
        self.no_shows = 0
        self.calls = 0
        self._pools: dict[str, np.ndarray] | None = None
        self._speeds: dict[str, float] | None = None

    # ------------------------------------------------------------------ learning

    def add_occupancy(self, cargo_type: str, counter_id: str, duration_s: float) -> None:
        self._by_cargo.setdefault(cargo_type, []).append(max(1.0, duration_s))
        self._by_counter.setdefault(counter_id, []).append((cargo_type, max(1.0, duration_s)))
        self._pools = self._speeds = None

    def add_call(self, no_show: bool) -> None:
        self.calls += 1
        self.no_shows += int(no_show)

    def add_arrival(self, time_s: float, rank: int, cargo_type: str) -> None:
        self._arrivals.append((time_s, rank, cargo_type))

    # ------------------------------------------------------------------ what it learned

    @property
    def samples(self) -> int:
        return sum(len(v) for v in self._by_cargo.values())

    @property
    def no_show_rate(self) -> float:
        prior_no_shows, prior_calls = NO_SHOW_PRIOR
        return (self.no_shows + prior_no_shows) / (self.calls + prior_calls)

    def mean_occupancy_s(self, cargo_type: str = "", counter_id: str = "") -> float:
        pool = self._pool(cargo_type) if cargo_type else self._all()
        mean = float(pool.mean()) if pool.size else self.default_occupancy_s
        return mean * (self._speed(counter_id) if counter_id else 1.0)

    def recent_arrivals(self, now: float) -> dict[int, tuple[float, list[str]]]:
        """Per rank: tickets per second over the last ``RATE_WINDOW_S`` (or since the first ticket, at
        least 10 minutes) and their cargo types."""
        if not self._arrivals:
            return {}
        start = max(now - RATE_WINDOW_S, self._arrivals[0][0])
        span = max(now - start, 600.0)
        found: dict[int, tuple[float, list[str]]] = {}
        for time_s, rank, cargo_type in self._arrivals:
            if time_s >= start:
                rate, kinds = found.get(rank, (0.0, []))
                found[rank] = (rate + 1.0 / span, [*kinds, cargo_type])
        return found

    def draw(self, cargo_type: str, size: int, rng: np.random.Generator) -> np.ndarray:
        """``size`` occupancies of a ticket of ``cargo_type`` at a counter of speed 1."""
        pool = self._pool(cargo_type)
        if pool.size:
            return rng.choice(pool, size)
        return rng.exponential(self.default_occupancy_s, size)

    def draw_residual(
        self, cargo_type: str, counter_id: str, elapsed_s: float, size: int, rng: np.random.Generator
    ) -> np.ndarray:
        """What is left of an occupancy that has lasted ``elapsed_s``: drawn from the occupancies longer
        than that, less it (memoryless when nothing is known yet)."""
        speed = self._speed(counter_id)
        pool = self._pool(cargo_type) * speed
        if not pool.size:
            return rng.exponential(self.default_occupancy_s * speed, size)
        longer = pool[pool > elapsed_s]
        if longer.size:
            return rng.choice(longer, size) - elapsed_s
        return np.full(size, 0.25 * float(pool.mean()))  # overdue: it ends soon, but not at once

    def speeds(self, counter_ids: Sequence[str]) -> np.ndarray:
        return np.array([self._speed(c) for c in counter_ids])

    def _all(self) -> np.ndarray:
        return np.concatenate([self._pool(c) for c in self._by_cargo]) if self._by_cargo else np.empty(0)

    def _pool(self, cargo_type: str) -> np.ndarray:
        if self._pools is None:
            everything = [d for v in self._by_cargo.values() for d in v]
            self._pools = {"": np.array(everything if len(everything) >= MIN_SAMPLES else [])}
            for cargo, durations in self._by_cargo.items():
                self._pools[cargo] = np.array(durations if len(durations) >= MIN_SAMPLES else [])
        found = self._pools.get(cargo_type)
        if found is not None and found.size:
            return found
        return self._pools[""]

    def _speed(self, counter_id: str) -> float:
        if self._speeds is None:
            self._speeds = {}
            for counter, seen in self._by_counter.items():
                expected = sum(
                    float(self._pool(cargo).mean()) if self._pool(cargo).size else d for cargo, d in seen
                )
                observed = sum(d for _, d in seen)
                unit = expected / len(seen)
                self._speeds[counter] = (observed + PRIOR_WEIGHT * unit) / (expected + PRIOR_WEIGHT * unit)
        return self._speeds.get(counter_id, 1.0)


def predict_call_times(
    now: float,
    waiting: Sequence[Waiting],
    counters: Sequence[Counter],
    model: OccupancyModel,
    *,
    grace_s: float,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> list[float] | None:
    """The predicted call time (unix s) of each waiting ticket, in queue order; None with no counter open."""
    if not counters:
        return None
    rng = np.random.default_rng(seed)
    speeds = model.speeds([c.counter_id for c in counters])
    free = np.empty((draws, len(counters)))
    for j, counter in enumerate(counters):
        if counter.busy:
            elapsed = max(0.0, now - counter.since)
            free[:, j] = now + model.draw_residual(
                counter.cargo_type, counter.counter_id, elapsed, draws, rng
            )
        else:
            free[:, j] = now
    future = _future_arrivals(now, max((t.rank for t in waiting), default=0), model, draws, rng)
    return _run_futures(waiting, free, speeds, future, model, grace_s, rng)


@dataclass
class _Arrivals:
    """Future tickets of one rank in each drawn future: arrival times and occupancies, a pointer each."""

    times: np.ndarray  # (draws, n), rising, inf past the horizon
    occupancy: np.ndarray  # (draws, n)
    next: np.ndarray  # (draws,)

    def head(self, rows: np.ndarray) -> np.ndarray:
        head: np.ndarray = self.times[rows, np.minimum(self.next, self.times.shape[1] - 1)]
        return head


def _future_arrivals(
    now: float, below_rank: int, model: OccupancyModel, draws: int, rng: np.random.Generator
) -> dict[int, _Arrivals]:
    """Poisson arrivals over the next ``FUTURE_HORIZON_S`` of the ranks more urgent than ``below_rank``,
    at the rates of the last hour."""
    future: dict[int, _Arrivals] = {}
    for rank, (rate, cargo_types) in model.recent_arrivals(now).items():
        if rank >= below_rank or rate <= 0:
            continue
        expected = rate * FUTURE_HORIZON_S
        n = int(expected + 5 * math.sqrt(expected) + 5)
        times = now + np.cumsum(rng.exponential(1.0 / rate, (draws, n)), axis=1)
        times[times > now + FUTURE_HORIZON_S] = np.inf
        times = np.concatenate([times, np.full((draws, 1), np.inf)], axis=1)  # the pointer stops here
        cargo = rng.choice(np.array(cargo_types), draws * n)
        occupancy = np.empty(draws * n)
        for kind in set(cargo_types):
            mask = cargo == kind
            occupancy[mask] = model.draw(kind, int(mask.sum()), rng)
        occupancy = np.concatenate([occupancy.reshape(draws, n), np.zeros((draws, 1))], axis=1)
        future[rank] = _Arrivals(times, occupancy, np.zeros(draws, dtype=int))
    return future


def _run_futures(
    waiting: Sequence[Waiting],
    free: np.ndarray,
    speeds: np.ndarray,
    future: dict[int, _Arrivals],
    model: OccupancyModel,
    grace_s: float,
    rng: np.random.Generator,
) -> list[float]:
    """Serve the queue in every drawn future at once: at each step a draw's earliest free counter takes
    the most urgent future arrival already there and more urgent than the draw's next waiting ticket,
    else that ticket; returns the mean call time of each waiting ticket."""
    draws = free.shape[0]
    rows = np.arange(draws)
    ranks = np.array([t.rank for t in waiting] + [-1])
    position = np.zeros(draws, dtype=int)  # the next waiting ticket of each draw
    calls = np.zeros((draws, len(waiting)))
    no_show = model.no_show_rate
    occupancy = np.stack([model.draw(t.cargo_type, draws, rng) for t in waiting], axis=1) if waiting else None
    shows = rng.random((draws, max(1, len(waiting)))) >= no_show
    while (active := position < len(waiting)).any():
        first = free.argmin(axis=1)
        at = free[rows, first]
        taken = np.zeros(draws, dtype=bool)
        length = np.zeros(draws)
        for rank in sorted(future):
            arrivals = future[rank]
            takes = active & ~taken & (rank < ranks[position]) & (arrivals.head(rows) <= at)
            if takes.any():
                index = np.minimum(arrivals.next, arrivals.times.shape[1] - 1)
                length[takes] = arrivals.occupancy[rows, index][takes]
                arrivals.next[takes] += 1
                taken |= takes
        ticket = active & ~taken
        if ticket.any() and occupancy is not None:
            index = np.minimum(position, len(waiting) - 1)
            calls[rows[ticket], index[ticket]] = at[ticket]
            length[ticket] = np.where(shows[rows, index], occupancy[rows, index], grace_s)[ticket]
            position[ticket] += 1
        busy = taken | ticket
        free[rows[busy], first[busy]] = at[busy] + length[busy] * speeds[first[busy]]
    return [float(c) for c in calls.mean(axis=0)]


def naive_call_time(now: float, place: int, mean_occupancy_s: float, open_counters: int) -> float | None:
    """The baseline: place x mean occupancy / open counters (place 1 is next)."""
    if open_counters <= 0:
        return None
    return now + place * mean_occupancy_s / open_counters


def set_off_at(predicted_call_s: float, travel_s: float, settings: QueueSettings) -> float:
    """When a driver should set off to be at the counter when called."""
    return predicted_call_s - travel_s - settings.set_off_margin_s


# --------------------------------------------------------------------------- queueing theory


def erlang_c(servers: int, offered_load: float) -> float:
    """The probability that an arrival waits in an M/M/c queue (Erlang's C formula); ``offered_load`` is
    arrival rate / service rate and must be below ``servers``."""
    if servers < 1 or not 0 <= offered_load < servers:
        raise ValueError(f"need 0 <= load < servers, got load {offered_load} on {servers} servers")
    term, total = 1.0, 1.0  # a^k / k!, summed for k < c
    for k in range(1, servers):
        term *= offered_load / k
        total += term
    top = term * offered_load / servers / (1.0 - offered_load / servers)  # a^c / c! * c / (c - a)
    return top / (total + top)


def mmc_mean_wait_s(arrival_rate: float, service_rate: float, servers: int) -> float:
    """The mean wait in queue of M/M/c: C(c, a) / (c mu - lambda)."""
    load = arrival_rate / service_rate
    return erlang_c(servers, load) / (servers * service_rate - arrival_rate)
