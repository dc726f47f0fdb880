"""Stopping within deadlines, and surviving a broker that restarts empty."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import redis.asyncio as aioredis

from smartcustoms.core.config import Config, PluginConfig
from smartcustoms.core.frames import array_frame
from smartcustoms.core.types import Modality
from smartcustoms.hardware.sdk.client import OK, send_all
from smartcustoms.runtime.ledger import Counts, ledger_for
from smartcustoms.runtime.process import ManagedProcess, free_port, wait_for
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.services import EmbeddedBroker
from smartcustoms.runtime.stack import Stack, gateway_serving
from smartcustoms.runtime.testing import ct_frame, only_plugins

pytestmark = pytest.mark.integration

SIGKILLED = -signal.SIGKILL


def _counts(config: Config) -> Counts:
    async def read() -> Counts:
        client = aioredis.Redis.from_url(config.redis.url)
        try:
            return await ledger_for(config, client).counts()
        finally:
            await client.aclose()

    return asyncio.run(read())


def test_worker_and_gateway_stop_within_their_deadlines_while_a_plugin_is_busy(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    runtime_config.extra_plugins = ["sc_fixture_plugins:sleepy"]
    runtime_config.plugins = {"sleepy": PluginConfig(timeout_s=120.0)}
    stack = start_stack(only_plugins(runtime_config))
    assert (
        asyncio.run(send_all(stack.gateway_target, [ct_frame(1, sleep_s=60, source_id="ct-9")]))[0].code == OK
    )
    worker_metrics = stack.metrics_urls[1]
    wait_for(
        lambda: total(scrape(worker_metrics), "smartcustoms_dispatch_actors_busy") == 1,
        30,
        what="the plugin to be busy",
    )

    started = time.monotonic()
    worker_code = stack.stop_worker()
    worker_s = time.monotonic() - started
    assert worker_code != SIGKILLED, "the worker had to be killed"
    assert worker_s < runtime_config.worker.stop_timeout_s
    assert stack.gateway is not None
    started = time.monotonic()
    assert stack.gateway.stop() != SIGKILLED
    assert time.monotonic() - started < runtime_config.gateway.stop_grace_s + 5
    assert _counts(runtime_config).in_flight == 1, "the unfinished frame stays in flight for redelivery"


def test_frames_survive_a_broker_restart(
    runtime_config: Config, start_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    broker = EmbeddedBroker(tmp_path / "own-broker")
    broker.start()
    try:
        runtime_config.broker.bootstrap_servers = broker.bootstrap_servers
        runtime_config.reconciler.redeliver_after_s = 3.0
        runtime_config.reconciler.interval_s = 0.5
        runtime_config.reconciler.max_attempts = 1000  # no worker for a while: keep redelivering
        stack = start_stack(only_plugins(runtime_config, "xray_detector"), worker=False)
        frames = [
            array_frame(
                np.full((2, 16, 16), 60_000, np.uint16),  # dual energy, as xray_detector needs
                modality=Modality.XRAY,
                source_id="lane-2",
                sequence=i,
                frame_id=f"x-{i}",
            )
            for i in range(1, 6)
        ]
        assert [a.code for a in asyncio.run(send_all(stack.gateway_target, frames))] == [OK] * 5

        broker.stop()  # every published frame is gone with the broker's memory
        broker = EmbeddedBroker(tmp_path / "own-broker", port=broker.port)
        broker.start()
        stack.start_worker()
        wait_for(lambda: _counts(runtime_config).verdicts == 5, 60, interval_s=0.2, what="all verdicts")
        assert _counts(runtime_config) == Counts(accepted=5, verdicts=5, fallbacks=0, in_flight=0)
        assert total(scrape(stack.metrics_urls[0]), "smartcustoms_reconciler_republished_total") >= 5
        stack.stop()  # before its broker goes, so the worker's last commit has somewhere to go
    finally:
        broker.stop()


def test_a_frame_stuck_past_its_redeliveries_gets_a_manual_inspection_verdict(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    runtime_config.extra_plugins = ["sc_fixture_plugins:sleepy"]
    runtime_config.plugins = {"sleepy": PluginConfig(timeout_s=300.0, pool_size=1)}
    runtime_config.reconciler.redeliver_after_s = 1.0
    runtime_config.reconciler.interval_s = 0.2
    runtime_config.reconciler.max_attempts = 1
    stack = start_stack(only_plugins(runtime_config))
    assert (
        asyncio.run(send_all(stack.gateway_target, [ct_frame(1, sleep_s=60, source_id="ct-9")]))[0].code == OK
    )
    wait_for(lambda: _counts(runtime_config).fallbacks == 1, 30, interval_s=0.2, what="the fallback verdict")
    assert _counts(runtime_config) == Counts(accepted=1, verdicts=0, fallbacks=1, in_flight=0)
    worker = scrape(stack.metrics_urls[1])
    assert total(worker, "smartcustoms_fallbacks_total", reason="redelivery_exhausted") == 1


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def test_smartcustoms_up_stops_on_sigint_and_leaves_nothing_running(
    runtime_config: Config, tmp_path: Path
) -> None:
    config_path = tmp_path / "up.json"
    config_path.write_text(runtime_config.to_json())
    up = ManagedProcess(
        "up",
        [sys.executable, "-m", "smartcustoms.runtime.cli", "--config", str(config_path), "up"],
        log_path=tmp_path / "up.log",
        stop_timeout_s=60,
        stop_signal=signal.SIGINT,
    )
    up.start()
    try:
        target = f"{runtime_config.gateway.host}:{runtime_config.gateway.port}"
        up.wait_ready(lambda: "Ctrl-C stops" in up.log_tail(), 120)
        assert gateway_serving(target)
        assert up.pid is not None
        children = _children_of(up.pid)
        assert len(children) == 2, "a gateway and a worker"
        started = time.monotonic()
        code = up.stop()
        assert code == 0, up.log_tail()
        assert time.monotonic() - started < 45
        assert not [pid for pid in children if _alive(pid)]
        assert not gateway_serving(target)
    finally:
        up.stop()


def test_free_port_helper_is_usable() -> None:
    port = free_port()
    assert 0 < port < 65536 and os.getpid() > 0
