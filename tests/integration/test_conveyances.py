"""One decision per conveyance through the real broker, Redis, Ray, gateway and worker: parts of two
modalities joined into one decision, a conveyance whose second part never comes, and a worker killed
mid-window whose replacement still makes exactly one decision."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer

from smartcustoms.core.config import Config, FusionConfig
from smartcustoms.core.frames import array_frame
from smartcustoms.core.types import Modality
from smartcustoms.hardware.sdk.client import OK, send_all
from smartcustoms.runtime.conveyances import ConveyanceCounts, ConveyanceStore, Snapshot
from smartcustoms.runtime.process import wait_for
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import only_plugins
from smartcustoms.runtime.topics import conveyances_topic
from smartcustoms.v1 import conveyance_pb2, frame_pb2, results_pb2

pytestmark = pytest.mark.integration

KNOWN_EPC = "3074257BF7194E4000001A85"  # a tag rfid_epc_check clears
HOLD = conveyance_pb2.CONVEYANCE_OUTCOME_HOLD
INSPECT = conveyance_pb2.CONVEYANCE_OUTCOME_INSPECT
CLEAR = conveyance_pb2.CONVEYANCE_OUTCOME_CLEAR
WINDOW_S = 6.0


def _xray(sequence: int, conveyance_id: str, *, dense: bool) -> frame_pb2.Frame:
    image = np.full((2, 128, 128), 60_000, dtype=np.uint16)
    if dense:
        image[:, 10:60, 20:80] = 100  # a dense_object alarm, scored 0.47 by dense_region
    return array_frame(
        image,
        modality=Modality.XRAY,
        source_id="gate-1-xray",
        sequence=sequence,
        frame_id=f"x-{sequence}",
        conveyance_id=conveyance_id,
    )


def _seal(sequence: int, conveyance_id: str) -> frame_pb2.Frame:
    """An RFID seal read naming its conveyance in metadata, as a reader that knows no Frame field would."""
    reads = frame_pb2.RfidReadBatch(reader_id="gate-1-reader", reads=[frame_pb2.RfidRead(epc_hex=KNOWN_EPC)])
    payload = reads.SerializeToString()
    return frame_pb2.Frame(
        frame_id=f"seal-{sequence}",
        source_id="gate-1-reader",
        modality=frame_pb2.MODALITY_RFID,
        sequence=sequence,
        encoding="protobuf",
        payload=payload,
        payload_bytes=len(payload),
        metadata={"conveyance_id": conveyance_id},
    )


class Conveyances:
    """The test's view of the namespace's conveyances in Redis."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def _read(self, method: str, *args: str) -> object:
        async def read() -> object:
            client = aioredis.Redis.from_url(self.config.redis.url)
            try:
                return await getattr(ConveyanceStore(client, self.config.namespace), method)(*args)
            finally:
                await client.aclose()

        return asyncio.run(read())

    def history(self, conveyance_id: str) -> list[conveyance_pb2.ConveyanceDecision]:
        found = self._read("history", conveyance_id)
        assert isinstance(found, list)
        return found

    def snapshot(self, conveyance_id: str) -> Snapshot | None:
        found = self._read("snapshot", conveyance_id)
        assert found is None or isinstance(found, Snapshot)
        return found

    def counts(self) -> ConveyanceCounts:
        found = self._read("counts")
        assert isinstance(found, ConveyanceCounts)
        return found

    def decided(self, conveyance_id: str, timeout_s: float) -> conveyance_pb2.ConveyanceDecision:
        wait_for(lambda: bool(self.history(conveyance_id)), timeout_s, 0.1, f"a decision on {conveyance_id}")
        (decision,) = self.history(conveyance_id)
        return decision


def _published(config: Config, expected: int) -> list[conveyance_pb2.ConveyanceDecision]:
    """The decisions on the conveyances topic, read from the beginning until ``expected`` arrived."""

    async def read() -> list[conveyance_pb2.ConveyanceDecision]:
        consumer = AIOKafkaConsumer(
            conveyances_topic(config.namespace),
            bootstrap_servers=config.broker.bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        found: list[conveyance_pb2.ConveyanceDecision] = []
        deadline = time.monotonic() + 30
        try:
            while len(found) < expected and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found += [conveyance_pb2.ConveyanceDecision.FromString(r.value) for r in records]
        finally:
            await consumer.stop()
        return found

    return asyncio.run(read())


def _show(stack: Stack, conveyance_id: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "smartcustoms.runtime.cli", "--config", str(stack.run_dir / "config.json")]
    return subprocess.run(
        [*argv, "conveyance", "show", conveyance_id], capture_output=True, text=True, timeout=60, check=False
    )


def test_one_decision_per_conveyance_on_the_stream_even_across_a_worker_kill(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    runtime_config.fusion = FusionConfig(
        window_s=WINDOW_S, expected_modalities=["xray", "rfid"], hold_score=0.4, scan_interval_s=0.2
    )
    stack = start_stack(only_plugins(runtime_config, "dense_region", "rfid_epc_check"))
    conveyances = Conveyances(runtime_config)
    frames = [
        _xray(1, "CAR-1", dense=True),
        _seal(2, "CAR-1"),
        _xray(3, "CAR-2", dense=False),  # its seal read never comes
        _xray(4, "CAR-4", dense=False),
        _seal(5, "CAR-4"),
    ]
    assert [a.code for a in asyncio.run(send_all(stack.gateway_target, frames))] == [OK] * len(frames)

    held = conveyances.decided("CAR-1", 30)  # both parts: decided at once, long before the window closes
    assert (held.outcome, held.trigger, held.version, list(held.frame_ids)) == (
        HOLD,
        "complete",
        1,
        ["x-1", "seal-2"],
    )
    reasons = {
        (r.frame_id, r.modality, r.plugin, r.decision, tuple(r.labels), r.effect) for r in held.reasons
    }
    assert reasons == {
        ("x-1", frame_pb2.MODALITY_XRAY, "dense_region", results_pb2.DECISION_ALARM, ("dense_object",), HOLD),
        ("seal-2", frame_pb2.MODALITY_RFID, "rfid_epc_check", results_pb2.DECISION_CLEAR, (), CLEAR),
    }
    assert held.decided_time.ToNanoseconds() - held.opened_time.ToNanoseconds() < WINDOW_S * 1e9
    cleared = conveyances.decided("CAR-4", 30)
    assert (cleared.outcome, cleared.trigger, cleared.summary) == (
        CLEAR,
        "complete",
        "CLEAR CAR-4: 2 frame(s) (rfid, xray), all clear",
    )
    timed_out = conveyances.decided("CAR-2", WINDOW_S + 30)
    assert (timed_out.outcome, timed_out.trigger, list(timed_out.missing)) == (
        INSPECT,
        "timeout",
        [frame_pb2.MODALITY_RFID],
    )
    assert timed_out.summary == "INSPECT CAR-2: timeout: missing rfid"
    assert timed_out.decided_time.ToNanoseconds() - timed_out.opened_time.ToNanoseconds() >= WINDOW_S * 1e9

    # A worker killed mid-window: the part it joined is in Redis, its replacement closes the window.
    assert asyncio.run(send_all(stack.gateway_target, [_xray(6, "CAR-3", dense=True)]))[0].code == OK
    wait_for(lambda: conveyances.snapshot("CAR-3") is not None, 30, 0.02, "CAR-3 to be opened")
    assert stack.worker is not None
    stack.worker.stop(timeout_s=0)  # SIGKILL: no drain, the verdict batch's offset maybe uncommitted
    assert conveyances.history("CAR-3") == []
    stack.start_worker()
    restarted = conveyances.decided("CAR-3", WINDOW_S + 60)
    assert (restarted.outcome, restarted.trigger, restarted.version) == (HOLD, "timeout", 1)
    assert list(restarted.frame_ids) == ["x-6"]

    counts = conveyances.counts()
    assert counts == ConveyanceCounts(4, {"clear": 1, "inspect": 0, "hold": 1}, 2, 0, 0), counts
    published = _published(runtime_config, 4)
    assert sorted((d.conveyance_id, d.version) for d in published) == [
        ("CAR-1", 1),
        ("CAR-2", 1),
        ("CAR-3", 1),
        ("CAR-4", 1),
    ]
    gateway, worker = (scrape(url) for url in stack.metrics_urls)
    assert total(gateway, "smartcustoms_conveyances", state="opened") == 4
    assert total(gateway, "smartcustoms_conveyances", state="timed_out") == 2
    assert total(gateway, "smartcustoms_conveyance_imbalance") == 0
    assert total(worker, "smartcustoms_conveyance_decisions_total", outcome="hold", trigger="timeout") == 1
    assert total(worker, "smartcustoms_conveyance_decision_latency_seconds_count") == 1  # since its restart
    log = (stack.run_dir / "worker.log").read_text()
    assert "conveyance-CAR-2-v1 manual_inspection frame= conveyance=CAR-2: INSPECT CAR-2" in log  # alert_log
    assert "conveyance-CAR-3-v1 alarm frame=x-6" in log

    shown = _show(stack, "CAR-1")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == held.summary
    assert any(
        line.strip().startswith("HOLD     frame x-1 (xray) dense_region alarm [dense_object]")
        for line in lines
    )
    unknown = _show(stack, "CAR-404")
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr.strip().splitlines() == [
        f"smartcustoms conveyance: no conveyance 'CAR-404' in namespace '{runtime_config.namespace}'"
    ]
