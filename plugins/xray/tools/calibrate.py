"""``smartcustoms calibrate xray``: a scanner's calibration from its own scans, not from bags.

A site scans the empty belt (``--air``) and a step wedge (``--wedge``): steps of known thickness of the
organic basis (cellulose, or a plastic near it), aluminium and steel, each in a box of the image that
``--steps`` names. From them it measures each material's attenuation per channel, and writes the fields
of ``materials.Calibration`` as JSON: the file the plugin's ``calibration`` setting (or ``smartcustoms
eval xray --calibration FILE``) takes. With ``--source PATTERN`` (and ``--kvp``, ``--name``) it adds the
scanner's calibration to a calibrations file instead, the one the detector's ``calibrations_file``
setting names, so that each scanner's frames are read with its own (``scanners.py``).

- Each step's line integral (``L = -ln(value / full scale)``) is averaged over the inner part of its box
  (a fifth left out at each side: blur, edges) and the belt's is subtracted.
- Each material's attenuation per channel is fitted through the origin over its steps up to a
  high-energy line integral of 2.5 (thicker ones are hardened and noisy), so beam hardening shows as a
  compromise over the usable range.
- The class limits follow: inorganic from the geometric mean of the organic and aluminium low/high
  ratios, metal from that of aluminium and steel, empty at 1.5 times the belt's high-energy line
  integral.

Scans are ``.npy`` arrays [2, height, width] of transmitted counts, high energy first (the frame
layout of docs/formats.md), or a scan's DICOS DX files, one per energy (``--air high.dcs low.dcs``).
The steps file is a JSON list of ``{"material": "cellulose" | "aluminium" | "iron", "thickness_cm":
0.5, "box": [x0, y0, x1, y1]}``, at least one step of each material.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smartcustoms.plugins.xray.scanners import Scanner, add_scanner, default_name, kvp_key

MATERIALS = ("cellulose", "aluminium", "iron")
INNER = 0.2  # the share of a step's box left out at each side (blur, edges)
USABLE_LINE_INTEGRAL = 2.5  # steps beyond this in the high channel are left out (hardened, noisy)
FULL_SCALE = 65535.0


@dataclass(frozen=True)
class Step:
    """One step of the wedge: its material, thickness and where it lies in the wedge scan."""

    material: str
    thickness_cm: float
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels


def line_integrals(image: np.ndarray, full_scale: float = FULL_SCALE) -> np.ndarray:
    return -np.log(np.maximum(image.astype(np.float64), 0.5) / full_scale)


def attenuation(
    air: np.ndarray, wedge: np.ndarray, steps: Sequence[Step], full_scale: float = FULL_SCALE
) -> dict[str, tuple[float, float]]:
    """(high, low) attenuation per cm of each step material, and the belt's line integrals ('belt')."""
    belt = line_integrals(air, full_scale).reshape(2, -1).mean(axis=1)
    lines = line_integrals(wedge, full_scale)
    measured: dict[str, list[tuple[float, np.ndarray]]] = {}
    for step in steps:
        x0, y0, x1, y1 = step.box
        dx, dy = int((x1 - x0) * INNER), int((y1 - y0) * INNER)
        inner = lines[:, y0 + dy : y1 - dy, x0 + dx : x1 - dx].reshape(2, -1)
        measured.setdefault(step.material, []).append((step.thickness_cm, inner.mean(axis=1) - belt))
    found = {"belt": (float(belt[0]), float(belt[1]))}
    for material, values in measured.items():
        usable = [v for v in values if v[1][0] <= USABLE_LINE_INTEGRAL] or sorted(values, key=_first)[:2]
        thickness = sum(t for t, _ in usable)
        mu = np.sum([line for _, line in usable], axis=0) / thickness
        found[material] = (float(mu[0]), float(mu[1]))
    return found


def calibration_from(mu: dict[str, tuple[float, float]]) -> dict[str, float]:
    """The ``calibration`` setting (fields of ``materials.Calibration``) from measured attenuation."""
    ratio = {name: mu[name][1] / mu[name][0] for name in MATERIALS}
    return {
        "organic_mu_high_per_cm": round(mu["cellulose"][0], 5),
        "organic_mu_low_per_cm": round(mu["cellulose"][1], 5),
        "metal_mu_high_per_cm": round(mu["iron"][0], 5),
        "metal_mu_low_per_cm": round(mu["iron"][1], 5),
        "ratio_inorganic": round(math.sqrt(ratio["cellulose"] * ratio["aluminium"]), 4),
        "ratio_metal": round(math.sqrt(ratio["aluminium"] * ratio["iron"]), 4),
        "empty_line_integral": round(1.5 * mu["belt"][0], 4),
    }


def average(measurements: Iterable[dict[str, tuple[float, float]]]) -> dict[str, tuple[float, float]]:
    """The mean of several scanners' measurements, material by material."""
    every = list(measurements)
    return {
        name: (
            float(np.mean([m[name][0] for m in every])),
            float(np.mean([m[name][1] for m in every])),
        )
        for name in every[0]
    }


def read_steps(path: Path, shape: tuple[int, ...]) -> list[Step]:
    """The steps file; ValueError naming what is wrong."""
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON: {error}") from None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a JSON list of steps")
    steps = []
    for n, item in enumerate(items):
        try:
            material, thickness = str(item["material"]), float(item["thickness_cm"])
            x0, y0, x1, y1 = (int(v) for v in item["box"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"{path}: step {n}: needs material, thickness_cm and box [x0, y0, x1, y1]"
            ) from None
        if material not in MATERIALS:
            raise ValueError(f"{path}: step {n}: material {material!r} is not one of {', '.join(MATERIALS)}")
        if not (thickness > 0 and 0 <= x0 < x1 <= shape[-1] and 0 <= y0 < y1 <= shape[-2]):
            raise ValueError(f"{path}: step {n}: thickness must be > 0 and the box inside the scan")
        steps.append(Step(material, thickness, (x0, y0, x1, y1)))
    missing = [m for m in MATERIALS if m not in {s.material for s in steps}]
    if missing:
        raise ValueError(f"{path}: no step of {', '.join(missing)}")
    return steps


def read_scan(paths: Path | Sequence[Path]) -> np.ndarray:
    """A dual-energy scan [2, height, width]: one .npy file, or the DICOS DX files of one scan (one per
    energy, stacked highest kVp first); ValueError naming what is wrong."""
    paths = [paths] if isinstance(paths, Path) else list(paths)
    if len(paths) > 1 or paths[0].suffix != ".npy":
        from smartcustoms.hardware import dicos

        return read_dicos_scan(dicos.read_scan(paths).array, paths)
    path = paths[0]
    try:
        scan: np.ndarray = np.asarray(np.load(path, allow_pickle=False))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a .npy array: {error}") from None
    if scan.ndim != 3 or scan.shape[0] < 2:
        raise ValueError(f"{path}: expected [2, height, width] (high energy first), got {list(scan.shape)}")
    return scan[:2]


def read_dicos_scan(scan: np.ndarray, paths: Sequence[Path]) -> np.ndarray:
    if scan.ndim != 3 or scan.shape[0] < 2:
        names = ", ".join(str(p) for p in paths)
        raise ValueError(f"{names}: a dual-energy scan needs a DX file per energy, got {list(scan.shape)}")
    return scan[:2]


def add_parser(calibrate_kinds: Any) -> None:
    xray = calibrate_kinds.add_parser(
        "xray", help="the X-ray detector's calibration from the scanner's air and step-wedge scans"
    )
    xray.add_argument(
        "--air",
        required=True,
        type=Path,
        nargs="+",
        help="the empty belt: .npy [2, h, w], or its DICOS DX files",
    )
    xray.add_argument(
        "--wedge",
        required=True,
        type=Path,
        nargs="+",
        help="the step wedge: .npy [2, h, w], or its DICOS DX files",
    )
    xray.add_argument("--steps", required=True, type=Path, help="JSON list of the wedge's steps")
    xray.add_argument("--full-scale", type=float, default=FULL_SCALE, help="counts of an open beam (65535)")
    xray.add_argument("--out", required=True, type=Path, help="the calibration file to write (JSON)")
    xray.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="PATTERN",
        help="the scanner's source ids (globs, repeatable): add its calibration to the calibrations file "
        "--out (the detector's calibrations_file) instead of writing a calibration alone",
    )
    xray.add_argument("--kvp", default="", help="with --source: only frames of these tube voltages (160,80)")
    xray.add_argument("--name", default="", help="with --source: the scanner's name (default: its patterns)")
    xray.set_defaults(handler=cmd_calibrate_xray)


def cmd_calibrate_xray(args: argparse.Namespace) -> int:
    try:
        air, wedge = read_scan(args.air), read_scan(args.wedge)
        if air.shape != wedge.shape:
            raise ValueError(
                f"the air scan {list(air.shape)} and the wedge {list(wedge.shape)} differ in size"
            )
        steps = read_steps(args.steps, wedge.shape)
        if (args.kvp or args.name) and not args.source:
            raise ValueError("--kvp and --name describe a scanner: give its source ids with --source")
        if args.kvp and not kvp_key(args.kvp):
            raise ValueError(f"--kvp must be tube voltages such as 160,80, got {args.kvp!r}")
        values = calibration_from(attenuation(air, wedge, steps, args.full_scale))
        if args.source:
            name = args.name or default_name(args.source, args.kvp)
            scanners = add_scanner(args.out, Scanner(name, tuple(args.source), values, kvp_key(args.kvp)))
    except (OSError, ValueError) as error:
        print(f"smartcustoms calibrate xray: {error}", file=sys.stderr)
        return 2
    if args.source:
        print(
            f"{args.out}: scanner {name!r} ({', '.join(args.source)}), one of {len(scanners)}: "
            f"{json.dumps(values, sort_keys=True)}"
        )
        return 0
    args.out.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}: {json.dumps(values, sort_keys=True)}")
    return 0


def _first(value: tuple[float, np.ndarray]) -> float:
    return value[0]
