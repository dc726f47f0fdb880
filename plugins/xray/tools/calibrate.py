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

A scanner that does not flat-field its own images is calibrated for that too:

- ``--dark``, a scan with the beam off: its mean counts per channel are subtracted from every image
  first (``dark_high``, ``dark_low``), and five standard deviations of its counts, when above the
  default 20, are the opaque limit (``opaque_counts``), below which nothing got through;
- the air scan's rows give each detector row's gain (its mean level over the mean of all rows, per
  channel: ``gain_high``, ``gain_low``), divided out of every image before it is read. The map is kept
  only when it is real: its rows must spread more than four times what photon noise along them
  explains, and two air scans or more (``--air A.npy --air B.npy``) must agree enough that dividing by
  their mean leaves less spread than not dividing (the variance they share above that of the part
  they do not, over the number of scans). A scanner that flat-fields its own images leaves a residual
  of its own in every scan, which repeats in none: it gets no gain map. One air scan cannot tell the
  two apart, so from one the map is left out unless ``--gain-map`` asks for it (a scanner known not
  to flat-field); ``--no-gain-map`` leaves it out in any case;
- with ``--belt``, the air scan is the open beam (no belt) and the belt scan gives the belt's level.

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

from smartcustoms.plugins.xray.materials import GAIN_FIELDS, Calibration
from smartcustoms.plugins.xray.scanners import DEVICE_KEYS, Scanner, add_scanner, default_name, kvp_key

MATERIALS = ("cellulose", "aluminium", "iron")
INNER = 0.2  # the share of a step's box left out at each side (blur, edges)
USABLE_LINE_INTEGRAL = 2.5  # steps beyond this in the high channel are left out (hardened, noisy)
FULL_SCALE = 65535.0
DARK_SIGMAS = 5.0  # the opaque limit: this many standard deviations of the dark scan's counts
GAIN_SIGNIFICANCE = 4.0  # a gain map's row spread over what photon noise along the rows explains


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


@dataclass(frozen=True)
class FlatField:
    """What a scanner that does not flat-field its own images needs: dark counts, a gain map."""

    dark: tuple[float, float] = (0.0, 0.0)  # (high, low) counts with the beam off
    opaque_counts: int | None = None  # measured from the dark scan; None: none given
    gain: np.ndarray | None = None  # float64 (2, rows), mean 1 per channel; None: not kept
    spread: tuple[float, float] = (0.0, 0.0)  # the measured map's row spread per channel (sd)
    verdict: str = ""  # why the gain map was kept or left out

    def apply(self, scan: np.ndarray) -> np.ndarray:
        """A scan of this scanner as its flat-fielded images are read (float64 counts)."""
        out: np.ndarray = scan.astype(np.float64) - np.array(self.dark)[:, None, None]
        if self.gain is not None:
            out /= self.gain[:, :, None]
        return out

    def fields(self) -> dict[str, Any]:
        """The ``materials.Calibration`` fields it measured."""
        values: dict[str, Any] = {}
        if self.opaque_counts is not None:
            values.update(
                dark_high=round(self.dark[0], 2),
                dark_low=round(self.dark[1], 2),
                opaque_counts=self.opaque_counts,
            )
        if self.gain is not None:
            values.update(gain_high=[round(float(g), 5) for g in self.gain[0]])
            values.update(gain_low=[round(float(g), 5) for g in self.gain[1]])
        return values


def flat_field(
    airs: Sequence[np.ndarray], dark: np.ndarray | None, *, gain_map: bool | None = None
) -> FlatField:
    """The dark level and opaque limit from a beam-off scan, and the rows' gain map from air scans,
    kept only when it is real: significant against photon noise, and repeated across two air scans or
    more (``gain_map`` None), or from one air scan too (True); False: never kept."""
    levels, opaque = (0.0, 0.0), None
    if dark is not None:
        counts = dark.reshape(2, -1).astype(np.float64)
        levels = (float(counts[0].mean()), float(counts[1].mean()))
        opaque = max(Calibration.opaque_counts, math.ceil(DARK_SIGMAS * float(counts.std(axis=1).max())))
    offsets = np.array(levels)[:, None, None]
    maps, noise = [], []
    for air in airs:
        open_beam = air.astype(np.float64) - offsets
        rows = open_beam.mean(axis=2)  # (2, height)
        if not np.all(rows > 0):
            raise ValueError("an air scan has rows with no counts above the dark level: not an air scan")
        maps.append(rows / rows.mean(axis=1, keepdims=True))
        noise.append(open_beam.std(axis=2).mean(axis=1) / math.sqrt(air.shape[2]) / rows.mean(axis=1))
    mean = np.mean(maps, axis=0)
    spread = mean.std(axis=1)
    explained = np.mean(noise, axis=0) / math.sqrt(len(airs))
    if gain_map is False:
        return FlatField(levels, opaque, None, tuple(spread), "left out (--no-gain-map)")
    if not np.any(spread > GAIN_SIGNIFICANCE * explained):
        verdict = f"left out: the rows spread no more than photon noise explains ({_percent(spread)})"
        return FlatField(levels, opaque, None, tuple(spread), verdict)
    if len(maps) > 1:
        deviations = np.array(maps) - 1.0  # (scans, 2, height)
        shared = np.mean([np.mean(a * b) for i, a in enumerate(deviations) for b in deviations[i + 1 :]])
        apart = float(np.mean((deviations - deviations.mean(axis=0)) ** 2)) * len(maps) / (len(maps) - 1)
        if not shared > apart / len(maps):
            verdict = (
                f"left out: the air scans' row gains do not repeat ({_percent(spread)}), "
                "as a scanner that flat-fields its own images shows"
            )
            return FlatField(levels, opaque, None, tuple(spread), verdict)
        verdict = f"kept: {len(maps)} air scans agree ({_percent(spread)})"
    elif gain_map is None:
        verdict = (
            f"left out: one air scan cannot tell a gain map from a flat-field's residual "
            f"({_percent(spread)}); give two air scans, or --gain-map to keep it"
        )
        return FlatField(levels, opaque, None, tuple(spread), verdict)
    else:
        verdict = f"kept from one air scan, as --gain-map asks ({_percent(spread)})"
    return FlatField(levels, opaque, mean, tuple(spread), verdict)


def _percent(spread: np.ndarray) -> str:
    return f"rows' gain sd {100 * spread[0]:.2f} % high, {100 * spread[1]:.2f} % low"


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
        action="append",
        help="the empty belt (the open beam with --belt): .npy [2, h, w], or its DICOS DX files; "
        "repeat --air for several air scans (a gain map is kept only when they agree)",
    )
    xray.add_argument(
        "--belt", type=Path, nargs="+", help="the belt alone, when --air is the open beam without it"
    )
    xray.add_argument(
        "--dark", type=Path, nargs="+", help="a scan with the beam off: dark level and opaque limit"
    )
    gain = xray.add_mutually_exclusive_group()
    gain.add_argument(
        "--gain-map",
        action="store_const",
        const=True,
        dest="gain_map",
        help="keep the gain map even from one air scan (a scanner known not to flat-field its images)",
    )
    gain.add_argument(
        "--no-gain-map",
        action="store_const",
        const=False,
        dest="gain_map",
        help="keep no gain map (the scanner flat-fields its images)",
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
    for key in DEVICE_KEYS:
        option = "--" + key.replace("_", "-")
        xray.add_argument(
            option,
            default="",
            metavar="PATTERN",
            help=f"with --source: only frames whose {key} metadata matches (DICOS gives it)",
        )
    xray.set_defaults(handler=cmd_calibrate_xray)


def cmd_calibrate_xray(args: argparse.Namespace) -> int:
    device = {key: getattr(args, key) for key in DEVICE_KEYS if getattr(args, key)}
    try:
        airs = [read_scan(paths) for paths in args.air]
        wedge = read_scan(args.wedge)
        belt = read_scan(args.belt) if args.belt else None
        dark = read_scan(args.dark) if args.dark else None
        for what, scan in [*(("air", a) for a in airs), ("belt", belt), ("dark", dark)]:
            if scan is not None and scan.shape != wedge.shape:
                raise ValueError(
                    f"the {what} scan {list(scan.shape)} and the wedge {list(wedge.shape)} differ in size"
                )
        steps = read_steps(args.steps, wedge.shape)
        if (args.kvp or args.name or device) and not args.source:
            raise ValueError(
                "--kvp, --name and the machine's patterns describe a scanner: "
                "give its source ids with --source"
            )
        if args.kvp and not kvp_key(args.kvp):
            raise ValueError(f"--kvp must be tube voltages such as 160,80, got {args.kvp!r}")
        if not args.source and _is_calibrations_file(args.out):
            raise ValueError(
                f"{args.out} is a calibrations file of several scanners: give --source to add this "
                "scanner to it, or another --out for a calibration alone"
            )
        field = flat_field(airs, dark, gain_map=args.gain_map)
        base = field.apply(belt if belt is not None else np.mean(airs, axis=0))
        values: dict[str, Any] = {
            **calibration_from(attenuation(base, field.apply(wedge), steps, args.full_scale)),
            **field.fields(),
        }
        if args.source:
            name = args.name or default_name(args.source, args.kvp, device)
            scanner = Scanner(name, tuple(args.source), values, kvp_key(args.kvp), device)
            scanners = add_scanner(args.out, scanner)
    except (OSError, ValueError) as error:
        print(f"smartcustoms calibrate xray: {error}", file=sys.stderr)
        return 2
    shown = json.dumps({k: v for k, v in values.items() if k not in GAIN_FIELDS}, sort_keys=True)
    if args.source:
        print(f"{args.out}: scanner {name!r} ({', '.join(args.source)}), one of {len(scanners)}: {shown}")
    else:
        args.out.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
        print(f"wrote {args.out}: {shown}")
    print(f"gain map: {field.verdict}")
    return 0


def _is_calibrations_file(path: Path) -> bool:
    """Whether ``path`` holds a calibrations file (``scanners.py``), which one calibration must not
    replace."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and "scanners" in document


def _first(value: tuple[float, np.ndarray]) -> float:
    return value[0]
