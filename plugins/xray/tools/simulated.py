"""The simulator as a named source of data for the X-ray detector's offline tools, and its seeds.

Seeds are split by purpose (``seeds``): the library's signatures and the model come from LIBRARY_SEEDS,
the thresholds from TUNING_SEEDS, and the figures from a seed of EVALUATION_SEEDS_FROM or above, which
nothing else ever reads. The standard simulated set is
``XraySimulator(seed, 1024, 2048, threat_rate=0.5)``, scans 0 .. count-1: 2-megapixel dual-energy
images, half of them holding one threat.

A library entry from the simulator is one scan with a forced threat and the same scan without it, which
differ only where the threat is: their line-integral difference is the threat alone (``isolate``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from smartcustoms.core.evaluation import Labelled
from smartcustoms.hardware.sim.xray import XrayScan, XraySimulator
from smartcustoms.plugins.xray.library import FULL_SCALE, LibraryEntry, line_integrals
from smartcustoms.plugins.xray.materials import Calibration
from smartcustoms.plugins.xray.tools.seeds import LIBRARY_SEEDS

LIBRARY_CLASSES = ("firearm", "knife", "cigarettes", "phone")
LIBRARY_ENTRIES_PER_CLASS = 16
LIBRARY_SCAN_SHAPE = (1024, 2048)
STANDARD_SHAPE = (1024, 2048)
STANDARD_THREAT_RATE = 0.5
_CROP_MARGIN_PX = 6
_AIR_LINE_INTEGRAL = 1e-3  # below this the isolated object is taken as absent (exact air in the file)


def simulator(
    seed: int,
    threat_rate: float = STANDARD_THREAT_RATE,
    shape: tuple[int, int] = STANDARD_SHAPE,
    *,
    randomise: bool = False,
) -> XraySimulator:
    """The standard simulated set of a seed; ``randomise``: each scan's physics drawn at random and
    threats turned by any angle (``XraySimulator(randomise=True)``)."""
    return XraySimulator(seed, shape[0], shape[1], threat_rate=threat_rate, randomise=randomise)


def simulated_scans(
    seed: int,
    count: int,
    *,
    threat_rate: float = STANDARD_THREAT_RATE,
    shape: tuple[int, int] = STANDARD_SHAPE,
    randomise: bool = False,
) -> Iterator[tuple[int, XrayScan]]:
    """(index, scan) for scans 0 .. count-1 of one simulator seed."""
    source = simulator(seed, threat_rate, shape, randomise=randomise)
    for index in range(count):
        yield index, source.generate(index)


def truths_of(scan: XrayScan) -> list[Labelled]:
    return [
        Labelled(t.label, (float(t.box[0]), float(t.box[1]), float(t.box[2]), float(t.box[3])))
        for t in scan.truth
    ]


def simulated_entries(
    classes: Sequence[str] = LIBRARY_CLASSES,
    per_class: int = LIBRARY_ENTRIES_PER_CLASS,
    seeds: range = LIBRARY_SEEDS,
) -> list[LibraryEntry]:
    """Signatures of simulated threats: entry k of a class comes from seed ``seeds[k]``."""
    if per_class > len(seeds):
        raise ValueError(f"{per_class} entries per class need as many seeds, got {len(seeds)}")
    height, width = LIBRARY_SCAN_SHAPE
    entries = []
    for k in range(per_class):
        source = XraySimulator(seeds[k], height, width)
        for index, label in enumerate(classes):
            with_threat = source.generate(index, threat=label)
            without = source.generate(index, threat=None)
            image = isolate(with_threat.image, without.image, with_threat.truth[0].box)
            note = f"simulator seed {seeds[k]} scan {index}, isolated by difference"
            entries.append(LibraryEntry(f"{label}-{k:03d}", label, image, source.pixel_size_mm, note))
    return entries


def isolate(
    with_object: np.ndarray, without_object: np.ndarray, box: tuple[int, int, int, int]
) -> np.ndarray:
    """The object alone: exp of the line-integral difference of two scans, cropped around ``box``.

    Both scans are uint16 [2, H, W] of the same scene, one with the object and one without; Beer-Lambert
    makes line integrals add, so their difference is the object's own attenuation.
    """
    x0, y0, x1, y1 = box
    _, height, width = with_object.shape
    rows = slice(max(0, y0 - _CROP_MARGIN_PX), min(height, y1 + _CROP_MARGIN_PX))
    cols = slice(max(0, x0 - _CROP_MARGIN_PX), min(width, x1 + _CROP_MARGIN_PX))
    counts_with = np.maximum(with_object[:, rows, cols].astype(np.float64), 0.5)
    counts_without = np.maximum(without_object[:, rows, cols].astype(np.float64), 0.5)
    difference = np.log(counts_without) - np.log(counts_with)
    difference[:, np.abs(difference).max(axis=0) < _AIR_LINE_INTEGRAL] = 0.0
    transmission = np.exp(-np.clip(difference, 0.0, None))
    image: np.ndarray = np.round(transmission * FULL_SCALE).astype(np.uint16)
    return image


def true_cartons(source: XraySimulator, index: int, scan: XrayScan, box: tuple[int, int, int, int]) -> int:
    """Cartons in a simulated stack: its organic volume (the scan minus the same scan without it) over
    the simulator's carton (26.5 x 8.8 cm, 0.6 cm rods x pi/4 + 0.35 cm board of cellulose per layer)."""
    alone = line_integrals(isolate(scan.image, source.generate(index, threat=None).image, box))
    inverse = Calibration().inverse
    organic = np.clip(inverse[0, 0] * alone[0] + inverse[0, 1] * alone[1], 0.0, None)
    volume_cm3 = float(organic.sum()) * (scan.pixel_size_mm / 10) ** 2
    return max(1, round(float(volume_cm3) / (26.5 * 8.8 * (0.6 * math.pi / 4 + 0.35))))
