"""The contract is language-neutral: a Node.js adapter (@grpc/grpc-js, @grpc/proto-loader) that knows only
the .proto files of proto/ streams an X-ray image in chunks and an RFID report into the gateway."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import redis.asyncio as aioredis

from smartcustoms.core.config import Config
from smartcustoms.runtime.ledger import Counts, ledger_for
from smartcustoms.runtime.stack import Stack
from smartcustoms.v1 import frame_pb2

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "vendor_node"
PROTO_DIR = ROOT / "proto"
NPM_CI_TIMEOUT_S = 300
ADAPTER_TIMEOUT_S = 120
FRAMES = 4  # X-ray, RFID, X-ray, RFID


@pytest.fixture(scope="module")
def node_adapter() -> list[str]:
    """``node adapter.js``, after ``npm ci`` (from the lock file) if its packages are not installed yet."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Node.js vendor adapter cannot run (install Node.js >= 18)")
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js" / "package.json").exists():
        npm = shutil.which("npm")
        assert npm is not None, "node is installed but npm is not: cannot install tests/vendor_node"
        installed = subprocess.run(
            [npm, "ci", "--prefix", str(NODE_DIR), "--ignore-scripts", "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=NPM_CI_TIMEOUT_S,
            check=False,
        )
        assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout}\n{installed.stderr}"
    return [node, str(NODE_DIR / "adapter.js")]


async def _ledger_view(config: Config, frame_ids: list[str]) -> tuple[Counts, list[frame_pb2.Frame | None]]:
    client = aioredis.Redis.from_url(config.redis.url)
    try:
        ledger = ledger_for(config, client)
        return await ledger.counts(), [await ledger.in_flight_record(i) for i in frame_ids]
    finally:
        await client.aclose()


def test_a_node_adapter_streams_frames_using_only_the_proto_files(
    runtime_config: Config, start_stack: Callable[..., Stack], node_adapter: list[str]
) -> None:
    stack = start_stack(runtime_config, worker=False)
    argv = [*node_adapter, "--proto-dir", str(PROTO_DIR), "--target", stack.gateway_target]
    run = subprocess.run(
        [*argv, "--frames", str(FRAMES), "--chunk-bytes", "4096"],
        capture_output=True,
        text=True,
        timeout=ADAPTER_TIMEOUT_S,
        check=False,
        cwd=NODE_DIR,
    )
    assert run.returncode == 0, f"adapter failed:\n{run.stdout}\n{run.stderr}"
    report = json.loads(run.stdout)
    sent_ids = [frame["frame_id"] for frame in report["sent"]]
    assert [frame["modality"] for frame in report["sent"]] == ["MODALITY_XRAY", "MODALITY_RFID"] * 2
    assert sorted(ack["frame_id"] for ack in report["acks"]) == sorted(sent_ids), "one ack per frame"
    assert [(ack["code"], ack["duplicate"]) for ack in report["acks"]] == [(0, False)] * FRAMES

    counts, records = asyncio.run(_ledger_view(runtime_config, sent_ids))
    assert counts == Counts(accepted=FRAMES, verdicts=0, fallbacks=0, in_flight=FRAMES)
    xray, rfid = records[0], records[1]
    assert xray is not None and rfid is not None
    assert (list(xray.shape), xray.dtype, xray.payload_bytes) == ([2, 64, 96], frame_pb2.DTYPE_UINT16, 24_576)
    pixels = np.frombuffer(xray.payload, "<u2")
    assert np.array_equal(pixels[:4], (np.arange(4) * 37) % 65_536), "little-endian uint16, as sent"
    assert xray.metadata["vendor"] == "node-example" and xray.source_id == "node-adapter-xray"
    batch = frame_pb2.RfidReadBatch.FromString(rfid.payload)
    assert [read.antenna_id for read in batch.reads] == [1, 2, 3]
    assert batch.reads[0].epc_hex.startswith("30340242201d8840")
