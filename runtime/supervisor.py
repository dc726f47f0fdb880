"""Keeps a one-machine runtime alive: a child that dies is reaped and started again.

``smartcustoms up`` runs a ``Supervisor`` over its ``Stack``: every ``interval_s`` it looks at each
process the stack started (embedded broker and Redis, gateway, worker), and restarts a dead one on its
own ports and data, with exponential backoff between failed attempts and a restart budget per window.
A service that keeps dying past its budget stops the supervisor (and so ``up``), loudly: a crash loop is
an operator's problem, not one to hide. Each restart is logged, printed, and counted in Redis
(``restarts`` below), which the gateway exports as ``smartcustoms_service_restarts_total{service}``.

In production the same job falls to systemd (``docs/deploy.md``: ``Restart=on-failure`` with a start
limit); this is its equivalent for the embedded, one-command runtime.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import redis
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from smartcustoms.core.keys import redis_prefix
from smartcustoms.core.metrics import SERVICE_RESTARTS

__all__ = [
    "SERVICES",
    "GaveUpError",
    "RestartCollector",
    "RestartPolicy",
    "Supervisor",
    "count_restart",
    "restarts",
    "restarts_key",
]

log = logging.getLogger(__name__)


SERVICES = ("broker", "redis", "gateway", "worker")  # what a one-machine runtime runs, in start order


def restarts_key(namespace: str) -> str:
    """Hash of service role -> restarts made by a supervisor (read by the gateway's metrics)."""
    return f"{redis_prefix(namespace)}supervisor:restarts"


def restarts(client: redis.Redis, namespace: str) -> dict[str, int]:
    found = client.hgetall(restarts_key(namespace))
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in found.items()}


class GaveUpError(RuntimeError):
    """A service died more often than its restart budget allows."""


@dataclass(frozen=True)
class RestartPolicy:
    interval_s: float = 0.1  # how often the children are looked at (a waitpid each: cheap)
    initial_backoff_s: float = 1.0  # wait before a second attempt after a failed restart; doubles
    max_backoff_s: float = 30.0
    budget: int = 5  # restarts of one service allowed per window ...
    window_s: float = 600.0  # ... of this many seconds


class Supervisable(Protocol):
    """What the supervisor needs of a stack (``smartcustoms.runtime.stack.Stack``)."""

    def running(self) -> Mapping[str, bool]: ...

    def restart(self, role: str) -> None: ...


@dataclass
class _Track:
    restarts: list[float] = field(default_factory=list)  # times of restarts inside the window
    failures: int = 0  # failed attempts in a row
    next_try: float = 0.0


class Supervisor:
    """Restart dead children of ``stack`` in start order (broker and Redis before what needs them)."""

    def __init__(
        self,
        stack: Supervisable,
        policy: RestartPolicy = RestartPolicy(),
        *,
        on_restart: Callable[[str, float, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stack, self.policy = stack, policy
        self.on_restart = on_restart
        self.clock = clock
        self.tracks: dict[str, _Track] = {}
        self.total: dict[str, int] = {}

    def check(self) -> list[str]:
        """One look: restart what is dead and due. Returns the roles restarted. Raises GaveUpError."""
        restarted = []
        for role, alive in self.stack.running().items():
            if alive:
                continue
            track = self.tracks.setdefault(role, _Track())
            now = self.clock()
            if now < track.next_try:
                continue
            track.restarts = [at for at in track.restarts if now - at < self.policy.window_s]
            if len(track.restarts) >= self.policy.budget:
                raise GaveUpError(
                    f"{role} died {len(track.restarts) + 1} times within {self.policy.window_s:g} s "
                    f"(budget {self.policy.budget}): not restarting it again"
                )
            log.warning("supervisor: %s is not running: restarting it", role)
            try:
                self.stack.restart(role)
            except Exception as error:  # any failure to start is retried after the backoff
                track.failures += 1
                backoff = min(
                    self.policy.max_backoff_s, self.policy.initial_backoff_s * 2 ** (track.failures - 1)
                )
                track.next_try = self.clock() + backoff
                track.restarts.append(now)
                log.error("supervisor: %s did not start again (%s); next try in %.1f s", role, error, backoff)
                continue
            took_s = self.clock() - now
            track.failures, track.next_try = 0, 0.0
            track.restarts.append(now)
            self.total[role] = self.total.get(role, 0) + 1
            restarted.append(role)
            log.warning("supervisor: %s restarted in %.1f s (restart %d)", role, took_s, self.total[role])
            if self.on_restart is not None:
                self.on_restart(role, took_s, self.total[role])
        return restarted

    def run(self, stop: threading.Event) -> None:
        """Look every ``interval_s`` until ``stop`` is set; GaveUpError ends it."""
        while not stop.wait(self.policy.interval_s):
            self.check()


def count_restart(redis_url: str, namespace: str, role: str) -> None:
    """Add one restart of ``role`` to the Redis tally (best effort: Redis may be the one that died)."""
    try:
        with redis.Redis.from_url(redis_url, socket_timeout=2.0) as client:
            client.hincrby(restarts_key(namespace), role, 1)
    except RedisError as error:
        log.warning("supervisor: could not count the restart of %s in Redis: %s", role, error)


class RestartCollector(Collector):
    """``smartcustoms_service_restarts_total{service}`` from the supervisor's tally in Redis."""

    def __init__(self, redis_url: str, namespace: str) -> None:
        self._client = redis.Redis.from_url(redis_url, socket_timeout=2.0)
        self._namespace = namespace

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            SERVICE_RESTARTS.name.removesuffix("_total"), SERVICE_RESTARTS.documentation, labels=["service"]
        )
        counted = {service: 0 for service in SERVICES}  # zeros too: "never restarted" is data
        counted.update(restarts(self._client, self._namespace))
        for role, count in sorted(counted.items()):
            family.add_metric([role], count)
        yield family
