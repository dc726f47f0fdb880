"""A supervised runtime heals: a SIGKILLed worker, Redis and broker are each restarted, frames flow
again, nothing acknowledged is lost or decided twice, and the restarts are counted in /metrics.

The recovery times (kill to the first verdict of a frame sent after the kill) are printed, not asserted:
the goals (worker 15 s, broker 10 s, Redis 5 s) are tracked in the README's Guarantees section."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from smartcustoms.core.config import Config, PluginConfig
from smartcustoms.core.manager import discover_plugins
from smartcustoms.hardware.sdk.client import OK, send_all
from smartcustoms.hardware.sim.rfid import to_frame as rfid_to_frame
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.process import wait_for
from smartcustoms.runtime.report import scrape
from smartcustoms.runtime.stack import Stack, gateway_serving
from smartcustoms.runtime.supervisor import RestartPolicy, Supervisor, count_restart
from smartcustoms.v1 import frame_pb2, results_pb2

pytestmark = pytest.mark.integration

DEADLINE_S = 120.0


def _frame(number: int) -> frame_pb2.Frame:
    batch = frame_pb2.RfidReadBatch(reader_id="lane-1", zone="")
    frame = rfid_to_frame(batch, source_id="lane-1", sequence=number)
    frame.frame_id = f"heal-{number}"
    return frame


def _send(config: Config, stack: Stack, number: int) -> None:
    """Send one frame until it is acknowledged (UNAVAILABLE while Redis is away is retried)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            (ack,) = asyncio.run(send_all(stack.gateway_target, [_frame(number)]))
            if ack.code == OK:
                return
            why = ack.message
        except Exception as error:  # the gateway answers UNAVAILABLE while Redis restarts
            why = str(error)
        assert time.monotonic() < deadline, f"heal-{number} never acknowledged: {why}"
        time.sleep(0.2)


def _verdict(config: Config, number: int) -> results_pb2.Verdict:
    async def wait() -> results_pb2.Verdict:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            client = aioredis.Redis.from_url(config.redis.url, socket_timeout=2.0)
            try:
                verdict = await ledger_for(config, client).verdict(f"heal-{number}")
                if verdict is not None:
                    return verdict
            except (OSError, aioredis.RedisError):
                pass  # Redis restarting
            finally:
                await client.aclose()
            assert time.monotonic() < deadline, f"no verdict for heal-{number}"
            await asyncio.sleep(0.1)

    return asyncio.run(wait())


def test_a_killed_worker_redis_and_broker_are_restarted_and_nothing_is_lost(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    config = runtime_config
    config.redis.url = ""  # a Redis and a broker of this stack's own, to kill
    config.broker.bootstrap_servers = ""
    config.plugins = {
        info.spec.name: PluginConfig(enabled=info.spec.name == "rfid_epc_check")
        for info in discover_plugins()
    }
    stack = start_stack(config)
    restarted: list[str] = []

    def on_restart(role: str, took_s: float, count: int) -> None:
        count_restart(config.redis.url, config.namespace, role)
        restarted.append(role)

    supervisor = Supervisor(
        stack, RestartPolicy(interval_s=0.1, initial_backoff_s=0.5), on_restart=on_restart
    )
    stop = threading.Event()
    watching = threading.Thread(target=supervisor.run, args=(stop,), daemon=True)
    watching.start()
    try:
        for number in (1, 2):
            _send(config, stack, number)
            _verdict(config, number)

        assert stack.worker is not None and stack.worker.pid is not None
        dead = stack.worker.pid
        os.kill(dead, signal.SIGKILL)
        killed_at = time.monotonic()
        _send(config, stack, 3)
        _verdict(config, 3)
        worker_recovery_s = time.monotonic() - killed_at
        with pytest.raises(ProcessLookupError):
            os.killpg(dead, 0)  # its whole process group was reaped
        wait_for(
            lambda: restarted == ["worker"], DEADLINE_S, 0.1, "the supervisor to finish the worker's restart"
        )
        assert stack.worker.pid != dead and stack.worker.running

        assert stack.redis is not None and stack.redis.pid is not None
        os.kill(stack.redis.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        _send(config, stack, 4)
        _verdict(config, 4)
        redis_recovery_s = time.monotonic() - killed_at
        wait_for(lambda: restarted == ["worker", "redis"], DEADLINE_S, 0.1, "Redis's restart to be counted")

        assert stack.broker is not None and stack.broker.pid is not None
        os.kill(stack.broker.pid, signal.SIGKILL)  # the embedded broker restarts empty
        killed_at = time.monotonic()
        _send(config, stack, 5)
        _verdict(config, 5)
        broker_recovery_s = time.monotonic() - killed_at
        print(
            f"\nrecovery (kill to the next frame's verdict): worker {worker_recovery_s:.1f} s, "
            f"Redis {redis_recovery_s:.1f} s, broker {broker_recovery_s:.1f} s"
        )

        assert restarted == ["worker", "redis", "broker"]
        assert gateway_serving(stack.gateway_target)
        verdicts = [_verdict(config, number) for number in (1, 2, 3, 4, 5)]
        assert all(v.decision == results_pb2.DECISION_CLEAR for v in verdicts)  # decided, not fallbacks

        async def counts() -> tuple[int, int, int, int]:
            client = aioredis.Redis.from_url(config.redis.url)
            try:
                found = await ledger_for(config, client).counts()
            finally:
                await client.aclose()
            return found.accepted, found.verdicts, found.fallbacks, found.in_flight

        assert asyncio.run(counts()) == (5, 5, 0, 0)  # each frame accepted once, decided once
        metrics = scrape(stack.metrics_urls[0], timeout_s=5.0)
        samples = {
            labels["service"]: value for labels, value in metrics["smartcustoms_service_restarts_total"]
        }
        assert samples == {"broker": 1, "redis": 1, "gateway": 0, "worker": 1}
    finally:
        stop.set()
        watching.join(timeout=30)
