"""Evaluation of the X-ray auto-detector on held-out simulated bags (``smartcustoms eval xray``).

The detector is built through its plugin class from the ``xray-library`` artefact (``tool_plugin``), so
the figures are those of exactly what the runtime runs. The standard simulated set is
``XraySimulator(seed, 1024, 2048, threat_rate=0.5)``, scans 0 .. count-1, from a seed of
EVALUATION_SEEDS_FROM or above.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from smartcustoms.core.artefacts import resolve_root
from smartcustoms.core.evaluation import Evaluation, Labelled
from smartcustoms.core.geometry import iou
from smartcustoms.core.plugin import PluginContext, Role
from smartcustoms.hardware.sim.xray import XrayScan, XraySimulator
from smartcustoms.plugins.xray import _recognition as recognition
from smartcustoms.plugins.xray.detector import XrayDetector
from smartcustoms.plugins.xray.plugin import SPEC, XrayDetectorPlugin
from smartcustoms.plugins.xray.tools.simulated import (
    STANDARD_SHAPE,
    STANDARD_THREAT_RATE,
    simulator,
    true_cartons,
    truths_of,
)


def tool_plugin(
    settings: Mapping[str, Any] | None = None, artefact_root: str | Path = ""
) -> XrayDetectorPlugin:
    """The plugin as the runtime builds it (its defaults overlaid with ``settings``), for a tool:
    ArtefactError naming the build command when the artefact is missing."""
    context = PluginContext(SPEC.name, Role.TOOL, artefact_root=resolve_root(str(artefact_root)))
    return XrayDetectorPlugin({**SPEC.default_settings, **(settings or {})}, context)


@dataclass
class Run:
    """An evaluation's figures and the detector's time per frame (seconds)."""

    evaluation: Evaluation
    seconds: list[float] = field(default_factory=list)
    cartons: list[tuple[int, int]] = field(default_factory=list)  # (estimated, true) per stack found


def evaluate(
    detector: XrayDetector,
    seed: int,
    count: int,
    *,
    threat_rate: float = STANDARD_THREAT_RATE,
    shape: tuple[int, int] = STANDARD_SHAPE,
    min_iou: float = 0.5,
    progress: Callable[[int], None] | None = None,
    randomise: bool = False,
) -> Run:
    """Run the detector's assessment on ``count`` simulated bags and score it against their truth
    (``randomise``: physics drawn per bag and threats at any angle, ``XraySimulator(randomise=True)``)."""
    thresholds = {label: detector.threshold(label) for label in detector.classes}
    run = Run(Evaluation(min_iou=min_iou))
    run.evaluation.expect(detector.classes)
    source = simulator(seed, threat_rate, shape, randomise=randomise)
    detector.candidates(simulator(seed, 0.0, shape).generate(0).image)  # compile or load kernels, prepare
    for index in range(count):
        scan = source.generate(index)
        start = time.perf_counter()
        candidates, _ = detector.candidates(scan.image, pixel_size_mm=scan.pixel_size_mm)
        run.seconds.append(time.perf_counter() - start)
        scored = [Labelled(c.label, c.box, c.score) for c in candidates]
        run.evaluation.add(truths_of(scan), scored, thresholds)
        run.cartons += _carton_checks(source, index, scan, candidates, thresholds)
        if progress is not None:
            progress(index + 1)
    return run


def _carton_checks(
    source: XraySimulator,
    index: int,
    scan: XrayScan,
    candidates: Sequence[recognition.Candidate],
    thresholds: Mapping[str, float],
) -> list[tuple[int, int]]:
    checks = []
    for truth in scan.truth:
        if truth.label != "cigarettes":
            continue
        found = [
            c
            for c in candidates
            if c.label == truth.label and c.score >= thresholds[c.label] and iou(c.box, truth.box) >= 0.5
        ]
        if found and "cartons" in found[0].attributes:
            checks.append((int(found[0].attributes["cartons"]), true_cartons(source, index, scan, truth.box)))
    return checks


def format_report(
    run: Run, *, seed: int, count: int, threat_rate: float, shape: tuple[int, int]
) -> list[str]:
    return [
        f"X-ray auto-detector on simulated bags: seed {seed}, {count} bags of {shape[0]}x{shape[1]} "
        f"dual-energy pixels, threat rate {threat_rate:g}, match IoU >= {run.evaluation.min_iou:g}",
        *figures_lines(run.evaluation, run.seconds),
        _carton_line(run.cartons),
        f"machine: {machine_description()}",
    ]


def figures_lines(evaluation: Evaluation, seconds: Sequence[float]) -> list[str]:
    """The per-class table, the overall line and the time per frame of an evaluation."""
    lines = [
        f"{'class':<12} {'objects':>7} {'detected':>8} {'PD':>7} {'false_al':>8} {'FA/bag':>7} "
        f"{'AP@' + format(evaluation.min_iou, 'g'):>7} {'precision':>9}",
    ]
    for figures in evaluation.per_class():
        lines.append(
            f"{figures.label:<12} {figures.objects:>7} {figures.detected:>8} {_pct(figures.pd()):>7} "
            f"{figures.false_alarms:>8} {figures.false_alarms / max(evaluation.bags, 1):>7.3f} "
            f"{_num(figures.ap):>7} {_pct(figures.precision()):>9}"
        )
    ms = [s * 1000 for s in seconds]
    lines += [
        f"{'all':<12} PD {_pct(evaluation.overall_pd())}, false alarms per bag "
        f"{evaluation.false_alarms_per_bag():.3f}, threat-free bags alarmed "
        f"{_pct(evaluation.bag_false_alarm_rate())} of {evaluation.clean_bags}, "
        f"mAP@{evaluation.min_iou:g} {_num(evaluation.mean_ap())}",
        f"time per frame (detector only, one core): median {statistics.median(ms):.1f} ms, "
        f"p95 {_quantile(ms, 0.95):.1f} ms, mean {statistics.fmean(ms):.1f} ms"
        if ms
        else "no frames",
    ]
    return lines


def _carton_line(cartons: Sequence[tuple[int, int]]) -> str:
    if not cartons:
        return "cigarette quantity: no stack detected"
    exact = sum(1 for estimate, truth in cartons if estimate == truth)
    error = statistics.fmean(abs(estimate - truth) for estimate, truth in cartons)
    total = sum(truth for _, truth in cartons)
    return (
        f"cigarette quantity: cartons exact for {exact} of {len(cartons)} stacks found, mean error "
        f"{error:.2f} cartons (stacks of {total / len(cartons):.1f} cartons on average)"
    )


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f}%"


def _num(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def machine_description() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(f"{name} {_version(name)}" for name in ("numpy", "numba"))
    return (
        f"{cpu}, {os.cpu_count() or 1} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {versions}"
    )


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"
