"""Reference scans of vehicle models and container types: the ``vehicle-references`` artefact.

A reference is the scan of an empty vehicle of one model (or an empty container of one type): a uint16
transmission image, ``[2, H, W]`` (channel 0 high energy) or ``[H, W]``, 65535 = open beam, with its
pixel size and, for goods vehicles, where the cargo space is. A reference folder holds
``<model>.npy`` (or ``<model>.<variant>.npy``, several references of one model) and optionally a
sidecar ``<same name>.json``::

    {"pixel_size_mm": 4.8828, "cargo_box_px": [x0, y0, x1, y1], "kind": "truck",
     "description": "2019 build, roof rack"}

A reference of non-square pixels (a real portal's: longer along the vehicle, set by its speed, than
across it, the detector pitch) states both sizes, ``pixel_size_along_mm`` (between columns) and
``pixel_size_across_mm`` (between rows); either alone is completed by ``pixel_size_mm``. It is read
resampled along the vehicle to square pixels of its size across, rows kept (as the comparison treats a
scan of non-square pixels), its cargo box's columns scaled with it: ``Reference.pixel_size_mm`` is then
that square size. A sidecar with ``pixel_size_mm`` alone is a reference of square pixels.

The model name is the file name up to its first dot, matched against the frame's ``vehicle_model`` (or
``container_type``) metadata.

A reference of one part of a container vehicle states it in its sidecar, ``"part"``: ``tractor`` (a
tractor alone), ``trailer`` (a trailer alone) or ``container`` (an empty container alone), its name that
model or container type (matched against the frame's ``tractor_model``, ``trailer_model`` or
``container_type``). Part references are compared only joined into a whole vehicle (``parts``); a
reference without ``"part"`` is one of a whole vehicle; a whole container vehicle's sidecar may name
its parts (``"parts": {"tractor": "tractor-1", "trailer": "skeletal-1", "container": "22G1"}``): a
frame naming those same parts is compared with it, rather than with its parts joined.

The plugin reads one such folder, built as the versioned artefact ``vehicle-references``
(``smartcustoms.core.artefacts``) by ``smartcustoms library build vehicle``: from the simulator's six
models (``--source sim``, the default) or from a site's own folder in this format (``--source DIR``).
It is read and verified once, at start-up; a new reference means a new build and a restart, and every
result names the artefact's version and content hash.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from smartcustoms.core import artefacts
from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.core.lazy import lazy
from smartcustoms.plugins.vehicle import scanner

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2")

ARTEFACT_NAME = "vehicle-references"
BUILD_COMMAND = "smartcustoms library build vehicle"

BoxPx = tuple[int, int, int, int]
"""x_min, y_min, x_max, y_max in pixels, max exclusive."""
SAME_SIZE = 1e-3  # pixel sizes along and across within this share of each other are square
PART_KINDS = ("tractor", "trailer", "container")  # a sidecar's "part": what of a container vehicle it shows


class ReferenceError(ValueError):
    """A reference file, or a folder of them, that cannot be read."""


@dataclass(frozen=True, eq=False)
class Reference:
    """One reference scan (its high-energy channel) and what is known about it."""

    model: str
    high_energy: np.ndarray  # uint16 [H, W], 65535 = open beam
    pixel_size_mm: float | None
    name: str  # the file it came from: "van-1.npy"
    kind: str = ""  # car, van, truck, container; "" when unknown
    cargo_box: BoxPx | None = None  # the cargo space, in this reference's pixels
    description: str = ""
    # The length along the vehicle of the pixels it was scanned with, in its (square) pixels: 2.0 for a
    # portal whose pixels were twice as long along as across. A finer scan is compared at this resolution.
    along_scale: float = 1.0
    part: str = ""  # one of PART_KINDS for a part of a container vehicle; "" a whole vehicle
    # a whole container vehicle's parts, part kind -> model (sidecar "parts"); empty when not stated
    parts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class ReferenceSet:
    """The loaded artefact: what identifies it and its references by model."""

    info: ArtefactInfo
    by_model: Mapping[str, Sequence[Reference]]

    def models(self) -> list[str]:
        """Every model or container type with at least one reference."""
        return sorted(self.by_model)

    def of(self, model: str) -> Sequence[Reference]:
        """The references of ``model``; empty if none."""
        return self.by_model.get(model, ())

    def whole(self, model: str) -> list[Reference]:
        """The references of ``model`` that show a whole vehicle (not a part of one)."""
        return [r for r in self.of(model) if not r.part]

    def rigged(self, parts: Mapping[str, str]) -> list[Reference]:
        """The references of whole vehicles made of exactly ``parts`` (part kind -> model)."""
        every = (r for found in self.by_model.values() for r in found)
        return [r for r in every if not r.part and r.parts and r.parts == parts]

    def part(self, kind: str, model: str) -> list[Reference]:
        """The references of ``model`` that show the part ``kind`` (``PART_KINDS``) alone."""
        return [r for r in self.of(model) if r.part == kind]


def references_folder(reference_dir: str, artefact_root: str | Path) -> Path:
    """Where the artefact lives: ``reference_dir`` if set, else ``<artefact root>/vehicle-references``."""
    return artefacts.locate(ARTEFACT_NAME, reference_dir, artefact_root)


def load_references(folder: str | Path) -> ReferenceSet:
    """Read and verify the artefact in ``folder``: ArtefactError naming the build command when it is
    missing or altered, ReferenceError when a reference in it does not parse or it holds none."""
    info = artefacts.read(folder, expected_name=ARTEFACT_NAME, build_hint=BUILD_COMMAND)
    by_model: dict[str, list[Reference]] = {}
    for reference in read_reference_dir(info.path):
        by_model.setdefault(reference.model, []).append(reference)
    if not by_model:
        raise ReferenceError(
            f"{info.path}: the artefact holds no reference; rebuild it with `{BUILD_COMMAND}`"
        )
    return ReferenceSet(info, {model: tuple(found) for model, found in by_model.items()})


def read_reference_dir(folder: str | Path) -> list[Reference]:
    """Every reference of a folder (its ``*.npy`` files, in name order)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReferenceError(f"{folder} is not a directory")
    return [read_reference(path) for path in sorted(folder.glob("*.npy"))]


def read_reference(path: Path) -> Reference:
    """One ``.npy`` reference and its optional sidecar; ReferenceError naming the file when malformed."""
    try:
        image = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ReferenceError(f"{path}: not a numpy array file: {error}") from None
    if image.dtype != np.uint16 or image.ndim not in (2, 3):
        raise ReferenceError(
            f"{path}: a reference is a uint16 [H, W] or [channels, H, W] array, "
            f"got {image.dtype} {image.shape}"
        )
    meta = _sidecar(path.with_suffix(".json"))
    try:
        box = meta.get("cargo_box_px")
        high = np.array(image[0] if image.ndim == 3 else image)  # a copy in memory, channel 0 only
        cargo = (int(box[0]), int(box[1]), int(box[2]), int(box[3])) if box else None
        part = str(meta.get("part") or "")
        if part and part not in PART_KINDS:
            raise ValueError(f"part must be one of {', '.join(PART_KINDS)}, got {part!r}")
        rig = meta.get("parts") or {}
        if not isinstance(rig, dict) or set(rig) - set(PART_KINDS):
            raise ValueError(f"parts must map some of {', '.join(PART_KINDS)} to their models, got {rig!r}")
        high, road, _ = scanner.corrected(high, calibrate=True)
        if road and cargo is not None:  # compared above the road, which the vehicle stands on
            cargo = (cargo[0], cargo[1], cargo[2], min(cargo[3], high.shape[0]))
        along, across = sidecar_pixel_size(meta)
        along_scale = 1.0
        if along is not None and across is not None and abs(along / across - 1) > SAME_SIZE:
            high, cargo = _square(high, cargo, along / across)
            along_scale = along / across
        return Reference(
            model=path.name.split(".")[0],
            high_energy=high,
            pixel_size_mm=across,
            name=path.name,
            kind=str(meta.get("kind", "")),
            cargo_box=cargo,
            description=str(meta.get("description", "")),
            along_scale=along_scale,
            part=part,
            parts={str(k): str(v) for k, v in rig.items()},
        )
    except (TypeError, ValueError, IndexError) as error:
        raise ReferenceError(f"{path.with_suffix('.json')}: {error}") from None


def sidecar_pixel_size(meta: dict[str, Any]) -> tuple[float | None, float | None]:
    """The pixel size along and across the vehicle a sidecar states (``pixel_size_along_mm`` /
    ``pixel_size_across_mm``, either completed by ``pixel_size_mm``, or ``pixel_size_mm`` for both); None
    for what it does not state (absent, null or 0). ValueError for a negative size or not a number."""
    sizes: list[float | None] = []
    for key in ("pixel_size_along_mm", "pixel_size_across_mm", "pixel_size_mm"):
        value = meta.get(key)
        if value is None or value == "" or value == 0:
            sizes.append(None)
            continue
        number = float(value)
        if not number > 0 or not math.isfinite(number):
            raise ValueError(f"{key} must be a positive number of mm, got {value!r}")
        sizes.append(number)
    along, across, square = sizes
    return along or square, across or square


def _square(high: np.ndarray, cargo: BoxPx | None, factor: float) -> tuple[np.ndarray, BoxPx | None]:
    """A reference of pixels ``factor`` times longer along the vehicle than across, resampled along it
    to square pixels (rows kept, as ``alignment.square_pixels`` treats a scan), its cargo box with it."""
    width = max(1, round(high.shape[1] * factor))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    squared = np.asarray(cv2.resize(high, (width, high.shape[0]), interpolation=interpolation))
    if cargo is None:
        return squared, None
    scale = width / high.shape[1]
    x0, y0, x1, y1 = cargo
    return squared, (math.floor(x0 * scale), y0, min(math.ceil(x1 * scale), width), y1)


def _sidecar(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text())
    except ValueError as error:
        raise ReferenceError(f"{path}: not JSON: {error}") from None
    if not isinstance(meta, dict):
        raise ReferenceError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    return meta


def write_reference(
    folder: Path,
    model: str,
    image: np.ndarray,
    *,
    pixel_size_mm: float | None,
    cargo_box: BoxPx | None = None,
    kind: str = "",
    description: str = "",
    pixel_size_along_mm: float | None = None,
    name: str = "",
    part: str = "",
    parts: Mapping[str, str] | None = None,
) -> Path:
    """Write ``<name or model>.npy`` and its sidecar ``<same>.json`` into ``folder``; returns the image's
    path. ``pixel_size_mm`` is the size across the vehicle (and along it, unless ``pixel_size_along_mm``
    is given and differs: the sidecar then states both)."""
    path = folder / f"{name or model}.npy"
    np.save(path, image, allow_pickle=False)
    meta: dict[str, Any] = {
        "pixel_size_mm": pixel_size_mm,
        "cargo_box_px": list(cargo_box) if cargo_box is not None else None,
        "kind": kind,
        "description": description,
    }
    if part:
        meta["part"] = part
    if parts:
        meta["parts"] = dict(parts)
    if pixel_size_mm and pixel_size_along_mm and abs(pixel_size_along_mm / pixel_size_mm - 1) > SAME_SIZE:
        meta["pixel_size_along_mm"] = pixel_size_along_mm
        meta["pixel_size_across_mm"] = pixel_size_mm
    path.with_suffix(".json").write_text(json.dumps(meta) + "\n")
    return path
