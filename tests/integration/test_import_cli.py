"""``smartcustoms import declarations``: a CSV export through the real gateway, broker, Ray and Redis. Good
rows reach a record plugin as records and get verdicts; bad rows land in the rejects file with their
reasons; a frame the gateway refuses is reported and fails the command."""

from __future__ import annotations

import asyncio
import csv
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from smartcustoms.core.config import Config
from smartcustoms.runtime.ledger import Counts, ledger_for
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import only_plugins
from smartcustoms.v1 import results_pb2

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "smartcustoms.runtime.cli"]
RUN_TIMEOUT_S = 60
MAPPING = """
kind = "cargo_declaration"
id = "SGD.NUMBER"
[fields]
declared_at = { column = "SGD.DATE", format = "%d-%b-%y", utc_offset_hours = 1 }
hs_code = "TARIFF.CODE"
declared_value_hkd = { column = "CIF.VALUE", scale = 0.052 }
description = "DESC"
[labels]
illicit = "illicit"
"""
HEADER = ["SGD.NUMBER", "SGD.DATE", "TARIFF.CODE", "CIF.VALUE", "DESC", "illicit"]


def _rows(count: int) -> list[list[str]]:
    return [
        [f"SGD-{i}", "05-Jan-13", "85171300", str(1000 + i), f"phones, lot {i}", str(i % 2)]
        for i in range(count)
    ]


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows([HEADER, *rows])
    return path


def _import(stack: Stack, data: Path, mapping: Path, *options: str) -> subprocess.CompletedProcess[str]:
    argv = [*CLI, "--config", str(stack.run_dir / "config.json"), "import", "declarations", str(data)]
    argv += ["--mapping", str(mapping), *options]
    return subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)


async def _verdicts_when_settled(
    config: Config, frame_ids: list[str], timeout_s: float = 45.0
) -> tuple[Counts, dict[str, results_pb2.Verdict]]:
    client = aioredis.Redis.from_url(config.redis.url)
    ledger = ledger_for(config, client)
    deadline = time.monotonic() + timeout_s
    try:
        while (counts := await ledger.counts()).accepted < len(frame_ids) or counts.in_flight:
            if time.monotonic() > deadline:
                raise TimeoutError(f"frames still in flight: {counts}")
            await asyncio.sleep(0.05)
        found = {frame_id: await ledger.verdict(frame_id) for frame_id in frame_ids}
    finally:
        await client.aclose()
    return counts, {k: v for k, v in found.items() if v is not None}


def test_a_csv_export_becomes_record_frames_with_verdicts_and_a_rejects_file(
    runtime_config: Config, start_stack: Callable[[Config], Stack], tmp_path: Path
) -> None:
    runtime_config.extra_plugins = ["sc_record_echo:RecordEcho"]
    # Only the echo plugin decides: records reach it as the command sent them, whatever else is built in.
    only_plugins(runtime_config)
    runtime_config.gateway.max_frame_bytes = 8 * 1024  # for the refusal below; 4 records fit easily
    stack = start_stack(runtime_config)
    mapping = tmp_path / "map.toml"
    mapping.write_text(MAPPING)
    rows = _rows(10)
    rows.insert(3, ["SGD-x", "05-Jan-13", "85171300", "12,5", "bad value", "0"])  # line 5
    rows.insert(8, ["SGD-2", "06-Jan-13", "85171300", "1", "id again", "0"])  # line 10
    data = _write_csv(tmp_path / "sgd.csv", rows)
    rejects = tmp_path / "sgd-rejects.csv"

    run = _import(stack, data, mapping, "--batch-size", "4", "--rejects", str(rejects), "--verbose")

    assert run.returncode == 0, run.stderr
    summary = run.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"import {re.escape(str(data))}: 12 rows read, 10 records sent in 3 frames, 2 rows rejected "
        rf"\({re.escape(str(rejects))}\), 0 frames refused, [0-9.]+ s",
        summary,
    ), summary
    with rejects.open(encoding="utf-8", newline="") as file:
        assert list(csv.reader(file)) == [
            ["line", "id", "reason", *HEADER],
            ["5", "SGD-x", "column 'CIF.VALUE' (declared_value_hkd): not a number: '12,5'", *rows[3]],
            ["10", "SGD-2", "id 'SGD-2' repeats line 4", *rows[8]],
        ]
    frame_ids = re.findall(
        r"^frame (\S+) \(lines [0-9]+-[0-9]+, [0-9]+ records\): accepted$", run.stdout, re.M
    )
    assert len(frame_ids) == 3

    counts, verdicts = asyncio.run(_verdicts_when_settled(runtime_config, frame_ids))
    assert counts == Counts(accepted=3, verdicts=3, fallbacks=0, in_flight=0)
    assert set(verdicts) == set(frame_ids)
    echoed = {
        d.attributes["record_id"]: dict(d.attributes)
        for verdict in verdicts.values()
        for result in verdict.results
        for d in result.detections
    }
    assert sorted(echoed) == sorted(f"SGD-{i}" for i in range(10))
    assert echoed["SGD-7"] == {
        "record_id": "SGD-7",
        "declared_at": "2013-01-05T00:00:00+01:00",
        "hs_code": "85171300",
        "declared_value_hkd": "52.364",  # 1007 * 0.052
        "description": "phones, lot 7",
        "illicit": "1",
    }

    # Frames larger than the gateway takes are refused: each one reported, and the command fails.
    big = _write_csv(tmp_path / "big.csv", _rows(120))
    run = _import(stack, big, mapping, "--batch-size", "100", "--rejects", str(tmp_path / "big-rejects.csv"))
    assert run.returncode == 1
    refusals = [line for line in run.stderr.splitlines() if "refused" in line]
    assert len(refusals) == 1, run.stderr
    assert re.match(
        r"smartcustoms import declarations: frame \S+ \(lines 2-101, 100 records\): refused ", refusals[0]
    )
    assert "120 rows read, 20 records sent in 2 frames, 0 rows rejected" in run.stdout
    assert "1 frames refused" in run.stdout
