"""Object designs of the independent CT bag generator (``ct_alt``), in centimetres and g/cm^3.

Each design takes a generator and returns an ``Item``: its name and its solids (``Prim``) in the item's
own frame, painted in order (a later solid replaces an earlier one where they meet, so a bore is air
painted after its barrel). Sizes, materials and parts are drawn within what real objects measure.

Threats (``THREATS``, by class): ``firearm`` (polymer-frame pistol, all-steel pistol, revolver, compact
submachine gun, loaded or not), ``knife`` (kitchen knife, folding knife open or closed, combat knife,
cleaver), ``explosive`` (plastic explosive bricks, sheet explosive, a bundle of dynamite-like sticks, a
cast charge in a can; each with a detonator, wires and a 9 V battery or a phone-like circuit board),
``cigarettes`` (1-3 cartons of 10 packs or 1-6 loose packs of 20 rods). Clutter is in
``_ct_alt_clutter``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from smartcustoms.hardware.sim._ct_alt_physics import AIR, Prim, rotation_about, rotation_to


@dataclass(frozen=True, slots=True)
class Item:
    """One object to place: its design's name and its solids in its own frame."""

    design: str
    prims: list[Prim]


Design = Callable[[np.random.Generator], Item]
Vec = Sequence[float] | np.ndarray
_X, _Y, _Z = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def box(
    material: str,
    density: float,
    centre: Vec,
    half: Vec,
    rotation: np.ndarray | None = None,
    wall: float = 0.0,
) -> Prim:
    rot = np.eye(3) if rotation is None else rotation
    h = (float(half[0]), float(half[1]), float(half[2]))
    return Prim("box", material, density, h, np.asarray(centre, float), rot, wall)


def cyl(
    material: str,
    density: float,
    centre: Vec,
    radius: float,
    half_length: float,
    axis: Vec = _X,
    wall: float = 0.0,
    open_ends: bool = False,
) -> Prim:
    rot = rotation_to(np.asarray(axis, float))
    return Prim(
        "cyl",
        material,
        density,
        (radius, radius, half_length),
        np.asarray(centre, float),
        rot,
        wall,
        open_ends,
    )


def ell(material: str, density: float, centre: Vec, semi: Vec, rotation: np.ndarray | None = None) -> Prim:
    rot = np.eye(3) if rotation is None else rotation
    s = (float(semi[0]), float(semi[1]), float(semi[2]))
    return Prim("ell", material, density, s, np.asarray(centre, float), rot)


def blade(
    material: str,
    density: float,
    centre: Vec,
    half: Vec,
    tip: float,
    edge: float,
    rotation: np.ndarray | None = None,
) -> Prim:
    """A knife blade along +x (tip at +x), edge towards -y, ``tip`` of its length tapering to the point,
    ground from the spine's thickness down to ``edge`` times it."""
    rot = np.eye(3) if rotation is None else rotation
    h = (float(half[0]), float(half[1]), float(half[2]))
    return Prim("blade", material, density, h, np.asarray(centre, float), rot, shape=(tip, edge))


def rod(material: str, density: float, start: Vec, end: Vec, radius: float) -> Prim:
    """A solid cylinder from ``start`` to ``end``."""
    a, b = np.asarray(start, float), np.asarray(end, float)
    return cyl(material, density, (a + b) / 2, radius, float(np.linalg.norm(b - a)) / 2, b - a)


def filled_box(
    material: str, density: float, centre: Vec, half: Vec, wall: float, fill: tuple[str, float]
) -> list[Prim]:
    """A closed box of ``material`` walls holding ``fill`` (material, density), or air."""
    inner = [h - wall for h in half]
    return [box(fill[0], fill[1], centre, inner), box(material, density, centre, half, wall=wall)]


def filled_cyl(
    material: str,
    density: float,
    centre: Vec,
    radius: float,
    half_length: float,
    axis: Vec,
    wall: float,
    fill: tuple[str, float],
) -> list[Prim]:
    """A closed can or bottle of ``material`` walls holding ``fill`` (material, density)."""
    inner = cyl(fill[0], fill[1], centre, radius - wall, half_length - wall, axis)
    return [inner, cyl(material, density, centre, radius, half_length, axis, wall=wall)]


def moved(prims: list[Prim], rotation: np.ndarray, offset: Vec) -> list[Prim]:
    """Solids of a sub-assembly, given in its own frame, placed in the parent frame."""
    at = np.asarray(offset, float)
    return [p.moved(rotation, at) for p in prims]


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return str(options[int(rng.integers(len(options)))])


# --------------------------------------------------------------------------- firearms

_STEEL = 7.85


def _cartridge(centre: Vec, radius: float, case_length: float, bullet_length: float) -> list[Prim]:
    """A cartridge along +x (bullet forward): propellant in a brass case, a copper-jacketed bullet."""
    c = np.asarray(centre, float)
    case_c = c - np.array([bullet_length * 0.35, 0, 0])
    bullet_c = case_c + np.array([case_length / 2 + bullet_length * 0.15, 0, 0])
    return [
        cyl("cellulose", 0.9, case_c, radius - 0.03, case_length / 2 - 0.03),
        cyl("brass", 8.5, case_c, radius, case_length / 2, wall=0.035),
        cyl("copper", 8.96, bullet_c, radius * 0.92, bullet_length / 2),
    ]


def _magazine(
    rng: np.random.Generator, half: Vec, rounds: int, radius: float, case: float, bullet: float, double: bool
) -> list[Prim]:
    """A steel box magazine along -y from the origin (its lips), ``rounds`` cartridges stacked in it."""
    hx, hy, hz = half
    parts = [box("steel", _STEEL, (0, -hy, 0), half, wall=_u(rng, 0.05, 0.08))]
    pitch = 2 * radius * (0.55 if double else 1.0)
    for k in range(min(rounds, int(2 * hy / pitch) - 1)):
        side = (radius * 0.5 if k % 2 else -radius * 0.5) if double else 0.0
        parts += _cartridge((0.1, -0.7 - k * pitch, side), radius, case, bullet)
    parts.append(box("polymer", 1.2, (0, -2 * hy - 0.3, 0), (hx + 0.15, 0.3, hz + 0.15)))  # floor plate
    return parts


def _grip(angle_rad: float, at: Vec, parts: list[Prim]) -> list[Prim]:
    """A grip assembly built along -y, raked back by ``angle_rad`` and set at ``at``."""
    return moved(parts, rotation_about(2, -angle_rad), at)


def polymer_pistol(rng: np.random.Generator) -> Item:
    s = _u(rng, 0.85, 1.1)
    length = 18.5 * s
    frame = _u(rng, 1.14, 1.40)
    half_l = length / 2
    parts = [
        box("steel", _STEEL, (0, 0, 0), (half_l, 1.45 * s, 1.25 * s)),  # slide
        box(AIR, 0, (0.4, -0.5 * s, 0), (half_l - 1.2, 0.95 * s, 0.8 * s)),  # its hollow underside
        cyl("steel", _STEEL, (0.8, -0.1 * s, 0), 0.68 * s, half_l - 1.6),  # barrel
        cyl(AIR, 0, (0.8, -0.1 * s, 0), 0.45, half_l - 1.4),  # bore
        cyl("steel", _STEEL, (1.2, -1.1 * s, 0), 0.2, half_l - 3.0),  # recoil spring guide
        cyl("steel", _STEEL * 0.3, (1.2, -1.1 * s, 0), 0.55, half_l - 3.0, wall=0.12, open_ends=True),
        box("polymer", frame, (0.6, -2.15 * s, 0), (half_l - 1.2, 0.75 * s, 1.1 * s)),  # frame
        box("polymer", frame, (1.2 * s, -3.7 * s, 0), (1.7 * s, 1.1 * s, 0.45 * s), wall=0.35),  # guard
        box("steel", _STEEL, (2.2 * s, -1.6 * s, 0), (0.8, 0.3, 0.9 * s)),  # locking block
        box("steel", _STEEL, (-half_l + 2.2, -1.6 * s, 0), (1.0, 0.35, 0.9 * s)),  # rails, striker housing
        box("steel", _STEEL, (-0.5, -2.4 * s, 0.6 * s), (1.6, 0.15, 0.08)),  # trigger bar
        box("steel", _STEEL, (half_l - 0.8, 1.6 * s, 0), (0.3, 0.25, 0.2)),  # sights
        box("steel", _STEEL, (-half_l + 0.6, 1.6 * s, 0), (0.3, 0.25, 0.5)),
    ]
    grip = [
        box("polymer", frame, (0, -5.2 * s, 0), (1.65 * s, 5.3 * s, 1.5 * s)),
        box(AIR, 0, (0, -5.2 * s, 0), (1.4 * s, 5.1 * s, 0.95 * s)),  # magazine well
    ]
    grip += _magazine(rng, (1.3 * s, 5.0 * s, 0.82 * s), int(rng.integers(0, 18)), 0.49, 1.92, 1.55, True)
    parts += _grip(math.radians(_u(rng, 16, 24)), (-half_l + 3.2 * s, -2.4 * s, 0), grip)
    return Item("polymer pistol", parts)


def steel_pistol(rng: np.random.Generator) -> Item:
    s = _u(rng, 0.85, 1.05)
    half_l = 10.5 * s
    parts = [
        box("steel", _STEEL, (0, 0, 0), (half_l, 1.5 * s, 1.45 * s)),  # slide
        box(AIR, 0, (0.5, -0.4 * s, 0), (half_l - 1.5, 1.0 * s, 0.95 * s)),
        cyl("steel", _STEEL, (0.9, 0, 0), 0.72 * s, half_l - 1.5),  # barrel
        cyl(AIR, 0, (0.9, 0, 0), 0.58 * s, half_l - 1.3),
        cyl("steel", _STEEL, (1.5, -1.0 * s, 0), 0.22, half_l - 3.0),  # recoil spring guide
        box("steel", _STEEL, (0.6, -2.2 * s, 0), (half_l - 1.6, 0.7 * s, 1.4 * s)),  # frame
        box("steel", _STEEL, (1.8 * s, -3.8 * s, 0), (1.8 * s, 1.1 * s, 0.4 * s), wall=0.3),  # trigger guard
        box("steel", _STEEL, (-half_l - 0.3, 0.6 * s, 0), (0.4, 0.8, 0.35)),  # hammer
    ]
    panel = _pick(rng, ("wood", "rubber"))
    panel_material, panel_density = (
        ("cellulose", _u(rng, 0.55, 0.8)) if panel == "wood" else ("polymer", _u(rng, 1.1, 1.2))
    )
    grip = [
        box("steel", _STEEL, (0, -5.3 * s, 0), (1.7 * s, 5.3 * s, 1.15 * s), wall=0.25),  # grip frame
        box(panel_material, panel_density, (0, -5.0 * s, 1.45 * s), (1.6 * s, 4.5 * s, 0.3)),
        box(panel_material, panel_density, (0, -5.0 * s, -1.45 * s), (1.6 * s, 4.5 * s, 0.3)),
    ]
    grip += _magazine(rng, (1.35 * s, 5.0 * s, 0.6 * s), int(rng.integers(0, 9)), 0.6, 2.3, 1.7, False)
    parts += _grip(math.radians(_u(rng, 10, 18)), (-half_l + 3.0 * s, -2.6 * s, 0), grip)
    return Item("steel pistol", parts)


def revolver(rng: np.random.Generator) -> Item:
    s = _u(rng, 0.9, 1.1)
    barrel = _u(rng, 5.0, 15.0)
    chambers = int(rng.integers(5, 7))
    bore_y = 1.2 * s
    parts = [
        cyl("steel", _STEEL, (0, 0, 0), 1.9 * s, 2.0 * s),  # cylinder
    ]
    loaded = int(rng.integers(0, chambers + 1))
    for k in range(chambers):
        a = math.pi / 2 + 2 * math.pi * k / chambers
        centre = (0.0, bore_y * math.sin(a), bore_y * math.cos(a))
        parts.append(cyl(AIR, 0, centre, 0.5, 2.05 * s))
        if k < loaded:
            parts += _cartridge((centre[0] + 0.2, centre[1], centre[2]), 0.48, 3.0 * s, 1.6)
    parts += [
        box("steel", _STEEL, (0, 2.25 * s, 0), (2.4 * s, 0.35 * s, 0.7 * s)),  # top strap
        box("steel", _STEEL, (0, -2.45 * s, 0), (2.4 * s, 0.55 * s, 0.8 * s)),  # bottom of the frame
        box("steel", _STEEL, (-2.7 * s, 0, 0), (0.45 * s, 2.8 * s, 0.9 * s)),  # recoil shield
        box("steel", _STEEL, (2.75 * s, 0.4 * s, 0), (0.5 * s, 2.2 * s, 0.85 * s)),  # front of the frame
        cyl("steel", _STEEL, (3.2 * s + barrel / 2, bore_y, 0), 0.85 * s, barrel / 2),
        cyl(AIR, 0, (3.2 * s + barrel / 2, bore_y, 0), 0.45, barrel / 2 + 0.1),
        cyl("steel", _STEEL, (3.2 * s + min(barrel, 6) / 2, -0.2 * s, 0), 0.3, min(barrel, 6) / 2),  # ejector
        box("steel", _STEEL, (-3.4 * s, 2.2 * s, 0), (0.8, 0.5, 0.35)),  # hammer
        box("steel", _STEEL, (0.3 * s, -4.0 * s, 0), (1.6 * s, 1.1 * s, 0.4 * s), wall=0.3),  # guard
    ]
    wood = rng.random() < 0.5
    panel = ("cellulose", _u(rng, 0.55, 0.8)) if wood else ("polymer", _u(rng, 1.1, 1.2))
    grip = [
        box(panel[0], panel[1], (0, -5.0 * s, 0), (1.7 * s, 5.0 * s, 1.6 * s)),
        box("steel", _STEEL, (0, -4.0 * s, 0), (0.55 * s, 4.0 * s, 0.6 * s)),  # grip frame
    ]
    parts += _grip(math.radians(_u(rng, 22, 35)), (-3.4 * s, -2.6 * s, 0), grip)
    return Item("revolver", parts)


def submachine_gun(rng: np.random.Generator) -> Item:
    s = _u(rng, 0.9, 1.1)
    half_r = _u(rng, 12, 15) * s
    parts = filled_box("steel", _STEEL, (0, 0, 0), (half_r, 2.6 * s, 2.0 * s), _u(rng, 0.1, 0.15), (AIR, 0))
    parts.append(box("steel", _STEEL, (-half_r + 6.5 * s, 0, 0), (5.0 * s, 1.7 * s, 1.4 * s)))  # bolt
    barrel_front = half_r + _u(rng, 1, 8)
    barrel_back = half_r - 8
    middle = (barrel_front + barrel_back) / 2
    parts += [
        cyl("steel", _STEEL, (middle, 0.3 * s, 0), 0.75 * s, (barrel_front - barrel_back) / 2),
        cyl(AIR, 0, (middle, 0.3 * s, 0), 0.45, (barrel_front - barrel_back) / 2 + 0.1),
        box("steel", _STEEL, (half_r - 1.0, 3.0 * s, 0), (0.4, 0.5, 0.3)),  # sights
        box("steel", _STEEL, (-half_r + 1.5, 3.0 * s, 0), (0.6, 0.6, 0.8)),
        box("steel", _STEEL, (0.5 * s, -3.6 * s, 0), (2.0 * s, 1.0 * s, 0.5 * s), wall=0.25),  # trigger group
    ]
    rounds = int(rng.integers(0, 33))
    magazine = _magazine(rng, (1.4 * s, _u(rng, 8, 11) * s, 0.95 * s), rounds, 0.49, 1.92, 1.55, True)
    grip = [box("polymer", _u(rng, 1.14, 1.4), (0, -5.0 * s, 0), (1.7 * s, 5.0 * s, 1.6 * s))]
    if rng.random() < 0.5:  # magazine through the pistol grip
        grip = [*grip, box(AIR, 0, (0, -5.0 * s, 0), (1.45 * s, 4.9 * s, 1.0 * s)), *magazine]
        parts += _grip(math.radians(_u(rng, 0, 10)), (0.5 * s, -2.4 * s, 0), grip)
    else:  # magazine ahead of the grip
        parts += _grip(math.radians(_u(rng, 10, 20)), (-2.5 * s, -2.4 * s, 0), grip)
        parts += _grip(math.radians(_u(rng, -12, 0)), (half_r * 0.45, -2.4 * s, 0), magazine)
    if rng.random() < 0.5:  # folding wire stock, folded along the receiver or open behind it
        folded = rng.random() < 0.5
        side = 2.5 * s if folded else 0.0
        start, end = (-half_r, half_r - 4) if folded else (-half_r, -half_r - 24 * s)
        parts += [
            rod("steel", _STEEL, (start, 1.5 * s, side), (end, 1.5 * s, side), 0.4),
            rod("steel", _STEEL, (start, -1.5 * s, side), (end, -1.5 * s, side), 0.4),
            box("steel", _STEEL, (end, 0, side), (0.5, 2.5 * s, 0.5)),  # butt plate
        ]
    else:
        parts.append(
            box("polymer", 1.1, (-half_r - 10 * s, -0.8 * s, 0), (10 * s, 2.2 * s, 1.6 * s), wall=0.3)
        )
    return Item("smg", parts)


# --------------------------------------------------------------------------- knives


def _handle_material(rng: np.random.Generator) -> tuple[str, float]:
    if rng.random() < 0.4:
        return "cellulose", _u(rng, 0.55, 0.85)  # wood
    return "polymer", _u(rng, 1.05, 1.42)  # POM, nylon, rubber


def kitchen_knife(rng: np.random.Generator) -> Item:
    length, width, thick = _u(rng, 12, 25), _u(rng, 2.5, 5.0), _u(rng, 0.15, 0.25)
    handle_len = _u(rng, 10, 13)
    material, density = _handle_material(rng)
    parts = [
        blade(
            "steel",
            7.8,
            (0, 0, 0),
            (length / 2, width / 2, thick / 2),
            _u(rng, 0.25, 0.4),
            _u(rng, 0.08, 0.2),
        )
    ]
    hc = -length / 2 - handle_len / 2
    parts.append(box(material, density, (hc, width * 0.25, 0), (handle_len / 2, 1.1, 0.9)))
    if rng.random() < 0.7:  # full tang, riveted
        parts.append(box("steel", 7.8, (hc, width * 0.25, 0), (handle_len / 2 - 0.3, 0.75, thick / 2)))
        for k in range(int(rng.integers(2, 4))):
            parts.append(cyl("steel", 7.8, (hc + (k - 1) * handle_len * 0.3, width * 0.25, 0), 0.22, 0.9, _Z))
    else:
        parts.append(
            cyl("steel", 7.8, (-length / 2 - handle_len * 0.3, width * 0.25, 0), 0.3, handle_len * 0.3)
        )
    if rng.random() < 0.3:  # bolster
        parts.append(box("steel", 7.8, (-length / 2 - 0.4, 0, 0), (0.45, width * 0.45, 0.55)))
    return Item("kitchen knife", parts)


def cleaver(rng: np.random.Generator) -> Item:
    length, width, thick = _u(rng, 15, 20), _u(rng, 8, 10), _u(rng, 0.2, 0.3)
    handle_len = _u(rng, 11, 13)
    material, density = _handle_material(rng)
    hc = -length / 2 - handle_len / 2
    return Item(
        "cleaver",
        [
            blade("steel", 7.8, (0, 0, 0), (length / 2, width / 2, thick / 2), 0.0, _u(rng, 0.15, 0.3)),
            box(material, density, (hc, width * 0.3, 0), (handle_len / 2, 1.2, 1.0)),
            box("steel", 7.8, (hc, width * 0.3, 0), (handle_len / 2 - 0.3, 0.8, thick / 2)),
            cyl("steel", 7.8, (hc - 2, width * 0.3, 0), 0.25, 1.0, _Z),
            cyl("steel", 7.8, (hc + 2, width * 0.3, 0), 0.25, 1.0, _Z),
        ],
    )


def folding_knife(rng: np.random.Generator) -> Item:
    length, width, thick = _u(rng, 7, 10), _u(rng, 2.0, 3.0), _u(rng, 0.25, 0.35)
    half_h = length / 2 + 0.9
    height, depth = _u(rng, 1.3, 1.6), _u(rng, 0.55, 0.8)
    scales = _pick(rng, ("polymer", "aluminium", "wood"))
    scale = {"polymer": ("polymer", 1.3), "aluminium": ("aluminium", 2.7), "wood": ("cellulose", 0.7)}[scales]
    liner = ("steel", 7.8) if rng.random() < 0.6 else ("aluminium", 2.7)
    pivot_x = half_h - 1.0
    parts = [
        box(scale[0], scale[1], (0, 0, 0), (half_h, height, depth)),
        box(AIR, 0, (0, 0.2, 0), (half_h, height - 0.15, 0.2)),  # the slot the blade folds into
        box(liner[0], liner[1], (0, 0, 0.27), (half_h - 0.1, height - 0.1, 0.06)),
        box(liner[0], liner[1], (0, 0, -0.27), (half_h - 0.1, height - 0.1, 0.06)),
        cyl("steel", 7.8, (pivot_x, 0, 0), 0.45, depth, _Z),  # pivot
        box("steel", 7.8, (-0.5, 0, depth + 0.05), (2.6, 0.4, 0.05)),  # pocket clip
    ]
    open_ = rng.random() < 0.5
    half = (length / 2, width / 2, thick / 2)
    tip, edge = _u(rng, 0.3, 0.45), _u(rng, 0.1, 0.2)
    if open_:
        parts.append(blade("steel", 7.8, (pivot_x + length / 2 + 0.2, 0, 0), half, tip, edge))
    else:
        parts.append(
            blade(
                "steel",
                7.8,
                (pivot_x - length / 2 - 0.2, 0.3, 0),
                half,
                tip,
                edge,
                rotation_about(2, math.pi),
            )
        )
    return Item("folding knife", parts)


def combat_knife(rng: np.random.Generator) -> Item:
    length, width, thick = _u(rng, 15, 20), _u(rng, 3.0, 4.0), _u(rng, 0.4, 0.6)
    handle_len = _u(rng, 11, 13)
    material, density = ("polymer", _u(rng, 1.1, 1.3))
    hc = -length / 2 - 0.8 - handle_len / 2
    return Item(
        "combat knife",
        [
            blade(
                "steel",
                7.8,
                (0, 0, 0),
                (length / 2, width / 2, thick / 2),
                _u(rng, 0.2, 0.3),
                _u(rng, 0.15, 0.25),
            ),
            box("steel", 7.8, (-length / 2 - 0.4, 0, 0), (0.4, width / 2 + 1.2, 0.8)),  # guard
            cyl(material, density, (hc, 0, 0), _u(rng, 1.3, 1.6), handle_len / 2),
            box("steel", 7.8, (hc, 0, 0), (handle_len / 2 - 0.2, 0.9, thick / 2)),  # full tang
            box("steel", 7.8, (hc - handle_len / 2 - 0.5, 0, 0), (0.6, 1.3, 1.0)),  # pommel
        ],
    )


# --------------------------------------------------------------------------- explosives


def _detonator(rng: np.random.Generator, tip: Vec, axis: Vec) -> tuple[list[Prim], np.ndarray]:
    """A detonator whose closed end is at ``tip`` and body runs back along -``axis``; returns it and its
    open (wired) end."""
    half_len = _u(rng, 2.0, 3.0)
    radius = _u(rng, 0.3, 0.35)
    shell = (
        ("copper", 8.96, _u(rng, 0.025, 0.04))
        if rng.random() < 0.5
        else ("aluminium", 2.7, _u(rng, 0.03, 0.05))
    )
    direction = np.asarray(axis, float) / np.linalg.norm(axis)
    centre = np.asarray(tip, float) - direction * half_len
    parts = filled_cyl(shell[0], shell[1], centre, radius, half_len, direction, shell[2], ("explosive", 1.6))
    return parts, centre - direction * half_len


def _wires(rng: np.random.Generator, start: np.ndarray, end: np.ndarray) -> list[Prim]:
    """Two insulated copper wires from ``start`` to ``end`` through a random bend or two."""
    points = [start]
    for _ in range(int(rng.integers(1, 3))):
        points.append(points[-1] + (end - points[-1]) * _u(rng, 0.3, 0.7) + rng.normal(0, 2.0, 3))
    points.append(end)
    parts = []
    for offset in (-0.12, 0.12):
        shift = np.array([0.0, 0.0, offset])
        for a, b in itertools.pairwise(points):
            parts.append(rod("polymer", 1.35, a + shift, b + shift, 0.09))
            parts.append(rod("copper", 8.96, a + shift, b + shift, _u(rng, 0.025, 0.045)))
    return parts


def _power(rng: np.random.Generator, centre: Vec) -> list[Prim]:
    """A 9 V battery, a phone-like circuit board with its cell, or both side by side."""
    c = np.asarray(centre, float)
    choice = int(rng.integers(3))
    parts: list[Prim] = []
    if choice in (0, 2):
        parts += filled_box("steel", _STEEL, c, (1.325, 0.875, 2.425), 0.025, ("battery", 2.0))
        parts.append(box("steel", _STEEL, np.add(c, (0, 0, 2.55)), (0.6, 0.4, 0.12)))  # snaps
    if choice in (1, 2):
        b = np.add(c, (0, 0, 5.5 if choice == 2 else 0))
        hx, hz = _u(rng, 4, 6), _u(rng, 2.5, 3.5)
        parts += filled_box("polymer", 1.05, b, (hx + 0.3, 0.6, hz + 0.3), 0.15, (AIR, 0))
        parts.append(box("pcb", 1.9, np.add(b, (0, -0.3, 0)), (hx, 0.08, hz)))
        parts.append(box("battery", 2.5, np.add(b, (0, 0.15, 0)), (hx * 0.6, 0.25, hz * 0.7)))
        for _ in range(int(rng.integers(3, 7))):
            spot = np.add(b, (_u(rng, -hx, hx) * 0.8, -0.15, _u(rng, -hz, hz) * 0.8))
            parts.append(box("copper", _u(rng, 1.5, 4.0), spot, (_u(rng, 0.2, 0.8), 0.07, _u(rng, 0.2, 0.8))))
    return parts


def _device(
    rng: np.random.Generator, name: str, charge: list[Prim], tip: Vec, axis: Vec, power_at: Vec
) -> Item:
    detonator, wired_end = _detonator(rng, tip, axis)
    power = _power(rng, power_at)
    return Item(name, charge + detonator + power + _wires(rng, wired_end, np.asarray(power_at, float)))


def plastic_explosive(rng: np.random.Generator) -> Item:
    count = int(rng.integers(1, 5))
    hx, hy, hz = _u(rng, 7.5, 14), _u(rng, 1.0, 2.0), _u(rng, 2.5, 5.0)
    density = _u(rng, 1.55, 1.75)
    charge = []
    for k in range(count):
        centre = (_u(rng, -0.5, 0.5), (k - (count - 1) / 2) * 2 * hy, _u(rng, -0.5, 0.5))
        charge.append(box("explosive", density, centre, (hx, hy, hz)))
        charge.append(
            box("polyethylene", 0.94, centre, (hx + 0.01, hy + 0.01, hz + 0.01), wall=0.012)
        )  # film
    top = (count - 1) / 2 * 2 * hy
    return _device(rng, "plastic explosive", charge, (hx - 3, top, 0), _X, (0, top + hy + 2.0, 0))


def sheet_explosive(rng: np.random.Generator) -> Item:
    hx, hz, hy = _u(rng, 10, 15), _u(rng, 7, 10.5), _u(rng, 0.25, 0.4)
    density = _u(rng, 1.40, 1.55)
    sheets = int(rng.integers(1, 3))
    charge = [box("explosive", density, (0, k * 2 * hy, 0), (hx, hy, hz)) for k in range(sheets)]
    top = (sheets - 1) * 2 * hy + hy
    return _device(rng, "sheet explosive", charge, (hx * 0.5, top + 0.35, 0), _X, (-hx * 0.4, top + 1.2, 0))


def dynamite(rng: np.random.Generator) -> Item:
    count = int(rng.integers(3, 9))
    radius, half_len = _u(rng, 1.4, 1.6), _u(rng, 9.0, 10.0)
    density = _u(rng, 1.30, 1.50)
    per_row = int(rng.integers(2, 5)) if count > 3 else count
    charge: list[Prim] = []
    centres = []
    for k in range(count):
        row, col = divmod(k, per_row)
        centre = (
            0.0,
            row * 2 * radius * 0.9,
            (col - (per_row - 1) / 2) * 2 * radius + (radius if row % 2 else 0),
        )
        centres.append(centre)
        charge += filled_cyl("cellulose", 0.9, centre, radius, half_len, _X, 0.06, ("explosive", density))
    ys = [c[1] for c in centres]
    zs = [c[2] for c in centres]
    band_half = ((max(ys) - min(ys)) / 2 + radius + 0.05, (max(zs) - min(zs)) / 2 + radius + 0.05)
    band_centre_yz = ((max(ys) + min(ys)) / 2, (max(zs) + min(zs)) / 2)
    for x in (-half_len * 0.6, half_len * 0.6):  # tape bands
        charge.append(box("polymer", 1.2, (x, *band_centre_yz), (1.5, *band_half), wall=0.03))
    tip = (half_len - 3.0, centres[0][1], centres[0][2])
    power_at = (half_len + 4.0, band_centre_yz[0], band_centre_yz[1])
    return _device(rng, "dynamite", charge, tip, _X, power_at)


def cast_charge(rng: np.random.Generator) -> Item:
    radius, half_len = _u(rng, 3.0, 5.0), _u(rng, 4.0, 8.0)
    can = (
        ("steel", _STEEL, _u(rng, 0.02, 0.03))
        if rng.random() < 0.6
        else ("aluminium", 2.7, _u(rng, 0.03, 0.05))
    )
    charge = filled_cyl(
        can[0], can[1], (0, 0, 0), radius, half_len, _Y, can[2], ("explosive", _u(rng, 1.55, 1.70))
    )
    return _device(rng, "cast charge", charge, (0, half_len - 4.0, 0), _Y, (radius + 3.0, half_len, 0))


# --------------------------------------------------------------------------- cigarettes

_PACK_HALF = (4.4, 2.75, 1.1)  # rods along x, 20 of them in rows of 7, 6 and 7


def _pack(rng: np.random.Generator, tobacco: float, air_inside: bool) -> list[Prim]:
    """A pack of 20 king-size cigarettes in its own frame: cardboard (with its foil liner) round three
    staggered rows of rods, each rod tobacco in paper with an acetate filter at +x."""
    parts = [box(AIR, 0, (0, 0, 0), (4.37, 2.72, 1.07))] if air_inside else []
    parts.append(box("pack_wall", 0.75, (0, 0, 0), _PACK_HALF, wall=0.036))
    rod_len, filter_len = 8.3, _u(rng, 2.0, 2.6)
    lattice = (0.78, 0.675, 0.39, 3.0, 7.0)
    tobacco_half = (rod_len - filter_len) / 2
    parts.append(
        Prim(
            "rods",
            "cellulose",
            tobacco + 0.014,
            (tobacco_half, 2.73, 1.06),
            np.array([-rod_len / 2 + tobacco_half, 0, 0]),
            np.eye(3),
            shape=lattice,
        )
    )
    filter_centre = rod_len / 2 - filter_len / 2
    parts.append(
        Prim(
            "rods",
            "cellulose",
            _u(rng, 0.09, 0.12),
            (filter_len / 2, 2.73, 1.06),
            np.array([filter_centre, 0, 0]),
            np.eye(3),
            shape=lattice,
        )
    )
    return parts


def _carton(rng: np.random.Generator, tobacco: float) -> list[Prim]:
    """10 packs standing two deep and five across in a cardboard carton (27.8 x 9 x 4.6 cm)."""
    half = (5 * _PACK_HALF[1] + 0.1, _PACK_HALF[0] + 0.1, 2 * _PACK_HALF[2] + 0.1)
    parts = filled_box("cellulose", _u(rng, 0.65, 0.8), (0, 0, 0), half, 0.04, (AIR, 0))
    stand = np.column_stack([_Y, _X, (0.0, 0.0, -1.0)])  # rods along the carton's y
    for col in range(5):
        for layer in range(2):
            at = ((col - 2) * 2 * _PACK_HALF[1], 0.0, (layer - 0.5) * 2 * _PACK_HALF[2])
            parts += moved(_pack(rng, tobacco, air_inside=False), stand, at)
    return parts


def cigarettes(rng: np.random.Generator) -> list[Item]:
    """1-3 cartons (stacked, or side by side) or 1-6 loose packs in a rough pile, as one item."""
    tobacco = _u(rng, 0.20, 0.28)
    parts: list[Prim] = []
    if rng.random() < 0.5:
        cartons = int(rng.integers(1, 4))
        stacked = rng.random() < 0.5
        for k in range(cartons):
            jitter = (_u(rng, -1, 1), _u(rng, -0.5, 0.5), 0.0)
            offset = np.add(jitter, (0, 0, k * 4.7) if stacked else (0, k * 9.2, 0))
            parts += moved(_carton(rng, tobacco), np.eye(3), offset)
        return [Item("cigarette cartons" if cartons > 1 else "cigarette carton", parts)]
    packs = int(rng.integers(1, 7))
    for k in range(packs):
        row, col = divmod(k, 2)
        offset = (col * 9.0 + _u(rng, -0.5, 0.5), row * 5.7 + _u(rng, -0.5, 0.5), _u(rng, -0.3, 0.3))
        turn = rotation_about(2, _u(rng, -0.12, 0.12)) @ rotation_about(0, _u(rng, -0.1, 0.1))
        parts += moved(_pack(rng, tobacco, air_inside=True), turn, offset)
    return [Item("cigarette packs" if packs > 1 else "cigarette pack", parts)]


def _single(design: Design) -> Callable[[np.random.Generator], list[Item]]:
    def make(rng: np.random.Generator) -> list[Item]:
        return [design(rng)]

    make.__name__ = design.__name__
    return make


THREATS: dict[str, tuple[Callable[[np.random.Generator], list[Item]], ...]] = {
    "firearm": tuple(_single(d) for d in (polymer_pistol, steel_pistol, revolver, submachine_gun)),
    "knife": tuple(_single(d) for d in (kitchen_knife, folding_knife, combat_knife, cleaver)),
    "explosive": tuple(_single(d) for d in (plastic_explosive, sheet_explosive, dynamite, cast_charge)),
    "cigarettes": (cigarettes,),
}
