"""The supervisor's decisions, on a stack of stand-ins and a clock the test moves."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import pytest

from smartcustoms.runtime.supervisor import GaveUpError, RestartPolicy, Supervisor

POLICY = RestartPolicy(interval_s=0.1, initial_backoff_s=1.0, max_backoff_s=4.0, budget=3, window_s=100.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Children:
    """Roles that are alive or dead; a restart brings one back unless it is set to fail."""

    def __init__(self, *roles: str) -> None:
        self.alive = dict.fromkeys(roles, True)
        self.failing: set[str] = set()
        self.attempts: list[str] = []

    def running(self) -> Mapping[str, bool]:
        return dict(self.alive)

    def restart(self, role: str) -> None:
        self.attempts.append(role)
        if role in self.failing:
            raise RuntimeError(f"{role} exited before it was ready")
        self.alive[role] = True


def test_a_dead_child_is_restarted_and_reported() -> None:
    children, clock = Children("broker", "redis", "gateway", "worker"), Clock()
    reported: list[tuple[str, int]] = []
    supervisor = Supervisor(
        children, POLICY, on_restart=lambda r, _s, n: reported.append((r, n)), clock=clock
    )
    assert supervisor.check() == []
    children.alive["worker"] = False
    assert supervisor.check() == ["worker"]
    assert children.alive["worker"] and reported == [("worker", 1)]
    assert supervisor.check() == []  # alive again: nothing more to do


def test_services_are_restarted_in_start_order() -> None:
    """Redis before the gateway that needs it: the order of ``running()`` is the stack's start order."""
    children = Children("broker", "redis", "gateway", "worker")
    children.alive.update(worker=False, redis=False)
    assert Supervisor(children, POLICY, clock=Clock()).check() == ["redis", "worker"]


def test_a_failed_restart_backs_off_exponentially_up_to_the_cap() -> None:
    children, clock = Children("worker"), Clock()
    children.failing.add("worker")
    children.alive["worker"] = False
    supervisor = Supervisor(
        children, RestartPolicy(budget=100, initial_backoff_s=1.0, max_backoff_s=4.0), clock=clock
    )
    tries_at = []
    for tick in range(200):  # 20 s in steps of 0.1 s
        clock.now = tick / 10
        before = len(children.attempts)
        supervisor.check()
        if len(children.attempts) > before:
            tries_at.append(clock.now)
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(tries_at)]
    assert gaps[:4] == [1.0, 2.0, 4.0, 4.0]  # doubled, then capped at max_backoff_s


def test_a_crash_loop_past_the_budget_gives_up() -> None:
    children, clock = Children("gateway"), Clock()
    supervisor = Supervisor(children, POLICY, clock=clock)
    for _ in range(POLICY.budget):
        children.alive["gateway"] = False
        clock.now += 1
        assert supervisor.check() == ["gateway"]
    children.alive["gateway"] = False
    clock.now += 1
    with pytest.raises(GaveUpError, match="gateway died 4 times within 100 s"):
        supervisor.check()


def test_restarts_outside_the_window_do_not_count_against_the_budget() -> None:
    children, clock = Children("worker"), Clock()
    supervisor = Supervisor(children, POLICY, clock=clock)
    for _ in range(3 * POLICY.budget):
        children.alive["worker"] = False
        clock.now += POLICY.window_s / 2  # at most two restarts inside any window
        assert supervisor.check() == ["worker"]
    assert supervisor.total == {"worker": 3 * POLICY.budget}
