"""Enrolment from the independent generator's scanners, as a site enrols its own seized objects:

    python -m smartcustoms.plugins.xray.tools.enrol_alt [--seed 3900] [--per-class 20] --out DIR
    smartcustoms eval xray --generator alt --seed 3004 --library-dir DIR

For each class, ``per-class`` threats alone on the belt (``xray_alt.threat_scan``: a design, angle and
scanner of their own, drawn by the alt generator's seed ``seed``, bag indices 0, 1, ... per class) are
cut to the object with a margin of belt as ``smartcustoms library add xray`` cuts a site's scans
(``enrol.object_crop``; an object too faint to stand above the belt, as loose cigarette packs are, is
cut by the box the generator drew), each at its scanner's pixel size and carrying its scanner's calibration,
measured from that scanner's air and step-wedge scans (``calibrate_alt.scanner_calibration``). The
folder is a library folder for the detector's ``library_dirs`` (``eval xray --library-dir``).

Nothing else is taken from the alt generator: no threshold, verifier or clutter model is fitted on
it. The enrolment seed must not be the seed evaluated: its scanners and designs would be the
evaluation's own.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from smartcustoms.plugins.xray.library import LibraryEntry, write_library_dir
from smartcustoms.plugins.xray.tools.enrol import MARGIN_PX, object_crop

DEFAULT_SEED = 3900  # no evaluation seed of the alt generator (3000-3004) is used for enrolment
DEFAULT_PER_CLASS = 20


def enrolled(seed: int, per_class: int) -> list[LibraryEntry]:
    """``per_class`` entries per alt threat class, from seed ``seed``."""
    from smartcustoms.hardware.sim import xray_alt
    from smartcustoms.plugins.xray.tools.calibrate_alt import scanner_calibration

    entries = []
    for number, label in enumerate(xray_alt.THREAT_CLASSES):
        for k in range(per_class):
            index = number * per_class + k  # a scanner of its own for every scan
            scan = xray_alt.threat_scan(seed, index, label)
            name = f"alt-{seed}-{index}-{scan.truth[0].design}"
            note = f"xray_alt.threat_scan({seed}, {index}, {label!r}): {scan.truth[0].design}"
            try:
                crop = object_crop(scan.image, name)
            except ValueError:  # too faint to stand above the belt (loose packs): the drawn box
                crop = _truth_crop(scan.image, scan.truth[0].box)
            calibration = scanner_calibration(seed, index)
            entries.append(LibraryEntry(name, label, crop, scan.pixel_size_mm, note, calibration))
    return entries


def _truth_crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    top, left = max(y0 - MARGIN_PX, 0), max(x0 - MARGIN_PX, 0)
    return np.ascontiguousarray(image[:, top : y1 + MARGIN_PX, left : x1 + MARGIN_PX])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smartcustoms.plugins.xray.tools.enrol_alt",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"alt seed ({DEFAULT_SEED})")
    parser.add_argument(
        "--per-class", type=int, default=DEFAULT_PER_CLASS, help=f"scans per class ({DEFAULT_PER_CLASS})"
    )
    parser.add_argument("--out", required=True, type=Path, help="the library folder to write")
    args = parser.parse_args(argv)
    if args.per_class < 1:
        print("enrol_alt: --per-class must be at least 1", file=sys.stderr)
        return 2
    entries = enrolled(args.seed, args.per_class)
    write_library_dir(args.out, entries)
    print(f"wrote {len(entries)} entries to {args.out} (seed {args.seed}, {args.per_class} per class)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
