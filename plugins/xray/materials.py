"""Dual-energy material discrimination: what each pixel is made of, and how much of it.

Photoelectric absorption grows roughly as Z^4 / E^3 and Compton scattering hardly depends on Z, so the
ratio of a ray's low-energy to high-energy line integral, ``L = -ln(value / full_scale)``, tells light
elements from heavy ones. That ratio gives the per-pixel material class scanners colour-code:

=========== ============================ ===========================================================
class       ratio low / high             typical
=========== ============================ ===========================================================
organic     below ``ratio_inorganic``    paper, cotton, tobacco, plastics, water (1.14-1.25)
inorganic   up to ``ratio_metal``        glass, aluminium, circuit boards (1.7-1.9)
metal       from ``ratio_metal``         batteries, steel, copper and brass (2.7-3.4)
empty       high-energy L too small      air, the belt
opaque      either channel near 0 counts nothing gets through: no ratio to read
=========== ============================ ===========================================================

The two line integrals also split exactly into two basis materials, because Beer-Lambert line integrals
add: ``L = mu_organic * a + mu_metal * b`` in each channel, solved per pixel for ``a`` (cm of the organic
basis, cellulose) and ``b`` (cm of the metal basis, steel). Overlapping clutter only adds to ``a`` and
``b``, so an object keeps its signature under clothes: what the recognition stage matches against.

The default calibration holds the NIST XCOM attenuation coefficients of cellulose and iron at the
effective energies of a 160 kV / 80 kV scanner (80 and 50 keV), those of the built-in simulator; a real
scanner's calibration replaces them through the detector's settings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from smartcustoms.core.lazy import lazy

if TYPE_CHECKING:
    from smartcustoms.plugins.xray import _kernels as kernels
else:
    kernels = lazy("smartcustoms.plugins.xray._kernels")

FULL_SCALE = 65535
GAIN_FIELDS = ("gain_high", "gain_low")
FLAT_FIELD_FIELDS = ("dark_high", "dark_low", *GAIN_FIELDS)  # applied to a scan before it is read
EMPTY, ORGANIC, INORGANIC, METAL, OPAQUE = 0, 1, 2, 3, 4  # material classes of the per-pixel map
CLASS_NAMES = ("empty", "organic", "inorganic", "metal", "opaque")
GRID_FACTOR = 8  # the recognition grid: 8 x 8 pixels (6.25 mm at 0.78 mm pixels)


@dataclass(frozen=True)
class Calibration:
    """Basis attenuation (1/cm) at the high and low effective energies, and the class thresholds."""

    organic_mu_high_per_cm: float = 0.1766 * 1.5  # cellulose, 80 keV (mass attenuation x density)
    organic_mu_low_per_cm: float = 0.2091 * 1.5  # cellulose, 50 keV
    metal_mu_high_per_cm: float = 0.5952 * 7.87  # iron, 80 keV
    metal_mu_low_per_cm: float = 1.958 * 7.87  # iron, 50 keV
    ratio_inorganic: float = 1.45
    ratio_metal: float = 2.3
    empty_line_integral: float = 0.12  # the belt alone is 0.08
    opaque_counts: int = 20  # below 0.03 % transmission (8 in L) the ratio is noise
    # a scanner that does not flat-field its own images: the counts with the beam off, subtracted first,
    # and each detector row's gain (its open-beam level over the mean of all rows), divided out
    dark_high: float = 0.0
    dark_low: float = 0.0
    gain_high: tuple[float, ...] = ()  # one per image row; (): the scanner flat-fields its images
    gain_low: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for name in GAIN_FIELDS:  # as JSON gives them: lists
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))

    @property
    def flat_fields(self) -> bool:
        """Whether images are corrected (``flat_field``) before they are read."""
        return bool(self.dark_high or self.dark_low or self.gain_high)

    @cached_property
    def _gains(self) -> np.ndarray:
        """float32 (2, rows, 1): the divisors of ``flat_field``."""
        return np.array([self.gain_high, self.gain_low], dtype=np.float32)[:, :, None]

    @cached_property
    def inverse(self) -> np.ndarray:
        """Maps (L_high, L_low) to (a, b)."""
        basis = np.array(
            [
                [self.organic_mu_high_per_cm, self.metal_mu_high_per_cm],
                [self.organic_mu_low_per_cm, self.metal_mu_low_per_cm],
            ]
        )
        return np.linalg.inv(basis)

    @cached_property
    def lut(self) -> np.ndarray:
        """Line integral of every uint16 count (0 counts read as half a count)."""
        counts = np.maximum(np.arange(FULL_SCALE + 1, dtype=np.float64), 0.5)
        return (-np.log(counts / FULL_SCALE)).astype(np.float64)


def checked_calibration(values: object) -> Calibration:
    """A scanner's calibration from its fields (a calibration file, a library entry, a calibrations file
    entry); ValueError saying what is wrong: not an object, an unknown field, a value that is not a
    finite number (a whole one for ``opaque_counts``), or a basis that cannot be inverted."""
    if not isinstance(values, dict):
        raise ValueError(f"not a calibration (an object of its fields): {values!r}")
    known = {f.name for f in fields(Calibration)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"not a calibration: unknown field(s) {', '.join(map(str, unknown))}")
    for name in GAIN_FIELDS:
        if name in values:
            _check_gain(name, values[name])
    if len(values.get("gain_high", ())) != len(values.get("gain_low", ())):
        raise ValueError("not a calibration: gain_high and gain_low must have a gain per row each")
    for name, value in values.items():
        if name in GAIN_FIELDS:
            continue
        if not _finite(value) or (name == "opaque_counts" and not float(value).is_integer()):
            raise ValueError(f"not a calibration: {name} must be a finite number, got {value!r}")
    calibration = Calibration(**values)
    try:
        calibration.inverse  # noqa: B018  (computed and cached: a singular basis fails here, not later)
    except np.linalg.LinAlgError:
        raise ValueError("not a calibration: its basis attenuations cannot be told apart") from None
    return calibration


def over_basis(calibration: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a calibration another scanner's go over: its dark level and gain map are its own
    machine's (one unit: a scanner without them flat-fields its images), so they are left out."""
    return {k: v for k, v in calibration.items() if k not in FLAT_FIELD_FIELDS}


def _check_gain(name: str, value: object) -> None:
    if not isinstance(value, (list, tuple)) or not all(_finite(v) and v > 0 for v in value):
        raise ValueError(f"not a calibration: {name} must be a list of positive numbers, one per row")


def _finite(value: object) -> bool:
    """A JSON number that is finite as a float (not a bool, not an integer too large for a float)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


class GainMapMismatch(ValueError):
    """A frame of another number of rows than its scanner's gain map: it cannot be flat-fielded."""


def flat_field(image: np.ndarray, calibration: Calibration) -> np.ndarray:
    """The image as a flat-fielded scanner gives it: the dark counts subtracted and each row's gain
    divided out (``Calibration.dark_*`` and ``gain_*``, measured by ``smartcustoms calibrate xray``),
    uint16 again; the image itself when the calibration has neither. GainMapMismatch when the
    calibration's gain map has another number of rows than the image."""
    if not calibration.flat_fields:
        return image
    rows = image.shape[-2]
    if calibration.gain_high and len(calibration.gain_high) != rows:
        raise GainMapMismatch(
            f"the calibration's gain map has {len(calibration.gain_high)} rows, the image {rows}: "
            "calibrate the scanner from scans of its own frames' height"
        )
    out = image.astype(np.float32)
    out -= np.array([calibration.dark_high, calibration.dark_low], dtype=np.float32)[:, None, None]
    if calibration.gain_high:
        out /= calibration._gains
    corrected: np.ndarray = np.clip(np.rint(out, out=out), 0, FULL_SCALE, out=out).astype(np.uint16)
    return corrected


def pixel_spacing(text: str) -> tuple[float, float] | None:
    """A frame's ``pixel_spacing_mm`` metadata ("row,column" in mm, as DICOS import gives it; one
    number for square pixels) as (between rows, between columns); None when absent or not two positive
    finite numbers."""
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        return None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or not all(math.isfinite(v) and v > 0 for v in values):
        return None
    return values[0], values[1]


def square_pixels(image: np.ndarray, spacing: tuple[float, float]) -> tuple[np.ndarray, float]:
    """An image of non-square pixels (``spacing``: mm between rows, between columns) resampled along its
    coarser axis to square pixels of the finer spacing, counts interpolated linearly; the image itself
    when its pixels are square to 0.5 %. Returns the image and its pixel size."""
    row_mm, column_mm = spacing
    fine = min(row_mm, column_mm)
    if abs(row_mm - column_mm) <= 0.005 * fine:
        return image, float(math.sqrt(row_mm * column_mm))
    import cv2

    height = max(1, round(image.shape[-2] * row_mm / fine))
    width = max(1, round(image.shape[-1] * column_mm / fine))
    planes = [
        cv2.resize(np.ascontiguousarray(p), (width, height), interpolation=cv2.INTER_LINEAR) for p in image
    ]
    return np.stack(planes), fine


@dataclass(frozen=True, eq=False)
class MaterialMaps:
    """What one pass over a dual-energy image yields.

    classes: uint8 (H, W), one of EMPTY, ORGANIC, INORGANIC, METAL, OPAQUE per pixel.
    a_half, b_half: float64 (H/2, W/2), organic and metal equivalent thickness (cm), 2 x 2 means.
    a_rows: (H/4, W) organic thickness averaged over 4 rows; a_cols: (H, W/4) over 4 columns.
    """

    classes: np.ndarray
    a_half: np.ndarray
    b_half: np.ndarray
    a_rows: np.ndarray
    a_cols: np.ndarray
    pixel_size_mm: float

    @cached_property
    def a_grid(self) -> np.ndarray:
        """Organic thickness on the recognition grid (GRID_FACTOR x GRID_FACTOR pixels)."""
        return bin_mean(self.a_half, GRID_FACTOR // 2)

    @cached_property
    def b_grid(self) -> np.ndarray:
        """Metal thickness on the recognition grid."""
        return bin_mean(self.b_half, GRID_FACTOR // 2)

    def class_fractions(self, box: tuple[float, float, float, float]) -> dict[str, float]:
        """Share of each non-empty material class inside a box (x_min, y_min, x_max, y_max) in pixels."""
        x0, y0, x1, y1 = (round(v) for v in box)
        counts = np.bincount(self.classes[max(0, y0) : y1, max(0, x0) : x1].ravel(), minlength=5)
        total = counts[1:].sum()
        return {CLASS_NAMES[k]: float(counts[k] / total) if total else 0.0 for k in range(1, 5)}


def material_maps(image: np.ndarray, calibration: Calibration, pixel_size_mm: float) -> MaterialMaps:
    """Classify every pixel of a dual-energy image and split it into organic and metal thickness.

    image: uint16 (2, H, W), channel 0 high energy, full scale 65535 = unattenuated; H and W at least 8.
    Rows and columns beyond a multiple of 4 are left out of the binned maps.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint16:
        raise TypeError("image must be a uint16 numpy array")
    if image.ndim != 3 or image.shape[0] != 2:
        raise ValueError(f"a dual-energy image has shape (2, H, W), got {image.shape}")
    _, height, width = image.shape
    if height < GRID_FACTOR or width < GRID_FACTOR:
        raise ValueError(f"image of {height} x {width} pixels is smaller than one recognition cell")
    classes = np.empty((height, width), dtype=np.uint8)
    a_half = np.empty((height // 2, width // 2))
    b_half = np.empty((height // 2, width // 2))
    a_rows = np.empty((height // 4, width))
    a_cols = np.empty((height, width // 4))
    kernels._decompose(
        np.ascontiguousarray(image),
        calibration.lut,
        calibration.inverse,
        calibration.ratio_inorganic,
        calibration.ratio_metal,
        calibration.empty_line_integral,
        calibration.opaque_counts,
        classes,
        a_half,
        b_half,
        a_rows,
        a_cols,
    )
    return MaterialMaps(classes, a_half, b_half, a_rows, a_cols, pixel_size_mm)


def bin_mean(source: np.ndarray, factor: int) -> np.ndarray:
    """Mean over factor x factor blocks; rows and columns beyond a multiple of factor are left out."""
    if source.ndim != 2 or factor < 1:
        raise ValueError("bin_mean takes a 2D array and a positive factor")
    out = np.empty((source.shape[0] // factor, source.shape[1] // factor))
    kernels._bin_mean(np.ascontiguousarray(source, dtype=np.float64), factor, out)
    return out


def periodicity(
    signal: np.ndarray, *, period_px: int, cap: float, along_px: int, across: int, step: int
) -> np.ndarray:
    """Strength of a pattern repeating every ``period_px`` samples along axis 1 (0 for steps and lines).

    signal: float64 (rows, length), each row a line along the period. The strength is
    D(p/2) + D(3p/2) - 2 D(p), D(l) the windowed mean of min(|s(x + l) - s(x)|, cap): edges, thin
    lines and ramps cancel, while a periodic pattern of peak-to-trough amplitude A gives about 2 min(A, cap)
    x its duty. The window spans ``along_px`` samples and ``across`` rows; the output keeps every
    ``step``-th sample: (rows, length // step).
    """
    if signal.ndim != 2:
        raise ValueError("periodicity takes a 2D array of lines")
    if period_px < 2 or step < 1 or along_px < 1 or across < 1:
        raise ValueError("period_px >= 2, step, along_px and across >= 1")
    out = np.empty((signal.shape[0], signal.shape[1] // step))
    kernels._periodicity(
        np.ascontiguousarray(signal, dtype=np.float64),
        period_px // 2,
        period_px,
        float(cap),
        int(along_px),
        int(across),
        int(step),
        out,
    )
    return out


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a boolean mask: (int32 labels 1..n, n)."""
    if mask.ndim != 2:
        raise ValueError("label_components takes a 2D mask")
    labels = np.empty(mask.shape, dtype=np.int32)
    count = kernels._label(np.ascontiguousarray(mask, dtype=np.bool_), labels)
    return labels, int(count)
