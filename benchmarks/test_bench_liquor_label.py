"""liquor_label on red-channel camera frames (960 x 720 JPEG) on one core.

The target (issue 12): <= 100 ms per frame on one core. A round is one frame, JPEG decoding included,
assessed by the plugin's batch hook as a Ray actor runs it (one ONNX Runtime thread, OpenCV limited to
one thread, the process pinned to one CPU); the rounds go through 20 held-out simulator frames (seed
3100) in turn. Two cases: the label read when needed (the default: the line has several bottles, or the
match alone is not sure) and always read. The figures (wall and CPU time) are printed with the machine and
the load and stored in ``extra_info``; no time is asserted. Needs no service but the ``liquor-labels``
artefact (``make artefacts``, or ``smartcustoms library build liquor``):

    .venv/bin/pytest benchmarks/test_bench_liquor_label.py -p no:cacheprovider -s
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from typing import Any

import cv2
import pytest
from benchkit.machine import describe, format_description

from smartcustoms.core.frames import FrameView, inline_view
from smartcustoms.hardware.sim import liquor
from smartcustoms.plugins.liquor.tools import evaluate

SEED = 3100  # no development, calibration or evaluation seed
FRAMES = 20
BUSY_LOAD = 1.5


@pytest.fixture
def one_core() -> Iterator[int]:
    if not hasattr(os, "sched_setaffinity"):
        yield os.cpu_count() or 1
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield len(os.sched_getaffinity(0))
    finally:
        os.sched_setaffinity(0, before)


@pytest.mark.parametrize("read_labels", ["when_needed", "always"])
def test_liquor_label_960x720(benchmark: Any, one_core: int, read_labels: str) -> None:
    cv2.setNumThreads(1)
    plugin = evaluate.tool_plugin({"ocr_threads": 1, "read_labels": read_labels})
    plugin.smartcustoms_warm_up()
    simulator = liquor.LiquorSimulator(SEED)
    views: list[FrameView] = [
        inline_view(liquor.to_frame(simulator.generate(i), source_id="bench", sequence=i))
        for i in range(FRAMES)
    ]
    frames = itertools.cycle(views)
    cpu_s: list[float] = []
    manual: list[bool] = []

    def assess_one() -> None:
        started = time.process_time()
        (assessment,) = plugin.smartcustoms_process_batch([next(frames)])
        cpu_s.append(time.process_time() - started)
        manual.append(assessment.decision.value == "manual_inspection")

    benchmark.pedantic(assess_one, rounds=2 * FRAMES, iterations=1, warmup_rounds=2)
    stats = benchmark.stats.stats
    cpu_ms = sorted(cpu_s)[len(cpu_s) // 2] * 1000
    load = os.getloadavg()[0]
    machine = describe()
    benchmark.extra_info.update(
        {
            "machine": machine,
            "cpus_used": one_core,
            "median_ms": stats.median * 1000,
            "cpu_median_ms": cpu_ms,
            "read_labels": read_labels,
            "library": plugin.artefacts[0].short,
            "load_avg_1m": round(load, 2),
        }
    )
    print(
        f"\nliquor_label 960x720 (read {read_labels}): median {stats.median * 1000:.0f} ms, "
        f"mean {stats.mean * 1000:.0f} ms, max {stats.max * 1000:.0f} ms wall; CPU median {cpu_ms:.0f} ms; "
        f"{sum(manual)} of {len(manual)} to an officer; on {one_core} CPU"
    )
    busy = ""
    if load > BUSY_LOAD:
        busy = f" (above {BUSY_LOAD}: other work shared the CPUs, the time is pessimistic)"
    print(f"load average (1 min) {load:.2f}{busy}")
    for line in format_description(machine):
        print(line)
