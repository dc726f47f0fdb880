"""The X-ray detector measured on bags it was not made from: the independent generator (``--generator
alt``, ``smartcustoms.hardware.sim.xray_alt``) and a site's labelled images (``--data DIR``).

Both are scored like the standard evaluation (``core.evaluation``: PASCAL VOC matching at an IoU, PD per
class, false alarms per bag, AP and mAP) and add a breakdown of the misses that says where each one was
lost: no candidate of any class on the object, a candidate of the class scored below its threshold,
a candidate of the class badly placed, or the object taken for another class.

The alt generator is never used to fit or tune anything: ``alt_bags`` refuses to run when a fitting,
tuning or library-building tool is on the call stack, as the seed splits keep the evaluation seeds away
from them.
"""

from __future__ import annotations

import inspect
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smartcustoms.core.evaluation import Evaluation, Labelled
from smartcustoms.core.geometry import iou
from smartcustoms.plugins.xray.detector import XrayDetector
from smartcustoms.plugins.xray.materials import GAIN_FIELDS, GainMapMismatch
from smartcustoms.plugins.xray.tools.evaluate import figures_lines

FITTING_MODULES = tuple(
    f"smartcustoms.plugins.xray.tools.{name}" for name in ("fit", "tune", "build", "train")
)
NEAR_QUARTER_TURN_DEG = 10.0  # a threat this close to a multiple of 90 degrees counts as axis-aligned


class CrossCheckError(ValueError):
    """The cross-simulator check asked for by a tool that fits or tunes, or data it cannot read."""


@dataclass(frozen=True)
class Truth:
    label: str
    box: tuple[float, float, float, float]
    rotation_deg: float | None = None  # when the source knows it
    design: str = ""  # what the object is, when the source knows it


@dataclass(frozen=True, eq=False)
class Bag:
    """One image to assess: uint16 (2, H, W), channel 0 high; its pixel size when known; its truth."""

    image: np.ndarray
    pixel_size_mm: float | None
    truths: tuple[Truth, ...]
    name: str = ""
    pixel_spacing_mm: tuple[float, float] | None = None  # (between rows, columns) of non-square pixels


@dataclass
class Miss:
    truth: Truth
    reason: str  # no_candidate, below_threshold, misplaced, other_class
    best_score: float = float("nan")  # of the class's best overlapping candidate
    other_label: str = ""


@dataclass
class CrossRun:
    evaluation: Evaluation
    seconds: list[float] = field(default_factory=list)
    found: list[Truth] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)
    false_alarms: Counter[str] = field(default_factory=Counter)
    bags: int = 0


# --------------------------------------------------------------------------- sources


def alt_bags(
    seed: int, count: int, *, threat_rate: float = 0.5, shape: tuple[int, int] = (1024, 2048)
) -> Iterator[Bag]:
    """Bags 0 .. count-1 of ``AltXraySimulator(seed)``; CrossCheckError when called by a fitting tool."""
    refuse_fitting_callers()
    from smartcustoms.hardware.sim.xray_alt import AltXraySimulator

    source = AltXraySimulator(seed, shape[0], shape[1], threat_rate=threat_rate)
    for index in range(count):
        scan = source.generate(index)
        truths = tuple(Truth(t.label, tuple(map(float, t.box)), t.rotation_deg, t.design) for t in scan.truth)  # type: ignore[arg-type]  # four numbers
        yield Bag(scan.image, scan.pixel_size_mm, truths, f"alt seed {seed} bag {index}")


def refuse_fitting_callers() -> None:
    """CrossCheckError when a module that fits, tunes or builds the detector is on the call stack."""
    frame = inspect.currentframe()
    while frame is not None:
        spec = frame.f_globals.get("__spec__")
        names = {str(frame.f_globals.get("__name__", "")), str(getattr(spec, "name", "") or "")}
        if any(name.startswith(FITTING_MODULES) for name in names):
            raise CrossCheckError(
                "the alt generator is the cross-simulator check of the X-ray detector: nothing may be "
                f"fitted, tuned or built on it (called from {sorted(names)[-1]})"
            )
        frame = frame.f_back


def read_calibration(path: str | Path) -> dict[str, Any]:
    """A calibration file (the plugin's ``calibration`` setting), read as ``library add xray
    --calibration`` reads one; CrossCheckError (one line) when it is not one."""
    from smartcustoms.plugins.xray.tools import enrol

    try:
        return enrol.read_calibration(Path(path))
    except (OSError, ValueError) as error:
        raise CrossCheckError(str(error)) from None


# --------------------------------------------------------------------------- scoring


def score_bags(
    detector: XrayDetector,
    bags: Iterable[Bag],
    *,
    min_iou: float = 0.3,
    progress: Callable[[int], None] | None = None,
) -> CrossRun:
    """Assess every bag (all candidates kept, for AP and the breakdown of misses) and score it."""
    thresholds = {label: detector.threshold(label) for label in detector.classes}
    run = CrossRun(Evaluation(min_iou=min_iou))
    run.evaluation.expect(detector.classes)
    for bag in bags:
        start = time.perf_counter()
        try:
            candidates, _ = detector.candidates(
                bag.image, pixel_size_mm=bag.pixel_size_mm, pixel_spacing_mm=bag.pixel_spacing_mm
            )
        except GainMapMismatch as error:
            raise CrossCheckError(f"{bag.name or 'a bag'}: {error}") from None
        run.seconds.append(time.perf_counter() - start)
        scored = [Labelled(c.label, c.box, c.score) for c in candidates]
        truths = [Labelled(t.label, t.box) for t in bag.truths]
        run.evaluation.add(truths, scored, thresholds)
        _explain(run, bag, scored, thresholds, min_iou)
        run.bags += 1
        if progress is not None:
            progress(run.bags)
    return run


def _explain(
    run: CrossRun, bag: Bag, scored: list[Labelled], thresholds: Mapping[str, float], min_iou: float
) -> None:
    alarms = [c for c in scored if c.score >= thresholds.get(c.label, 1.0)]
    matched: set[int] = set()
    for truth in bag.truths:
        hit = _best(alarms, truth, min_iou, same_class=True, exclude=matched)
        if hit is not None:
            matched.add(hit)
            run.found.append(truth)
            continue
        run.misses.append(_miss(truth, scored, alarms, thresholds, min_iou))
    for index, alarm in enumerate(alarms):
        if index not in matched:
            run.false_alarms[alarm.label] += 1


def _best(
    candidates: list[Labelled],
    truth: Truth,
    min_iou: float,
    *,
    same_class: bool,
    exclude: set[int] = frozenset(),  # type: ignore[assignment]  # read only
) -> int | None:
    best, best_iou = None, min_iou
    for index, candidate in enumerate(candidates):
        if index in exclude or (same_class and candidate.label != truth.label):
            continue
        overlap = iou(candidate.box, truth.box)
        if overlap >= best_iou:
            best, best_iou = index, overlap
    return best


def _miss(
    truth: Truth,
    scored: list[Labelled],
    alarms: list[Labelled],
    thresholds: Mapping[str, float],
    min_iou: float,
) -> Miss:
    same = [c for c in scored if c.label == truth.label]
    placed = [c for c in same if iou(c.box, truth.box) >= min_iou]
    if placed:
        return Miss(truth, "below_threshold", max(c.score for c in placed))
    other = _best(alarms, truth, min_iou, same_class=False)
    if other is not None:
        return Miss(truth, "other_class", other_label=alarms[other].label)
    near = [c for c in same if iou(c.box, truth.box) > 0.0]
    if near:
        return Miss(truth, "misplaced", max(c.score for c in near))
    return Miss(truth, "no_candidate")


# --------------------------------------------------------------------------- report


def format_report(run: CrossRun, header: str) -> list[str]:
    return [header, *figures_lines(run.evaluation, run.seconds), *_miss_lines(run)]


def _miss_lines(run: CrossRun) -> list[str]:
    lines = [
        "misses by where they were lost (per class: no candidate / below threshold / misplaced / "
        "taken for another class):"
    ]
    for label in sorted({m.truth.label for m in run.misses}):
        mine = [m for m in run.misses if m.truth.label == label]
        reasons = Counter(m.reason for m in mine)
        below = [m.best_score for m in mine if m.reason == "below_threshold"]
        others = Counter(m.other_label for m in mine if m.reason == "other_class")
        lines.append(
            f"  {label:<12} {reasons['no_candidate']} / {reasons['below_threshold']} / "
            f"{reasons['misplaced']} / "
            f"{reasons['other_class']}"
            + (f"; below-threshold scores median {statistics.median(below):.3f}" if below else "")
            + (f"; taken for {dict(others)}" if others else "")
        )
    if run.false_alarms:
        lines.append(f"false alarms by class: {dict(sorted(run.false_alarms.items()))}")
    designs = (
        _rates(run, lambda t: t.design)
        if any(t.design for t in run.found + [m.truth for m in run.misses])
        else []
    )
    if designs:
        lines.append("PD by object: " + ", ".join(designs))
    turns = (
        _rates(run, _turn)
        if any(t.rotation_deg is not None for t in [m.truth for m in run.misses] + run.found)
        else []
    )
    if turns:
        lines.append("PD by rotation: " + ", ".join(turns))
    return lines


def _turn(truth: Truth) -> str:
    if truth.rotation_deg is None:
        return ""
    off = abs((truth.rotation_deg + 45.0) % 90.0 - 45.0)
    return (
        f"within {NEAR_QUARTER_TURN_DEG:g} deg of a quarter turn"
        if off <= NEAR_QUARTER_TURN_DEG
        else "other angles"
    )


def _rates(run: CrossRun, key: Callable[[Truth], str]) -> list[str]:
    found = Counter(key(t) for t in run.found)
    total = found + Counter(key(m.truth) for m in run.misses)
    return [f"{name} {found[name]}/{count}" for name, count in sorted(total.items()) if name]


def describe(settings: Mapping[str, Any]) -> str:
    calibration = {  # a gain map is one number per row: its length stands for it
        k: (f"{len(v)} rows" if k in GAIN_FIELDS else v)
        for k, v in (settings.get("calibration") or {}).items()
    }
    return f"method: {settings.get('method') or 'library'}; calibration: " + (
        json.dumps(calibration, sort_keys=True) if calibration else "the detector's default"
    )
