"""Evaluation of ct_detector on a held-out simulated set: ``smartcustoms eval ct``; on the independent
generator (``evaluate_alt``, ``--generator alt``, with PD per threat design); on a site's labelled
volumes (``evaluate_data``, ``--data DIR``).

``evaluate(count, seed)``: ``count`` volumes of ``CtSimulator(seed)`` (default shape 256 x 128 x 192 at
3 mm), volume ``i`` holding no threat when ``i % 5 == 0``, else firearm, knife, explosive and cigarettes
in turn. The plugin is built through its class and warmed up as a Ray actor would; each volume goes
through its batch hook as a frame of the simulator's ``to_frame``.

Figures, per class and overall:

- ``pd``: true objects matched by a detection of their class with 3D IoU >= 0.3 (voxel boxes), over
  true objects;
- ``ap50`` and ``map50``: VOC average precision at IoU 0.5 (``core.evaluation``);
- ``false_alarm_rate``: share of threat-free bags that alarm at all; ``false_detections_per_frame``:
  detections matching no true object, per frame (all frames);
- ``ms_per_frame_mean`` / ``ms_per_frame_p95``: wall time of the batch hook per frame, one thread.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from smartcustoms.core.evaluation import (
    Box,
    FramesScored,
    Labelled,
    class_table,
    found_truths,
    screening_figures,
)
from smartcustoms.core.frames import inline_view
from smartcustoms.core.types import Detection
from smartcustoms.hardware.sim import ct
from smartcustoms.plugins.ct.plugin import SPEC, CtDetectorPlugin
from smartcustoms.plugins.ct.settings import LABELS
from smartcustoms.plugins.ct.tools import DEVELOPMENT_SEEDS
from smartcustoms.plugins.ct.tools.dataset import LabelledVolumes
from smartcustoms.v1 import frame_pb2

PD_IOU = 0.3
AP_IOU = 0.5
CYCLE: tuple[str | None, ...] = (None, *LABELS)


def check_seed(seed: int, count: int) -> None:
    """ValueError for a seed the thresholds were set on, or a count below 1."""
    if seed in DEVELOPMENT_SEEDS:
        used = DEVELOPMENT_SEEDS
        raise ValueError(
            f"seed {seed} was used to develop the ct thresholds: evaluate on another "
            f"(not {used.start}-{used.stop - 1})"
        )
    if count < 1:
        raise ValueError("count must be at least 1")


def evaluate(count: int, seed: int, *, shape: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """ct_detector on ``count`` simulated volumes of ``seed``: the figures as a dict."""
    check_seed(seed, count)
    simulator = ct.CtSimulator(seed, shape or ct.DEFAULT_SHAPE)
    plugin = CtDetectorPlugin(SPEC.default_settings)
    plugin.smartcustoms_warm_up()
    frames = []
    for index in range(count):
        scan = simulator.generate(index, threat=CYCLE[index % len(CYCLE)])
        found, ms = _assessed(plugin, ct.to_frame(scan, source_id="ct-eval", sequence=index))
        truths = [Labelled(t.label, _region(_xyz(t.box))) for t in scan.truth]
        frames.append((truths, found, ms))
    return {"system": "ct", "seed": seed, "count": count, "shape": list(simulator.shape), **figures(frames)}


def evaluate_alt(count: int, seed: int, *, max_voxels: int | None = None) -> dict[str, Any]:
    """ct_detector on ``count`` volumes of the independent generator (``hardware.sim.ct_alt``, written
    apart from the project's simulator and never used to set a threshold): volume ``i`` clean when
    ``i % 5 == 0``, else firearm, knife, explosive and cigarettes in turn, each of a design, pose and
    scanner of its own. The figures as a dict, with PD per threat design."""
    from smartcustoms.hardware.sim import ct_alt

    if count < 1:
        raise ValueError("count must be at least 1")
    simulator = (
        ct_alt.AltCtSimulator(seed)
        if max_voxels is None
        else ct_alt.AltCtSimulator(seed, max_voxels=max_voxels)
    )
    plugin = CtDetectorPlugin(SPEC.default_settings)
    plugin.smartcustoms_warm_up()
    frames: list[tuple[list[Labelled], list[Labelled], float]] = []
    designs: dict[str, list[int]] = {}  # "label: design" -> [objects, detected]
    for index in range(count):
        scan = simulator.generate(index, threat=CYCLE[index % len(CYCLE)])
        found, ms = _assessed(plugin, ct_alt.to_frame(scan, source_id="ct-alt-eval", sequence=index))
        truths = [Labelled(t.label, _region(_xyz(t.box))) for t in scan.truth]
        for t, hit in zip(scan.truth, found_truths(found, truths, PD_IOU), strict=True):
            tally = designs.setdefault(f"{t.label}: {t.design}", [0, 0])
            tally[0], tally[1] = tally[0] + 1, tally[1] + int(hit)
        frames.append((truths, found, ms))
    report = {"system": "ct", "generator": "alt", "seed": seed, "count": count, **figures(frames)}
    report["designs"] = {name: {"objects": n, "detected": k} for name, (n, k) in sorted(designs.items())}
    return report


def evaluate_data(directory: str | Path) -> dict[str, Any]:
    """ct_detector on a directory of labelled volumes from outside (``dataset.py``): the figures as a
    dict. DataError (one line) for a directory that cannot be read."""
    volumes = LabelledVolumes(directory)
    plugin = CtDetectorPlugin(SPEC.default_settings)
    plugin.smartcustoms_warm_up()
    frames = []
    for frame, truths in volumes.frames():
        found, ms = _assessed(plugin, frame)
        frames.append(([Labelled(t.label, _region(t.box)) for t in truths], found, ms))
    return {"system": "ct", "data": str(directory), "count": len(volumes), **figures(frames)}


def _assessed(plugin: CtDetectorPlugin, frame: frame_pb2.Frame) -> tuple[list[Labelled], float]:
    """The plugin's detections of one frame through its batch hook, and the hook's time (ms)."""
    started = time.perf_counter()
    [assessment] = plugin.smartcustoms_process_batch([inline_view(frame)])
    ms = (time.perf_counter() - started) * 1000
    return [_found(d) for d in assessment.detections if d.volume], ms


def _xyz(box: Sequence[int]) -> tuple[float, ...]:
    """A simulator truth box (z0, y0, x0, z1, y1, x1) as (x0, y0, z0, x1, y1, z1)."""
    z0, y0, x0, z1, y1, x1 = box
    return (x0, y0, z0, x1, y1, z1)


def _region(box: Sequence[float]) -> Box:
    # Labelled's type names a 2D box; core.geometry.iou, which matching uses, takes 3D boxes as well
    return cast(Box, tuple(float(v) for v in box))


def _found(detection: Detection) -> Labelled:
    return Labelled(detection.label, _region(detection.volume or ()), detection.score)


def figures(frames: FramesScored) -> dict[str, Any]:
    """The figures of per-frame (truths, detections, ms): every detection is an alarm."""
    return screening_figures(frames, LABELS, pd_iou=PD_IOU, ap_iou=AP_IOU)


def format_report(report: dict[str, Any]) -> str:
    """The figures of ``evaluate`` as a plain-text table."""
    if "data" in report:
        source = f"labelled volumes in {report['data']}"
    elif report.get("generator") == "alt":
        source = f"independent generator ct_alt (never fitted or tuned on), seed {report['seed']}"
    else:
        source = f"shape {report['shape']}, seed {report['seed']}"
    lines = [
        f"ct evaluation: {report['count']} frames, {source}",
        *class_table(report["classes"], pd_iou=PD_IOU, ap_iou=AP_IOU),
    ]
    lines += [
        f"mAP@0.5: {report['map50']:.3f}",
        f"false alarms per bag: {report['false_alarm_rate']:.1%} of {report['clean_frames']} clean bags "
        f"alarm; {report['false_detections_per_frame']:.3f} false detections per bag",
        f"time per frame: mean {report['ms_per_frame_mean']:.0f} ms, p95 {report['ms_per_frame_p95']:.0f} ms",
    ]
    if "designs" in report:
        lines.append("PD per design:")
        lines += [
            f"  {name:<36} {d['detected']:>3} of {d['objects']:>3}" for name, d in report["designs"].items()
        ]
    return "\n".join(lines)
