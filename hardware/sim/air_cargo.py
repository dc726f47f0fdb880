"""A day at the air cargo terminal's collection counters, as a discrete-event simulation (simpy).

Drivers take tickets through the day (a Poisson process whose rate changes by the hour: rush hours),
each for one cargo type; counters open and close on a schedule; a counter is occupied by a ticket from
its call until it calls the next one, for a time drawn per cargo type and scaled by the counter's speed.
A share of drivers do not come when called: the counter waits the grace time and calls the next ticket,
and some of those drivers rejoin (once, at the back of their rank). Some cancel while they wait.

The queue discipline is the service's (``smartcustoms.core.air_queue``: rank, then order joined). What
happens is reported to an ``Observer`` as it happens (a ticket issued with the queue and counters as
they stand, a call, an occupancy ended), so a forecaster sees exactly what the live service would; the
returned ``DayResult`` holds each ticket's truth (its first call time, whether it was a no-show).

Two generators of days: ``PROFILES["main"]`` (gamma occupancies, morning and afternoon rushes) is the
one predictions are tuned on; ``PROFILES["alt"]`` (lognormal occupancies with a heavier tail, one long
midday peak, other counter speeds and schedule) is kept for checking only. ``PROFILES["mmc"]`` is a
steady M/M/c queue for checks against Erlang C.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import simpy

from smartcustoms.core.air_queue import DEFAULT_PRIORITIES, Counter, Waiting, order_key

HOUR_S = 3600.0
Process = Generator[simpy.Event, Any, None]  # a simpy process


@dataclass(frozen=True)
class DayProfile:
    """How a day goes: arrivals per hour of the day, the cargo mix, occupancies, counters, drivers."""

    name: str
    arrivals_per_hour: tuple[float, ...]  # one rate per hour of the day; the day lasts this many hours
    cargo_mix: Mapping[str, float]
    mean_occupancy_s: Mapping[str, float]
    occupancy: str  # "gamma", "lognormal" or "exponential"
    occupancy_cv: float
    counter_speeds: tuple[float, ...]  # one per counter: occupancy multiplier
    counters_open: tuple[tuple[float, int], ...]  # (from hour, counters open)
    no_show_rate: float = 0.06
    rejoin_rate: float = 0.5
    cancel_rate: float = 0.03
    grace_s: float = 180.0
    priorities: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PRIORITIES))

    @property
    def hours(self) -> int:
        return len(self.arrivals_per_hour)


PROFILES: dict[str, DayProfile] = {
    "main": DayProfile(
        name="main",
        arrivals_per_hour=(20, 38, 44, 30, 22, 18, 26, 40, 36, 20),
        cargo_mix={"general": 0.62, "express": 0.18, "perishables": 0.12, "dangerous_goods": 0.08},
        mean_occupancy_s={"general": 420, "express": 300, "perishables": 360, "dangerous_goods": 720},
        occupancy="gamma",
        occupancy_cv=0.6,
        counter_speeds=(1.0, 0.9, 1.15, 1.0, 1.3),
        counters_open=((0, 3), (1, 5), (3, 4), (4, 3), (6, 4), (7, 5), (9, 3)),
    ),
    "alt": DayProfile(
        name="alt",
        arrivals_per_hour=(12, 18, 24, 34, 42, 42, 34, 22, 16, 10),
        cargo_mix={"general": 0.5, "express": 0.25, "perishables": 0.15, "dangerous_goods": 0.10},
        mean_occupancy_s={"general": 360, "express": 240, "perishables": 420, "dangerous_goods": 900},
        occupancy="lognormal",
        occupancy_cv=0.9,
        counter_speeds=(1.2, 0.85, 1.0, 1.1, 0.95, 1.4),
        counters_open=((0, 2), (2, 4), (3, 5), (5, 6), (7, 4), (8, 3)),
        no_show_rate=0.1,
        rejoin_rate=0.3,
        cancel_rate=0.05,
        grace_s=240.0,
    ),
    "mmc": DayProfile(
        name="mmc",
        arrivals_per_hour=(30.0,) * 40,
        cargo_mix={"general": 1.0},
        mean_occupancy_s={"general": 300},
        occupancy="exponential",
        occupancy_cv=1.0,
        counter_speeds=(1.0, 1.0, 1.0),
        counters_open=((0, 3),),
        no_show_rate=0.0,
        rejoin_rate=0.0,
        cancel_rate=0.0,
    ),
}


class Observer(Protocol):
    """What a forecaster is told as the day goes (times in seconds from the start of the day)."""

    def issued(
        self,
        now: float,
        ticket_id: str,
        cargo_type: str,
        rank: int,
        waiting: list[Waiting],
        counters: list[Counter],
    ) -> None: ...

    def called(self, now: float, ticket_id: str, counter_id: str) -> None: ...

    def ended(
        self, now: float, cargo_type: str, counter_id: str, occupancy_s: float, no_show: bool
    ) -> None: ...


@dataclass
class SimTicket:
    ticket_id: str
    cargo_type: str
    rank: int
    issued_at: float
    no_show: bool  # the driver will not come when first called
    joined_seq: int
    first_call_at: float | None = None
    cancelled: bool = False
    done: bool = False


@dataclass
class DayResult:
    profile: str
    seed: int
    tickets: list[SimTicket]
    day_s: float


class _Day:
    def __init__(self, profile: DayProfile, seed: int, observer: Observer | None) -> None:
        self.profile = profile
        self.rng = np.random.default_rng([seed, 7])
        self.env = simpy.Environment()
        self.observer = observer
        self.tickets: list[SimTicket] = []
        self.waiting: dict[str, SimTicket] = {}
        self.seq = 0
        self.open = [False] * len(profile.counter_speeds)
        self.busy: dict[int, tuple[str, float]] = {}
        self.wakeup = self.env.event()

    # -------------------------------------------------------------- processes

    def arrivals(self) -> Process:
        peak = max(self.profile.arrivals_per_hour) / HOUR_S
        end = self.profile.hours * HOUR_S
        cargo = list(self.profile.cargo_mix)
        weights = np.array([self.profile.cargo_mix[c] for c in cargo])
        while True:
            yield self.env.timeout(self.rng.exponential(1.0 / peak))
            if self.env.now >= end:
                return
            rate = self.profile.arrivals_per_hour[int(self.env.now // HOUR_S)] / HOUR_S
            if self.rng.random() < rate / peak:  # thinning: a Poisson process of the hour's rate
                self._issue(cargo[int(self.rng.choice(len(cargo), p=weights / weights.sum()))])

    def schedule(self) -> Process:
        for from_hour, count in self.profile.counters_open:
            yield self.env.timeout(max(0.0, from_hour * HOUR_S - self.env.now))
            for j in range(len(self.open)):
                self.open[j] = j < count
            self._wake()

    def counter(self, j: int) -> Process:
        counter_id = f"c{j + 1}"
        while True:
            ticket = self._next() if self.open[j] else None
            if ticket is None:
                yield self.wakeup
                continue
            now = self.env.now
            if ticket.first_call_at is None:
                ticket.first_call_at = now
            if self.observer:
                self.observer.called(now, ticket.ticket_id, counter_id)
            self.busy[j] = (ticket.cargo_type, now)
            if ticket.no_show:
                yield self.env.timeout(self.profile.grace_s)
                ticket.no_show = False  # if the driver rejoins, the driver comes next time
                if self.rng.random() < self.profile.rejoin_rate:
                    self.env.process(self._rejoin(ticket))
                occupancy, no_show = self.profile.grace_s, True
            else:
                occupancy = self._occupancy(ticket.cargo_type) * self.profile.counter_speeds[j]
                yield self.env.timeout(occupancy)
                ticket.done, no_show = True, False
            del self.busy[j]
            if self.observer:
                self.observer.ended(self.env.now, ticket.cargo_type, counter_id, occupancy, no_show)

    # -------------------------------------------------------------- helpers

    def _issue(self, cargo_type: str) -> None:
        ticket = SimTicket(
            ticket_id=f"t{len(self.tickets) + 1}",
            cargo_type=cargo_type,
            rank=self.profile.priorities[cargo_type],
            issued_at=self.env.now,
            no_show=bool(self.rng.random() < self.profile.no_show_rate),
            joined_seq=self._seq(),
        )
        self.tickets.append(ticket)
        self.waiting[ticket.ticket_id] = ticket
        if self.observer:
            self.observer.issued(
                self.env.now, ticket.ticket_id, cargo_type, ticket.rank, self._waiting(), self._counters()
            )
        if self.rng.random() < self.profile.cancel_rate:
            self.env.process(self._cancel(ticket, self.rng.uniform(0, HOUR_S)))
        self._wake()

    def _cancel(self, ticket: SimTicket, after_s: float) -> Process:
        yield self.env.timeout(after_s)
        if self.waiting.pop(ticket.ticket_id, None) is not None:
            ticket.cancelled = True

    def _rejoin(self, ticket: SimTicket) -> Process:
        yield self.env.timeout(self.rng.uniform(300, 1800))
        ticket.joined_seq = self._seq()
        self.waiting[ticket.ticket_id] = ticket
        self._wake()

    def _next(self) -> SimTicket | None:
        if not self.waiting:
            return None
        first = min(self.waiting.values(), key=lambda t: order_key(t.rank, t.joined_seq))
        return self.waiting.pop(first.ticket_id)

    def _waiting(self) -> list[Waiting]:
        ordered = sorted(self.waiting.values(), key=lambda t: order_key(t.rank, t.joined_seq))
        return [Waiting(t.ticket_id, t.cargo_type, t.rank) for t in ordered]

    def _counters(self) -> list[Counter]:
        counters = []
        for j, is_open in enumerate(self.open):
            if is_open:
                cargo, since = self.busy.get(j, ("", 0.0))
                counters.append(Counter(f"c{j + 1}", cargo, since))
        return counters

    def _occupancy(self, cargo_type: str) -> float:
        mean = self.profile.mean_occupancy_s[cargo_type]
        cv = self.profile.occupancy_cv
        if self.profile.occupancy == "exponential":
            return float(self.rng.exponential(mean))
        if self.profile.occupancy == "lognormal":
            sigma = math.sqrt(math.log(1 + cv * cv))
            return float(self.rng.lognormal(math.log(mean) - sigma * sigma / 2, sigma))
        shape = 1.0 / (cv * cv)
        return float(self.rng.gamma(shape, mean / shape))

    def _seq(self) -> int:
        self.seq += 1
        return self.seq

    def _wake(self) -> None:
        if not self.wakeup.triggered:
            self.wakeup.succeed()
        self.wakeup = self.env.event()


def simulate_day(profile: DayProfile, seed: int, observer: Observer | None = None) -> DayResult:
    """Run one day (plus the time to serve whoever is still waiting at closing)."""
    day = _Day(profile, seed, observer)
    day.env.process(day.arrivals())
    day.env.process(day.schedule())
    for j in range(len(profile.counter_speeds)):
        day.env.process(day.counter(j))
    day.env.run(until=(profile.hours + 6) * HOUR_S)
    return DayResult(profile.name, seed, day.tickets, profile.hours * HOUR_S)
