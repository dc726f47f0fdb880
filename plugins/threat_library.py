"""The X-ray threat image database of the auto-detector: signature images of threats, scanned alone.

An entry is one dual-energy image of an object with nothing else in the beam: ``uint16 [2, h, w]``,
channel 0 high energy, full scale (air) = 65535, with its pixel size and its label. A library is a
folder holding those images as ``.npy`` files and a ``labels.csv`` naming them::

    file,label,pixel_size_mm,note
    firearm-000.npy,firearm,0.78125,simulator seed 100 scan 0
    my-revolver.npy,firearm,0.8,seized 2024-03 at Lok Ma Chau

Adding a folder like this to the detector's ``library_dirs`` setting adds its entries, and a new label
becomes a new class, without a code change. The border of each image is taken as its background (belt,
tray) and subtracted, so crops cut from a scan of the object alone work as they are.

The built-in library is made from the simulator (``smartcustoms.hardware.sim.xray``) with seeds kept for
it (``LIBRARY_SEEDS``): for each entry, one scan with a forced threat and the same scan without it,
which differ only where the threat is; their line-integral difference is the threat alone. It is built
on first use into a cache folder (``cache_dir``), a few MB, and loaded from there afterwards.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FULL_SCALE = 65535
LABELS_FILE = "labels.csv"
LABEL_COLUMNS = ("file", "label", "pixel_size_mm", "note")

# Simulator seeds, disjoint by purpose (XraySimulator(seed).generate(index) for index 0, 1, ...):
LIBRARY_SEEDS = range(100, 200)  # built-in signatures and the verifier's training scans
TUNING_SEEDS = range(200, 300)  # decision thresholds
EVALUATION_SEEDS_FROM = 1000  # held-out evaluation: any seed from here on (default 1000)

BUILTIN_VERSION = "v1"
BUILTIN_CLASSES = ("firearm", "knife", "cigarettes", "phone")
BUILTIN_ENTRIES_PER_CLASS = 16
BUILTIN_SCAN_SHAPE = (1024, 2048)
_CROP_MARGIN_PX = 6
_AIR_LINE_INTEGRAL = 1e-3  # below this the isolated object is taken as absent (exact air in the file)


@dataclass(frozen=True, eq=False)
class LibraryEntry:
    """One signature image: an object alone in the beam."""

    entry_id: str
    label: str
    image: np.ndarray  # uint16 [2, h, w], channel 0 high energy
    pixel_size_mm: float
    note: str = ""

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


class LibraryError(ValueError):
    """A library folder that cannot be read."""


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
    image = np.load(path, allow_pickle=False)
    try:
        return LibraryEntry(path.stem, label, image, pixel_size, (row.get("note") or "").strip())
    except ValueError as error:
        raise LibraryError(f"{where}: {error}") from None


def write_library_dir(folder: str | os.PathLike[str], entries: Iterable[LibraryEntry]) -> Path:
    """Write entries as a library folder (``.npy`` images and ``labels.csv``); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LABELS_FILE).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(LABEL_COLUMNS)
        for entry in entries:
            np.save(folder / f"{entry.entry_id}.npy", entry.image, allow_pickle=False)
            writer.writerow((f"{entry.entry_id}.npy", entry.label, repr(entry.pixel_size_mm), entry.note))
    return folder


# --------------------------------------------------------------------------- the built-in library


def default_cache_dir() -> Path:
    """``$SMARTCUSTOMS_CACHE_DIR``, else ``$XDG_CACHE_HOME/smartcustoms``, else ``~/.cache/smartcustoms``."""
    explicit = os.environ.get("SMARTCUSTOMS_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "smartcustoms"


def builtin_library(cache_dir: str | os.PathLike[str] | None = None) -> list[LibraryEntry]:
    """The built-in entries, built into ``cache_dir/xray_library/v1`` the first time."""
    folder = Path(cache_dir or default_cache_dir()) / "xray_library" / BUILTIN_VERSION
    if not (folder / LABELS_FILE).is_file():
        _build_atomically(folder)
    return load_library_dir(folder)


def _build_atomically(folder: Path) -> None:
    """Build into a temporary sibling and rename it into place: concurrent builders do not collide."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        write_library_dir(staging, simulated_entries())
        try:
            staging.rename(folder)
        except OSError:  # another process finished first; its copy is identical
            if not (folder / LABELS_FILE).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def simulated_entries(
    classes: Sequence[str] = BUILTIN_CLASSES,
    per_class: int = BUILTIN_ENTRIES_PER_CLASS,
    seeds: range = LIBRARY_SEEDS,
) -> list[LibraryEntry]:
    """Signatures of simulated threats: entry k of a class comes from seed ``seeds[k]``."""
    if per_class > len(seeds):
        raise ValueError(f"{per_class} entries per class need as many seeds, got {len(seeds)}")
    from smartcustoms.hardware.sim.xray import XraySimulator  # the simulator is only needed here

    height, width = BUILTIN_SCAN_SHAPE
    entries = []
    for k in range(per_class):
        simulator = XraySimulator(seeds[k], height, width)
        for index, label in enumerate(classes):
            with_threat = simulator.generate(index, threat=label)
            without = simulator.generate(index, threat=None)
            image = isolate(with_threat.image, without.image, with_threat.truth[0].box)
            note = f"simulator seed {seeds[k]} scan {index}, isolated by difference"
            entries.append(LibraryEntry(f"{label}-{k:03d}", label, image, simulator.pixel_size_mm, note))
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
