"""plate_reader on vehicle lane camera frames (640 x 480 JPEG) on one core.

The target (issue 12): <= 100 ms per frame on one core. A round is one frame, decoding included, read
by the plugin's batch hook as a Ray actor runs it (one ONNX Runtime thread, OpenCV limited to one
thread); the rounds go through 20 held-out simulator frames (seed 3000) in turn, the light mixed as the
simulator draws it, or daylight only. The figures are printed with the machine and stored in
``extra_info``; no time is asserted. Needs no service: run it alone with
``.venv/bin/pytest benchmarks/test_bench_plate_reader.py -p no:cacheprovider -s``.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import cv2
import pytest
from benchkit.machine import describe, format_description

from smartcustoms.core.frames import FrameView, inline_view
from smartcustoms.hardware.sim import plates
from smartcustoms.plugins.plate.tools import evaluate

SEED = 3000  # no development seed
FRAMES = 20


@pytest.mark.parametrize("light", [None, "day"], ids=["mixed", "day"])
def test_plate_reader_640x480(benchmark: Any, light: str | None) -> None:
    cv2.setNumThreads(1)
    plugin = evaluate.tool_plugin({"ocr_threads": 1})
    simulator = plates.PlateSimulator(SEED)
    views: list[FrameView] = [
        inline_view(plates.to_frame(simulator.generate(i, light=light), source_id="bench", sequence=i))
        for i in range(FRAMES)
    ]
    frames = itertools.cycle(views)
    cpu_s: list[float] = []

    def read_one() -> int:
        started = time.process_time()
        (assessment,) = plugin.smartcustoms_process_batch([next(frames)])
        cpu_s.append(time.process_time() - started)
        return len(assessment.detections)

    benchmark.pedantic(read_one, rounds=2 * FRAMES, iterations=1, warmup_rounds=2)
    stats = benchmark.stats.stats
    cpu_ms = sorted(cpu_s)[len(cpu_s) // 2] * 1000
    machine = describe()
    benchmark.extra_info.update(
        {
            "machine": machine,
            "median_ms": stats.median * 1000,
            "cpu_median_ms": cpu_ms,
            "light": light or "mixed",
        }
    )
    print(
        f"\nplate_reader 640x480 ({light or 'mixed light'}): median {stats.median * 1000:.0f} ms, "
        f"mean {stats.mean * 1000:.0f} ms, max {stats.max * 1000:.0f} ms wall; median {cpu_ms:.0f} ms CPU "
        f"over {stats.rounds} frames"
    )
    for line in format_description(machine):
        print(line)
