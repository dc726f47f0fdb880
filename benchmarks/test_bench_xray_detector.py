"""xray_detector on 2-megapixel dual-energy baggage images (2 x 1024 x 2048 uint16), on one core.

The target (issue 4): <= 200 ms per image on one core, as fast as a scanner lane. The process is pinned
to one CPU while it runs (numba kernels and numpy's FFT are single-threaded anyway). The time covers the
plugin's whole assessment: material maps, texture, template search, verification, detections (with
``method = "learned"``: material maps, the network on onnxruntime with one thread, its regions). Each
figure is printed with the machine and the load average and stored in ``extra_info``; no time is
asserted. Needs no service; the detector is built through its plugin class from an ``xray-library``
artefact built from the simulator into a temporary folder (a few seconds, once per run):

    .venv/bin/pytest benchmarks/test_bench_xray_detector.py -p no:cacheprovider -s
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from benchkit.machine import describe, format_description

from smartcustoms.hardware.sim.xray import XraySimulator
from smartcustoms.hardware.sim.xray import to_frame as xray_to_frame
from smartcustoms.plugins.xray import XrayDetector
from smartcustoms.plugins.xray.library import load_library_dir
from smartcustoms.plugins.xray.materials import Calibration, flat_field, square_pixels
from smartcustoms.plugins.xray.projection import threat_images
from smartcustoms.plugins.xray.tools.build import build_from_simulator
from smartcustoms.plugins.xray.tools.evaluate import tool_plugin
from smartcustoms.runtime.screening import screening_image

SEED = 3100  # not a library, tuning or evaluation seed in use
SHAPE = (1024, 2048)
BUSY_LOAD = 1.5


@pytest.fixture(scope="module")
def artefact_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("artefacts")
    build_from_simulator(root / "xray-library")
    return root


@pytest.fixture(scope="module", params=["library", "learned"])
def detector(artefact_root: Path, request: pytest.FixtureRequest) -> XrayDetector:
    """The detector with each ``method``: the library's templates, or the network (onnxruntime)."""
    return tool_plugin({"method": request.param}, artefact_root=artefact_root).detector


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


@pytest.mark.parametrize("threat", ["firearm", "cigarettes", None])
def test_xray_detector_2_megapixels(
    benchmark: Any, detector: XrayDetector, one_core: int, threat: str | None
) -> None:
    scan = XraySimulator(SEED, *SHAPE).generate(1, threat=threat)
    detector.assess(scan.image)  # compile or load the cached kernels, prepare the templates
    assessment = benchmark.pedantic(detector.assess, args=(scan.image,), rounds=10, iterations=1)
    machine = describe()
    stats = benchmark.stats.stats
    benchmark.extra_info.update(
        {
            "machine": machine,
            "cpus_used": one_core,
            "median_ms": stats.median * 1000,
            "pixels": SHAPE[0] * SHAPE[1],
            "method": detector.method,
            "decision": assessment.decision.value,
            "detections": [d.label for d in assessment.detections],
            "load_avg_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews the time
        }
    )
    times = (
        f"median {stats.median * 1000:.0f} ms, min {stats.min * 1000:.0f} ms, max {stats.max * 1000:.0f} ms"
    )
    found = [d.label for d in assessment.detections]
    case = f"xray_detector ({detector.method}) 2x{SHAPE[0]}x{SHAPE[1]} ({threat or 'clean'})"
    print(
        f"\n{case}: {times} over {stats.rounds} rounds on {one_core} CPU; {assessment.decision.value} {found}"
    )
    load = os.getloadavg()[0]
    busy = (
        f" (above {BUSY_LOAD}: other work shared the CPUs, the time is pessimistic)"
        if load > BUSY_LOAD
        else ""
    )
    print(f"load average (1 min) {load:.2f}{busy}")
    for line in format_description(machine):
        print(line)


@pytest.mark.parametrize("step", ["flat_field", "square_pixels"])
def test_xray_frame_preparation_2_megapixels(benchmark: Any, one_core: int, step: str) -> None:
    """What a frame costs before it is read, on top of the figures above: flat-fielding (a scanner
    calibrated with a dark level and gain map) or resampling non-square pixels (columns 1.5 times
    further apart than rows, to 2 x 1024 x 3072)."""
    image = XraySimulator(SEED, *SHAPE).generate(1).image
    if step == "flat_field":
        gain = tuple(np.linspace(0.9, 1.1, SHAPE[0]))
        calibration = Calibration(dark_high=120.0, dark_low=150.0, gain_high=gain, gain_low=gain)
        out = benchmark.pedantic(flat_field, args=(image, calibration), rounds=10, iterations=1)
    else:
        out, _ = benchmark.pedantic(square_pixels, args=(image, (0.8, 1.2)), rounds=10, iterations=1)
    stats, machine = benchmark.stats.stats, describe()
    benchmark.extra_info.update(
        {
            "machine": machine,
            "cpus_used": one_core,
            "median_ms": stats.median * 1000,
            "shape": list(out.shape),
        }
    )
    print(
        f"\n{step} 2x{SHAPE[0]}x{SHAPE[1]} -> {'x'.join(map(str, out.shape))}: median "
        f"{stats.median * 1000:.1f} ms, min {stats.min * 1000:.1f} ms "
        f"over {stats.rounds} rounds on {one_core} CPU"
    )
    for line in format_description(machine):
        print(line)


@pytest.mark.parametrize("projected", [True, False])
def test_screening_image_2_megapixels(
    benchmark: Any, artefact_root: Path, one_core: int, projected: bool
) -> None:
    """What the sink spends on a screened lane's bag (docs/screening.md): the colour and grey previews,
    with a library threat projected into the frame first (threat image projection) or without."""
    threats = threat_images(load_library_dir(artefact_root / "xray-library"))
    frame = xray_to_frame(XraySimulator(SEED, *SHAPE).generate(1), source_id="lane-0-xray", sequence=1)
    threat = next(t for t in threats if t.label == "firearm") if projected else None
    shown = benchmark.pedantic(
        screening_image, args=(frame, frame.payload, threat, 7), rounds=10, iterations=1
    )
    assert shown is not None and (shown[1] is not None) == projected
    stats, machine = benchmark.stats.stats, describe()
    benchmark.extra_info.update({"machine": machine, "cpus_used": one_core, "median_ms": stats.median * 1000})
    print(
        f"\nscreening image 2x{SHAPE[0]}x{SHAPE[1]}, {'a firearm projected' if projected else 'as scanned'}: "
        f"median {stats.median * 1000:.1f} ms, min {stats.min * 1000:.1f} ms over {stats.rounds} rounds "
        f"on {one_core} CPU"
    )
    for line in format_description(machine):
        print(line)
