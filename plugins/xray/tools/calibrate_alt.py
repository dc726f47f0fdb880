"""The detector's calibration for the independent generator's scanners, from their air and step-wedge
scans (never from bags):

    python -m smartcustoms.plugins.xray.tools.calibrate_alt [--seed 5000] [--scans 20] --out FILE

For each of ``scans`` scanners (``xray_alt.wedge_scan(seed, k)``: the scanner that bag k of that seed
is taken on) it measures the belt alone and steps of cellulose (1.5 g/cm^3, the organic basis),
aluminium and steel (the metal basis), fits each step material's attenuation per channel through the
origin (total line integral over total thickness of the steps up to a high-energy line integral of
2.5, so beam hardening shows as a compromise over the usable range) and averages over the scanners,
because every alt bag draws a scanner of its own and the detector takes one calibration. The class
limits follow: inorganic from the geometric mean of the organic and aluminium low/high ratios,
metal from that of aluminium and steel, empty at 1.5 times the belt's high-energy line integral.
The file is a JSON object of ``materials.Calibration`` fields, for ``smartcustoms eval xray
--calibration FILE`` or the plugin's ``calibration`` setting.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from smartcustoms.plugins.xray.tools.calibrate import Step, attenuation, average, calibration_from
from smartcustoms.plugins.xray.tools.crosscheck import refuse_fitting_callers

DEFAULT_SEED = 5000  # scanners of this seed; any seed serves, no bag is read


def step_attenuation(seed: int, indices: range) -> dict[str, tuple[float, float]]:
    """Mean (high, low) attenuation per cm of each wedge material over the scanners of bags ``indices``
    of ``seed``, and the belt's line integrals ('belt'): ``calibrate.attenuation`` of each scanner."""
    from smartcustoms.hardware.sim.xray_alt import wedge_scan

    refuse_fitting_callers()
    measured = []
    for index in indices:
        scan = wedge_scan(seed, index)
        steps = [Step(material, thickness, box) for material, thickness, box in scan.steps]
        measured.append(attenuation(scan.air, scan.wedge, steps))
    return average(measured)


def calibration(seed: int = DEFAULT_SEED, scans: int = 20) -> dict[str, float]:
    """The ``calibration`` setting for the alt scanners (fields of ``materials.Calibration``), averaged
    over the scanners of bags 0 .. scans-1 of ``seed``."""
    return calibration_from(step_attenuation(seed, range(scans)))


def scanner_calibration(seed: int, index: int) -> dict[str, float]:
    """The calibration of the one scanner that bag ``index`` of ``seed`` is taken on (for studying how
    much of a miss is calibration; a site with one scanner calibrates this way)."""
    return calibration_from(step_attenuation(seed, range(index, index + 1)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smartcustoms.plugins.xray.tools.calibrate_alt",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"scanners of this seed ({DEFAULT_SEED})"
    )
    parser.add_argument("--scans", type=int, default=20, help="scanners to average over (20)")
    parser.add_argument("--out", required=True, type=Path, help="the calibration file to write (JSON)")
    args = parser.parse_args(argv)
    if args.scans < 1:
        print("calibrate_alt: --scans must be at least 1", file=sys.stderr)
        return 2
    values = calibration(args.seed, args.scans)
    args.out.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}: {json.dumps(values, sort_keys=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
