"""Fit the X-ray detector's model on library seeds: the clutter spectrum, then the verifiers.

    python -m smartcustoms.plugins.xray.tools.fit --out model.json [--scans 600] [--library-dir DIR]
    smartcustoms library build xray --model model.json        # an artefact with the new model

The detector starts from the ``xray-library`` artefact (its entries; the clutter spectrum is replaced
first, then every verified peak of the training scans is labelled against the truth). The model goes to
the file given, never into the package: ``build --model FILE`` puts it into an artefact, and copying it
over ``tools/fitted_model.json`` (with the figures it gives) makes it the shipped one.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smartcustoms.core.artefacts import ArtefactError
from smartcustoms.core.evaluation import Labelled
from smartcustoms.core.geometry import iou
from smartcustoms.plugins.xray import _recognition as recognition
from smartcustoms.plugins.xray.detector import XrayDetector
from smartcustoms.plugins.xray.library import LibraryError
from smartcustoms.plugins.xray.materials import GRID_FACTOR, material_maps
from smartcustoms.plugins.xray.model import ClutterModel, Verifier, verifier_fields
from smartcustoms.plugins.xray.tools.evaluate import tool_plugin
from smartcustoms.plugins.xray.tools.seeds import LIBRARY_SEEDS
from smartcustoms.plugins.xray.tools.simulated import STANDARD_SHAPE, simulated_scans, truths_of

CLUTTER_SEED, CLUTTER_SCANS = LIBRARY_SEEDS[20], 40  # threat-free scans for the clutter spectrum
VERIFIER_SEED, VERIFIER_SCANS = LIBRARY_SEEDS[30], 600  # scans the verifier learns from
RIDGE = 1.0  # on standardised features
MIN_CLASS_POSITIVES = 30  # true peaks a class needs for a verifier of its own (else the pooled one)


def fit_model(
    detector: XrayDetector, *, verifier_scans: int = VERIFIER_SCANS, clutter_scans: int = CLUTTER_SCANS
) -> dict[str, Any]:
    """Clutter spectrum from threat-free library-seed scans, then the verifier from library-seed bags;
    the model as ``model.json`` holds it."""
    grid_cm = GRID_FACTOR * (800.0 / STANDARD_SHAPE[0]) / 10
    maps = []
    for _, scan in simulated_scans(CLUTTER_SEED, clutter_scans, threat_rate=0.0):
        m = material_maps(scan.image, detector.calibration, scan.pixel_size_mm)
        maps.append((m.a_grid, m.b_grid))
    detector.use_clutter(ClutterModel.measure(maps, grid_cm))
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
    pooled = Verifier.fit(x, y, l2=RIDGE)
    per_class = {
        label: Verifier.fit(x[which == label], y[which == label], l2=RIDGE)
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
        "verifier": verifier_fields(pooled),
        "class_verifiers": {label: verifier_fields(v) for label, v in per_class.items()},
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
        overlaps = [iou(t.box, candidate.box) if t.label == candidate.label else 0.0 for t in truths]
        top = max(overlaps, default=0.0)
        labels.append(0.0 if top < 0.3 else None)
        if top >= 0.5:
            t = int(np.argmax(overlaps))
            if t not in best or top > best[t][0]:
                best[t] = (top, k)
    for _, k in best.values():
        labels[k] = 1.0
    return labels


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smartcustoms.plugins.xray.tools.fit", description=__doc__
    )
    parser.add_argument("--out", required=True, type=Path, help="the model file to write (JSON)")
    parser.add_argument("--scans", type=int, default=VERIFIER_SCANS, help="scans the verifier learns from")
    parser.add_argument("--library-dir", default="", help="the xray-library artefact (default: its place)")
    args = parser.parse_args(argv)
    try:
        plugin = tool_plugin({"library_dir": args.library_dir})
    except (ArtefactError, LibraryError, ValueError) as error:
        print(f"fit: {error}", file=sys.stderr)
        return 2
    model = fit_model(plugin.detector, verifier_scans=args.scans)
    args.out.write_text(json.dumps(model, indent=1) + "\n")
    print(f"wrote {args.out}: {model['fitted_on']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
