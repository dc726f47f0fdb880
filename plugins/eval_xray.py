"""Evaluation of the X-ray auto-detector on simulated bags, and the fitting behind its model.

Seeds are split by purpose (``threat_library``): the library and the verifier come from LIBRARY_SEEDS,
the thresholds from TUNING_SEEDS, and the figures from a seed of EVALUATION_SEEDS_FROM or above,
which nothing else ever reads. The standard simulated set is ``XraySimulator(seed, 1024, 2048,
threat_rate=0.5)``, scans 0 .. count-1: 2-megapixel dual-energy images, half of them holding one threat.

``python -m smartcustoms.plugins.eval_xray fit`` refits the clutter spectrum and the verifier into
``plugins/data/xray_detector_model.json``; ``... tune`` prints thresholds chosen on the tuning seed.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from smartcustoms.plugins import _xray_recognition as recognition
from smartcustoms.plugins.evaluation import Evaluation, Labelled, match
from smartcustoms.plugins.threat_library import EVALUATION_SEEDS_FROM, LIBRARY_SEEDS, TUNING_SEEDS
from smartcustoms.plugins.xray_detector import SPEC, XrayDetector
from smartcustoms.plugins.xray_materials import GRID_FACTOR

STANDARD_SHAPE = (1024, 2048)
STANDARD_THREAT_RATE = 0.5
CLUTTER_SEED, CLUTTER_SCANS = LIBRARY_SEEDS[20], 40  # threat-free scans for the clutter spectrum
VERIFIER_SEED, VERIFIER_SCANS = LIBRARY_SEEDS[30], 600  # scans the verifier learns from
TUNING_SEED, TUNING_SCANS = TUNING_SEEDS[0], 2000
RIDGE = 1.0  # on standardised features
MIN_CLASS_POSITIVES = 30  # true peaks a class needs for a verifier of its own (else the pooled one)
FALSE_ALARM_BUDGET_PER_BAG = 0.03  # tuning target, with a margin under the 0.05 goal
MIN_THRESHOLD = 0.02
MODEL_PATH = Path(__file__).parent / "data" / "xray_detector_model.json"


def simulated_scans(
    seed: int,
    count: int,
    *,
    threat_rate: float = STANDARD_THREAT_RATE,
    shape: tuple[int, int] = STANDARD_SHAPE,
) -> Iterator[tuple[int, Any]]:
    """(index, XrayScan) for scans 0 .. count-1 of one simulator seed."""
    simulator = _simulator(seed, threat_rate, shape)
    for index in range(count):
        yield index, simulator.generate(index)


def _simulator(seed: int, threat_rate: float, shape: tuple[int, int]) -> Any:
    from smartcustoms.hardware.sim.xray import XraySimulator

    return XraySimulator(seed, shape[0], shape[1], threat_rate=threat_rate)


def true_cartons(simulator: Any, index: int, scan: Any, box: tuple[int, int, int, int]) -> int:
    """Cartons in a simulated stack: its organic volume (the scan minus the same scan without it) over
    the simulator's carton (26.5 x 8.8 cm, 0.6 cm rods x pi/4 + 0.35 cm board of cellulose per layer)."""
    from smartcustoms.plugins.threat_library import isolate, line_integrals
    from smartcustoms.plugins.xray_materials import Calibration

    alone = line_integrals(isolate(scan.image, simulator.generate(index, threat=None).image, box))
    inverse = Calibration().inverse
    organic = np.clip(inverse[0, 0] * alone[0] + inverse[0, 1] * alone[1], 0.0, None)
    volume_cm3 = float(organic.sum()) * (scan.pixel_size_mm / 10) ** 2
    return max(1, round(float(volume_cm3) / (26.5 * 8.8 * (0.6 * math.pi / 4 + 0.35))))


def truths_of(scan: Any) -> list[Labelled]:
    return [
        Labelled(t.label, (float(t.box[0]), float(t.box[1]), float(t.box[2]), float(t.box[3])))
        for t in scan.truth
    ]


# --------------------------------------------------------------------------- evaluation


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
) -> Run:
    """Run the detector's assessment on ``count`` simulated bags and score it against their truth."""
    thresholds = {label: detector.threshold(label) for label in detector.classes}
    run = Run(Evaluation(min_iou=min_iou))
    run.evaluation.expect(detector.classes)
    simulator = _simulator(seed, threat_rate, shape)
    detector.candidates(_simulator(seed, 0.0, shape).generate(0).image)  # compile or load kernels, prepare
    for index in range(count):
        scan = simulator.generate(index)
        start = time.perf_counter()
        candidates, _ = detector.candidates(scan.image, pixel_size_mm=scan.pixel_size_mm)
        run.seconds.append(time.perf_counter() - start)
        scored = [Labelled(c.label, c.box, c.score) for c in candidates]
        truths = truths_of(scan)
        run.evaluation.add(truths, scored, thresholds)
        run.cartons += _carton_checks(simulator, index, scan, candidates, thresholds)
        if progress is not None:
            progress(index + 1)
    return run


def _carton_checks(
    simulator: Any,
    index: int,
    scan: Any,
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
            if c.label == truth.label and c.score >= thresholds[c.label] and _iou(c.box, truth.box) >= 0.5
        ]
        if found and "cartons" in found[0].attributes:
            checks.append(
                (int(found[0].attributes["cartons"]), true_cartons(simulator, index, scan, truth.box))
            )
    return checks


def format_report(
    run: Run, *, seed: int, count: int, threat_rate: float, shape: tuple[int, int]
) -> list[str]:
    evaluation = run.evaluation
    lines = [
        f"X-ray auto-detector on simulated bags: seed {seed}, {count} bags of {shape[0]}x{shape[1]} "
        f"dual-energy pixels, threat rate {threat_rate:g}, match IoU >= {evaluation.min_iou:g}",
        f"{'class':<12} {'objects':>7} {'detected':>8} {'PD':>7} {'false_al':>8} {'FA/bag':>7} "
        f"{'AP@' + format(evaluation.min_iou, 'g'):>7} {'precision':>9}",
    ]
    for figures in evaluation.per_class():
        lines.append(
            f"{figures.label:<12} {figures.objects:>7} {figures.detected:>8} {_pct(figures.pd()):>7} "
            f"{figures.false_alarms:>8} {figures.false_alarms / max(evaluation.bags, 1):>7.3f} "
            f"{_num(figures.ap):>7} {_pct(figures.precision()):>9}"
        )
    ms = [s * 1000 for s in run.seconds]
    lines += [
        f"{'all':<12} PD {_pct(evaluation.overall_pd())}, false alarms per bag "
        f"{evaluation.false_alarms_per_bag():.3f}, threat-free bags alarmed "
        f"{_pct(evaluation.bag_false_alarm_rate())} of {evaluation.clean_bags}, "
        f"mAP@{evaluation.min_iou:g} {_num(evaluation.mean_ap())}",
        f"time per frame (detector only, one core): median {statistics.median(ms):.1f} ms, "
        f"p95 {_quantile(ms, 0.95):.1f} ms, mean {statistics.fmean(ms):.1f} ms"
        if ms
        else "no frames",
        _carton_line(run.cartons),
        f"machine: {machine_description()}",
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
        f"{cpu}, {_cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {versions}"
    )


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def check_evaluation_seed(seed: int) -> None:
    """Refuse seeds that built the library or tuned the thresholds."""
    if seed < EVALUATION_SEEDS_FROM:
        raise ValueError(
            f"seed {seed} is not held out: library seeds {LIBRARY_SEEDS.start}-{LIBRARY_SEEDS.stop - 1}, "
            f"tuning seeds {TUNING_SEEDS.start}-{TUNING_SEEDS.stop - 1}; "
            f"evaluate on {EVALUATION_SEEDS_FROM} or above"
        )


# --------------------------------------------------------------------------- fitting and tuning


def fit_model(
    detector: XrayDetector, *, verifier_scans: int = VERIFIER_SCANS, clutter_scans: int = CLUTTER_SCANS
) -> dict[str, Any]:
    """Clutter spectrum from threat-free library-seed scans, then the verifier from library-seed bags."""
    from smartcustoms.plugins.xray_materials import material_maps

    grid_cm = GRID_FACTOR * (800.0 / STANDARD_SHAPE[0]) / 10
    maps = []
    for _, scan in simulated_scans(CLUTTER_SEED, clutter_scans, threat_rate=0.0):
        m = material_maps(scan.image, detector.calibration, scan.pixel_size_mm)
        maps.append((m.a_grid, m.b_grid))
    detector.use_clutter(recognition.ClutterModel.measure(maps, grid_cm))
    features, labels, classes = [], [], []
    for _, scan in simulated_scans(VERIFIER_SEED, verifier_scans):
        candidates = detector.shape_candidates(scan.image, pixel_size_mm=scan.pixel_size_mm)
        for candidate, label in zip(candidates, _training_labels(candidates, truths_of(scan)), strict=True):
            if label is None:
                continue
            assert candidate.features is not None
            features.append(candidate.features)
            labels.append(label)
            classes.append(candidate.label)
    x, y, which = np.array(features), np.array(labels), np.array(classes)
    pooled = recognition.Verifier.fit(x, y, l2=RIDGE)
    per_class = {
        label: recognition.Verifier.fit(x[which == label], y[which == label], l2=RIDGE)
        for label in sorted(set(classes))
        if y[which == label].sum() >= MIN_CLASS_POSITIVES
    }
    return {
        "fitted_on": (
            f"clutter: seed {CLUTTER_SEED} scans 0-{clutter_scans - 1} (threat-free); verifier: seed "
            f"{VERIFIER_SEED} scans 0-{verifier_scans - 1}, {len(labels)} peaks, {int(sum(labels))} true"
        ),
        "clutter": {
            "frequency_per_cm": list(detector.clutter.frequency_per_cm),
            "power_a": list(detector.clutter.power_a),
            "power_b": list(detector.clutter.power_b),
        },
        "verifier": _verifier_json(pooled),
        "class_verifiers": {label: _verifier_json(v) for label, v in per_class.items()},
    }


def _training_labels(
    candidates: Sequence[recognition.Candidate], truths: Sequence[Labelled]
) -> list[float | None]:
    """1 for the best-placed peak on each true object (IoU >= 0.5), 0 for peaks on no object of their
    class (IoU < 0.3), None (left out) for the other peaks on an object: the verifier learns to rank the
    right placement above the near misses that suppression removes anyway."""
    labels: list[float | None] = []
    best: dict[int, tuple[float, int]] = {}
    for k, candidate in enumerate(candidates):
        overlaps = [_iou(t.box, candidate.box) if t.label == candidate.label else 0.0 for t in truths]
        top = max(overlaps, default=0.0)
        labels.append(0.0 if top < 0.3 else None)
        if top >= 0.5:
            t = int(np.argmax(overlaps))
            if t not in best or top > best[t][0]:
                best[t] = (top, k)
    for _, k in best.values():
        labels[k] = 1.0
    return labels


def _verifier_json(verifier: recognition.Verifier) -> dict[str, Any]:
    return {
        "mean": list(verifier.mean),
        "scale": list(verifier.scale),
        "weights": list(verifier.weights),
        "bias": verifier.bias,
    }


def _iou(one: tuple[float, ...], other: tuple[float, ...]) -> float:
    from smartcustoms.plugins.evaluation import iou

    return iou((one[0], one[1], one[2], one[3]), (other[0], other[1], other[2], other[3]))


def tune_thresholds(
    detector: XrayDetector, *, scans: int = TUNING_SCANS, budget: float = FALSE_ALARM_BUDGET_PER_BAG
) -> tuple[dict[str, float], list[str]]:
    """Class thresholds that detect the most objects of the tuning bags within a false-alarm budget.

    Greedy over classes: each step lowers one class's threshold past its next k false alarms, choosing
    the step that gains the most true detections per false alarm, until the budget (per bag) is spent or
    no step gains. Returns the thresholds and a summary per class on the tuning bags.
    """
    scored: dict[str, list[tuple[float, bool]]] = {label: [] for label in detector.classes}
    objects: dict[str, int] = dict.fromkeys(detector.classes, 0)
    for _, scan in simulated_scans(TUNING_SEED, scans):
        candidates, _ = detector.candidates(scan.image, pixel_size_mm=scan.pixel_size_mm)
        labelled = [Labelled(c.label, c.box, c.score) for c in candidates]
        truths = truths_of(scan)
        for truth in truths:
            objects[truth.label] = objects.get(truth.label, 0) + 1
        for candidate, hit in zip(labelled, match(labelled, truths, 0.5), strict=True):
            scored[candidate.label].append((candidate.score, hit))
    admitted = _allocate(scored, math.floor(budget * scans))
    thresholds, summary = {}, []
    for label, pairs in scored.items():
        threshold = _threshold(pairs, admitted[label])
        thresholds[label] = threshold
        hits = sum(1 for s, hit in pairs if hit and s >= threshold)
        false = sum(1 for s, hit in pairs if not hit and s >= threshold)
        summary.append(
            f"{label}: threshold {threshold}, PD {hits}/{objects.get(label, 0)}, "
            f"false alarms {false} in {scans} bags"
        )
    return thresholds, summary


def _false_scores(pairs: Sequence[tuple[float, bool]]) -> list[float]:
    return sorted((s for s, hit in pairs if not hit), reverse=True)


def _threshold(pairs: Sequence[tuple[float, bool]], false_alarms: int) -> float:
    """The lowest threshold admitting only the ``false_alarms`` best-scored false candidates."""
    false_scores = _false_scores(pairs)
    if len(false_scores) <= false_alarms:
        return MIN_THRESHOLD
    return round(min(max(false_scores[false_alarms] + 1e-4, MIN_THRESHOLD), 0.99), 4)


def _allocate(scored: Mapping[str, Sequence[tuple[float, bool]]], allowed: int) -> dict[str, int]:
    """False alarms admitted per class: greedy on true detections gained per false alarm."""
    gains: dict[str, list[int]] = {}  # true detections when admitting 0, 1, ... false alarms
    for label, pairs in scored.items():
        most = min(allowed, len(_false_scores(pairs)))
        thresholds = [_threshold(pairs, k) for k in range(most + 1)]
        true_scores = [s for s, hit in pairs if hit]
        gains[label] = [sum(1 for s in true_scores if s >= t) for t in thresholds]
    admitted = dict.fromkeys(scored, 0)
    while (room := allowed - sum(admitted.values())) > 0:
        best: tuple[float, int, str] | None = None
        for label, table in gains.items():
            start = admitted[label]
            for step in range(1, min(room, len(table) - 1 - start) + 1):
                gain = table[start + step] - table[start]
                if gain > 0 and (best is None or gain / step > best[0]):
                    best = (gain / step, step, label)
        if best is None:
            break
        admitted[best[2]] += best[1]
    return admitted


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smartcustoms.plugins.eval_xray", description=__doc__)
    parser.add_argument("step", choices=("fit", "tune"))
    parser.add_argument("--scans", type=int, default=None, help="scans to fit on or tune on")
    args = parser.parse_args(argv)
    detector = XrayDetector(dict(SPEC.default_settings))
    if args.step == "fit":
        model = fit_model(detector, verifier_scans=args.scans or VERIFIER_SCANS)
        MODEL_PATH.write_text(json.dumps(model, indent=1) + "\n")
        print(f"wrote {MODEL_PATH}: {model['fitted_on']}")
    else:
        thresholds, summary = tune_thresholds(detector, scans=args.scans or TUNING_SCANS)
        print("\n".join(summary))
        print(json.dumps(thresholds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
