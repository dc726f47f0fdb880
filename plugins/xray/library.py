"""The X-ray threat image database: signature images of threats scanned alone, and the artefact that
ships them with the fitted model.

An entry is one dual-energy image of an object with nothing else in the beam: ``uint16 [2, h, w]``,
channel 0 high energy, full scale (air) = 65535, with its pixel size and its label. A library folder
holds those images as ``.npy`` files and a ``labels.csv`` naming them::

    file,label,pixel_size_mm,note
    firearm-000.npy,firearm,0.78125,simulator seed 100 scan 0
    my-revolver.npy,firearm,0.8,seized 2024-03 at Lok Ma Chau

The border of each image is taken as its background (belt, tray) and subtracted, so crops cut from a
scan of the object alone work as they are. An entry taken on a site's scanner carries that scanner's
calibration (``smartcustoms library add xray --calibration FILE``): a fifth column, ``calibration``,
holds its fields of ``materials.Calibration`` as JSON, and the detector splits the entry into its basis
materials with it, whatever scanner a frame comes from (an entry without one is read with the frame's).

The detector loads one artefact, ``xray-library`` (``smartcustoms.core.artefacts``): such a library folder
plus ``model.json``, the clutter spectrum and verifiers (``model.py``). Only an explicit command builds it,
``smartcustoms library build xray`` (``tools/build.py``: from the simulator, or from a site's folder of
labelled images); the plugin reads and verifies it at start-up. Folders listed in the ``library_dirs``
setting add entries, and a new label becomes a new class, without a code change.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

import numpy as np

from smartcustoms.core import artefacts
from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.plugins.xray.materials import checked_calibration
from smartcustoms.plugins.xray.model import Model, read_model

FULL_SCALE = 65535
LABELS_FILE = "labels.csv"
LABEL_COLUMNS = ("file", "label", "pixel_size_mm", "note", "calibration")  # the last one optional
ARTEFACT_NAME = "xray-library"
MODEL_FILE = "model.json"
BUILD_COMMAND = "smartcustoms library build xray"


@dataclass(frozen=True, eq=False)
class LibraryEntry:
    """One signature image: an object alone in the beam."""

    entry_id: str
    label: str
    image: np.ndarray  # uint16 [2, h, w], channel 0 high energy
    pixel_size_mm: float
    note: str = ""
    # the calibration of the scanner that took it (fields of materials.Calibration); None: the frame's
    calibration: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.image.dtype != np.uint16 or self.image.ndim != 3 or self.image.shape[0] != 2:
            raise ValueError(
                f"entry {self.entry_id}: image must be uint16 [2, h, w], got "
                f"{self.image.dtype} {self.image.shape}"
            )
        if not self.label or not self.label.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"entry {self.entry_id}: label must be a simple name, got {self.label!r}")
        if not self.pixel_size_mm > 0:
            raise ValueError(f"entry {self.entry_id}: pixel_size_mm must be positive")
        if self.calibration is not None:
            try:
                given = self.calibration
                checked_calibration(dict(given) if isinstance(given, Mapping) else given)
            except ValueError as error:
                raise ValueError(f"entry {self.entry_id}: {error}") from None


class LibraryError(ValueError):
    """A library folder that cannot be read."""


@dataclass(frozen=True, eq=False)
class Library:
    """The loaded ``xray-library`` artefact: what identifies it, its entries and its model."""

    info: ArtefactInfo
    entries: tuple[LibraryEntry, ...]
    model: Model


# --------------------------------------------------------------------------- the artefact


def library_folder(library_dir: str, artefact_root: str | os.PathLike[str]) -> Path:
    """Where the artefact lives: ``library_dir`` if set, else ``<artefact root>/xray-library``."""
    return artefacts.locate(ARTEFACT_NAME, library_dir, os.fspath(artefact_root))


def load_library(folder: str | os.PathLike[str]) -> Library:
    """Read and verify the artefact in ``folder``: ArtefactError naming the build command when it is
    missing or altered, LibraryError or ValueError when its content does not parse."""
    info = artefacts.read(Path(folder), expected_name=ARTEFACT_NAME, build_hint=BUILD_COMMAND)
    entries = tuple(load_library_dir(info.path))
    if not entries:
        raise LibraryError(f"{info.path}: the library holds no entry; rebuild it with `{BUILD_COMMAND}`")
    return Library(info, entries, read_model(info.path / MODEL_FILE))


# --------------------------------------------------------------------------- folders


def load_library_dir(folder: str | os.PathLike[str]) -> list[LibraryEntry]:
    """Read the entries a ``labels.csv`` in ``folder`` names; LibraryError on a malformed folder."""
    folder = Path(folder)
    labels = folder / LABELS_FILE
    if not labels.is_file():
        raise LibraryError(f"{folder}: no {LABELS_FILE}")
    entries = []
    with labels.open(newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            entries.append(_read_entry(folder, row, f"{labels}:{line}"))
    return entries


def _read_entry(folder: Path, row: dict[str, str], where: str) -> LibraryEntry:
    try:
        name, label, pixel_size = row["file"].strip(), row["label"].strip(), float(row["pixel_size_mm"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise LibraryError(f"{where}: need columns {', '.join(LABEL_COLUMNS[:3])}: {error}") from None
    path = folder / name
    if path.suffix != ".npy" or not path.is_file():
        raise LibraryError(f"{where}: {name} is not a .npy file in {folder}")
    try:
        image = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise LibraryError(f"{where}: {name} is not a numpy array file: {error}") from None
    try:
        calibration = json.loads(row.get("calibration") or "null")
        note = (row.get("note") or "").strip()
        return LibraryEntry(path.stem, label, image, pixel_size, note, calibration)
    except ValueError as error:  # json.JSONDecodeError among them
        raise LibraryError(f"{where}: {error}") from None


def write_library_dir(folder: str | os.PathLike[str], entries: Iterable[LibraryEntry]) -> Path:
    """Write entries as a library folder (``.npy`` images and ``labels.csv``); returns the folder. Each
    file is replaced whole, the labels last: a failed write leaves the folder as it was, or with new
    images its labels do not name yet."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = list(entries)
    calibrated = any(entry.calibration is not None for entry in entries)
    columns = LABEL_COLUMNS if calibrated else LABEL_COLUMNS[:4]  # a library of one scanner: as before
    rows = []
    for entry in entries:
        _replace_whole(
            folder / f"{entry.entry_id}.npy", partial(np.save, arr=entry.image, allow_pickle=False)
        )
        row = [f"{entry.entry_id}.npy", entry.label, repr(entry.pixel_size_mm), entry.note]
        if calibrated:
            calibration = entry.calibration
            row.append(json.dumps(dict(calibration), sort_keys=True) if calibration is not None else "")
        rows.append(row)

    def labels(handle: IO[bytes]) -> None:
        text = io.StringIO(newline="")
        csv.writer(text).writerows([list(columns), *rows])
        handle.write(text.getvalue().encode())

    _replace_whole(folder / LABELS_FILE, labels)
    return folder


def _replace_whole(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write ``path`` through a file beside it, then rename: a failed write leaves the old file whole."""
    part = path.with_name(f".{path.name}.partial")
    try:
        with part.open("wb") as handle:
            write(handle)
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)


# --------------------------------------------------------------------------- entries


def entries_by_label(entries: Iterable[LibraryEntry]) -> dict[str, list[LibraryEntry]]:
    grouped: dict[str, list[LibraryEntry]] = {}
    for entry in entries:
        grouped.setdefault(entry.label, []).append(entry)
    return grouped


def line_integrals(image: np.ndarray) -> np.ndarray:
    """-ln(value / full scale) per channel, float64, with 0 counts read as half a count."""
    return -np.log(np.maximum(image.astype(np.float64), 0.5) / FULL_SCALE)


def border_background(line_integral: np.ndarray) -> np.ndarray:
    """Median line integral per channel over the one-pixel border: the image's background."""
    border = np.concatenate(
        [line_integral[:, 0, :], line_integral[:, -1, :], line_integral[:, :, 0], line_integral[:, :, -1]],
        axis=1,
    )
    background: np.ndarray = np.median(border, axis=1)
    return background
