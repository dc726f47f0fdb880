"""Portal scans from files, as a site has them: DICOS DX, 16-bit PNG or TIFF, 8-bit JPEG (or PNG) exports.

``read_scan(paths)`` gives the scan as the comparison takes it: uint16 ``[channels, H, W]``, channel 0
high energy, 65535 = open beam, and the pixel size the files state (DICOS ``PixelSpacing``, rows then
columns: across the vehicle, then along it), or None.

* DICOS DX (``.dcs``, ``.dcm``, ``.dicos``, or any file with the DICM preamble): one file per energy of
  one scan (``smartcustoms.hardware.dicos.read_scan`` stacks them, highest kVp first), or one file.
* PNG or TIFF of 16 bits: the counts as they are; of 8 bits, and JPEG: each grey level times 257 (255 is
  the open beam). A colour file is read as its grey. One file per scan (its high energy, or its only
  energy): the comparison uses the high-energy channel alone.
* ``.npy``: a uint16 ``[H, W]`` or ``[channels, H, W]`` array.

Every problem is a ``ScanFileError`` naming the file, in one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from smartcustoms.core.types import Modality

DICOS_SUFFIXES = (".dcs", ".dcm", ".dicos")
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
EIGHT_BIT_STEP = 257  # 255 * 257 = 65535: an 8-bit grey level in counts


class ScanFileError(ValueError):
    """A scan file that is missing, cannot be read, or is not a portal scan."""


@dataclass(frozen=True)
class PixelSpacing:
    """Pixel size in mm along the vehicle (between columns) and across it (between rows)."""

    along_mm: float
    across_mm: float

    @classmethod
    def parse(cls, values: Sequence[float], what: str) -> PixelSpacing:
        """One value (square pixels) or two (along, across); ScanFileError unless each is positive."""
        numbers = [float(v) for v in values]
        if len(numbers) not in (1, 2) or not all(np.isfinite(v) and v > 0 for v in numbers):
            raise ScanFileError(f"{what}: a pixel size is one or two positive numbers of mm, got {values}")
        return cls(numbers[0], numbers[-1])

    @classmethod
    def from_dicos(cls, spacing: str) -> PixelSpacing | None:
        """DICOS ``pixel_spacing_mm`` ("rows,columns": across, then along); None when absent or not
        positive."""
        try:
            values = [float(v) for v in spacing.split(",") if v.strip()]
        except ValueError:
            return None
        if not values or not all(v > 0 for v in values):
            return None
        return cls(values[-1], values[0])

    def metadata(self) -> dict[str, str]:
        """Frame metadata stating this size (``pixel_size_mm`` across, both when they differ)."""
        sizes = {"pixel_size_mm": f"{self.across_mm:.10g}"}
        if self.along_mm != self.across_mm:
            sizes["pixel_size_along_mm"] = f"{self.along_mm:.10g}"
            sizes["pixel_size_across_mm"] = f"{self.across_mm:.10g}"
        return sizes


@dataclass(frozen=True)
class ScanImage:
    """A scan read from files: uint16 [channels, H, W] (channel 0 high energy) and what they state."""

    array: np.ndarray
    pixel: PixelSpacing | None
    source: str  # the files, for messages
    eight_bit: bool = False  # an 8-bit export scaled to counts

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.array.shape[1]), int(self.array.shape[2]))


def read_scan(paths: Sequence[str | Path]) -> ScanImage:
    """The scan in ``paths``: DICOS DX files of one scan, or one image or ``.npy`` file."""
    files = [Path(p) for p in paths]
    if not files:
        raise ScanFileError("no scan file given")
    for path in files:
        if not path.is_file():
            raise ScanFileError(f"{path}: no such file")
    if all(is_dicos(path) for path in files):
        return _read_dicos(files)
    if len(files) > 1:
        names = ", ".join(str(p) for p in files)
        raise ScanFileError(f"{names}: several files are one scan only as DICOS DX files, one per energy")
    path = files[0]
    if path.suffix.lower() == ".npy":
        return ScanImage(_read_npy(path), None, str(path))
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _read_image(path)
    raise ScanFileError(f"{path}: not a scan file this reads (DICOS DX, {', '.join(IMAGE_SUFFIXES)} or .npy)")


def is_dicos(path: Path) -> bool:
    """A DICOS (DICOM) file by its suffix or its preamble's ``DICM``."""
    if path.suffix.lower() in DICOS_SUFFIXES:
        return True
    try:
        with path.open("rb") as handle:
            return handle.read(132)[128:] == b"DICM"
    except OSError:
        return False


def _read_dicos(paths: list[Path]) -> ScanImage:
    from smartcustoms.hardware.dicos import DicosError
    from smartcustoms.hardware.dicos import read_scan as read_dicos_scan

    source = ", ".join(str(p) for p in paths)
    try:
        scan = read_dicos_scan(paths)
    except (DicosError, OSError) as error:
        raise ScanFileError(str(error).splitlines()[0] if str(error) else source) from None
    if scan.modality is not Modality.XRAY:
        raise ScanFileError(f"{source}: a DICOS CT volume, not a DX portal scan")
    array = scan.array
    if array.dtype != np.uint16:
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise ScanFileError(f"{source}: pixel values outside 0..65535")
        array = array.astype(np.uint16)
    pixel = PixelSpacing.from_dicos(scan.metadata.get("pixel_spacing_mm", ""))
    return ScanImage(np.ascontiguousarray(array), pixel, source)


def _read_image(path: Path) -> ScanImage:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    if image is None:
        raise ScanFileError(f"{path}: not an image OpenCV can read")
    if image.ndim == 3:  # colour: its grey, at its depth; grey with alpha: the grey
        image = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2GRAY) if image.shape[2] >= 3 else image[:, :, 0]
    if image.dtype == np.uint8:
        counts = image.astype(np.uint16) * np.uint16(EIGHT_BIT_STEP)
        return ScanImage(counts[np.newaxis], None, str(path), eight_bit=True)
    if image.dtype != np.uint16:
        raise ScanFileError(f"{path}: {image.dtype} pixels; a scan is 16-bit (or 8-bit) grey")
    return ScanImage(np.ascontiguousarray(image[np.newaxis]), None, str(path))


def _read_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ScanFileError(f"{path}: not a numpy array file ({error})") from None
    if array.dtype != np.uint16 or array.ndim not in (2, 3):
        raise ScanFileError(
            f"{path}: a scan is uint16 [H, W] or [channels, H, W], got {array.dtype} {array.shape}"
        )
    return np.ascontiguousarray(array if array.ndim == 3 else array[np.newaxis])
