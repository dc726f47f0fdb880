"""ct_detector on a 256^3 CT volume and vehicle_compare on a 1024 x 3072 portal scan, on one core.

The targets (issue 4): <= 2 s per 256^3 volume on one core; a portal takes a vehicle every few minutes.
Numba kernels run single-threaded; OpenCV is limited to one thread here. Each figure is printed with
the machine and stored in ``extra_info``. No time is asserted. Needs no service (the vehicle references
are built from the simulator into a temporary artefact root, about a second): run it alone with
``.venv/bin/pytest benchmarks/test_bench_ct_vehicle.py -p no:cacheprovider -s``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from benchkit.machine import describe, format_description

from smartcustoms.hardware.sim import ct, vehicle
from smartcustoms.plugins.ct import CtDetector
from smartcustoms.plugins.vehicle import Declaration
from smartcustoms.plugins.vehicle.parts import PartModels
from smartcustoms.plugins.vehicle.references import ARTEFACT_NAME
from smartcustoms.plugins.vehicle.tools import build, evaluate

SEED = 3000  # no development seed


def _report(benchmark: Any, name: str, **figures: object) -> None:
    machine = describe()
    stats = benchmark.stats.stats
    benchmark.extra_info.update({"machine": machine, "median_ms": stats.median * 1000, **figures})
    median_ms, min_ms = stats.median * 1000, stats.min * 1000
    print(f"\n{name}: median {median_ms:.0f} ms, min {min_ms:.0f} ms over {stats.rounds} rounds")
    for line in format_description(machine):
        print(line)


@pytest.mark.parametrize("threat", ["firearm", None])
def test_ct_detector_256_cubed(benchmark: Any, threat: str | None) -> None:
    cv2.setNumThreads(1)
    scan = ct.CtSimulator(SEED, (256, 256, 256)).generate(1, threat=threat)
    detector = CtDetector()
    detector.detect(scan.volume)  # compile or load the cached kernels
    found = benchmark.pedantic(detector.detect, args=(scan.volume,), rounds=5, iterations=1)
    _report(benchmark, f"ct_detector 256^3 ({threat or 'clean'})", voxels=256**3, detections=len(found))


def _container_on_another_rig(simulator: vehicle.VehicleSimulator) -> vehicle.VehicleScan:
    """The first of the simulator's container scans whose trailers realism draws ``tractor-1`` and
    ``skeletal-3`` (not the whole reference's rig), with its declared pallets: compared part by part."""
    for index in range(400):
        streams = np.random.SeedSequence([SEED, index]).spawn(5)
        assert simulator.realism is not None
        conditions = simulator.realism.draw(np.random.default_rng(streams[4]))
        if (conditions.tractor, conditions.trailer) == ("tractor-1", "skeletal-3"):
            return simulator.generate(index, model="container-20ft", concealment=None)
    raise AssertionError("no container on tractor-1 and skeletal-3 among 400 scans")


@pytest.mark.parametrize("case", ["box-truck", "container-on-another-rig"])
def test_vehicle_compare_1024x3072(benchmark: Any, tmp_path: Path, case: str) -> None:
    """A box truck with a hidden compartment, compared with its whole reference; a loaded container on
    another tractor and trailer, compared with its three parts' references joined (placed and stretched
    one by one: the slowest path)."""
    cv2.setNumThreads(1)
    if case == "box-truck":
        simulator = vehicle.VehicleSimulator(SEED)
        scan = simulator.generate(1, model="box-truck-1", concealment="hidden_compartment")
    else:
        simulator = vehicle.VehicleSimulator(SEED, empty_rate=0.0, realism=vehicle.Realism(trailers=True))
        scan = _container_on_another_rig(simulator)
    metadata = vehicle.to_frame(scan, source_id="portal-bench", sequence=1).metadata
    build.build(tmp_path / ARTEFACT_NAME)
    comparer = evaluate.tool_plugin(artefact_root=tmp_path).comparer

    def compare() -> int:
        detections, _ = comparer.compare(
            scan.image,
            scan.model,
            Declaration.from_metadata(metadata),
            scan.pixel_size_mm,
            parts=PartModels.from_metadata(metadata),
        )
        return len(detections)

    compare()
    count = benchmark.pedantic(compare, rounds=5, iterations=1)
    _report(
        benchmark,
        f"vehicle_compare 2x1024x3072 ({case})",
        pixels=int(np.prod(scan.image.shape[1:])),
        detections=count,
    )
