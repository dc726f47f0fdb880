"""The vehicle models of the independent vehicle generator (``vehicle_alt``): vans, rigid box trucks and
articulated rigs (tractor, skeletal or flatbed trailer, ISO container), built from ``_vehicle_alt_parts``.

A model is fixed (its name, dimensions, axles, tanks, spare wheel); what changes from pass to pass is its
fuel level, the pass's speed and height, and the scanner. ``build(model, fuel)`` is cached per (model,
fuel level in steps of 5 %).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from smartcustoms.hardware.sim import _vehicle_alt_parts as parts
from smartcustoms.hardware.sim._vehicle_alt_parts import Spot
from smartcustoms.hardware.sim._vehicle_alt_shapes import Prim, Slab, extent, slant


@dataclass(frozen=True)
class Vehicle:
    """A built vehicle: its primitives, its cargo space (u0, u1, v0, v1 cm) and its hiding places."""

    model: str
    kind: str  # van | truck | container
    description: str
    prims: tuple[Prim, ...]
    cargo: tuple[float, float, float, float]
    cargo_across_cm: float
    spots: Mapping[str, Spot]
    container_type: str | None = None
    tractor_model: str | None = None
    trailer_model: str | None = None
    length_cm: float = field(init=False)
    height_cm: float = field(init=False)

    def __post_init__(self) -> None:
        u0, u1, _, v1 = extent(list(self.prims))
        object.__setattr__(self, "length_cm", u1 - min(u0, 0.0))
        object.__setattr__(self, "height_cm", v1)


@dataclass(frozen=True)
class VanModel:
    name: str
    length: float
    wheelbase: float
    front_overhang: float
    height: float
    twin_rear: bool
    tank_litres: float


@dataclass(frozen=True)
class RigidModel:
    name: str
    length: float
    wheelbase: float
    front_overhang: float
    body_length: float
    body_height: float
    wheel_radius: float
    tag_axle: bool
    tank_litres: float
    wall: str


@dataclass(frozen=True)
class TractorModel:
    name: str
    wheelbase: float
    front_overhang: float
    length: float
    fifth_wheel: float  # u of the coupling
    roof: float  # cab roof height
    deflector: bool
    tandem: bool
    tank_litres: float


@dataclass(frozen=True)
class TrailerModel:
    name: str
    kind: str  # skeletal | flatbed
    length: float
    kingpin: float  # u of the kingpin behind the trailer's front
    deck: float  # height of the deck (twist locks)
    axles: int


VANS = (
    VanModel("alt-van-1", 499, 300, 95, 230, False, 70),
    VanModel("alt-van-2", 593, 366, 100, 262, True, 90),
    VanModel("alt-van-3", 540, 345, 92, 250, False, 80),
)
RIGIDS = (
    RigidModel("alt-rigid-7", 720, 390, 125, 520, 230, 45, False, 150, "aluminium"),
    RigidModel("alt-rigid-8", 860, 480, 135, 640, 240, 48, False, 200, "steel"),
    RigidModel("alt-rigid-10", 1000, 520, 140, 750, 250, 51, True, 300, "aluminium"),
)
TRACTORS = {
    t.name: t
    for t in (
        TractorModel("alt-tractor-a", 360, 140, 590, 445, 365, True, False, 500),
        TractorModel("alt-tractor-b", 380, 145, 605, 470, 300, False, False, 400),
        TractorModel("alt-tractor-c", 330, 140, 700, 510, 320, False, True, 600),
    )
}
TRAILERS = {
    t.name: t
    for t in (
        TrailerModel("alt-skel-40", "skeletal", 1250, 120, 124, 3),
        TrailerModel("alt-skel-20", "skeletal", 740, 100, 122, 2),
        TrailerModel("alt-flat-40", "flatbed", 1260, 120, 130, 3),
    )
}
RIGS = {  # rig -> (tractor, trailer, container type)
    "alt-artic-1": ("alt-tractor-a", "alt-skel-40", "42G1"),
    "alt-artic-2": ("alt-tractor-b", "alt-skel-20", "22G1"),
    "alt-artic-3": ("alt-tractor-c", "alt-flat-40", "42G1"),
    "alt-artic-4": ("alt-tractor-b", "alt-skel-40", "22G1"),
}
CONTAINER_OFFSETS = {  # (trailer, container type) -> the container's front behind the trailer's front, cm
    ("alt-skel-40", "42G1"): 8.0,
    ("alt-flat-40", "42G1"): 15.0,
    ("alt-skel-20", "22G1"): 60.0,
    ("alt-skel-40", "22G1"): 630.0,
}
MODELS: tuple[str, ...] = (*(v.name for v in VANS), *(r.name for r in RIGIDS), *RIGS)


def kind_of(model: str) -> str:
    return "van" if model.startswith("alt-van") else "truck" if model.startswith("alt-rigid") else "container"


def other_rigs(model: str) -> list[tuple[str, str]]:
    """(tractor, trailer) pairs other than the rig's own that can carry its container."""
    own_tractor, own_trailer, code = RIGS[model]
    return [
        (tractor, trailer)
        for tractor in sorted(TRACTORS)
        for trailer, carried in sorted(CONTAINER_OFFSETS)
        if carried == code and (tractor, trailer) != (own_tractor, own_trailer)
    ]


@lru_cache(maxsize=128)
def build(model: str, fuel_step: int, rig: tuple[str, str] | None = None) -> Vehicle:
    """The vehicle ``model`` with its tanks ``fuel_step`` x 5 % full; a container rig's container may
    travel on another ``rig`` (tractor, trailer) than its own."""
    fuel = min(0.95, max(0.1, fuel_step * 0.05))
    for van in VANS:
        if van.name == model:
            return _van(van, fuel)
    for rigid in RIGIDS:
        if rigid.name == model:
            return _rigid(rigid, fuel)
    if model in RIGS:
        return _rig(model, fuel, rig)
    raise ValueError(f"unknown alt vehicle model {model!r}")


def _van(m: VanModel, fuel: float) -> Vehicle:
    floor, width = 58.0, 170.0
    front_axle, rear_axle = m.front_overhang, m.front_overhang + m.wheelbase
    bulkhead = m.front_overhang + 105
    cab_parts, spots = parts.cab(0.0, bulkhead, floor - 5, m.height - 3, width, conventional=70.0)
    body, inside = parts.box_body(bulkhead, m.length - 3, floor, m.height - 3, width, "steel")
    prims: list[Prim] = [*cab_parts, *body]
    prims += parts.engine(22.0, 55.0, 40.0, 55.0, 55.0)
    prims += [
        Slab("plastic", 0, 14, 35, 58, width * 0.12),  # bumpers
        Slab("steel", 10, 14, 40, 50, width * 0.6 * 0.2),
        Slab("plastic", m.length - 12, m.length, 35, 55, width * 0.12),
        Slab("steel", 60, m.length - 20, floor - 18, floor - 6, 2 * 1.2),  # sills
    ]
    prims += parts.wheel(front_axle, 34.0, 20.0, 21.5, 2, driven=True)
    prims += parts.wheel(rear_axle, 34.0, 20.0, 21.5, 4 if m.twin_rear else 2, driven=False)
    prims += [Slab("steel", rear_axle - 60, rear_axle + 60, 40, 46, 2 * 7.0)]  # leaf springs
    tank_len = m.tank_litres * 1000 / (22 * 70)
    tank, spots["fuel_tank"] = parts.box_tank(front_axle + 110, tank_len, 28, 22, 70, fuel)
    spare, spots["spare_wheel"] = parts.flat_spare(m.length - 55, 26, 33.0, 20.0, 21.0)
    prims += tank + spare
    spots["chassis"] = Spot(front_axle + 115 + tank_len, rear_axle - 45, 30, 50, 70)
    spots["double_floor"] = Spot(inside[0] + 20, inside[1] - 20, inside[2], inside[2] + 10, width - 20)
    spots["roof"] = Spot(inside[0] + 10, inside[1] - 10, inside[3] - 14, inside[3], width - 30)
    spots["cab_wall"] = Spot(bulkhead - 8, bulkhead, floor + 20, m.height - 20, width * 0.8)
    description = f"panel van, {m.length / 100:.1f} m, wheelbase {m.wheelbase / 100:.2f} m" + (
        ", twin rear wheels" if m.twin_rear else ""
    )
    return Vehicle(m.name, "van", description, tuple(prims), inside, width - 10, spots)


def _rigid(m: RigidModel, fuel: float) -> Vehicle:
    width, cab_len, floor = 240.0, 215.0, 112.0 + m.wheel_radius * 0.2
    front_axle, rear_axle = m.front_overhang, m.front_overhang + m.wheelbase
    cab_parts, spots = parts.cab(0.0, cab_len, floor, floor + 190, width)
    rail_top = m.wheel_radius * 2 + 8
    prims: list[Prim] = [*cab_parts, *parts.rails(30, m.length - 10, rail_top - 27, 27, 95, 86)]
    body_u0 = m.length - m.body_length - 4
    body, inside = parts.box_body(
        body_u0, m.length - 4, rail_top + 14, rail_top + 14 + m.body_height, 248, m.wall
    )
    prims += body
    prims += [Slab("steel", body_u0, m.length - 8, rail_top, rail_top + 14, 2 * 0.8)]  # subframe
    prims += parts.engine(front_axle - 20, 85.0, rail_top - 55, 80.0, 80.0)
    prims += parts.wheel(front_axle, m.wheel_radius, m.wheel_radius * 0.55, 26.0, 2, driven=False)
    prims += parts.wheel(rear_axle, m.wheel_radius, m.wheel_radius * 0.55, 26.0, 4, driven=True)
    if m.tag_axle:
        prims += parts.wheel(rear_axle + 135, m.wheel_radius, m.wheel_radius * 0.55, 26.0, 2, driven=False)
    prims += [
        Slab("steel", 0, 18, 40, 70, width * 0.2),  # bumper
        Slab("steel", m.length - 15, m.length - 5, 40, 55, width * 0.15),  # underrun bar
        Slab("steel", rear_axle - 70, rear_axle + 70, m.wheel_radius + 8, m.wheel_radius + 18, 2 * 9.0),
    ]
    prims += parts.battery_box(cab_len + 20, rail_top - 60, 60)
    prims += parts.air_tank(cab_len + 70, 60, rail_top - 45, 12)
    radius = 29.0
    tank_len = m.tank_litres * 1000 / (3.14 * radius**2)
    tank, spots["fuel_tank"] = parts.round_tank(
        front_axle + 95, tank_len, rail_top - 30, radius, fuel, "steel"
    )
    spare, spots["spare_wheel"] = parts.flat_spare(m.length - 70, rail_top - 55, m.wheel_radius, 29.0, 22.0)
    prims += tank + spare
    spots["chassis"] = Spot(
        front_axle + 105 + tank_len, rear_axle - m.wheel_radius - 15, rail_top - 26, rail_top - 2, 70
    )
    spots["double_floor"] = Spot(inside[0] + 20, inside[1] - 20, inside[2], inside[2] + 12, 230)
    spots["roof"] = Spot(inside[0] + 20, inside[1] - 20, inside[3] - 15, inside[3], 220)
    description = (
        f"rigid box truck, {m.length / 100:.1f} m, {3 if m.tag_axle else 2} axles, {m.wall} box body "
        f"{m.body_length / 100:.1f} m"
    )
    return Vehicle(m.name, "truck", description, tuple(prims), inside, 240, spots)


def _tractor(t: TractorModel, fuel: float) -> tuple[list[Prim], dict[str, Spot]]:
    width, cab_len, floor = 245.0, 225.0, 125.0
    front_axle, rear_axle = t.front_overhang, t.front_overhang + t.wheelbase
    cab_parts, spots = parts.cab(0.0, cab_len, floor, t.roof, width)
    prims: list[Prim] = [*cab_parts, *parts.rails(30, t.length - 10, 78, 28, 100, 86)]
    if t.deflector:
        prims += slant("grp", (60, t.roof), (cab_len - 10, t.roof + 22), 0.5, width * 0.8)
        prims += [Slab("grp", cab_len - 10, cab_len - 8, t.roof, t.roof + 22, width * 0.8)]
        spots["roof"] = Spot(90, cab_len - 15, t.roof + 1, t.roof + 14, width * 0.7)
    else:
        prims += [Slab("foam", 100, cab_len - 10, t.roof - 10, t.roof - 1, width * 0.9)]  # bunk, lockers
    prims += parts.engine(front_axle - 30, 100.0, 45.0, 95.0, 85.0)
    prims += parts.wheel(front_axle, 53.0, 29.0, 31.5, 2, driven=False)
    prims += parts.wheel(rear_axle, 53.0, 29.0, 31.5, 4, driven=True)
    if t.tandem:
        prims += parts.wheel(rear_axle + 135, 53.0, 29.0, 31.5, 4, driven=True)
    prims += [
        Slab("steel", t.fifth_wheel - 55, t.fifth_wheel + 55, 106, 120, width * 0.15),  # fifth wheel
        Slab("cast_iron", t.fifth_wheel - 45, t.fifth_wheel + 45, 117, 122, width * 0.3),
        Slab("steel", 0, 20, 40, 75, width * 0.2),
        Slab("plastic", front_axle + 60, rear_axle - 60, 40, 125, 2 * 0.8),  # side skirts
    ]
    prims += parts.battery_box(cab_len + 5, 45, 60)
    prims += parts.air_tank(front_axle + 60, 80, 60, 13)
    radius = 32.0
    tank_len = min(t.tank_litres * 1000 / (3.14 * radius**2), rear_axle - front_axle - 110)
    tank, spots["fuel_tank"] = parts.round_tank(front_axle + 60, tank_len, 70, radius, fuel, "aluminium")
    prims += tank
    spots["chassis"] = Spot(rear_axle + 60, t.length - 20, 80, 104, 70)
    return prims, spots


def _trailer(tr: TrailerModel, u0: float) -> tuple[list[Prim], dict[str, Spot]]:
    top = tr.deck - 4
    axle0 = u0 + tr.length - 130 - 131 * (tr.axles - 1)
    prims: list[Prim] = []
    spots: dict[str, Spot] = {}
    if tr.kind == "skeletal":
        beam = 42.0
        prims += [
            Slab("steel", u0, u0 + tr.length, top - beam, top, 2 * 0.8),  # two I-beams: webs
            Slab("steel", u0, u0 + tr.length, top - 1.5, top, 2 * 15.0),  # flanges
            Slab("steel", u0, u0 + tr.length, top - beam, top - beam + 1.5, 2 * 15.0),
        ]
        for k in range(int(tr.length // 300) + 1):  # bolsters with twist locks
            u = u0 + min(k * 300.0 + 10, tr.length - 20)
            prims += [
                Slab("steel", u, u + 20, top - 25, top, 244 * 0.2),
                Slab("cast_iron", u + 4, u + 16, top, tr.deck, 2 * 8.0),
            ]
        spots["trailer_beam"] = Spot(u0 + 250, axle0 - 80, top - beam + 3, top - 3, 2 * 12.0)
    else:
        prims += [
            Slab("steel", u0, u0 + tr.length, top - 40, top - 4, 2 * 1.0),  # outer rails
            Slab("steel", u0, u0 + tr.length, top - 40, top - 38, 2 * 12.0),
            Slab("plywood", u0, u0 + tr.length, top - 4, top, 250),  # deck
            Slab("steel", u0, u0 + tr.length, top - 30, top - 4, 2 * 0.8),  # inner beams
        ]
        u = u0 + 20
        while u < u0 + tr.length - 20:
            prims.append(Slab("steel", u, u + 8, top - 18, top - 4, 250 * 0.15))
            u += 50
        spots["trailer_beam"] = Spot(u0 + 250, axle0 - 80, top - 38, top - 6, 2 * 8.0)
    prims += [
        Slab("cast_iron", u0 + tr.kingpin - 5, u0 + tr.kingpin + 5, top - 45, top - 4, 16.0),  # kingpin
        Slab("steel", u0 + tr.kingpin + 140, u0 + tr.kingpin + 152, 15, top - 30, 2 * 2 * 0.5),  # legs
        Slab("steel", u0 + tr.kingpin + 135, u0 + tr.kingpin + 157, 8, 15, 2 * 20.0),  # feet
        Slab("steel", u0 + tr.length - 12, u0 + tr.length, 45, 65, 250 * 0.15),  # underrun bar
    ]
    for k in range(tr.axles):
        u = axle0 + 131 * k
        prims += parts.wheel(u, 53.5, 29.0, 38.5, 2, driven=False)
        prims += [Slab("rubber", u + 25, u + 55, 60, 85, 2 * 28.0, density=0.3)]  # air bags
    spare, spots["spare_wheel"] = parts.flat_spare(axle0 - 140, 52, 53.5, 29.0, 38.0)
    prims += spare
    return prims, spots


def _rig(model: str, fuel: float, rig: tuple[str, str] | None) -> Vehicle:
    tractor_name, trailer_name, code = RIGS[model]
    if rig is not None:
        tractor_name, trailer_name = rig
    offset = CONTAINER_OFFSETS[(trailer_name, code)]
    tractor, trailer = TRACTORS[tractor_name], TRAILERS[trailer_name]
    prims, spots = _tractor(tractor, fuel)
    u_trailer = tractor.fifth_wheel - trailer.kingpin
    trailer_parts, trailer_spots = _trailer(trailer, u_trailer)
    box, inside, box_spots = parts.container(u_trailer + offset, trailer.deck, code)
    prims += trailer_parts + box
    spots.update(trailer_spots)
    spots.update(box_spots)
    _, name = parts.CONTAINERS[code]
    description = (
        f"articulated rig: tractor {tractor_name} ({'6x4' if tractor.tandem else '4x2'}), "
        f"{trailer.kind} trailer {trailer_name} ({trailer.axles} axles), {name} container {code}"
    )
    return Vehicle(
        model,
        "container",
        description,
        tuple(prims),
        inside,
        parts.CONTAINER_INNER_WIDTH,
        spots,
        container_type=code,
        tractor_model=tractor_name,
        trailer_model=trailer_name,
    )
