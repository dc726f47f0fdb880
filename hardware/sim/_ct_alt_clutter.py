"""Clutter of the independent CT bag generator (``ct_alt``): what fills a bag besides a threat, in
centimetres and g/cm^3, built from the solids of ``_ct_alt_objects``: shoes, bottles, toiletries, books
and magazines, laptops, tablets, phones, chargers, power banks, cables, umbrellas, belts, keys, wallets
with coins, food, hair dryers, glass jars, rolled clothes (``CLUTTER``, with relative frequencies).
"""

from __future__ import annotations

import math

import numpy as np

from smartcustoms.hardware.sim._ct_alt_objects import (
    _STEEL,
    _X,
    _Y,
    _Z,
    Design,
    Item,
    _pick,
    _u,
    box,
    cyl,
    ell,
    filled_box,
    filled_cyl,
    moved,
    rod,
)
from smartcustoms.hardware.sim._ct_alt_physics import AIR, Prim, rotation_about


def shoes(rng: np.random.Generator) -> Item:
    """One or two shoes: rubber sole and heel, leather upper stuffed with socks or empty, maybe a steel
    shank."""
    parts: list[Prim] = []
    half_l = _u(rng, 12.5, 15.0)
    for k in range(int(rng.integers(1, 3))):
        z = k * 10.0
        sole_h = _u(rng, 0.8, 1.3)
        upper_h = _u(rng, 3.5, 5.5)
        fill = ("cellulose", _u(rng, 0.05, 0.25)) if rng.random() < 0.5 else (AIR, 0.0)
        parts += filled_box(
            "polymer", _u(rng, 0.9, 1.1), (0, sole_h + upper_h, z), (half_l - 0.5, upper_h, 4.2), 0.2, fill
        )
        parts.append(box("polymer", _u(rng, 1.1, 1.25), (0, sole_h, z), (half_l, sole_h, 4.5)))  # sole
        parts.append(
            box("polymer", _u(rng, 1.1, 1.25), (-half_l + 3.5, 2 * sole_h + 1.0, z), (3.5, 1.0, 4.3))
        )
        if rng.random() < 0.3:
            parts.append(box("steel", _STEEL, (-half_l * 0.3, 2 * sole_h + 0.1, z), (4.0, 0.05, 0.6)))
    return Item("shoes", parts)


def bottle(rng: np.random.Generator) -> Item:
    """A bottle full of water, shampoo, juice or oil: polyethylene, PET or glass walls, a cap."""
    liquid = _pick(rng, ("water", "shampoo", "juice", "oil", "wine"))
    fill = {
        "water": ("water", 1.0),
        "shampoo": ("water", _u(rng, 1.01, 1.05)),
        "juice": ("syrup", 1.05),
        "oil": ("polyethylene", 0.91),
        "wine": ("water", 0.99),
    }[liquid]
    radius, half_len = _u(rng, 2.8, 4.5), _u(rng, 7, 14)
    if liquid == "wine":
        wall = ("glass", 2.5, _u(rng, 0.3, 0.5))
    else:
        wall = (
            ("polyethylene", 0.95, _u(rng, 0.04, 0.1))
            if rng.random() < 0.5
            else ("polymer", 1.38, _u(rng, 0.03, 0.05))
        )
    parts = filled_cyl(wall[0], wall[1], (0, 0, 0), radius, half_len, _X, wall[2], fill)
    parts.append(cyl("polymer", 0.95, (half_len + 1.0, 0, 0), 1.5, 1.0))  # cap
    return Item("bottle", parts)


def toiletries(rng: np.random.Generator) -> Item:
    """A wash bag's worth: toothpaste, a deodorant can, a razor, a jar of cream (some of them)."""
    parts: list[Prim] = []
    if rng.random() < 0.7:
        parts.append(ell("paste", _u(rng, 1.3, 1.5), (0, 0, 0), (9.0, 2.2, 1.1)))
        parts.append(cyl("polymer", 1.0, (9.6, 0, 0), 1.2, 0.8))
    if rng.random() < 0.6:
        parts += filled_cyl(
            "aluminium", 2.7, (0, 0, 5), 2.3, 7.5, _X, 0.04, ("polyethylene", _u(rng, 0.55, 0.75))
        )
        parts.append(cyl("steel", _STEEL, (7.8, 0, 5), 0.6, 0.3))  # valve
    if rng.random() < 0.5:
        parts.append(box("polymer", 1.1, (0, 4, -4), (6.0, 0.5, 0.6)))
        for k in range(3):
            parts.append(box("steel", _STEEL, (6.3, 4 + 0.1 * k, -4), (0.15, 0.01, 1.9)))
    if rng.random() < 0.5 or not parts:
        parts += filled_cyl("polymer", 1.2, (0, -4, -6), 3.0, 2.0, _Y, 0.15, ("water", _u(rng, 0.95, 1.05)))
    return Item("toiletries", parts)


def book(rng: np.random.Generator) -> Item:
    if rng.random() < 0.35:
        half = (_u(rng, 10.5, 14), _u(rng, 0.15, 0.5), _u(rng, 7.5, 10.5))
        return Item("magazine", [box("coated_paper", _u(rng, 1.0, 1.25), (0, 0, 0), half)])
    half = (_u(rng, 9, 12), _u(rng, 1.0, 2.5), _u(rng, 6.5, 9.0))
    parts = [box("cellulose", _u(rng, 0.7, 1.0), (0, 0, 0), half)]
    if rng.random() < 0.4:  # hard cover
        parts.append(
            box("cellulose", 0.75, (0, 0, 0), (half[0] + 0.3, half[1] + 0.25, half[2] + 0.2), wall=0.25)
        )
    return Item("book", parts)


def laptop(rng: np.random.Generator) -> Item:
    hx, hy, hz = _u(rng, 15, 17.5), _u(rng, 0.9, 1.2), _u(rng, 10.5, 12.5)
    case = (
        ("aluminium", 2.7, _u(rng, 0.1, 0.15))
        if rng.random() < 0.6
        else ("polymer", 1.2, _u(rng, 0.15, 0.25))
    )
    parts = filled_box(case[0], case[1], (0, 0, 0), (hx, hy, hz), case[2], (AIR, 0))
    parts += [
        box("glass", 2.5, (0, hy - 0.25, 0), (hx - 0.5, 0.05, hz - 0.5)),  # screen
        box("steel", _STEEL, (0, hy - 0.55, 0), (hx - 1.5, 0.015, hz * 0.45)),  # keyboard plate
        box("pcb", 1.9, (hx * 0.35, 0, -hz * 0.3), (hx * 0.5, 0.08, hz * 0.45)),
        cyl("copper", 8.96, (hx * 0.4, -0.3, -hz * 0.1), 0.3, hx * 0.3),  # heat pipe
    ]
    for k in range(int(rng.integers(3, 7))):
        x = -hx + 3.5 + k * 4.5
        if x > hx - 3.5:
            break
        parts.append(box("battery", 2.5, (x, -0.3, hz * 0.5), (2.0, 0.3, 3.5)))
    parts += [
        cyl("steel", _STEEL, (sx * hx * 0.7, hy - 0.2, -hz + 0.5), 0.35, 1.5) for sx in (-1, 1)
    ]  # hinges
    return Item("laptop", parts)


def tablet_or_phone(rng: np.random.Generator) -> Item:
    phone = rng.random() < 0.5
    hx, hy, hz = (7.5, 0.45, 3.6) if phone else (_u(rng, 10, 13), 0.35, _u(rng, 7.5, 9))
    parts = filled_box("aluminium", 2.7, (0, 0, 0), (hx, hy, hz), 0.08, (AIR, 0))
    parts += [
        box("glass", 2.5, (0, hy - 0.05, 0), (hx - 0.05, 0.04, hz - 0.05)),
        box("battery", 2.5, (-hx * 0.2, -0.05, 0), (hx * 0.5, 0.22, hz * 0.75)),
        box("pcb", 1.9, (hx * 0.6, -0.05, 0), (hx * 0.3, 0.06, hz * 0.7)),
    ]
    return Item("phone" if phone else "tablet", parts)


def charger(rng: np.random.Generator) -> Item:
    big = rng.random() < 0.4  # a laptop brick
    half = (
        (_u(rng, 5, 7), _u(rng, 1.3, 1.8), _u(rng, 3, 4))
        if big
        else (_u(rng, 2.3, 3.5), _u(rng, 1.4, 2.2), _u(rng, 1.5, 2.5))
    )
    parts = filled_box("polymer", 1.2, (0, 0, 0), half, 0.2, (AIR, 0))
    parts += [
        box("pcb", 1.9, (0, -half[1] * 0.4, 0), (half[0] - 0.4, 0.08, half[2] - 0.4)),
        box("ferrite", 4.8, (half[0] * 0.2, 0, 0), (half[0] * 0.3, half[1] * 0.5, half[2] * 0.4)),
        cyl("copper", 4.0, (-half[0] * 0.4, 0, 0), min(half[1], half[2]) * 0.4, half[0] * 0.2, _Y),
    ]
    if not big:
        parts += [
            box("steel", _STEEL, (half[0] + 0.8, 0, sz * 0.6), (0.8, 0.1, 0.3)) for sz in (-1, 1)
        ]  # pins
    return Item("charger", parts)


def power_bank(rng: np.random.Generator) -> Item:
    cells = int(rng.integers(1, 5))
    half = (_u(rng, 4.5, 7.5), 1.1, 1.0 * cells + 0.3)
    shell = ("aluminium", 2.7, 0.1) if rng.random() < 0.5 else ("polymer", 1.2, 0.2)
    parts = filled_box(shell[0], shell[1], (0, 0, 0), half, shell[2], (AIR, 0))
    for k in range(cells):
        centre = (-0.6, 0, (k - (cells - 1) / 2) * 1.9)
        parts += filled_cyl("steel", _STEEL, centre, 0.9, 3.25, _X, 0.025, ("battery", 2.5))
    parts.append(box("pcb", 1.9, (half[0] - 1.0, 0, 0), (0.6, 0.08, half[2] - 0.3)))
    return Item("power bank", parts)


def cable(rng: np.random.Generator) -> Item:
    """A loosely coiled cable: straight runs of insulated copper, plugs at the ends."""
    point = np.zeros(3)
    parts: list[Prim] = []
    core, jacket = _u(rng, 0.04, 0.09), _u(rng, 0.18, 0.35)
    direction = rng.normal(size=3)
    for _ in range(int(rng.integers(3, 9))):
        direction = direction + rng.normal(0, 0.8, 3)
        step = direction / np.linalg.norm(direction) * _u(rng, 4, 12)
        parts.append(rod("polymer", _u(rng, 1.2, 1.4), point, point + step, jacket))
        parts.append(rod("copper", 8.96, point, point + step, core))
        point = point + step
    parts.append(box("polymer", 1.2, point, (1.5, 0.6, 0.9)))
    parts.append(box("steel", _STEEL, np.add(point, (1.9, 0, 0)), (0.6, 0.25, 0.6), wall=0.03))  # USB shell
    return Item("cable", parts)


def umbrella(rng: np.random.Generator) -> Item:
    half_len = _u(rng, 11, 15)
    parts = [cyl("polymer", _u(rng, 0.25, 0.45), (0, 0, 0), _u(rng, 1.6, 2.4), half_len)]  # folded canopy
    parts.append(cyl("steel", _STEEL, (0, 0, 0), 0.5, half_len + 1.0, wall=0.05, open_ends=True))  # shaft
    for k in range(8):
        a = 2 * math.pi * k / 8
        y, z = 0.8 * math.cos(a), 0.8 * math.sin(a)
        parts.append(rod("steel", _STEEL, (-half_len + 1, y, z), (half_len - 1, y, z), 0.09))  # ribs
    parts.append(cyl("polymer", 1.1, (-half_len - 3.5, 0, 0), 1.6, 2.5))  # handle
    return Item("umbrella", parts)


def belt(rng: np.random.Generator) -> Item:
    """A rolled leather belt and its steel buckle."""
    radius = _u(rng, 3.5, 5.0)
    parts = [
        cyl("polymer", _u(rng, 0.9, 1.1), (0, 0, 0), radius, 1.75, _Z, wall=_u(rng, 0.8, 1.6), open_ends=True)
    ]
    parts += [
        box("steel", _STEEL, (radius + 1.2, 0, 0), (1.2, 0.25, 2.2), wall=0.25),
        rod("steel", _STEEL, (radius + 1.2, 0, -2.0), (radius + 1.2, 0, 2.0), 0.15),
    ]
    return Item("belt", parts)


def keys(rng: np.random.Generator) -> Item:
    parts = [cyl("steel", _STEEL, (0, 0, 0), 1.3, 0.1, _Z, wall=0.15, open_ends=True)]
    for k in range(int(rng.integers(2, 6))):
        metal = ("brass", 8.5) if rng.random() < 0.5 else ("steel", _STEEL)
        a = _u(rng, 0, 2 * math.pi)
        turn = rotation_about(2, a)
        key = [
            box(metal[0], metal[1], (2.6, 0, 0), (1.4, 0.35, 0.12)),  # head
            box(metal[0], metal[1], (5.2, 0, 0), (1.6, 0.45, 0.1)),  # blade
        ]
        parts += moved(key, turn, (0, 0, 0.25 * k))
    if rng.random() < 0.5:
        parts.append(box("polymer", 1.2, (-2.5, 0, 0), (1.2, 0.6, 1.8)))  # fob
    return Item("keys", parts)


def wallet(rng: np.random.Generator) -> Item:
    """A leather wallet holding cards and coins (copper alloys, plated steel, aluminium)."""
    half = (_u(rng, 5.5, 10), _u(rng, 0.6, 1.2), _u(rng, 4.5, 5.5))
    parts = filled_box("polymer", 0.95, (0, 0, 0), half, 0.2, (AIR, 0))
    for k in range(int(rng.integers(2, 7))):
        parts.append(box("polymer", 1.38, (0.5, -half[1] + 0.3 + 0.08 * k, 0), (4.28, 0.038, 2.7)))  # cards
    for _ in range(int(rng.integers(3, 16))):
        metal = [("copper", _u(rng, 8.4, 8.9)), ("steel", 7.8), ("aluminium", 2.7)][int(rng.integers(3))]
        centre = (_u(rng, -half[0] + 1.5, half[0] - 1.5), _u(rng, -0.2, 0.3), _u(rng, -3, 3))
        parts.append(cyl(metal[0], metal[1], centre, _u(rng, 0.8, 1.3), _u(rng, 0.07, 0.12), _Y))
    return Item("wallet", parts)


def food(rng: np.random.Generator) -> Item:
    """Cheese, chocolate, nuts, sausage or a bar of soap: organics at 0.6-1.4 g/cm^3."""
    kind = _pick(rng, ("cheese", "chocolate", "nuts", "sausage", "soap"))
    if kind == "cheese":
        return Item(
            "cheese",
            [box("cheese", _u(rng, 1.05, 1.25), (0, 0, 0), (_u(rng, 4, 9), _u(rng, 1.5, 4), _u(rng, 3, 6)))],
        )
    if kind == "chocolate":
        half = (_u(rng, 7, 11), _u(rng, 0.4, 1.0), _u(rng, 3.5, 5))
        return Item(
            "chocolate",
            [
                box("chocolate", _u(rng, 1.2, 1.35), (0, 0, 0), half),
                box("foil_liner", 1.03, (0, 0, 0), (half[0] + 0.1, half[1] + 0.1, half[2] + 0.1), wall=0.006),
            ],
        )
    if kind == "nuts":
        return Item(
            "nuts",
            [
                ell(
                    "chocolate",
                    _u(rng, 0.55, 0.75),
                    (0, 0, 0),
                    (_u(rng, 7, 10), _u(rng, 2.5, 4), _u(rng, 5, 7)),
                )
            ],
        )
    if kind == "sausage":
        return Item(
            "sausage", [cyl("cheese", _u(rng, 0.95, 1.1), (0, 0, 0), _u(rng, 2.0, 3.5), _u(rng, 8, 14))]
        )
    return Item("soap", [box("chocolate", _u(rng, 1.0, 1.15), (0, 0, 0), (4.5, 1.5, 3.0))])


def hair_dryer(rng: np.random.Generator) -> Item:
    half_len = _u(rng, 7.5, 10)
    parts = filled_cyl("polymer", 1.15, (0, 0, 0), _u(rng, 3.0, 4.0), half_len, _X, 0.25, (AIR, 0))
    parts += [
        cyl("copper", 4.0, (-half_len * 0.4, 0, 0), 1.3, 1.6),  # motor windings
        cyl("steel", _STEEL, (-half_len * 0.4, 0, 0), 0.6, 1.9),  # its core and shaft
        cyl(
            "steel", _STEEL * 0.2, (half_len * 0.3, 0, 0), 2.2, half_len * 0.45, wall=0.15, open_ends=True
        ),  # element
        box("polymer", 1.15, (-half_len * 0.3, -7.5, 0), (1.8, 5.5, 1.5), wall=0.25),  # handle
        rod("copper", 8.96, (-half_len * 0.3, -13, 0), (-half_len * 0.3, -3, 0), 0.08),
    ]
    return Item("hair dryer", parts)


def glass_jar(rng: np.random.Generator) -> Item:
    radius, half_len = _u(rng, 3.5, 5.0), _u(rng, 5.0, 8.0)
    fill = ("syrup", _u(rng, 1.3, 1.42)) if rng.random() < 0.5 else ("water", 1.0)
    parts = filled_cyl("glass", 2.5, (0, 0, 0), radius, half_len, _Y, _u(rng, 0.3, 0.5), fill)
    parts.append(cyl("steel", _STEEL, (0, half_len + 0.4, 0), radius + 0.1, 0.45, _Y, wall=0.025))  # lid
    return Item("glass jar", parts)


def rolled_clothes(rng: np.random.Generator) -> Item:
    material = "cellulose" if rng.random() < 0.7 else "polymer"
    return Item(
        "rolled clothes", [cyl(material, _u(rng, 0.12, 0.35), (0, 0, 0), _u(rng, 3, 5.5), _u(rng, 10, 17))]
    )


CLUTTER: tuple[tuple[Design, float], ...] = (  # design, relative frequency
    (shoes, 1.2),
    (bottle, 2.0),
    (toiletries, 1.5),
    (book, 1.8),
    (laptop, 0.6),
    (tablet_or_phone, 1.0),
    (charger, 1.2),
    (power_bank, 0.8),
    (cable, 1.5),
    (umbrella, 0.5),
    (belt, 0.7),
    (keys, 0.8),
    (wallet, 0.8),
    (food, 1.8),
    (hair_dryer, 0.4),
    (glass_jar, 0.5),
    (rolled_clothes, 1.5),
)
