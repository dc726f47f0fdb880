"""The example adapter of docs/vendors.md runs: scans dropped in a folder reach the gateway once each,
refused ones are filed with their reason, and a scan sent again after a crash is not processed twice."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import redis.asyncio as aioredis

from smartcustoms.core.config import Config
from smartcustoms.hardware.sdk.example_adapter import write_scan
from smartcustoms.runtime.ledger import Counts, ledger_for
from smartcustoms.runtime.process import ManagedProcess, wait_for
from smartcustoms.runtime.stack import Stack
from smartcustoms.v1 import frame_pb2

pytestmark = pytest.mark.integration

ADAPTER = [sys.executable, "-m", "smartcustoms.hardware.sdk.example_adapter"]
RUN_TIMEOUT_S = 120
SOURCE = "lane-7-xray"


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65_535, size=(2, 32, 48), dtype=np.uint16)


async def _ledger_view(config: Config, frame_id: str) -> tuple[Counts, frame_pb2.Frame | None]:
    client = aioredis.Redis.from_url(config.redis.url)
    try:
        ledger = ledger_for(config, client)
        return await ledger.counts(), await ledger.in_flight_record(frame_id)
    finally:
        await client.aclose()


def _run_once(target: str, folder: Path) -> subprocess.CompletedProcess[str]:
    argv = [*ADAPTER, "--target", target, "--watch", str(folder), "--source-id", SOURCE, "--once"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)


def test_scans_in_a_folder_are_delivered_once_and_refusals_are_filed(
    runtime_config: Config, start_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    stack = start_stack(runtime_config, worker=False)
    scans = tmp_path / "scans"
    scans.mkdir()
    for number in (1, 2, 3):
        write_scan(scans, f"scan-{number}", _image(number), scan_number=number, conveyance_id=f"bag-{number}")
    write_scan(scans, "scan-4", _image(4), scan_number=4)
    (scans / "scan-4.raw").write_bytes(b"\0" * 100)  # the scanner wrote a truncated image
    (scans / "scan-5.json").write_text('{"height": 2}')  # and a sidecar without its scan number
    (scans / "scan-5.raw").write_bytes(b"")

    run = _run_once(stack.gateway_target, scans)
    assert run.returncode == 1, run.stdout + run.stderr  # two scans were refused
    assert "3 scans accepted, 2 rejected" in run.stdout
    assert sorted(p.name for p in (scans / "done").iterdir()) == sorted(
        f"scan-{n}{suffix}" for n in (1, 2, 3) for suffix in (".json", ".raw")
    )
    assert "INVALID_ARGUMENT" in (scans / "rejected" / "scan-4.reason.txt").read_text()
    assert "scan_number" in (scans / "rejected" / "scan-5.reason.txt").read_text()
    counts, record = asyncio.run(_ledger_view(runtime_config, f"{SOURCE}-2"))
    assert counts.accepted == 3
    assert record is not None and (record.sequence, record.conveyance_id) == (2, "bag-2")
    assert np.array_equal(np.frombuffer(record.payload, "<u2").reshape(2, 32, 48), _image(2))

    for suffix in (
        ".raw",
        ".json",
    ):  # the adapter crashed after the gateway accepted scan 2, before filing it
        shutil.copy(scans / "done" / f"scan-2{suffix}", scans / f"scan-2{suffix}")
    again = _run_once(stack.gateway_target, scans)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "scan-2: accepted (duplicate)" in again.stdout
    assert not list(scans.glob("*.json"))
    assert asyncio.run(_ledger_view(runtime_config, f"{SOURCE}-2"))[0].accepted == 3


def test_the_watcher_sends_scans_as_they_appear_and_stops_on_sigterm(
    runtime_config: Config, start_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    stack = start_stack(runtime_config, worker=False)
    scans = tmp_path / "scans"
    scans.mkdir()
    argv = [*ADAPTER, "--target", stack.gateway_target, "--watch", str(scans), "--source-id", SOURCE]
    with ManagedProcess(
        "example-adapter", argv, log_path=tmp_path / "adapter.log", stop_timeout_s=60
    ) as adapter:
        adapter.wait_ready(lambda: (scans / "done").is_dir(), 60)
        for number in (10, 11):
            write_scan(scans, f"scan-{number}", _image(number), scan_number=number)
        wait_for(lambda: len(list((scans / "done").glob("*.json"))) == 2, 60, what="two scans filed")
        assert adapter.stop() == 0, adapter.log_tail()
    assert "2 scans accepted, 0 rejected" in adapter.log_tail()
    assert asyncio.run(_ledger_view(runtime_config, f"{SOURCE}-10"))[0].accepted == 2
