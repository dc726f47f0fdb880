"""Vehicle models of the portal simulator: dimensions and side-view geometry, in cm.

A model is built from slabs (prisms seen side-on, trapezoids where pillars and windscreens slope),
rings (wheels, seen face-on) and the voids where a compartment could be hidden. x runs from the front
bumper to the rear, z up from the ground; thickness is along the beam, i.e. across the vehicle.
Materials are named as in ``vehicle.MATERIALS``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import _kernels


@dataclass(frozen=True, slots=True)
class VehicleModel:
    """A vehicle model's dimensions in cm (x from the front bumper, z above the ground).

    width_cm is the body width along the beam. Cars use the greenhouse fields (hood_end: A-pillar base,
    roof_start/roof_end: roof line, tail_start: rear pillar base, belt: window line, floor: floor pan);
    goods vehicles have a cargo space (x0, x1, z0, z1) and a cab of length ``cab_cm``.
    """

    name: str
    kind: str  # car, van, truck, container
    description: str
    length_cm: float
    height_cm: float
    width_cm: float
    wheelbase_cm: float
    front_overhang_cm: float
    wheel_radius_cm: float
    floor_cm: float
    belt_cm: float = 0.0
    hood_end_cm: float = 0.0
    roof_start_cm: float = 0.0
    roof_end_cm: float = 0.0
    tail_start_cm: float = 0.0
    seat_rows: int = 2
    cab_cm: float = 0.0
    cargo_cm: tuple[float, float, float, float] | None = None


# Positional fields: name, kind, description, length, height, width, wheelbase, front overhang, wheel
# radius, floor; cars then belt, hood end, roof start, roof end, tail start.
MODELS = (
    VehicleModel(
        "sedan-1", "car", "mid-size saloon", 485, 145, 184, 282, 95, 33, 28, 92, 175, 220, 360, 410
    ),
    VehicleModel("suv-1", "car", "mid-size SUV", 475, 172, 189, 276, 93, 37, 36, 105, 160, 195, 460, 466),
    VehicleModel(
        "mpv-1", "car", "large MPV (people carrier)", 495, 195, 185, 300, 92, 34, 34, 110, 110, 140, 480, 488,
        seat_rows=3,
    ),
    VehicleModel(
        "van-1", "van", "light goods van, cab-over", 530, 228, 188, 330, 80, 33, 55, 120,
        cab_cm=150, cargo_cm=(155, 520, 58, 218),
    ),
    VehicleModel(
        "box-truck-1", "truck", "10 t rigid truck with box body", 850, 360, 250, 480, 130, 50, 110,
        cab_cm=205, cargo_cm=(222, 838, 119, 352),
    ),
    VehicleModel(
        "container-20ft", "container", "tractor, skeletal trailer and 20 ft ISO container", 1340, 400, 250,
        360, 140, 52, 115, cab_cm=220, cargo_cm=(700, 1298, 158, 391),
    ),
)  # fmt: skip
MODEL_NAMES = tuple(m.name for m in MODELS)
_MODEL_BY_NAME = {m.name: m for m in MODELS}
GOODS_VEHICLE_KINDS = ("van", "truck", "container")


# --------------------------------------------------------------------------- geometry (vehicle frame, cm)


@dataclass(frozen=True, slots=True)
class Slab:
    """A prism seen side-on: bottom edge x0..x1 at z0, top edge top_x0..top_x1 at z1 (a trapezoid)."""

    material: str
    x0: float
    x1: float
    z0: float
    z1: float
    thickness_cm: float
    top_x0: float | None = None
    top_x1: float | None = None
    profile: int = _kernels.SLAB_FLAT

    def extent(self) -> tuple[float, float, float, float]:
        tops = (
            self.x0 if self.top_x0 is None else self.top_x0,
            self.x1 if self.top_x1 is None else self.top_x1,
        )
        return min(self.x0, tops[0]), self.z0, max(self.x1, tops[1]), self.z1


@dataclass(frozen=True, slots=True)
class Ring:
    """An annulus in the image plane (a disc when r_inner is 0), thickness along the beam."""

    material: str
    x: float
    z: float
    r_inner: float
    r_outer: float
    thickness_cm: float

    def extent(self) -> tuple[float, float, float, float]:
        return self.x - self.r_outer, self.z - self.r_outer, self.x + self.r_outer, self.z + self.r_outer


Piece = Slab | Ring


@dataclass(frozen=True, slots=True)
class Void:
    """Room for a hidden compartment: x0..x1, z0..z1, depth_cm along the beam; what fills it now."""

    x0: float
    x1: float
    z0: float
    z1: float
    depth_cm: float
    displaced: str = ""  # material a concealment pushes out (fuel in a tank)
    profile: int = _kernels.SLAB_FLAT


@dataclass(frozen=True, slots=True)
class Tank:
    """A fuel tank: its inside x0..x1, z0..z1, depth_cm along the beam (a rod's diameter), and the share
    ``fill`` of its height that holds fuel in the model's own layout (its reference)."""

    x0: float
    x1: float
    z0: float
    z1: float
    depth_cm: float
    fill: float
    profile: int = _kernels.SLAB_FLAT

    def level_cm(self, share: float) -> float:
        """The height of the fuel's surface when ``share`` of the tank's height holds fuel."""
        return self.z0 + share * (self.z1 - self.z0)

    def refilled(self, share: float, columns: tuple[tuple[float, float], ...]) -> list[tuple[Slab, float]]:
        """What changes when the tank holds ``share`` of its height instead of ``fill``, in the given
        ``columns`` (x ranges) of it: slabs of fuel, each with +1 (added) or -1 (taken away). A rod's
        fuel is cut in slices of ``ROD_SLICE_CM``, each as thick as the circle's chord at its middle."""
        low, high = sorted((self.level_cm(self.fill), self.level_cm(share)))
        sign = 1.0 if share > self.fill else -1.0
        if high - low <= 1e-6:
            return []
        if self.profile != _kernels.SLAB_ROD:
            layers = [(low, high, self.depth_cm)]
        else:
            centre, radius = (self.z0 + self.z1) / 2, (self.z1 - self.z0) / 2
            edges = np.linspace(low, high, max(2, math.ceil((high - low) / ROD_SLICE_CM) + 1))
            layers = [
                (
                    float(a),
                    float(b),
                    self.depth_cm * math.sqrt(max(0.0, 1 - (((a + b) / 2 - centre) / radius) ** 2)),
                )
                for a, b in itertools.pairwise(edges)
            ]
        return [
            (Slab("fuel", x0, x1, a, b, depth), sign)
            for x0, x1 in columns
            if x1 > x0
            for a, b, depth in layers
        ]


ROD_SLICE_CM = 0.5  # a rod tank's fuel changed in slices this thick (about a pixel)


@dataclass
class Layout:
    pieces: list[Piece] = field(default_factory=list)
    voids: dict[str, Void] = field(default_factory=dict)
    tanks: list[Tank] = field(default_factory=list)  # fuel tanks, whose level a scan may change

    def add(self, *pieces: Piece) -> None:
        self.pieces.extend(pieces)

    def slab(
        self,
        material: str,
        x0: float,
        x1: float,
        z0: float,
        z1: float,
        t: float,
        top_x0: float | None = None,
        top_x1: float | None = None,
    ) -> None:
        """A flat slab, a trapezoid when the top edge runs top_x0..top_x1."""
        self.pieces.append(Slab(material, x0, x1, z0, z1, t, top_x0, top_x1))

    def rod(self, material: str, x0: float, x1: float, z0: float, z1: float, diameter: float) -> None:
        """A cylinder along x, its chord along the beam up to ``diameter``."""
        self.pieces.append(Slab(material, x0, x1, z0, z1, diameter, profile=_kernels.SLAB_ROD))


def _wheel(layout: Layout, x: float, radius: float, tyres: int, axle_cm: float) -> None:
    """An axle with ``tyres`` tyres along the beam: tyres, steel belts, rims, brakes, hub and axle."""
    layout.add(
        Ring("polymer", x, radius, 0.62 * radius, radius, 8.0 * tyres),
        Ring("steel", x, radius, 0.9 * radius, 0.97 * radius, 0.8 * tyres),
        Ring("aluminium", x, radius, 0.0, 0.62 * radius, 1.8 * tyres),
        Ring("steel", x, radius, 0.15 * radius, 0.5 * radius, 2.4 * tyres),
        Ring("steel", x, radius, 0.0, 0.18 * radius, 8.0 * tyres),
        Ring("steel", x, radius, 0.0, 0.08 * radius, axle_cm),
    )


def _axles(m: VehicleModel) -> tuple[float, float]:
    return m.front_overhang_cm, m.front_overhang_cm + m.wheelbase_cm


def _car(m: VehicleModel) -> Layout:
    """A passenger car: body shell, greenhouse, engine, seats, fuel tank, spare wheel, wheels."""
    out, length, height, width = Layout(), m.length_cm, m.height_cm, m.width_cm
    floor, belt, hood, tail = m.floor_cm, m.belt_cm, m.hood_end_cm, m.tail_start_cm
    front, rear = _axles(m)
    radius = m.wheel_radius_cm
    out.slab("steel", 2, length - 2, floor - 8, belt, 0.5)  # side panels, outer and inner skins
    out.slab("glass", hood, tail, belt, height - 2, 0.9, top_x0=m.roof_start_cm, top_x1=m.roof_end_cm)
    out.slab(
        "steel", hood, hood + 9, belt, height - 2, 1.2, top_x0=m.roof_start_cm, top_x1=m.roof_start_cm + 6
    )
    out.slab("steel", tail - 12, tail, belt, height - 2, 1.4, top_x0=m.roof_end_cm - 9, top_x1=m.roof_end_cm)
    pillar_x = (hood + tail) / 2 if m.seat_rows == 2 else hood + 0.4 * (tail - hood)
    out.slab("steel", pillar_x - 5, pillar_x + 5, belt, height - 2, 1.6)  # B pillar
    out.slab("steel", m.roof_start_cm, m.roof_end_cm, height - 1.4, height - 1.2, width - 20)  # roof sheet
    out.rod("steel", m.roof_start_cm, m.roof_end_cm, height - 7, height - 2, 3.0)  # roof rails
    out.slab("polymer", m.roof_start_cm + 5, m.roof_end_cm - 5, height - 5, height - 4.4, 0.1 * (width - 30))
    out.slab("steel", 3, length - 3, floor, floor + 0.15, width - 15)  # floor pan
    out.slab("polymer", hood, tail, floor + 0.15, floor + 1.5, 0.3 * (width - 20))  # carpet
    out.rod("steel", front + radius, rear - radius, floor - 8, floor + 4, 1.2)  # sills
    out.slab("steel", 2, hood, belt - 1.0, belt - 0.8, width - 20)  # bonnet
    out.slab("steel", tail, length - 3, belt - 1.0, belt - 0.8, width - 20)  # boot lid or tailgate floor
    for x0, x1 in ((0, 4), (length - 4, length)):  # bumper covers and beams
        out.slab("polymer", x0, x1, floor - 2, floor + 33, 0.2 * width)
    out.slab("steel", 6, 12, floor + 5, floor + 18, 0.2 * (width - 20))
    out.slab("steel", length - 12, length - 6, floor + 5, floor + 18, 0.2 * (width - 20))
    engine_x1 = hood - 8 if m.hood_end_cm > 140 else front + 45
    out.slab("steel", 14, engine_x1, floor + 8, belt - 12, 6.0)  # engine block and gearbox
    out.slab("aluminium", 14, engine_x1, floor + 8, belt - 8, 6.0)
    out.slab("aluminium", 8, 12, floor + 10, belt - 10, 0.15 * (width - 50))  # radiator
    battery_x = max(engine_x1 - 30, 20)
    out.slab("lead", battery_x, battery_x + 25, belt - 30, belt - 12, 2.3)
    out.slab("water", battery_x, battery_x + 25, belt - 30, belt - 12, 8.0)
    out.slab("polymer", hood - 5, hood + 25, belt - 25, belt + 5, 0.1 * (width - 20))  # dashboard
    out.rod("steel", hood - 5, hood + 25, belt - 15, belt - 10, 0.06 * width)  # cross-car beam
    row_pitch = (tail - hood - 40) / m.seat_rows
    for row in range(m.seat_rows):
        x = hood + 30 + row * row_pitch
        out.slab("polymer", x, x + 50, floor + 15, floor + 30, 8.0)  # cushion
        out.slab("polymer", x + 45, x + 55, floor + 30, belt + 25, 8.0, top_x0=x + 55, top_x1=x + 65)
        out.slab("steel", x, x + 50, floor + 5, floor + 15, 0.6)  # frame
    tank = Void(rear - 80, rear - 18, radius * 0.6, floor + 6, 70.0, displaced="fuel")
    out.slab("steel", tank.x0, tank.x1, tank.z0, tank.z1, 0.24)
    out.slab("fuel", tank.x0, tank.x1, tank.z0, tank.z0 + 0.6 * (tank.z1 - tank.z0), 70.0)
    out.voids["fuel_tank"] = Void(
        tank.x0, tank.x1, tank.z0, tank.z0 + 0.6 * (tank.z1 - tank.z0), 70.0, "fuel"
    )
    out.tanks.append(Tank(tank.x0, tank.x1, tank.z0, tank.z1, 70.0, 0.6))
    spare = (length - 75, length - 15)
    out.slab("polymer", *spare, floor - 10, floor + 6, 18.0)
    out.slab("steel", *spare, floor - 4, floor - 2, 20.0)
    out.rod("steel", hood, length - 5, radius * 0.45, radius * 0.45 + 6, 0.8)  # exhaust
    out.slab("steel", length - 60, length - 25, radius * 0.4, radius * 0.4 + 18, 0.6)  # silencer
    for axle in (front, rear):
        out.rod("steel", axle - 5, axle + 5, radius, belt - 10, 3.0)  # struts and springs
        _wheel(out, axle, radius, 2, width - 60)
    out.rod("steel", hood + 5, tail - 5, floor + 25, floor + 31, 3.0)  # door intrusion beams
    out.voids["floor"] = Void(hood + 20, rear - 85, floor - 10, floor, width - 40)
    out.voids["roof"] = Void(m.roof_start_cm + 10, m.roof_end_cm - 10, height - 8, height - 2, width - 40)
    out.voids["doors"] = Void(hood + 5, tail - 5, floor + 5, belt - 5, 16.0)
    out.voids["spare_wheel_well"] = Void(*spare, floor - 10, floor + 6, 50.0)
    return out


def _cab(out: Layout, m: VehicleModel, cab_x1: float, cab_floor: float, engine: tuple[float, ...]) -> None:
    """A cab-over cab: shell, windscreen and side windows, roof, floor, seats, engine below."""
    height, width = min(m.height_cm, cab_floor + 190), m.width_cm
    out.slab("steel", 0, cab_x1, cab_floor - 15, height, 0.6, top_x0=18, top_x1=cab_x1)
    out.slab("glass", 20, 0.75 * cab_x1, cab_floor + 70, height - 12, 0.9, top_x0=30, top_x1=0.75 * cab_x1)
    out.slab("steel", 18, cab_x1, height - 1.4, height - 1.2, width - 20)
    out.slab("steel", 2, cab_x1, cab_floor, cab_floor + 0.2, width - 20)
    out.slab("steel", cab_x1 - 3, cab_x1 - 2.8, cab_floor, height - 2, width - 20)  # back wall
    out.slab("polymer", 40, 0.8 * cab_x1, cab_floor + 15, cab_floor + 35, 12.0)  # seats
    out.slab("polymer", 0.7 * cab_x1, 0.8 * cab_x1, cab_floor + 35, cab_floor + 110, 12.0)
    out.slab("polymer", 2, 6, cab_floor - 40, cab_floor + 20, 0.3 * width)  # bumper and grille
    x0, x1, z0, z1, steel = engine
    out.slab("steel", x0, x1, z0, z1, steel)
    out.slab("aluminium", x0, x1, z0, z1, steel / 2)
    out.slab("aluminium", x0 - 8, x0 - 4, z0, z1, 0.15 * (width - 50))  # radiator


def _chassis(out: Layout, x0: float, x1: float, z0: float, z1: float, width: float) -> None:
    """Two C-section rails (webs face-on, flanges edge-on) and cross members every 80 cm."""
    out.slab("steel", x0, x1, z0, z1, 1.4)
    out.slab("steel", x0, x1, z1 - 1, z1, 16.0)
    out.slab("steel", x0, x1, z0, z0 + 1, 16.0)
    for x in np.arange(x0 + 40, x1 - 20, 80.0):
        out.slab("steel", x - 3, x + 3, z0 + 3, z1 - 3, 0.08 * (width - 60))


def _fuel_tank(out: Layout, x0: float, x1: float, z0: float, z1: float) -> None:
    """A cylindrical tank along x, full of diesel."""
    out.slab("aluminium", x0, x1, z0, z1, 0.6)
    out.rod("fuel", x0, x1, z0, z1, z1 - z0)
    out.voids["fuel_tank"] = Void(x0, x1, z0, z1, z1 - z0, "fuel", _kernels.SLAB_ROD)
    out.tanks.append(Tank(x0, x1, z0, z1, z1 - z0, 1.0, _kernels.SLAB_ROD))


def _cargo_box(out: Layout, x0: float, x1: float, z0: float, z1: float, width: float, wall: str) -> None:
    """A box body or container: side walls face-on, roof, floor and end walls edge-on, posts."""
    sheet = 0.46 if wall == "steel" else 0.5
    out.slab(wall, x0, x1, z0, z1, sheet)
    if wall == "aluminium":
        out.slab("polymer", x0, x1, z0, z1, 1.0)  # sandwich panel cores
    out.slab(wall, x0, x1, z1 - 0.3, z1, width - 15)  # roof
    out.slab("wood", x0, x1, z0, z0 + 2.8, width - 15)  # floor
    out.slab(wall, x0, x0 + 4, z0, z1, 0.07 * (width - 15))  # front wall, corrugated
    out.slab(wall, x1 - 4, x1, z0, z1, 0.06 * (width - 15))  # doors
    out.rod("steel", x1 - 3, x1 - 1, z0, z1, 8.4)  # locking bars
    for x in (x0 + 7, x1 - 7):
        out.slab("steel", x - 7, x + 7, z0, z1, 2.4)  # corner posts
    out.rod("steel", x0, x1, z1 - 10, z1, 3.0)  # top side rails
    out.slab("steel", x0, x1, z0 - 15, z0, 1.2)  # bottom side rails
    for x in np.arange(x0 + 15, x1 - 10, 30.0):
        out.slab("steel", x - 2.3, x + 2.3, z0 - 14, z0 - 1, 0.06 * (width - 15))  # cross members


def _van(m: VehicleModel) -> Layout:
    out, length, height, width = Layout(), m.length_cm, m.height_cm, m.width_cm
    front, rear = _axles(m)
    radius, floor = m.wheel_radius_cm, m.floor_cm
    assert m.cargo_cm is not None
    cx0, cx1, cz0, cz1 = m.cargo_cm
    _cab(out, m, m.cab_cm, floor, (front - 10, front + 70, radius, floor - 2, 5.0))
    out.slab("steel", m.cab_cm, length - 2, floor - 10, height, 0.6)  # body sides
    out.slab("steel", m.cab_cm, length - 2, height - 1.4, height - 1.2, width - 20)  # roof
    out.slab("steel", m.cab_cm, length - 2, floor, floor + 0.2, width - 15)  # cargo floor
    out.slab("steel", length - 5, length - 4.8, floor, height - 2, width - 20)  # rear doors
    for x in np.arange(m.cab_cm + 60, length - 30, 90.0):
        out.slab("steel", x - 2, x + 2, floor, height - 2, 1.6)  # body ribs
    out.rod("steel", 40, length - 10, floor - 10, floor - 2, 2.0)  # chassis members
    tank = Void(rear - 120, rear - 50, radius * 0.6, floor - 4, 60.0, "fuel")
    out.slab("steel", tank.x0, tank.x1, tank.z0, tank.z1, 0.24)
    out.slab("fuel", tank.x0, tank.x1, tank.z0, tank.z1, 60.0)
    out.voids["fuel_tank"] = tank
    out.tanks.append(Tank(tank.x0, tank.x1, tank.z0, tank.z1, 60.0, 1.0))
    out.rod("steel", front + 60, length - 5, radius * 0.45, radius * 0.45 + 6, 0.8)
    _wheel(out, front, radius, 2, width - 60)
    _wheel(out, rear, radius, 2, width - 40)
    out.voids["floor"] = Void(cx0 + 10, cx1 - 20, floor - 9, floor, width - 40)
    out.voids["roof"] = Void(cx0 + 10, cx1 - 10, height - 9, height - 2, width - 40)
    out.voids["side_walls"] = Void(cx0 + 10, cx1 - 10, cz0 + 10, cz1 - 20, 10.0)
    return out


def _truck(m: VehicleModel) -> Layout:
    out, length, width = Layout(), m.length_cm, m.width_cm
    front, rear = _axles(m)
    radius, floor = m.wheel_radius_cm, m.floor_cm
    assert m.cargo_cm is not None
    cx0, cx1, cz0, cz1 = m.cargo_cm
    _cab(out, m, m.cab_cm - 5, floor, (60, 190, 60, floor, 11.0))
    _chassis(out, 20, length - 20, 85, 110, width)
    out.slab("lead", 250, 300, 70, 100, 4.0)  # batteries
    _fuel_tank(out, 310, 450, 50, 108)
    _cargo_box(out, cx0 - 4, cx1 + 4, cz0 - 1, cz1 + 6, width, "aluminium")
    _wheel(out, front, radius, 2, width - 60)
    _wheel(out, rear, radius, 4, width - 40)
    out.voids["front_wall"] = Void(cx0, cx0 + 60, cz0, cz1, width - 20)
    out.voids["floor"] = Void(cx0 + 10, cx1 - 10, cz0 - 8, cz0 - 2, width - 20)
    out.voids["roof"] = Void(cx0 + 10, cx1 - 10, cz1 - 8, cz1, width - 20)
    return out


@dataclass(frozen=True, slots=True)
class Tractor:
    """A semi-trailer tractor, in cm from its front bumper: cab, engine (x0, x1, steel thickness), axles,
    chassis rails (x0, x1, z0, z1), fuel tank (x0, x1, z0, z1), batteries from ``battery_x_cm``, and the
    fifth wheel (x0, x1, z0, z1) whose centre is the trailer's kingpin."""

    name: str
    description: str
    cab_cm: float
    engine_cm: tuple[float, float, float]
    front_axle_cm: float
    drive_axles_cm: tuple[float, ...]
    wheel_radius_cm: float
    chassis_cm: tuple[float, float, float, float]
    fuel_tank_cm: tuple[float, float, float, float]
    battery_x_cm: float
    fifth_wheel_cm: tuple[float, float, float, float]

    @property
    def kingpin_cm(self) -> float:
        return (self.fifth_wheel_cm[0] + self.fifth_wheel_cm[1]) / 2


@dataclass(frozen=True, slots=True)
class Trailer:
    """A skeletal container trailer, in cm from its kingpin along the vehicle and from the ground for a
    fifth wheel 125 cm high (a higher one lifts it): frame rails (x0, x1, z0, z1), landing legs at
    ``legs_cm``, axles, and where the container's inside begins (``container_at_cm``)."""

    name: str
    description: str
    frame_cm: tuple[float, float, float, float]
    legs_cm: float
    axles_cm: tuple[float, ...]
    wheel_radius_cm: float
    container_at_cm: float


@dataclass(frozen=True, slots=True)
class ContainerType:
    """An ISO container by its size-type code: its inside length and height in cm."""

    code: str
    description: str
    inside_length_cm: float
    inside_height_cm: float


TRACTORS = (
    Tractor(
        "tractor-1", "4x2 tractor, day cab, tandem drive", 220, (60, 200, 13.0), 140, (500, 630), 52,
        (20, 620, 85, 112), (230, 380, 48, 110), 390, (420, 520, 112, 125),
    ),
    Tractor(
        "tractor-2", "4x2 tractor, sleeper cab, single drive axle", 250, (70, 225, 14.0), 150, (560,), 53,
        (20, 680, 86, 113), (250, 420, 50, 112), 430, (480, 580, 113, 125),
    ),
)  # fmt: skip
TRAILERS = (
    Trailer("skeletal-1", "20 ft skeletal trailer, tandem axle", (-10, 840, 110, 140), 250, (620, 750), 52,
            230),
    Trailer("skeletal-2", "20 ft skeletal trailer, tri-axle", (-10, 800, 110, 140), 150, (520, 640, 760), 50,
            190),
    Trailer(
        "skeletal-3", "20 ft skeletal trailer, tandem axle, high deck", (-10, 830, 118, 148), 300, (650, 780),
        52, 250,
    ),
)  # fmt: skip
CONTAINER_TYPES = (ContainerType("22G1", "20 ft general-purpose container", 598, 233),)
TRACTOR_NAMES = tuple(t.name for t in TRACTORS)
TRAILER_NAMES = tuple(t.name for t in TRAILERS)
_TRACTOR_BY_NAME = {t.name: t for t in TRACTORS}
_TRAILER_BY_NAME = {t.name: t for t in TRAILERS}
_CONTAINER_BY_CODE = {c.code: c for c in CONTAINER_TYPES}
RIG_PARTS = ("tractor", "trailer", "container")  # a container vehicle's parts, each with its own model


@dataclass(frozen=True, slots=True)
class Rig:
    """What carries a container: a tractor model, a trailer model and the container's type."""

    tractor: str = "tractor-1"
    trailer: str = "skeletal-1"
    container_type: str = "22G1"

    def part(self, kind: str) -> str:
        """The model (or type) of one of ``RIG_PARTS``."""
        return {"tractor": self.tractor, "trailer": self.trailer, "container": self.container_type}[kind]


DEFAULT_RIG = Rig()


def _rig_geometry(rig: Rig) -> tuple[Tractor, Trailer, ContainerType, float, float]:
    """The rig's models, its kingpin x and how far its trailer sits above a 125 cm fifth wheel."""
    if rig.tractor not in _TRACTOR_BY_NAME or rig.trailer not in _TRAILER_BY_NAME:
        raise ValueError(f"unknown tractor or trailer in {rig}: {TRACTOR_NAMES}, {TRAILER_NAMES}")
    if rig.container_type not in _CONTAINER_BY_CODE:
        raise ValueError(f"unknown container type {rig.container_type!r}: {tuple(_CONTAINER_BY_CODE)}")
    tractor = _TRACTOR_BY_NAME[rig.tractor]
    return (
        tractor,
        _TRAILER_BY_NAME[rig.trailer],
        _CONTAINER_BY_CODE[rig.container_type],
        tractor.kingpin_cm,
        tractor.fifth_wheel_cm[3] - 125.0,
    )


def rig_model(m: VehicleModel, rig: Rig) -> VehicleModel:
    """The container vehicle ``m`` as ``rig`` makes it: its length, cab and cargo space."""
    tractor, trailer, container, kingpin, lift = _rig_geometry(rig)
    x0 = kingpin + trailer.container_at_cm
    z0 = trailer.frame_cm[3] + lift + 18
    return dataclasses.replace(
        m,
        length_cm=kingpin + trailer.frame_cm[1] + 30,
        wheelbase_cm=tractor.drive_axles_cm[0] - tractor.front_axle_cm,
        front_overhang_cm=tractor.front_axle_cm,
        cab_cm=tractor.cab_cm,
        cargo_cm=(x0, x0 + container.inside_length_cm, z0, z0 + container.inside_height_cm),
    )


def rig_parts(m: VehicleModel, rig: Rig) -> dict[str, Layout]:
    """The layouts of a container vehicle's tractor, trailer and container, each alone (the container's
    voids with it, the fuel tank's with the tractor). Painted as ``_container`` joins them, they give the
    whole vehicle."""
    tractor, trailer, _, kingpin, lift = _rig_geometry(rig)
    spec = rig_model(m, rig)
    width = spec.width_cm
    assert spec.cargo_cm is not None
    cx0, cx1, cz0, cz1 = spec.cargo_cm
    front = Layout()
    engine_x0, engine_x1, engine_steel = tractor.engine_cm
    _cab(front, spec, tractor.cab_cm, spec.floor_cm, (engine_x0, engine_x1, 60, spec.floor_cm, engine_steel))
    _chassis(front, *tractor.chassis_cm, width)
    _fuel_tank(front, *tractor.fuel_tank_cm)
    front.slab("steel", *tractor.fifth_wheel_cm, 40.0)  # fifth wheel
    front.slab("lead", tractor.battery_x_cm, tractor.battery_x_cm + 30, 70, 100, 4.0)
    rear = Layout()
    fx0, fx1, fz0, fz1 = trailer.frame_cm
    _chassis(rear, kingpin + fx0, kingpin + fx1, fz0 + lift, fz1 + lift, width)  # skeletal trailer
    rear.rod("steel", kingpin + trailer.legs_cm, kingpin + trailer.legs_cm + 8, 30, fz0 + lift, 4.0)  # legs
    box = Layout()
    _cargo_box(box, cx0 - 4, cx1 + 4, cz0 - 2, cz1 + 8, width, "steel")
    _wheel(front, tractor.front_axle_cm, tractor.wheel_radius_cm, 2, width - 60)
    for x in tractor.drive_axles_cm:
        _wheel(front, x, tractor.wheel_radius_cm, 4, width - 40)
    for x in trailer.axles_cm:
        _wheel(rear, kingpin + x, trailer.wheel_radius_cm, 4, width - 40)
    box.voids["front_wall"] = Void(cx0, cx0 + 60, cz0, cz1, width - 30)
    box.voids["floor"] = Void(cx0 + 10, cx1 - 10, cz0 - 15, cz0 - 3, width - 30)
    return {"tractor": front, "trailer": rear, "container": box}


_WHEEL_PIECES = 6  # pieces ``_wheel`` adds


def _container(m: VehicleModel, rig: Rig = DEFAULT_RIG) -> Layout:
    """A container vehicle: its parts' bodies, then their wheels (tractor, trailer), in that order."""
    parts = rig_parts(m, rig)
    tractor, trailer = _rig_geometry(rig)[:2]
    tractor_wheels = _WHEEL_PIECES * (1 + len(tractor.drive_axles_cm))
    trailer_wheels = _WHEEL_PIECES * len(trailer.axles_cm)
    front, rear, box = parts["tractor"], parts["trailer"], parts["container"]
    out = Layout()
    out.add(*front.pieces[:-tractor_wheels], *rear.pieces[:-trailer_wheels], *box.pieces)
    out.add(*front.pieces[-tractor_wheels:], *rear.pieces[-trailer_wheels:])
    out.voids.update(front.voids)
    out.voids.update(box.voids)
    out.tanks += front.tanks
    return out


_BUILDERS: dict[str, Callable[[VehicleModel], Layout]] = {  # by VehicleModel.kind
    "car": _car,
    "van": _van,
    "truck": _truck,
    "container": _container,
}


def extent(pieces: list[Piece]) -> tuple[float, float, float, float]:
    bounds = np.array([p.extent() for p in pieces])
    return (
        float(bounds[:, 0].min()),
        float(bounds[:, 1].min()),
        float(bounds[:, 2].max()),
        float(bounds[:, 3].max()),
    )


def layout(model: VehicleModel, rig: Rig = DEFAULT_RIG) -> Layout:
    """The pieces and voids of a model, built afresh; a container vehicle as ``rig`` makes it."""
    if model.kind == "container":
        return _container(model, rig)
    return _BUILDERS[model.kind](model)


def model_named(name: str) -> VehicleModel:
    if name not in _MODEL_BY_NAME:
        raise ValueError(f"unknown vehicle model {name!r}; models: {MODEL_NAMES}")
    return _MODEL_BY_NAME[name]
