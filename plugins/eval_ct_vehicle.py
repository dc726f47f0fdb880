"""Evaluation of ct_detector and vehicle_compare on held-out simulated sets.

``run_ct_eval(count, seed)``: ``count`` volumes of ``CtSimulator(seed)`` (default shape 256 x 128 x 192
at 3 mm), volume ``i`` holding no threat when ``i % 5 == 0``, else firearm, knife, explosive and
cigarettes in turn. ``run_vehicle_eval(count, seed)``: ``count`` scans of ``VehicleSimulator(seed)``
(1024 x 3072, every model, half of them with a concealment of a kind that fits the vehicle and its
declaration). Each frame goes through the plugin's own ``assess`` as the runtime would call it, built
with the simulator's ``to_frame``; vehicle frames also carry ``declared_pallets``, the quantity a manifest
declares (from the simulator's declared load: a declaration, not the concealment's truth).

Figures, per class and overall:

- ``pd``: true objects matched by a detection of their class with IoU >= 0.3 (3D IoU of voxel boxes for
  CT, 2D for vehicles), over true objects;
- ``ap50`` and ``map50``: VOC average precision at IoU 0.5 (``plugins.evaluation.average_precision``);
- ``false_alarm_rate``: share of threat-free bags (vehicles) that alarm at all;
  ``false_detections_per_frame``: detections matching no true object, per frame (all frames);
- ``ms_per_frame_mean`` / ``ms_per_frame_p95``: wall time of ``assess`` per frame, this process, one thread.

Seeds: the thresholds were set by looking at CT seeds 100-199 and vehicle seeds 200-299 only; both
functions refuse those (``DEVELOPMENT_SEEDS``). Use seeds from 1000 on for reported figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from smartcustoms.core.frames import inline_view
from smartcustoms.core.types import Assessment, Decision
from smartcustoms.plugins import ct_detector, vehicle_compare
from smartcustoms.plugins.evaluation import average_precision

DEVELOPMENT_SEEDS = {"ct": range(100, 200), "vehicle": range(200, 300)}
PD_IOU = 0.3
AP_IOU = 0.5
CT_CYCLE: tuple[str | None, ...] = (None, *ct_detector.LABELS)

Region = tuple[float, ...]  # (lows..., highs...) in any number of dimensions
Truth = tuple[str, Region]


def iou(one: Region, other: Region) -> float:
    """Intersection over union of two axis-aligned boxes (lows then highs), any dimension."""
    half = len(one) // 2
    inter, size_one, size_other = 1.0, 1.0, 1.0
    for k in range(half):
        inter *= max(0.0, min(one[k + half], other[k + half]) - max(one[k], other[k]))
        size_one *= one[k + half] - one[k]
        size_other *= other[k + half] - other[k]
    union = size_one + size_other - inter
    return inter / union if union > 0 else 0.0


def _matched(
    found: Sequence[tuple[str, float, Region]], truths: Sequence[Truth], min_iou: float
) -> list[bool]:
    """Per detection: whether it takes an unmatched true object of its class (VOC, best score first)."""
    taken = [False] * len(truths)
    hits = [False] * len(found)
    for index in sorted(range(len(found)), key=lambda k: -found[k][1]):
        label, _, region = found[index]
        best, best_iou = -1, min_iou
        for t, (truth_label, truth_region) in enumerate(truths):
            overlap = iou(region, truth_region)
            if not taken[t] and truth_label == label and overlap >= best_iou:
                best, best_iou = t, overlap
        if best >= 0:
            taken[best] = hits[index] = True
    return hits


def _figures(
    frames: Sequence[tuple[Sequence[Truth], Sequence[tuple[str, float, Region]], bool, float]],
    labels: Sequence[str],
) -> dict[str, Any]:
    """Figures from per-frame (truths, detections, alarmed, ms)."""
    classes: dict[str, Any] = {}
    for label in labels:
        ranked: list[tuple[float, bool]] = []
        objects = detected = 0
        for truths, found, _, _ in frames:
            mine = [f for f in found if f[0] == label]
            own = [t for t in truths if t[0] == label]
            objects += len(own)
            detected += sum(_matched(mine, own, PD_IOU))
            ranked += [(f[1], hit) for f, hit in zip(mine, _matched(mine, own, AP_IOU), strict=True)]
        classes[label] = {
            "objects": objects,
            "detected": detected,
            "pd": detected / objects if objects else float("nan"),
            "ap50": average_precision(ranked, objects),
        }
    clean = [alarmed for truths, _, alarmed, _ in frames if not truths]
    false_detections = sum(
        len(found) - sum(_matched(found, truths, PD_IOU)) for truths, found, _, _ in frames
    )
    times = np.array([ms for *_, ms in frames])
    aps = [c["ap50"] for c in classes.values() if not np.isnan(c["ap50"])]
    return {
        "frames": len(frames),
        "clean_frames": len(clean),
        "classes": classes,
        "map50": float(np.mean(aps)) if aps else float("nan"),
        "false_alarm_rate": sum(clean) / len(clean) if clean else float("nan"),
        "false_detections_per_frame": false_detections / len(frames) if frames else float("nan"),
        "ms_per_frame_mean": float(times.mean()) if len(times) else float("nan"),
        "ms_per_frame_p95": float(np.percentile(times, 95)) if len(times) else float("nan"),
    }


def _timed(run: Callable[[], Assessment]) -> tuple[Assessment, float]:
    start = time.perf_counter()
    assessment = run()
    return assessment, (time.perf_counter() - start) * 1000


def _check_seed(system: str, seed: int, count: int) -> None:
    if seed in DEVELOPMENT_SEEDS[system]:
        used = DEVELOPMENT_SEEDS[system]
        raise ValueError(
            f"seed {seed} was used to develop the {system} thresholds: evaluate on another "
            f"(not {used.start}-{used.stop - 1})"
        )
    if count < 1:
        raise ValueError("count must be at least 1")


def run_ct_eval(count: int, seed: int, *, shape: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """ct_detector on ``count`` simulated volumes of ``seed``: the figures as a dict."""
    from smartcustoms.hardware.sim import ct

    _check_seed("ct", seed, count)
    simulator = ct.CtSimulator(seed, shape or ct.DEFAULT_SHAPE)
    detector = ct_detector.CtDetector()
    ct_detector.assess(
        inline_view(ct.to_frame(simulator.generate(0, threat=None), source_id="w", sequence=0)), detector
    )
    frames = []
    for index in range(count):
        scan = simulator.generate(index, threat=CT_CYCLE[index % len(CT_CYCLE)])
        view = inline_view(ct.to_frame(scan, source_id="ct-eval", sequence=index))
        assessment, ms = _timed(lambda view=view: ct_detector.assess(view, detector))  # type: ignore[misc]  # default binds the loop value
        truths = [(t.label, _ct_region(t.box)) for t in scan.truth]
        found = [(d.label, d.score, _volume_region(d.volume)) for d in assessment.detections if d.volume]
        frames.append((truths, found, assessment.decision is Decision.ALARM, ms))
    report = _figures(frames, ct_detector.LABELS)
    return {"system": "ct", "seed": seed, "count": count, "shape": list(simulator.shape), **report}


def _ct_region(box: tuple[int, ...]) -> Region:
    """A simulator truth box (z0, y0, x0, z1, y1, x1) as (x0, y0, z0, x1, y1, z1)."""
    z0, y0, x0, z1, y1, x1 = box
    return (x0, y0, z0, x1, y1, z1)


def _volume_region(volume: tuple[float, ...]) -> Region:
    return tuple(float(v) for v in volume)


def run_vehicle_eval(count: int, seed: int, *, height: int = 1024, width: int = 3072) -> dict[str, Any]:
    """vehicle_compare on ``count`` simulated portal scans of ``seed``: the figures as a dict."""
    from smartcustoms.hardware.sim import vehicle

    _check_seed("vehicle", seed, count)
    simulator = vehicle.VehicleSimulator(seed, height, width, concealment_rate=0.5)
    comparer = vehicle_compare.VehicleComparer()
    frames = []
    for index in range(-1, count):  # -1: warm-up (compiles or loads the kernels), not counted
        scan = simulator.generate(max(index, 0))
        view = inline_view(vehicle_frame(scan, simulator.pixel_cm, max(index, 0)))
        assessment, ms = _timed(lambda view=view: vehicle_compare.assess(view, comparer))  # type: ignore[misc]  # default binds the loop value
        if index < 0:
            continue
        truths = [(c.kind, tuple(float(v) for v in c.box)) for c in scan.concealments]
        found = [(d.label, d.score, tuple(d.box)) for d in assessment.detections if d.box]
        frames.append((truths, found, assessment.decision is Decision.ALARM, ms))
    report = _figures(frames, vehicle_compare.LABELS)
    return {"system": "vehicle", "seed": seed, "count": count, "shape": [2, height, width], **report}


def vehicle_frame(scan: Any, pixel_cm: float, sequence: int) -> Any:
    """The simulator's frame of a scan plus ``declared_pallets`` (the manifest's quantity)."""
    from smartcustoms.hardware.sim import vehicle

    return vehicle.to_frame(scan, source_id="portal-eval", sequence=sequence)


def format_report(report: dict[str, Any]) -> str:
    """The figures of ``run_ct_eval`` or ``run_vehicle_eval`` as a plain-text table."""
    unit = "bag" if report["system"] == "ct" else "vehicle"
    lines = [
        f"{report['system']} evaluation: {report['count']} frames of shape {report['shape']}, "
        f"seed {report['seed']}",
        f"{'class':<20} {'objects':>7} {'detected':>8} {'PD@0.3':>7} {'AP@0.5':>7}",
    ]
    for label, c in report["classes"].items():
        lines.append(f"{label:<20} {c['objects']:>7} {c['detected']:>8} {c['pd']:>7.1%} {c['ap50']:>7.3f}")
    lines += [
        f"mAP@0.5: {report['map50']:.3f}",
        f"false alarms per {unit}: {report['false_alarm_rate']:.1%} of {report['clean_frames']} "
        f"clean {unit}s alarm; "
        f"{report['false_detections_per_frame']:.3f} false detections per {unit}",
        f"time per frame: mean {report['ms_per_frame_mean']:.0f} ms, p95 {report['ms_per_frame_p95']:.0f} ms",
    ]
    return "\n".join(lines)
