"""``smartcustoms library add xray``: a site's own threat images into a library folder.

A site scans a threat alone on the belt (a seized pistol, a knife of a new kind) on its own scanner and
enrols the scans under a label::

    smartcustoms library add xray --label knife --out /srv/xray-site-library scan-1.npy scan-2.npy \\
        --pixel-size-mm 0.8 --calibration lane-1.json --note "seized 2026-11 at Lok Ma Chau"

Each scan (``.npy`` [2, height, width] uint16, high energy first, or DICOS DX files, one per energy, the
pixel size then from their spacing) is cut to the object: the pixels whose high-energy line integral
stands above the scan's border (the belt) by ``OBJECT_LINE_INTEGRAL``, with a margin of belt around
them, which the detector takes as the entry's background. The entries go into ``--out``, a library
folder (``labels.csv`` and ``.npy``, made if missing, extended if not); the detector reads it when the
folder is in its ``library_dirs`` setting, and a new label becomes a new class. ``--calibration`` is the
scanner's calibration (the file ``smartcustoms calibrate xray --out`` writes): each entry carries it, so
the detector splits the object into its basis materials as that scanner saw it, whatever scanner a frame
later comes from; a calibration with a dark level or gain map (a scanner that does not flat-field its
images) flat-fields the scans first, and the entries keep the rest of it. DICOS scans of non-square
pixels are resampled to square ones, as the detector reads such frames.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smartcustoms.plugins.xray.library import (
    FULL_SCALE,
    LABELS_FILE,
    LibraryEntry,
    line_integrals,
    load_library_dir,
    write_library_dir,
)
from smartcustoms.plugins.xray.materials import (
    FLAT_FIELD_FIELDS,
    Calibration,
    checked_calibration,
    flat_field,
    pixel_spacing,
    square_pixels,
)

OBJECT_LINE_INTEGRAL = 0.15  # above the belt, in the high-energy channel: the object
MARGIN_PX = 12  # belt kept around the object: the entry's border is its background
BORDER_PX = 4


def add_parser(add_targets: Any) -> None:
    add = add_targets.add_parser(
        "xray",
        help="a site's own threat scans (an object alone on the belt) into an X-ray library folder",
        description=(
            "Enrol scans of a threat alone on the belt, taken on the site's scanner, under a label: each is "
            "cut to the object with a margin of belt, and written into the library folder --out (made or "
            "extended), which the detector reads when it is in its library_dirs setting. --calibration: the "
            "scanner's calibration (from smartcustoms calibrate xray), carried by each entry."
        ),
    )
    add.add_argument(
        "images", nargs="+", metavar="SCAN", help=".npy [2, h, w] or DICOS DX files (one per energy)"
    )
    add.add_argument(
        "--label", required=True, help="the class: firearm, knife, phone, cigarettes or a new one"
    )
    add.add_argument("--out", required=True, type=Path, help="the library folder (a library_dirs entry)")
    add.add_argument("--pixel-size-mm", type=float, default=0.0, help="the pixel size of .npy scans")
    add.add_argument(
        "--calibration", type=Path, help="the scanner's calibration (JSON), carried by each entry"
    )
    add.add_argument("--note", default="", help="where the object comes from, for the labels file")
    add.set_defaults(handler=cmd_library_add_xray)


def cmd_library_add_xray(args: argparse.Namespace) -> int:
    try:
        calibration = read_calibration(args.calibration) if args.calibration else None
        scans = read_scans(args.images, args.pixel_size_mm, checked_calibration(calibration or {}))
        if calibration is not None:  # the scans are flat-fielded with it: entries keep the rest
            calibration = {k: v for k, v in calibration.items() if k not in FLAT_FIELD_FIELDS}
        existing = load_library_dir(args.out) if (args.out / LABELS_FILE).is_file() else []
        taken = {entry.entry_id for entry in existing}
        added = []
        for name, image, pixel_mm in scans:
            entry_id = _unique(f"{args.label}-{Path(name).stem}", taken)
            note = args.note or f"enrolled from {Path(name).name}"
            added.append(
                LibraryEntry(entry_id, args.label, object_crop(image, name), pixel_mm, note, calibration)
            )
            taken.add(entry_id)
        write_library_dir(args.out, [*existing, *added])
    except (OSError, ValueError) as error:  # LibraryError is a ValueError
        print(f"smartcustoms library add xray: {error}", file=sys.stderr)
        return 2
    for entry in added:
        height, width = entry.image.shape[1:]
        size = f"{width} x {height} px at {entry.pixel_size_mm:g} mm"
        print(f"{args.out}: {entry.entry_id} ({entry.label}, {size})")
    print(f"{len(added)} entries added, {len(existing) + len(added)} in {args.out}; the detector reads it "
          "when the folder is in its library_dirs setting")  # fmt: skip
    return 0


def read_calibration(path: Path) -> dict[str, Any]:
    """A scanner's calibration file (fields of ``materials.Calibration``); ValueError naming what is wrong."""
    try:
        values = json.loads(path.read_text())
    except ValueError as error:
        raise ValueError(f"{path}: not JSON: {error}") from None
    try:
        checked_calibration(values)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return dict(values)


def read_scans(
    paths: Sequence[str], pixel_size_mm: float, calibration: Calibration | None = None
) -> list[tuple[str, np.ndarray, float]]:
    """(name, uint16 [2, h, w], pixel size) per scan: each .npy file, and the DICOS DX files of each
    scan; flat-fielded with ``calibration``'s dark level and gain map, if it has them, and resampled to
    square pixels when DICOS says they are not."""
    from smartcustoms.core.frames import inline_view
    from smartcustoms.hardware import dicos

    scans = []
    arrays = [p for p in paths if Path(p).suffix == ".npy"]
    for path in arrays:
        if not pixel_size_mm > 0:
            raise ValueError(f"{path}: give the .npy scans' pixel size with --pixel-size-mm")
        image = _dual_energy(np.load(path, allow_pickle=False), path)
        scans.append((path, flat_field(image, calibration) if calibration else image, pixel_size_mm))
    others = [p for p in paths if p not in arrays]
    for frame in dicos.read_frames(others, source_id="library-add") if others else []:
        name = frame.metadata.get("sop_instance_uid", "").split(",")[0] or "dicos"
        image = inline_view(frame).array()
        pixel_mm = float(frame.metadata.get("pixel_size_mm") or pixel_size_mm or 0)
        if not pixel_mm > 0:
            raise ValueError(f"DICOS scan {name}: no pixel spacing; give --pixel-size-mm")
        image = _dual_energy(image, name)
        image = flat_field(image, calibration) if calibration else image
        spacing = pixel_spacing(frame.metadata.get("pixel_spacing_mm", ""))
        if spacing is not None:
            image, pixel_mm = square_pixels(image, spacing)
        scans.append((name, image, pixel_mm))
    return scans


def _dual_energy(image: np.ndarray, name: str) -> np.ndarray:
    if image.ndim != 3 or image.shape[0] != 2:
        raise ValueError(
            f"{name}: a dual-energy scan is [2, height, width], high energy first; got {list(image.shape)}"
        )
    if image.dtype != np.uint16:
        if not np.issubdtype(image.dtype, np.integer) or image.min() < 0 or image.max() > FULL_SCALE:
            raise ValueError(f"{name}: counts must be 16-bit (0-{FULL_SCALE}), got {image.dtype}")
        image = image.astype(np.uint16)
    return image


def object_crop(image: np.ndarray, name: str) -> np.ndarray:
    """The object's part of a scan of it alone on the belt, with a margin of belt around it."""
    lines = line_integrals(image[0])
    border = np.concatenate(
        [
            lines[:BORDER_PX].ravel(),
            lines[-BORDER_PX:].ravel(),
            lines[:, :BORDER_PX].ravel(),
            lines[:, -BORDER_PX:].ravel(),
        ]
    )
    rows, cols = np.nonzero(lines > float(np.median(border)) + OBJECT_LINE_INTEGRAL)
    if rows.size == 0:
        raise ValueError(f"{name}: no object stands above the belt: scan the threat alone on the belt")
    top, bottom = max(rows.min() - MARGIN_PX, 0), min(rows.max() + MARGIN_PX + 1, image.shape[1])
    left, right = max(cols.min() - MARGIN_PX, 0), min(cols.max() + MARGIN_PX + 1, image.shape[2])
    return np.ascontiguousarray(image[:, top:bottom, left:right])


def _unique(entry_id: str, taken: set[str]) -> str:
    candidate, n = entry_id, 2
    while candidate in taken:
        candidate, n = f"{entry_id}-{n}", n + 1
    return candidate


__all__ = ["add_parser", "cmd_library_add_xray", "object_crop", "read_calibration", "read_scans"]
