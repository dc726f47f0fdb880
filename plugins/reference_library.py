"""Reference scans of vehicle models and container types, for the vehicle X-ray comparison.

A reference is the scan of an empty vehicle of one model (or an empty container of one type): a uint16
transmission image, ``[2, H, W]`` (channel 0 high energy) or ``[H, W]``, 65535 = open beam, with its
pixel size and, for goods vehicles, where the cargo space is.

Two sources, both searched for every scan:

* **built-in**: for every model of ``hardware.sim.vehicle`` (sedan-1, suv-1, mpv-1, van-1, box-truck-1,
  container-20ft), the simulator's noiseless empty ``reference(model)`` at the scan's size, its cargo
  space taken from the model's dimensions;
* **a directory** (setting ``reference_dir``): add ``<model>.npy`` (or ``<model>.<variant>.npy``, several
  references of one model) and optionally a sidecar ``<same name>.json``::

      {"pixel_size_mm": 4.8828, "cargo_box_px": [x0, y0, x1, y1], "kind": "truck",
       "description": "2019 build, roof rack"}

  No code change: the next scan of that model is compared with it. The model name is the file name up
  to its first dot, matched against the frame's ``vehicle_model`` (or ``container_type``) metadata.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from smartcustoms.hardware.sim import vehicle as vehicle_sim

BoxPx = tuple[int, int, int, int]
"""x_min, y_min, x_max, y_max in pixels, max exclusive."""


@dataclass(frozen=True, eq=False)
class Reference:
    """One reference scan and what is known about it."""

    model: str
    image: np.ndarray  # uint16 [2, H, W] or [H, W]
    pixel_size_mm: float | None
    source: str  # "built-in simulator" or the file it came from
    kind: str = ""  # car, van, truck, container; "" when unknown
    cargo_box: BoxPx | None = None  # the cargo space, in this reference's pixels
    description: str = ""

    @property
    def name(self) -> str:
        return self.source if self.source.startswith("built-in") else Path(self.source).name

    @property
    def high_energy(self) -> np.ndarray:
        return self.image[0] if self.image.ndim == 3 else self.image


class ReferenceLibrary:
    """Every reference of a model: those in ``directory`` first, then the built-in ones."""

    def __init__(self, directory: str | Path | None = None, *, builtin: bool = True) -> None:
        self.directory = Path(directory) if directory else None
        if self.directory is not None and not self.directory.is_dir():
            raise FileNotFoundError(f"reference_dir {str(self.directory)!r} is not a directory")
        self.builtin = builtin

    def models(self) -> list[str]:
        """Every model or container type with at least one reference."""
        names = {path.name.split(".")[0] for path in self._files()}
        if self.builtin:
            names |= set(vehicle_sim.MODEL_NAMES)
        return sorted(names)

    def references(self, model: str, shape: tuple[int, int]) -> list[Reference]:
        """The references of ``model`` for a scan of ``shape`` (height, width); empty if none."""
        found = [_load(path) for path in self._files() if path.name.split(".")[0] == model]
        if self.builtin and model in vehicle_sim.MODEL_NAMES:
            found.append(builtin_reference(model, shape[0], shape[1]))
        return found

    def _files(self) -> list[Path]:
        if self.directory is None:
            return []
        return sorted(self.directory.glob("*.npy"))


def _load(path: Path) -> Reference:
    image = np.load(path, allow_pickle=False)
    if image.dtype != np.uint16 or image.ndim not in (2, 3):
        raise ValueError(
            f"{path}: a reference is a uint16 [H, W] or [channels, H, W] array, got "
            f"{image.dtype} {image.shape}"
        )
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    box = meta.get("cargo_box_px")
    return Reference(
        model=path.name.split(".")[0],
        image=image,
        pixel_size_mm=float(meta["pixel_size_mm"]) if "pixel_size_mm" in meta else None,
        source=str(path),
        kind=str(meta.get("kind", "")),
        cargo_box=(int(box[0]), int(box[1]), int(box[2]), int(box[3])) if box else None,
        description=str(meta.get("description", "")),
    )


@lru_cache(maxsize=32)
def builtin_reference(model: str, height: int, width: int) -> Reference:
    """The simulator's empty, noiseless scan of ``model`` at this size, with its cargo space."""
    simulator = vehicle_sim.VehicleSimulator(0, height, width)
    scan = simulator.reference(model)
    spec = next(m for m in vehicle_sim.MODELS if m.name == model)
    cargo = None
    if spec.cargo_cm is not None:
        x0, x1, z0, z1 = spec.cargo_cm
        pixel_cm = simulator.pixel_cm
        ground = height * pixel_cm - vehicle_sim.GROUND_MARGIN_CM
        cargo = (
            math.floor((vehicle_sim.FRONT_MARGIN_CM + x0) / pixel_cm),
            math.floor((ground - z1) / pixel_cm),
            math.ceil((vehicle_sim.FRONT_MARGIN_CM + x1) / pixel_cm),
            math.ceil((ground - z0) / pixel_cm),
        )
    return Reference(
        model, scan.image, simulator.pixel_size_mm, "built-in simulator", spec.kind, cargo, spec.description
    )
