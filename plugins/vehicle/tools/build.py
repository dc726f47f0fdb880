"""Build the ``vehicle-references`` artefact: ``smartcustoms library build vehicle``.

Two sources:

* ``sim`` (the default): for every model of ``hardware.sim.vehicle`` (sedan-1, suv-1, mpv-1, van-1,
  box-truck-1, container-20ft; and each part of a container vehicle alone, ``reference_part``: the
  tractors tractor-1 and -2, the trailers skeletal-1 to -3, the container type 22G1), the simulator's
  noiseless empty scan ``reference(model)`` at the portal's
  default scan size (``PORTAL_SHAPE``, 1024 x 3072: what the simulated portal streams and the evaluation
  scans), its cargo space taken from the model's dimensions. Scans of another size get the reference
  resampled to them at run time (``alignment.fit_reference``).
* a folder of the site's own references in the same format (``references``: ``<model>[.<variant>].npy``
  and optional ``<same name>.json``): every file is checked, then copied.
"""

from __future__ import annotations

import datetime
import math
import shutil
from pathlib import Path

from smartcustoms.core import artefacts
from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.hardware.sim import vehicle as vehicle_sim
from smartcustoms.plugins.vehicle.references import (
    ARTEFACT_NAME,
    BoxPx,
    ReferenceError,
    read_reference_dir,
    write_reference,
)

SIM_SOURCE = "sim"
SIM_VERSION = "sim-v2"
PORTAL_SHAPE = (1024, 3072)  # height, width: VehicleSimulator's default scan


def build(
    out: str | Path,
    source: str = SIM_SOURCE,
    *,
    version: str = "",
    shape: tuple[int, int] = PORTAL_SHAPE,
) -> ArtefactInfo:
    """Build the artefact into ``out`` from ``source`` ("sim" or a folder of references); ReferenceError
    when the folder is not one."""
    if source == SIM_SOURCE:
        height, width = shape
        return artefacts.build(
            out,
            name=ARTEFACT_NAME,
            version=version or SIM_VERSION,
            source=f"hardware.sim.vehicle: noiseless empty scans of {len(vehicle_sim.MODEL_NAMES)} models "
            f"and of container vehicles' parts at {height} x {width}",
            write=lambda staging: write_simulated(staging, height, width),
        )
    folder = Path(source).absolute()
    if not read_reference_dir(folder):
        raise ReferenceError(f"{folder} holds no reference (<model>.npy)")
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    return artefacts.build(
        out,
        name=ARTEFACT_NAME,
        version=version or f"site-{today}",
        source=f"reference folder {folder}",
        write=lambda staging: copy_references(folder, staging),
    )


def write_simulated(folder: Path, height: int, width: int) -> None:
    """Every simulator model's empty, noiseless scan at this size, with its sidecar; then each part of a
    container vehicle alone (every tractor, trailer and container type, ``"part"`` in the sidecar)."""
    simulator = vehicle_sim.VehicleSimulator(0, height, width)
    for spec in vehicle_sim.MODELS:
        write_reference(
            folder,
            spec.name,
            simulator.reference(spec.name).image,
            pixel_size_mm=simulator.pixel_size_mm,
            cargo_box=cargo_box(spec, simulator),
            kind=spec.kind,
            description=spec.description,
            parts=_default_rig() if spec.kind == "container" else None,
        )
    container = next(m for m in vehicle_sim.MODELS if m.name == "container-20ft")
    names = {
        "tractor": vehicle_sim.TRACTOR_NAMES,
        "trailer": vehicle_sim.TRAILER_NAMES,
        "container": tuple(c.code for c in vehicle_sim.CONTAINER_TYPES),
    }
    for part in vehicle_sim.RIG_PARTS:
        for name in names[part]:
            write_reference(
                folder,
                name,
                simulator.reference_part(part, name).image,
                pixel_size_mm=simulator.pixel_size_mm,
                cargo_box=cargo_box(container, simulator) if part == "container" else None,
                kind="container" if part == "container" else "truck",
                description=f"{part} {name} alone",
                part=part,
            )


def _default_rig() -> dict[str, str]:
    rig = vehicle_sim.VehicleSimulator(0, 64, 64).reference("container-20ft").rig
    assert rig is not None
    return {part: rig.part(part) for part in vehicle_sim.RIG_PARTS}


def cargo_box(spec: vehicle_sim.VehicleModel, simulator: vehicle_sim.VehicleSimulator) -> BoxPx | None:
    """The model's cargo space in the pixels of the simulator's reference (offset 0)."""
    if spec.cargo_cm is None:
        return None
    x0, x1, z0, z1 = spec.cargo_cm
    pixel_cm = simulator.pixel_cm
    ground = simulator.height * pixel_cm - vehicle_sim.GROUND_MARGIN_CM
    return (
        math.floor((vehicle_sim.FRONT_MARGIN_CM + x0) / pixel_cm),
        math.floor((ground - z1) / pixel_cm),
        math.ceil((vehicle_sim.FRONT_MARGIN_CM + x1) / pixel_cm),
        math.ceil((ground - z0) / pixel_cm),
    )


def copy_references(source: Path, folder: Path) -> None:
    """Copy every reference of ``source`` (``.npy`` and its ``.json`` sidecar) into ``folder``."""
    for path in sorted(source.glob("*.npy")):
        shutil.copyfile(path, folder / path.name)
        sidecar = path.with_suffix(".json")
        if sidecar.is_file():
            shutil.copyfile(sidecar, folder / sidecar.name)
