"""``smartcustoms library add vehicle``: a site's own reference scan into the ``vehicle-references`` artefact.

An empty container of one type (``--type 42G1``, an ISO 6346 size-type code, matched against a frame's
``container_type``) or an empty vehicle of one model (``--model NAME``, matched against
``vehicle_model``), from the portal's own scan of it (``scan_files``: DICOS DX, 16-bit PNG or TIFF,
8-bit JPEG). Its pixel size comes from the options (along the vehicle and across it, or one size for
square pixels), else from the DICOS pixel spacing; it is written as the scan has it, the sidecar stating
both sizes when they differ (``references``: the plugin reads it resampled to square pixels).

The current artefact is read and verified (none yet: a new one holding this reference alone), and
written again as a new version (``<old version>+<name>`` unless one is given) with the reference added:
``<name>.npy`` when the model has no reference yet, else ``<name>.<n>.npy`` (every reference of a model
is tried, the best aligned used). Optionally the scanner's levels in the file's units (``open_beam``,
``dark``) calibrate it to the artefact's (65535 open beam, 0 dark). Running plugins load the new version
when they restart.

A part of a container vehicle alone (``--part``): a tractor model (``--model NAME --kind tractor``, a
tractor driven through without a trailer), a trailer model (``--kind trailer``) or an empty container
(``--type``): the sidecar says so (``"part"``) and the comparison joins such parts into the vehicle a
frame names by its ``container_type``, ``tractor_model`` and ``trailer_model`` (``parts``).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smartcustoms.core import artefacts
from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.plugins.vehicle.references import (
    ARTEFACT_NAME,
    BUILD_COMMAND,
    BoxPx,
    ReferenceError,
    read_reference,
    write_reference,
)
from smartcustoms.plugins.vehicle.tools.build import copy_references
from smartcustoms.plugins.vehicle.tools.scan_files import PixelSpacing, ScanImage

MIN_SIDE_PX = 64
# ISO 6346 size-type codes: length, height (and width), type group, detail
_LENGTH = "1234ABCDEFGHKLMNP"
_HEIGHT = "024568CDEFLMNP"
_GROUPS = "GVBSRHUPTA"
_TYPE_CODE = re.compile(rf"^[{_LENGTH}][{_HEIGHT}][{_GROUPS}][0-9]$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # a file name up to its first dot


@dataclass(frozen=True)
class Enrolment:
    """What is known of the reference to add, besides its scan."""

    name: str  # the container type or vehicle model
    kind: str
    pixel: PixelSpacing | None = None  # from the options; None: the scan's own
    cargo_box: BoxPx | None = None  # in the scan's pixels
    description: str = ""
    open_beam: float | None = None  # the scanner's levels in the file's units
    dark: float | None = None
    part: str = ""  # a part of a container vehicle alone (references.PART_KINDS); "" a whole vehicle


def check_type(code: str) -> str:
    """An ISO 6346 size-type code (``22G1``, ``42G1``, ``45R1``), upper-cased; ReferenceError if not one."""
    text = code.strip().upper()
    if not _TYPE_CODE.match(text):
        raise ReferenceError(
            f"unknown container type {code!r}: an ISO 6346 size-type code such as 22G1, 42G1, 45G1 or 45R1"
        )
    return text


def check_model(name: str) -> str:
    """A vehicle model name usable as a reference's file name; ReferenceError if not."""
    text = name.strip()
    if not _MODEL_NAME.match(text):
        raise ReferenceError(
            f"model name {name!r}: letters, digits, '-' and '_' only (it names the reference file and is "
            "matched against the frames' vehicle_model)"
        )
    return text


def add(
    folder: str | Path, scan: ScanImage, enrolment: Enrolment, *, version: str = ""
) -> tuple[ArtefactInfo, str]:
    """Add ``scan`` as a reference of ``enrolment.name`` to the artefact in ``folder`` (a new one when
    there is none); the new artefact and the reference's file name. ReferenceError for a scan or an
    enrolment that cannot be a reference; ArtefactError for an artefact that is there but altered."""
    folder = Path(folder).absolute()
    pixel = enrolment.pixel or scan.pixel
    if pixel is None:
        raise ReferenceError(
            f"{scan.source}: no pixel spacing in the file; give --pixel-size-mm ALONG ACROSS (or one size)"
        )
    image = reference_image(scan, enrolment)
    previous = _current(folder)
    existing = {path.name for path in folder.glob("*.npy")} if previous is not None else set()
    file_name = _free_name(enrolment.name, existing)
    stem = file_name.removesuffix(".npy")

    def write(staging: Path) -> None:
        if previous is not None:
            copy_references(folder, staging)
        path = write_reference(
            staging,
            enrolment.name,
            image,
            pixel_size_mm=pixel.across_mm,
            pixel_size_along_mm=pixel.along_mm,
            cargo_box=enrolment.cargo_box,
            kind=enrolment.kind,
            description=enrolment.description or f"enrolled from {scan.source}",
            name=stem,
            part=enrolment.part,
        )
        read_reference(path)  # as the plugin will read it

    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    added = f"{file_name} added from {Path(scan.source.split(', ')[0]).name}"
    info = artefacts.build(
        folder,
        name=ARTEFACT_NAME,
        version=version or (f"{previous.version}+{stem}" if previous else f"site-{today}+{stem}"),
        source=f"{previous.source}; {added}" if previous else f"site references: {added}",
        write=write,
    )
    return info, file_name


def reference_image(scan: ScanImage, enrolment: Enrolment) -> np.ndarray:
    """The scan as a reference: uint16 [H, W] (one energy) or [channels, H, W], calibrated to 65535 open
    beam and 0 dark when the levels are given; ReferenceError for a scan too small or a cargo box not in
    it, or levels that make no sense."""
    height, width = scan.shape
    if height < MIN_SIDE_PX or width < MIN_SIDE_PX:
        raise ReferenceError(f"{scan.source}: {height} x {width} pixels; a reference is at least 64 x 64")
    box = enrolment.cargo_box
    if box is not None and not (0 <= box[0] < box[2] <= width and 0 <= box[1] < box[3] <= height):
        raise ReferenceError(
            f"cargo box {list(box)}: x0 < x1 <= {width} and y0 < y1 <= {height} pixels of {scan.source}"
        )
    array = scan.array
    if enrolment.open_beam is not None or enrolment.dark is not None:
        array = calibrated(scan, enrolment.open_beam, enrolment.dark)
    return array[0] if array.shape[0] == 1 else array


def calibrated(scan: ScanImage, open_beam: float | None, dark: float | None) -> np.ndarray:
    """The scan's counts mapped so that ``open_beam`` becomes 65535 and ``dark`` 0 (levels in the file's
    units: 0-255 for an 8-bit export)."""
    unit = 257.0 if scan.eight_bit else 1.0
    top = (open_beam if open_beam is not None else 65535.0 / unit) * unit
    bottom = (dark or 0.0) * unit
    if not (0 <= bottom < top <= 65535):
        raise ReferenceError(
            f"levels: open beam {open_beam} must lie above dark {dark or 0}, within the file's range"
        )
    counts = (scan.array.astype(np.float32) - bottom) * (65535.0 / (top - bottom))
    return np.clip(np.round(counts), 0, 65535).astype(np.uint16)


def _current(folder: Path) -> ArtefactInfo | None:
    """The artefact in ``folder``, verified; None when there is none (no manifest)."""
    if not (folder / artefacts.MANIFEST).is_file():
        if folder.exists() and any(folder.iterdir()):
            raise ReferenceError(f"{folder} is not empty and holds no artefact: give an empty or new folder")
        return None
    return artefacts.read(folder, expected_name=ARTEFACT_NAME, build_hint=BUILD_COMMAND)


def _free_name(name: str, taken: set[str]) -> str:
    """``<name>.npy``, or ``<name>.<n>.npy`` for the lowest n from 2 not taken."""
    if not any(t.split(".")[0] == name for t in taken):
        return f"{name}.npy"
    number = 2
    while f"{name}.{number}.npy" in taken:
        number += 1
    return f"{name}.{number}.npy"
