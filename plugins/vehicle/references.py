"""Reference scans of vehicle models and container types: the ``vehicle-references`` artefact.

A reference is the scan of an empty vehicle of one model (or an empty container of one type): a uint16
transmission image, ``[2, H, W]`` (channel 0 high energy) or ``[H, W]``, 65535 = open beam, with its
pixel size and, for goods vehicles, where the cargo space is. A reference folder holds
``<model>.npy`` (or ``<model>.<variant>.npy``, several references of one model) and optionally a
sidecar ``<same name>.json``::

    {"pixel_size_mm": 4.8828, "cargo_box_px": [x0, y0, x1, y1], "kind": "truck",
     "description": "2019 build, roof rack"}

The model name is the file name up to its first dot, matched against the frame's ``vehicle_model`` (or
``container_type``) metadata.

The plugin reads one such folder, built as the versioned artefact ``vehicle-references``
(``smartcustoms.core.artefacts``) by ``smartcustoms library build vehicle``: from the simulator's six
models (``--source sim``, the default) or from a site's own folder in this format (``--source DIR``).
It is read and verified once, at start-up; a new reference means a new build and a restart, and every
result names the artefact's version and content hash.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smartcustoms.core import artefacts
from smartcustoms.core.artefacts import ArtefactInfo

ARTEFACT_NAME = "vehicle-references"
BUILD_COMMAND = "smartcustoms library build vehicle"

BoxPx = tuple[int, int, int, int]
"""x_min, y_min, x_max, y_max in pixels, max exclusive."""


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
        return Reference(
            model=path.name.split(".")[0],
            high_energy=np.array(image[0] if image.ndim == 3 else image),  # a copy in memory, channel 0 only
            pixel_size_mm=float(meta["pixel_size_mm"]) if meta.get("pixel_size_mm") else None,
            name=path.name,
            kind=str(meta.get("kind", "")),
            cargo_box=(int(box[0]), int(box[1]), int(box[2]), int(box[3])) if box else None,
            description=str(meta.get("description", "")),
        )
    except (TypeError, ValueError, IndexError) as error:
        raise ReferenceError(f"{path.with_suffix('.json')}: {error}") from None


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
) -> Path:
    """Write ``<model>.npy`` and its sidecar ``<model>.json`` into ``folder``; returns the image's path."""
    path = folder / f"{model}.npy"
    np.save(path, image, allow_pickle=False)
    meta = {
        "pixel_size_mm": pixel_size_mm,
        "cargo_box_px": list(cargo_box) if cargo_box is not None else None,
        "kind": kind,
        "description": description,
    }
    path.with_suffix(".json").write_text(json.dumps(meta) + "\n")
    return path
