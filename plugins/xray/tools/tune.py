"""Choose the X-ray detector's class thresholds on the tuning seed, within a false-alarm budget.

    python -m smartcustoms.plugins.xray.tools.tune [--scans 2000] [--out thresholds.json] [--library-dir DIR]

prints each class's threshold with its PD and false alarms on the tuning bags, then the thresholds as
JSON (also written to ``--out`` when given): the ``thresholds`` setting of ``xray_detector``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from smartcustoms.core.artefacts import ArtefactError
from smartcustoms.core.evaluation import Labelled, match
from smartcustoms.plugins.xray.detector import XrayDetector
from smartcustoms.plugins.xray.library import LibraryError
from smartcustoms.plugins.xray.tools.evaluate import tool_plugin
from smartcustoms.plugins.xray.tools.seeds import TUNING_SEEDS
from smartcustoms.plugins.xray.tools.simulated import simulated_scans, truths_of

TUNING_SEED, TUNING_SCANS = TUNING_SEEDS[0], 2000
FALSE_ALARM_BUDGET_PER_BAG = 0.03  # tuning target, with a margin under the 0.05 goal
MIN_THRESHOLD = 0.02


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
    admitted = allocate(scored, math.floor(budget * scans))
    thresholds, summary = {}, []
    for label, pairs in scored.items():
        threshold = threshold_for(pairs, admitted[label])
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


def threshold_for(pairs: Sequence[tuple[float, bool]], false_alarms: int) -> float:
    """The lowest threshold admitting only the ``false_alarms`` best-scored false candidates."""
    false_scores = _false_scores(pairs)
    if len(false_scores) <= false_alarms:
        return MIN_THRESHOLD
    return round(min(max(false_scores[false_alarms] + 1e-4, MIN_THRESHOLD), 0.99), 4)


def allocate(scored: Mapping[str, Sequence[tuple[float, bool]]], allowed: int) -> dict[str, int]:
    """False alarms admitted per class: greedy on true detections gained per false alarm."""
    gains: dict[str, list[int]] = {}  # true detections when admitting 0, 1, ... false alarms
    for label, pairs in scored.items():
        most = min(allowed, len(_false_scores(pairs)))
        thresholds = [threshold_for(pairs, k) for k in range(most + 1)]
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
    parser = argparse.ArgumentParser(
        prog="python -m smartcustoms.plugins.xray.tools.tune", description=__doc__
    )
    parser.add_argument("--scans", type=int, default=TUNING_SCANS, help="tuning bags")
    parser.add_argument("--out", type=Path, default=None, help="also write the thresholds there (JSON)")
    parser.add_argument("--library-dir", default="", help="the xray-library artefact (default: its place)")
    args = parser.parse_args(argv)
    try:
        plugin = tool_plugin({"library_dir": args.library_dir})
    except (ArtefactError, LibraryError, ValueError) as error:
        print(f"tune: {error}", file=sys.stderr)
        return 2
    thresholds, summary = tune_thresholds(plugin.detector, scans=args.scans)
    print("\n".join(summary))
    print(json.dumps(thresholds))
    if args.out is not None:
        args.out.write_text(json.dumps(thresholds, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
