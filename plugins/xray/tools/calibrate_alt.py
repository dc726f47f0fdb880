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
import math
import sys
from pathlib import Path

import numpy as np

from smartcustoms.plugins.xray.tools.crosscheck import refuse_fitting_callers

DEFAULT_SEED = 5000  # scanners of this seed; any seed serves, no bag is read
_INNER = 0.2  # the share of a step's box left out at each side (blur, edges)
_USABLE_LINE_INTEGRAL = 2.5  # steps beyond this in the high channel are left out (hardened, noisy)


def step_attenuation(seed: int, indices: range) -> dict[str, tuple[float, float]]:
    """Mean (high, low) attenuation per cm of each wedge material over the scanners of bags ``indices``
    of ``seed``, and the belt's line integrals ('belt')."""
    from smartcustoms.hardware.sim.xray_alt import wedge_scan

    refuse_fitting_callers()
    fitted: dict[str, list[tuple[float, float]]] = {}
    for index in indices:
        scan = wedge_scan(seed, index)
        belt = _lines(scan.air).reshape(2, -1).mean(axis=1)
        fitted.setdefault("belt", []).append((float(belt[0]), float(belt[1])))
        wedge = _lines(scan.wedge)
        per_material: dict[str, list[tuple[float, np.ndarray]]] = {}
        for material, thickness, (x0, y0, x1, y1) in scan.steps:
            dx, dy = int((x1 - x0) * _INNER), int((y1 - y0) * _INNER)
            step = wedge[:, y0 + dy : y1 - dy, x0 + dx : x1 - dx].reshape(2, -1).mean(axis=1) - belt
            per_material.setdefault(material, []).append((thickness, step))
        for material, steps in per_material.items():
            usable = [s for s in steps if s[1][0] <= _USABLE_LINE_INTEGRAL] or steps[:2]
            t = np.array([s[0] for s in usable])
            lines = np.array([s[1] for s in usable])
            mu = lines.sum(axis=0) / t.sum()
            fitted.setdefault(material, []).append((float(mu[0]), float(mu[1])))
    return {
        name: (float(np.mean([v[0] for v in values])), float(np.mean([v[1] for v in values])))
        for name, values in fitted.items()
    }


def calibration(seed: int = DEFAULT_SEED, scans: int = 20) -> dict[str, float]:
    """The ``calibration`` setting for the alt scanners (fields of ``materials.Calibration``), averaged
    over the scanners of bags 0 .. scans-1 of ``seed``."""
    return _from_attenuation(step_attenuation(seed, range(scans)))


def scanner_calibration(seed: int, index: int) -> dict[str, float]:
    """The calibration of the one scanner that bag ``index`` of ``seed`` is taken on (for studying how
    much of a miss is calibration; a site with one scanner calibrates this way)."""
    return _from_attenuation(step_attenuation(seed, range(index, index + 1)))


def _from_attenuation(mu: dict[str, tuple[float, float]]) -> dict[str, float]:
    ratio = {name: mu[name][1] / mu[name][0] for name in ("cellulose", "aluminium", "iron")}
    return {
        "organic_mu_high_per_cm": round(mu["cellulose"][0], 5),
        "organic_mu_low_per_cm": round(mu["cellulose"][1], 5),
        "metal_mu_high_per_cm": round(mu["iron"][0], 5),
        "metal_mu_low_per_cm": round(mu["iron"][1], 5),
        "ratio_inorganic": round(math.sqrt(ratio["cellulose"] * ratio["aluminium"]), 4),
        "ratio_metal": round(math.sqrt(ratio["aluminium"] * ratio["iron"]), 4),
        "empty_line_integral": round(1.5 * mu["belt"][0], 4),
    }


def _lines(image: np.ndarray) -> np.ndarray:
    return -np.log(np.maximum(image.astype(np.float64), 0.5) / 65535.0)


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
