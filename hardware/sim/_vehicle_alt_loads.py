"""Cargo and concealments of the independent vehicle generator (``vehicle_alt``).

Goods travel on pallets (120 cm long, 125 cm a slot along the cargo space), one to three stacks across,
each stack its own height. A concealment fills part of a hiding place (``Spot``) with drugs (1.0-1.4
g/cm^3), cash (0.9), cigarettes (0.2-0.3) or metal; in a fuel tank it displaces fuel, elsewhere a
smuggler's box, panel or false floor comes with it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from smartcustoms.hardware.sim._vehicle_alt_parts import Spot
from smartcustoms.hardware.sim._vehicle_alt_shapes import Disc, Prim, Profile, Slab

PALLET_SLOT_CM = 125.0
PALLET_CM = 120.0
PALLET_BASE_CM = 14.4


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _cartons(
    material: str,
    density: float,
    rng: np.random.Generator,
    box: tuple[float, float, float, float],
    across: float,
) -> list[Prim]:
    """A block of cartons: the goods at their bulk density, and cardboard walls seen edge on."""
    u0, u1, v0, v1 = box
    out: list[Prim] = [Slab(material, u0, u1, v0, v1, across * _u(rng, 0.8, 0.97), density=density)]
    size_u, size_v = _u(rng, 25, 60), _u(rng, 20, 45)
    u = u0 + size_u
    while u < u1 - 5:
        out.append(Slab("cardboard", u, u + 0.5, v0, v1, across * 0.9))
        u += size_u
    v = v0 + size_v
    while v < v1 - 5:
        out.append(Slab("cardboard", u0, u1, v, v + 0.5, across * 0.9))
        v += size_v
    return out


def textiles(rng: np.random.Generator, box: tuple[float, float, float, float], across: float) -> list[Prim]:
    return _cartons("textile", _u(rng, 0.12, 0.3), rng, box, across)


def electronics(
    rng: np.random.Generator, box: tuple[float, float, float, float], across: float
) -> list[Prim]:
    out = _cartons("cardboard", _u(rng, 0.08, 0.16), rng, box, across)
    u0, u1, v0, v1 = box
    v = v0 + 5
    while v < v1 - 15:  # metal chassis and boards inside each layer
        out.append(Slab("steel", u0 + 3, u1 - 3, v, v + 10, across * _u(rng, 0.01, 0.03)))
        out.append(Slab("aluminium", u0 + 3, u1 - 3, v + 10, v + 20, across * _u(rng, 0.02, 0.05)))
        v += _u(rng, 30, 45)
    return out


def ceramic_tiles(
    rng: np.random.Generator, box: tuple[float, float, float, float], across: float
) -> list[Prim]:
    u0, u1, v0, v1 = box
    return _cartons("ceramic", _u(rng, 1.1, 1.7), rng, (u0, u1, v0, min(v1, v0 + _u(rng, 55, 95))), across)


def bottled_drinks(
    rng: np.random.Generator, box: tuple[float, float, float, float], across: float
) -> list[Prim]:
    u0, u1, v0, v1 = box
    radius = _u(rng, 3.3, 4.5)
    rows = Profile("rows", u0 + radius, radius, period=2 * radius + 0.4)
    liquid = "water"
    out: list[Prim] = []
    v, layer = v0, _u(rng, 24, 34)
    while v + layer <= v1:
        out += [
            Slab(
                liquid, u0, u1, v + 1, v + layer * 0.8, across * 0.9, along=rows, density=_u(rng, 0.95, 1.05)
            ),
            Slab("glass", u0, u1, v + 1, v + layer - 2, across / (2 * radius) * 0.6),
            Slab("cardboard", u0, u1, v, v + 0.6, across),
        ]
        v += layer
    return out


def canned_food(
    rng: np.random.Generator, box: tuple[float, float, float, float], across: float
) -> list[Prim]:
    u0, u1, v0, v1 = box
    out: list[Prim] = [
        Slab("food", u0, u1, v0, v1, across * _u(rng, 0.55, 0.7)),
        Slab("steel", u0, u1, v0, v1, across * _u(rng, 0.004, 0.008)),
    ]
    v = v0
    while v < v1 - 5:
        out.append(Slab("steel", u0, u1, v, v + 0.4, across * 0.6))  # lids and bottoms edge on
        v += _u(rng, 11, 13)
    return out


def tyres(rng: np.random.Generator, box: tuple[float, float, float, float], across: float) -> list[Prim]:
    u0, u1, v0, v1 = box
    radius = min(_u(rng, 30, 40), (u1 - u0) / 2)
    centre, height = (u0 + u1) / 2, _u(rng, 18, 26)
    ring = Profile("ring", centre, radius, inner=radius * 0.6)
    stacks = max(1.0, across // (2 * radius))
    out: list[Prim] = []
    v = v0
    while v + height <= v1:
        out.append(
            Slab(
                "rubber",
                centre - radius,
                centre + radius,
                v,
                v + height,
                2 * radius * stacks * 0.9,
                along=ring,
            )
        )
        out.append(
            Slab(
                "steel",
                centre - radius,
                centre + radius,
                v + 2,
                v + height - 2,
                2 * radius * stacks * 0.02,
                along=ring,
            )
        )
        v += height
    return out


def paper_rolls(
    rng: np.random.Generator, box: tuple[float, float, float, float], across: float
) -> list[Prim]:
    u0, u1, v0, v1 = box
    radius = min(_u(rng, 40, 58), (u1 - u0) / 2)
    centre = (u0 + u1) / 2
    stacks = max(1.0, across // (2 * radius))
    return [
        Slab(
            "paper",
            centre - radius,
            centre + radius,
            v0,
            v1,
            2 * radius * stacks,
            along=Profile("ring", centre, radius, inner=5.0),
            density=_u(rng, 0.6, 0.85),
        ),
    ]


def machinery(rng: np.random.Generator, box: tuple[float, float, float, float], across: float) -> list[Prim]:
    u0, u1, v0, v1 = box
    out: list[Prim] = [
        Slab("plywood", u0, u1, v0, v1, 2 * 1.8),  # crate sides
        Slab("plywood", u0, u0 + 1.8, v0, v1, across),
        Slab("plywood", u1 - 1.8, u1, v0, v1, across),
        Slab("plywood", u0, u1, v1 - 1.8, v1, across),
    ]
    for _ in range(int(rng.integers(2, 6))):
        w, h = _u(rng, 15, (u1 - u0) * 0.7), _u(rng, 10, (v1 - v0) * 0.6)
        a, b = _u(rng, u0 + 3, u1 - 3 - w), _u(rng, v0 + 2, v1 - 3 - h)
        if rng.random() < 0.5:
            out.append(
                Slab("steel", a, a + w, b, b + h, _u(rng, 0.1, 0.4) * across, density=_u(rng, 2.0, 7.85))
            )
        else:
            r = min(w, h) / 2
            out.append(
                Disc(
                    "cast_iron",
                    a + r,
                    b + r,
                    r * _u(rng, 0.0, 0.7),
                    r,
                    _u(rng, 20, 60),
                    density=_u(rng, 3.0, 7.2),
                )
            )
    return out


def furniture(rng: np.random.Generator, box: tuple[float, float, float, float], across: float) -> list[Prim]:
    u0, u1, v0, v1 = box
    out: list[Prim] = [Slab("foam", u0, u1, v0, v1, across * 0.8, density=_u(rng, 0.03, 0.08))]
    for _ in range(int(rng.integers(4, 10))):
        if rng.random() < 0.5:
            u = _u(rng, u0, u1 - 2)
            out.append(Slab("wood", u, u + 2, v0, v1, across * _u(rng, 0.3, 0.9)))
        else:
            v = _u(rng, v0, v1 - 2)
            out.append(Slab("wood", u0, u1, v, v + 2, across * _u(rng, 0.3, 0.9)))
    return out


def fruit(rng: np.random.Generator, box: tuple[float, float, float, float], across: float) -> list[Prim]:
    u0, u1, v0, v1 = box
    out: list[Prim] = [Slab("food", u0, u1, v0, v1, across * 0.85, density=_u(rng, 0.4, 0.55))]
    v = v0
    while v < v1 - 5:
        out.append(Slab("plastic", u0, u1, v, v + 1.0, across * 0.5))
        v += _u(rng, 24, 31)
    return out


Goods = Callable[[np.random.Generator, tuple[float, float, float, float], float], list[Prim]]
GOODS: dict[str, Goods] = {
    "textiles": textiles,
    "electronics in cartons": electronics,
    "ceramic tiles": ceramic_tiles,
    "bottled drinks": bottled_drinks,
    "canned food": canned_food,
    "tyres": tyres,
    "paper rolls": paper_rolls,
    "machinery": machinery,
    "furniture": furniture,
    "fresh fruit": fruit,
}


def pallet(
    rng: np.random.Generator, goods: str, u0: float, floor: float, ceiling: float, across: float
) -> list[Prim]:
    """One pallet slot from ``u0``: a wooden pallet and its goods, one to three stacks across."""
    stacks = int(rng.integers(1, 4))
    width = min(across / stacks, 120.0)
    length = PALLET_CM - _u(rng, 0.0, 3.0)
    out: list[Prim] = [
        Slab("wood", u0, u0 + length, floor, floor + PALLET_BASE_CM, width * stacks * 0.3),
        Slab(
            "wood",
            u0,
            u0 + length,
            floor + PALLET_BASE_CM - 2.2,
            floor + PALLET_BASE_CM,
            width * stacks * 0.6,
        ),
    ]
    for _ in range(stacks):
        top = min(ceiling - 3, floor + PALLET_BASE_CM + _u(rng, 60, 190))
        if top > floor + PALLET_BASE_CM + 20:
            out += GOODS[goods](rng, (u0 + 1, u0 + length - 1, floor + PALLET_BASE_CM, top), width)
    return out


def load(
    rng: np.random.Generator,
    goods: str,
    first: int,
    last: int,
    cargo: tuple[float, float, float, float],
    across: float,
) -> list[Prim]:
    """Pallets in slots ``first`` .. ``last - 1`` from the cargo space's front."""
    u0, _, floor, ceiling = cargo
    out: list[Prim] = []
    for slot in range(first, last):
        out += pallet(rng, goods, u0 + slot * PALLET_SLOT_CM + _u(rng, 0.5, 4.0), floor, ceiling, across)
    return out


def loose_goods(
    rng: np.random.Generator, cargo: tuple[float, float, float, float], across: float
) -> list[Prim]:
    """Undeclared goods: a few cartons or sacks, or a whole pallet, anywhere in an empty cargo space."""
    u0, u1, floor, ceiling = cargo
    goods = str(rng.choice(list(GOODS)))
    if rng.random() < 0.4 and u1 - u0 > PALLET_SLOT_CM + 10:
        start = _u(rng, u0 + 2, u1 - PALLET_SLOT_CM - 2)
        return pallet(rng, goods, start, floor, ceiling, across)
    length = _u(rng, 30, min(200.0, u1 - u0 - 10))
    height = _u(rng, 25, min(150.0, ceiling - floor - 5))
    start = _u(rng, u0 + 2, u1 - length - 2)
    return GOODS[goods](rng, (start, start + length, floor, floor + height), _u(rng, 0.25, 0.9) * across)


CONTENTS = ("drugs", "cash", "cigarettes", "metal")


def concealment(rng: np.random.Generator, location: str, spot: Spot) -> tuple[list[Prim], str]:
    """What a smuggler adds at ``spot`` (and the fuel it displaces), and its contents' name."""
    contents = str(rng.choice(CONTENTS))
    if spot.host == "diesel":  # contraband must attenuate differently from the fuel it displaces
        contents = str(rng.choice(["drugs", "cigarettes", "metal"]))
    span_u, span_v = spot.u1 - spot.u0, spot.v1 - spot.v0
    if location == "false_front_wall":
        length, height = _u(rng, 20, 60), span_v * _u(rng, 0.6, 1.0)
    elif rng.random() < 0.35:  # small: some 20 x 20 cm
        length, height = min(span_u, _u(rng, 18, 30)), min(span_v, _u(rng, 15, 25))
    else:
        length, height = span_u * _u(rng, 0.3, 1.0), span_v * _u(rng, 0.6, 1.0)
    u0 = spot.u0 if location == "false_front_wall" else _u(rng, spot.u0, spot.u1 - length)
    v0 = spot.v0 if location == "false_front_wall" else _u(rng, spot.v0, spot.v1 - height)
    u1, v1 = u0 + length, v0 + height
    path = spot.across_cm * _u(rng, 0.55, 0.95)
    out: list[Prim] = [_contents(rng, contents, (u0, u1, v0, v1), path, spot.up)]
    if spot.host is not None and spot.host_level > v0:
        out.append(Slab(spot.host, u0, u1, v0, min(v1, spot.host_level), -spot.across_cm, up=spot.up))
    if location == "false_front_wall":
        out.append(
            Slab(
                "plywood" if rng.random() < 0.6 else "steel",
                u1,
                u1 + 1.5,
                spot.v0,
                spot.v1,
                spot.across_cm * 0.95,
                density=None,
            )
        )
    elif spot.built:
        wall = "steel" if rng.random() < 0.6 else "plywood"
        thick = 0.3 if wall == "steel" else 1.5
        out += [
            Slab(wall, u0, u1, v0, v0 + thick, path),
            Slab(wall, u0, u1, v1 - thick, v1, path),
            Slab(wall, u0, u0 + thick, v0, v1, path),
            Slab(wall, u1 - thick, u1, v0, v1, path),
        ]
    return out, contents


def _contents(
    rng: np.random.Generator, contents: str, box: tuple[float, float, float, float], path: float, up: Profile
) -> Slab:
    u0, u1, v0, v1 = box
    if contents == "drugs":
        return Slab("drugs", u0, u1, v0, v1, path, up=up, density=_u(rng, 1.0, 1.4))
    if contents == "cash":
        return Slab("paper", u0, u1, v0, v1, path, up=up, density=_u(rng, 0.85, 0.95))
    if contents == "cigarettes":
        return Slab("tobacco", u0, u1, v0, v1, path, up=up, density=_u(rng, 0.2, 0.3))
    return Slab("steel", u0, u1, v0, v1, path, up=up, density=_u(rng, 1.0, 3.5))  # packed metal parts
