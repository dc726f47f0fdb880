"""Detection metrics for screening: PD per class, false alarms per bag, AP and mAP at an IoU, precision.

Matching follows PASCAL VOC: per class, detections in decreasing score take the unmatched true object of
that class they overlap most, if the intersection over union reaches ``iou``; every other detection is a
false alarm (a second detection of one object included). Average precision is the area under the
precision-recall curve made monotone (all-point interpolation), from every scored candidate.

Screening figures are at the operating point, the detections whose score reaches their class threshold:

- PD (probability of detection) of a class: matched true objects / true objects;
- false alarms per bag: unmatched detections / bags (all bags, with and without threats);
- bag false-alarm rate: share of threat-free bags that alarm at all.

Labelled data from outside (a site's own images, volumes or portal scans) comes as a directory with a
COCO-style ``annotations.json`` beside the files (docs/formats.md); ``read_annotations`` opens it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smartcustoms.core.geometry import iou

Box = tuple[float, float, float, float]
ANNOTATIONS_FILE = "annotations.json"


def read_annotations(directory: str | Path, hint: str, error: type[ValueError]) -> tuple[Path, Any]:
    """The path and parsed JSON of a labelled directory's ``annotations.json``; ``error`` with one line
    when it is missing (``hint`` says what it should hold) or cannot be read as JSON."""
    path = Path(directory) / ANNOTATIONS_FILE
    try:
        return path, json.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{path}: no such file ({hint})") from None
    except (OSError, ValueError) as problem:  # a folder of that name, bytes that are not UTF-8, not JSON
        raise error(f"{path}: not JSON ({problem})") from None


@dataclass
class Tally:
    """True positives, false positives and false negatives of a yes/no decision, with precision and recall
    (0.0 when undefined)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: bool, actual: bool) -> None:
        self.tp += predicted and actual
        self.fp += predicted and not actual
        self.fn += actual and not predicted

    def merge(self, other: Tally) -> None:
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


@dataclass(frozen=True)
class Labelled:
    """A true object or a detection: class, box (x_min, y_min, x_max, y_max) and score (1 for truth)."""

    label: str
    box: Box
    score: float = 1.0


def match(detections: Sequence[Labelled], truths: Sequence[Labelled], min_iou: float) -> list[bool]:
    """For each detection (in the given order), whether it is a true positive under VOC matching."""
    return _voc_assign(detections, truths, min_iou)[0]


def found_truths(detections: Sequence[Labelled], truths: Sequence[Labelled], min_iou: float) -> list[bool]:
    """For each true object (in the given order), whether a detection matched it under VOC matching (the
    objects ``match`` counts as detected)."""
    return _voc_assign(detections, truths, min_iou)[1]


def _voc_assign(
    detections: Sequence[Labelled], truths: Sequence[Labelled], min_iou: float
) -> tuple[list[bool], list[bool]]:
    """Detections by descending score, each to the unmatched true object of its class it overlaps most
    (at least ``min_iou``): per detection whether it matched, per true object whether it was matched."""
    taken = [False] * len(truths)
    hits = [False] * len(detections)
    for index in sorted(range(len(detections)), key=lambda k: -detections[k].score):
        detection = detections[index]
        best, best_iou = -1, min_iou
        for t, truth in enumerate(truths):
            if taken[t] or truth.label != detection.label:
                continue
            overlap = iou(detection.box, truth.box)
            if overlap >= best_iou:
                best, best_iou = t, overlap
        if best >= 0:
            taken[best] = True
            hits[index] = True
    return hits, taken


def average_precision(ranked: Sequence[tuple[float, bool]], positives: int) -> float:
    """Area under the interpolated precision-recall curve of (score, is_true_positive) pairs."""
    if positives == 0:
        return float("nan")
    ordered = sorted(ranked, key=lambda item: -item[0])
    precisions, recalls = [], []
    true_positives = 0
    for rank, (_, hit) in enumerate(ordered, start=1):
        true_positives += hit
        precisions.append(true_positives / rank)
        recalls.append(true_positives / positives)
    area, previous_recall = 0.0, 0.0
    for k in range(len(ordered)):
        best_ahead = max(precisions[k:])
        area += (recalls[k] - previous_recall) * best_ahead
        previous_recall = recalls[k]
    return area


@dataclass
class ClassFigures:
    label: str
    objects: int = 0
    detected: int = 0
    false_alarms: int = 0
    ap: float = float("nan")

    def pd(self) -> float:
        return self.detected / self.objects if self.objects else float("nan")

    def precision(self) -> float:
        alarms = self.detected + self.false_alarms
        return self.detected / alarms if alarms else float("nan")


@dataclass
class Evaluation:
    """Collects bags (truth, scored candidates, thresholds) and computes the figures."""

    min_iou: float = 0.5
    bags: int = 0
    clean_bags: int = 0
    clean_bags_alarmed: int = 0
    _ranked: dict[str, list[tuple[float, bool]]] = field(default_factory=dict)
    _figures: dict[str, ClassFigures] = field(default_factory=dict)

    def expect(self, labels: Sequence[str]) -> None:
        """List these classes in the figures even if a set holds none of them."""
        for label in labels:
            self._class(label)

    def add(
        self, truths: Sequence[Labelled], candidates: Sequence[Labelled], thresholds: Mapping[str, float]
    ) -> None:
        """One bag: its true objects, every scored candidate, and the per-class operating thresholds."""
        self.bags += 1
        for truth in truths:
            self._class(truth.label).objects += 1
        for detection, hit in zip(candidates, match(candidates, truths, self.min_iou), strict=True):
            self._ranked.setdefault(detection.label, []).append((detection.score, hit))
        alarms = [d for d in candidates if d.score >= thresholds.get(d.label, 0.0)]
        for detection, hit in zip(alarms, match(alarms, truths, self.min_iou), strict=True):
            figures = self._class(detection.label)
            if hit:
                figures.detected += 1
            else:
                figures.false_alarms += 1
        if not truths:
            self.clean_bags += 1
            self.clean_bags_alarmed += bool(alarms)

    def _class(self, label: str) -> ClassFigures:
        return self._figures.setdefault(label, ClassFigures(label))

    def per_class(self) -> list[ClassFigures]:
        for label, figures in self._figures.items():
            figures.ap = average_precision(self._ranked.get(label, []), figures.objects)
        return [self._figures[label] for label in sorted(self._figures)]

    def mean_ap(self) -> float:
        values = [f.ap for f in self.per_class() if f.objects]
        return sum(values) / len(values) if values else float("nan")

    def false_alarms_per_bag(self) -> float:
        return sum(f.false_alarms for f in self._figures.values()) / self.bags if self.bags else float("nan")

    def overall_pd(self) -> float:
        objects = sum(f.objects for f in self._figures.values())
        return sum(f.detected for f in self._figures.values()) / objects if objects else float("nan")

    def bag_false_alarm_rate(self) -> float:
        return self.clean_bags_alarmed / self.clean_bags if self.clean_bags else float("nan")


FramesScored = Sequence[tuple[Sequence[Labelled], Sequence[Labelled], float]]
"""Per frame: its true objects, the detections (every detection an alarm) and the milliseconds it took."""


def screening_figures(
    frames: FramesScored, labels: Sequence[str], *, pd_iou: float, ap_iou: float
) -> dict[str, Any]:
    """PD per class at ``pd_iou``, AP per class and mAP at ``ap_iou``, false alarms and time per frame,
    as plain data (a report's JSON)."""
    at_pd, at_ap = Evaluation(min_iou=pd_iou), Evaluation(min_iou=ap_iou)
    for evaluation in (at_pd, at_ap):
        evaluation.expect(labels)
        for truths, found, _ in frames:
            evaluation.add(truths, found, {})
    ap = {f.label: f.ap for f in at_ap.per_class()}
    classes = {
        f.label: {"objects": f.objects, "detected": f.detected, "pd": f.pd(), "ap50": ap[f.label]}
        for f in sorted(at_pd.per_class(), key=lambda f: list(labels).index(f.label))
    }
    times = np.array([ms for *_, ms in frames])
    return {
        "frames": len(frames),
        "clean_frames": at_pd.clean_bags,
        "classes": classes,
        "map50": at_ap.mean_ap(),
        "false_alarm_rate": at_pd.bag_false_alarm_rate(),
        "false_detections_per_frame": at_pd.false_alarms_per_bag(),
        "ms_per_frame_mean": float(times.mean()),
        "ms_per_frame_p95": float(np.percentile(times, 95)),
    }


def class_table(classes: Mapping[str, Mapping[str, Any]], *, pd_iou: float, ap_iou: float) -> list[str]:
    """The per-class lines of a report of ``screening_figures``, with their header."""
    lines = [f"{'class':<20} {'objects':>7} {'detected':>8} {f'PD@{pd_iou:g}':>7} {f'AP@{ap_iou:g}':>7}"]
    for label, c in classes.items():
        lines.append(f"{label:<20} {c['objects']:>7} {c['detected']:>8} {c['pd']:>7.1%} {c['ap50']:>7.3f}")
    return lines
