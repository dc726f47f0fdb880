"""An independent generator of vehicle X-ray portal scans: the cross-simulator check of the vehicle scan
comparison plugin.

It was written without reading the project's vehicle simulator or its vehicle plugin, from physics and
general knowledge of vans, trucks, containers and linac portals; it shares with them only the scan
contract (uint16 transmission, 65535 open beam, columns along the vehicle with its cab on the left, rows
across with the road at the bottom; labels ``hidden_compartment``, ``undeclared_goods``, ``extra_load``;
empty references with their cargo boxes). No tool may fit or tune anything on it: it only measures.

Everything a generator could fix is drawn per scan and reproducible per (seed, index):

- the vehicle among vans, rigid box trucks and articulated container rigs (``_vehicle_alt_fleet``), each
  model with its own wheelbase, axles, cab, engine, tanks and spare wheel, built of steel, aluminium,
  rubber, glass, diesel and wood (``_vehicle_alt_parts``); its fuel level;
- the declaration and the load: empty, or N pallets of textiles, electronics, tiles, drinks, cans,
  tyres, paper rolls, machinery, furniture or fruit, stacks of varied heights (``_vehicle_alt_loads``);
- about half the scans carry something to find: a hidden compartment (fuel tank, chassis, spare wheel,
  double floor, roof, cab wall, behind the seats, trailer beam, a container's false front wall), goods in
  a vehicle declared empty, or pallets beyond the declared count; contents drugs, cash, cigarettes or
  metal, from about 20 x 20 cm to the whole hiding place;
- the portal (``_vehicle_alt_physics``): single 4-6 MV or dual 6/4 MV bremsstrahlung, detector pitch,
  blur, scatter, per-row and per-card gain residuals, linac pulse jitter, photon and electronic noise,
  an occasional gain and offset drift;
- the pass: pixel size along from the speed (20-30 mm), the speed drifting a few % along the scan and
  sometimes a stop-and-go, the vehicle's height (+- 3 cm) and tilt, the margins before and after it.

``AltVehicleSimulator(seed).generate(index)`` gives a scan; ``generate(index, concealments=False)`` the
same scan without what its labels mark; ``reference(model)`` an empty pass of a model (for a container
rig, the same tractor, trailer and container type). With ``other_rig_rate`` > 0 (off by default) some
container scans put the container on another tractor or trailer than its reference's. ``write_folder``
writes a labelled folder; ``python -m smartcustoms.hardware.sim.vehicle_alt --out DIR --seed S --count N``
does it from the shell. Seeds start at 5000, apart from every other vehicle seed of the project.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import cv2
import numpy as np

from smartcustoms.hardware.sim import _vehicle_alt_fleet as fleet
from smartcustoms.hardware.sim import _vehicle_alt_loads as loads
from smartcustoms.hardware.sim._vehicle_alt_physics import REFERENCE_MU, Portal
from smartcustoms.hardware.sim._vehicle_alt_shapes import Grid, Prim

NAME = "alt"
FIRST_SEED = 5000
CATEGORIES = ("hidden_compartment", "undeclared_goods", "extra_load")
MODELS = fleet.MODELS
_SALT = 0xA17E  # keeps this generator's random streams apart from any other's with the same seed
_MARGIN_CM = 60.0  # least air before the front bumper and after the rear
_HEADROOM_CM = 30.0  # least air above the roof


@dataclass(frozen=True, slots=True)
class AltConcealment:
    """What a label marks: class, ``location``, box (x, y, width, height) in pixels, and contents."""

    label: str
    location: str
    bbox: tuple[int, int, int, int]
    contents: str


@dataclass(frozen=True, slots=True, eq=False)
class AltVehicleScan:
    """image: uint16 [H, W] or [2, H, W] (channel 0 high energy), 65535 = open beam."""

    image: np.ndarray
    truth: tuple[AltConcealment, ...]
    vehicle: fleet.Vehicle
    declared_goods: str
    declared_pallets: int | None
    pixel_size_along_mm: float
    pixel_size_across_mm: float
    cargo_box_px: tuple[int, int, int, int]
    portal: Portal

    @property
    def high(self) -> np.ndarray:
        """The high-energy (or only) channel."""
        out: np.ndarray = self.image[0] if self.image.ndim == 3 else self.image
        return out


@dataclass(frozen=True)
class _Pass:
    """Where each column and row of the image falls on the vehicle."""

    u_cm: np.ndarray  # [W] the vehicle coordinate at each column's centre
    du_cm: np.ndarray  # [W] the vehicle's travel during each column
    lift_cm: np.ndarray  # [W] the vehicle's height above its nominal position
    pitch_cm: float  # between rows
    ground_rows: int  # road and foundation at the bottom
    height: int  # rows of the image

    @classmethod
    def draw(
        cls, rng: np.random.Generator, vehicle: fleet.Vehicle, height: int | None, width: int | None
    ) -> _Pass:
        """A pass of ``vehicle``; ``height`` / ``width`` None: the image framed as a portal frames it, its
        rows the detector column's (4.6-5.2 m tall), its columns from just before the vehicle to just
        after it (0.8-3 m of air in all)."""
        along_cm = float(rng.uniform(2.0, 3.0))
        air_cm = float(rng.uniform(80.0, 300.0))
        if width is None:
            width = max(256, math.ceil((vehicle.length_cm + max(air_cm, 2 * _MARGIN_CM)) / along_cm))
        j = np.arange(width) / width
        speed = np.ones(width)
        for _ in range(2):
            speed += rng.uniform(0, 0.04) * np.sin(
                2 * np.pi * (rng.uniform(0.3, 2.0) * j + rng.uniform(0, 1))
            )
        if rng.random() < 0.2:  # stop-and-go
            centre, spread = rng.uniform(0.2, 0.8), rng.uniform(0.02, 0.08)
            speed *= 1 - rng.uniform(0.5, 0.9) * np.exp(-(((j - centre) / spread) ** 2))
        need = vehicle.length_cm + 2 * _MARGIN_CM
        du = speed * max(along_cm, need / speed.sum())
        slack = du.sum() - need
        front = _MARGIN_CM + slack * float(rng.uniform(0.05, 0.5))
        u = np.cumsum(du) - du / 2 - front
        tilt = float(rng.uniform(-1.5, 1.5)) * (u - vehicle.length_cm / 2) / (vehicle.length_cm / 2)
        lift = float(rng.uniform(-3.0, 3.0)) + np.clip(tilt, -1.5, 1.5)
        pitch = float(rng.uniform(0.8, 1.7))
        ground_cm = float(rng.uniform(8.0, 25.0))
        portal_cm = float(rng.uniform(460.0, 520.0))
        if height is None:
            height = math.ceil(max(portal_cm, vehicle.height_cm + 3 + _HEADROOM_CM + ground_cm) / pitch)
        pitch = max(pitch, (vehicle.height_cm + 3 + _HEADROOM_CM + ground_cm) / height)
        ground_rows = max(2, round(ground_cm / pitch))
        return cls(u, du, lift, pitch, ground_rows, height)

    def rows_above_road(self, height: int) -> np.ndarray:
        """[H] height (cm) above the road of each row's centre."""
        out: np.ndarray = (height - self.ground_rows - np.arange(height) - 0.5) * self.pitch_cm
        return out

    def grid(self, vehicle: fleet.Vehicle) -> Grid:
        pitch_u = float(np.median(self.du_cm)) * 0.6
        u0 = float(self.u_cm[0] - self.du_cm[0])
        cols = math.ceil((float(self.u_cm[-1] + self.du_cm[-1]) - u0) / pitch_u) + 1
        v_top = vehicle.height_cm + 10
        return Grid(u0, pitch_u, v_top, self.pitch_cm, cols, math.ceil((v_top + 10) / self.pitch_cm))

    def remap(self, grid: Grid, maps: np.ndarray, height: int) -> np.ndarray:
        """Vehicle-frame mass maps [3, Hg, Wg] onto the image [3, H, W]."""
        map_x = np.broadcast_to(
            ((self.u_cm - grid.u0) / grid.pitch_u - 0.5)[None, :], (height, len(self.u_cm))
        )
        v = self.rows_above_road(height)[:, None] - self.lift_cm[None, :]
        map_y = (grid.v_top - v) / grid.pitch_v - 0.5
        out = cv2.remap(
            np.ascontiguousarray(maps.transpose(1, 2, 0)),
            np.ascontiguousarray(map_x, dtype=np.float32),
            np.ascontiguousarray(map_y, dtype=np.float32),
            interpolation=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        result: np.ndarray = np.ascontiguousarray(out.transpose(2, 0, 1))
        return result

    def box_px(self, box: tuple[float, float, float, float], height: int) -> tuple[int, int, int, int]:
        """A vehicle-frame box (u0, u1, v0, v1) cm as pixels (x0, y0, x1, y1), max exclusive."""
        u0, u1, v0, v1 = box
        x0 = int(np.searchsorted(self.u_cm, u0))
        x1 = max(x0 + 1, int(np.searchsorted(self.u_cm, u1)))
        lift = self.lift_cm[x0:x1]
        road = height - self.ground_rows
        y0 = math.floor(road - (v1 + float(lift.max())) / self.pitch_cm)
        y1 = math.ceil(road - (v0 + float(lift.min())) / self.pitch_cm)
        return x0, max(0, y0), min(len(self.u_cm), x1), min(height, y1)

    def mean_pixel_along_mm(self, vehicle: fleet.Vehicle) -> float:
        on = (self.u_cm >= 0) & (self.u_cm <= vehicle.length_cm)
        return float(self.du_cm[on].mean() * 10) if on.any() else float(self.du_cm.mean() * 10)


@dataclass(frozen=True)
class _Scene:
    vehicle: fleet.Vehicle
    declared_goods: str
    declared_pallets: int | None
    base: list[Prim]  # the declared load
    added: list[tuple[str, str, list[Prim], str]]  # (label, location, primitives, contents)


class AltVehicleSimulator:
    """Portal scans of ``height`` x ``width`` pixels (None: each framed as a portal frames it, its size
    from its pixel sizes, the detector column and the vehicle's length); ``suspect_rate`` of them carry
    something to find."""

    def __init__(
        self,
        seed: int,
        height: int | None = None,
        width: int | None = None,
        *,
        suspect_rate: float = 0.5,
        other_rig_rate: float = 0.0,
    ) -> None:
        if seed < FIRST_SEED:
            raise ValueError(f"the alt vehicle generator's seeds start at {FIRST_SEED}")
        if (height is not None and height < 64) or (width is not None and width < 256):
            raise ValueError("an alt vehicle scan is at least 64 x 256 pixels")
        if not (0.0 <= suspect_rate <= 1.0 and 0.0 <= other_rig_rate <= 1.0):
            raise ValueError("suspect_rate and other_rig_rate are probabilities")
        self.seed, self.height, self.width, self.suspect_rate = seed, height, width, suspect_rate
        self.other_rig_rate = other_rig_rate

    def _rng(self, *stream: int) -> np.random.Generator:
        return np.random.default_rng([_SALT, self.seed, *stream])

    def generate(self, index: int, *, concealments: bool = True) -> AltVehicleScan:
        """Scan ``index``; ``concealments=False`` renders the same pass without what its labels mark."""
        if index < 0:
            raise ValueError("index must be non-negative")
        scene = self._scene(index)
        added = scene.added if concealments else []
        return self._render(scene, added, (0, index))

    def reference(self, model: str, pass_index: int = 0) -> AltVehicleScan:
        """An empty pass of ``model``: its own speed, height, fuel level, scanner and noise."""
        rng = self._rng(1, fleet.MODELS.index(model), pass_index)
        vehicle = fleet.build(model, int(rng.integers(2, 20)))
        scene = _Scene(vehicle, "empty", None, [], [])
        return self._render(scene, [], (1, fleet.MODELS.index(model), pass_index, 1))

    def _scene(self, index: int) -> _Scene:
        rng = self._rng(0, index, 0)
        model = str(rng.choice(fleet.MODELS))
        fuel_step, swap, pick = int(rng.integers(2, 20)), rng.random() < self.other_rig_rate, rng.random()
        rigs = fleet.other_rigs(model) if model in fleet.RIGS and swap else []
        vehicle = fleet.build(model, fuel_step, rigs[int(pick * len(rigs))] if rigs else None)
        suspect = rng.random() < self.suspect_rate
        case = str(rng.choice(CATEGORIES, p=[0.55, 0.2, 0.25])) if suspect else "clean"
        capacity = max(1, int((vehicle.cargo[1] - vehicle.cargo[0]) // loads.PALLET_SLOT_CM))
        if case == "extra_load" and capacity < 2:
            case = "hidden_compartment"
        loaded = case == "extra_load" or (case != "undeclared_goods" and rng.random() < 0.6)
        goods = str(rng.choice(list(loads.GOODS)))
        top = capacity - 1 if case == "extra_load" else capacity
        pallets = int(rng.integers(1, top + 1)) if loaded else None
        cargo_rng = self._rng(0, index, 1)
        base = (
            loads.load(cargo_rng, goods, 0, pallets, vehicle.cargo, vehicle.cargo_across_cm)
            if pallets
            else []
        )
        added = self._added(index, case, vehicle, goods, pallets, capacity)
        return _Scene(vehicle, goods if loaded else "empty", pallets, base, added)

    def _added(
        self, index: int, case: str, vehicle: fleet.Vehicle, goods: str, pallets: int | None, capacity: int
    ) -> list[tuple[str, str, list[Prim], str]]:
        rng = self._rng(0, index, 2)
        out: list[tuple[str, str, list[Prim], str]] = []
        if case == "extra_load" and pallets is not None:
            extra = int(rng.integers(1, min(3, capacity - pallets) + 1))
            prims = loads.load(rng, goods, pallets, pallets + extra, vehicle.cargo, vehicle.cargo_across_cm)
            out.append(("extra_load", "cargo_space", prims, goods))
        elif case == "undeclared_goods":
            out.append(
                (
                    "undeclared_goods",
                    "cargo_space",
                    loads.loose_goods(rng, vehicle.cargo, vehicle.cargo_across_cm),
                    "goods",
                )
            )
        if case == "hidden_compartment" or (case != "clean" and rng.random() < 0.1):
            location = _hiding_place(rng, vehicle)
            prims, contents = loads.concealment(rng, location, vehicle.spots[location])
            out.append(("hidden_compartment", location, prims, contents))
        return out

    def _render(
        self, scene: _Scene, added: list[tuple[str, str, list[Prim], str]], stream: tuple[int, ...]
    ) -> AltVehicleScan:
        vehicle = scene.vehicle
        pass_ = _Pass.draw(self._rng(*stream, 3), vehicle, self.height, self.width)
        height = pass_.height
        portal = Portal.draw(self._rng(*stream, 4))
        grid = pass_.grid(vehicle)
        maps = grid.blank()
        grid.draw(maps, [*vehicle.prims, *scene.base])
        mass = pass_.remap(grid, maps, height)
        truth = []
        for label, location, prims, contents in added:
            delta = grid.blank()
            grid.draw(delta, prims)
            delta_image = pass_.remap(grid, delta, height)
            mass += delta_image
            box = _changed_box(delta_image)
            if box is not None:
                truth.append(AltConcealment(label, location, box, contents))
        np.maximum(mass, 0, out=mass)
        mass[1, height - pass_.ground_rows :] += 400.0  # road and the portal's foundation
        image = portal.form_image(mass, self._rng(*stream, 5))
        return AltVehicleScan(
            image=image,
            truth=tuple(truth),
            vehicle=vehicle,
            declared_goods=scene.declared_goods,
            declared_pallets=scene.declared_pallets,
            pixel_size_along_mm=round(pass_.mean_pixel_along_mm(vehicle), 3),
            pixel_size_across_mm=round(pass_.pitch_cm * 10, 3),
            cargo_box_px=pass_.box_px(vehicle.cargo, height),
            portal=portal,
        )


def _hiding_place(rng: np.random.Generator, vehicle: fleet.Vehicle) -> str:
    """A hiding place of the vehicle: a container's false front wall a quarter of the time."""
    if "false_front_wall" in vehicle.spots and rng.random() < 0.25:
        return "false_front_wall"
    spots = sorted(set(vehicle.spots) - {"false_front_wall"})
    return spots[int(rng.integers(len(spots)))]


def _changed_box(delta: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) around the pixels whose attenuation the added mass changes."""
    attenuation = np.abs(np.tensordot(REFERENCE_MU.astype(np.float32), delta, axes=1))
    peak = float(attenuation.max())
    if peak <= 0.01:
        return None
    rows = np.flatnonzero((attenuation > max(0.005, 0.03 * peak)).any(axis=1))
    cols = np.flatnonzero((attenuation > max(0.005, 0.03 * peak)).any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


# --------------------------------------------------------------------------- the labelled folder


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def _image_entry(number: int, scan: AltVehicleScan, file_name: str) -> dict[str, object]:
    height, width = scan.high.shape
    entry: dict[str, object] = {
        "id": number,
        "file_name": file_name,
        "width": width,
        "height": height,
        "vehicle_model": scan.vehicle.model,
    }
    if scan.vehicle.container_type is not None:
        entry["container_type"] = scan.vehicle.container_type
        entry["tractor_model"] = scan.vehicle.tractor_model
        entry["trailer_model"] = scan.vehicle.trailer_model
    entry["declared_goods"] = scan.declared_goods
    if scan.declared_pallets is not None:
        entry["declared_pallets"] = scan.declared_pallets
    entry["pixel_size_along_mm"] = scan.pixel_size_along_mm
    entry["pixel_size_across_mm"] = scan.pixel_size_across_mm
    return entry


def write_folder(
    out: Path,
    seed: int,
    count: int,
    *,
    height: int | None = None,
    width: int | None = None,
    other_rig_rate: float = 0.0,
) -> Path:
    """Write ``count`` labelled scans (scans/NNNN.png, annotations.json) and an empty reference of every
    model they use (references/<model>.png, references/references.json) under ``out``.

    ``other_rig_rate``: the share of container scans whose container travels on another tractor or
    trailer than its reference's (their ``tractor_model`` and ``trailer_model`` say which); off by
    default, so that a comparison with the reference is first measured on the same rig."""
    if count < 1:
        raise ValueError("count must be at least 1")
    simulator = AltVehicleSimulator(seed, height, width, other_rig_rate=other_rig_rate)
    out = Path(out)
    images: list[dict[str, object]] = []
    annotations: list[dict[str, object]] = []
    used: list[str] = []
    for number in range(1, count + 1):
        scan = simulator.generate(number - 1)
        file_name = f"scans/{number:04d}.png"
        _write_png(out / file_name, scan.high)
        images.append(_image_entry(number, scan, file_name))
        for truth in scan.truth:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": number,
                    "category_id": CATEGORIES.index(truth.label) + 1,
                    "bbox": list(truth.bbox),
                    "location": truth.location,
                }
            )
        if scan.vehicle.model not in used:
            used.append(scan.vehicle.model)
    references = []
    for model in sorted(used):
        ref = simulator.reference(model)
        file_name = f"references/{model}.png"
        _write_png(out / file_name, ref.high)
        references.append(
            {
                "files": [file_name],
                "model": model,
                "kind": ref.vehicle.kind,
                "pixel_size_mm": [ref.pixel_size_along_mm, ref.pixel_size_across_mm],
                "cargo_box_px": list(ref.cargo_box_px),
                "description": ref.vehicle.description,
            }
        )
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(CATEGORIES)]
    (out / "annotations.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories}, indent=1)
    )
    (out / "references" / "references.json").write_text(json.dumps(references, indent=1))
    return out


# --------------------------------------------------------------------------- command line


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"vehicle_alt: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _OneLineParser(prog="python -m smartcustoms.hardware.sim.vehicle_alt", description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--height", type=int)
    parser.add_argument("--width", type=int)
    parser.add_argument("--other-rig-rate", type=float, default=0.0)
    args = parser.parse_args(argv)
    try:
        out = write_folder(
            args.out,
            args.seed,
            args.count,
            height=args.height,
            width=args.width,
            other_rig_rate=args.other_rig_rate,
        )
    except ValueError as error:
        parser.error(str(error))
    print(f"wrote {args.count} alt vehicle scans (seed {args.seed}) and their references to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
