"""Object designs of the independent X-ray bag generator, in centimetres, lying flat on the belt.

Threat classes (the labels the X-ray detector reports): ``firearm`` (polymer-frame and all-steel
pistols, revolvers, submachine guns, loaded or not), ``knife`` (kitchen knives and cleavers, folding
knives open or closed, combat knives), ``phone`` (smartphones, feature phones, tablets, handheld
radios), ``cigarettes`` (stacks of cartons, bundles of loose packs; tobacco at 0.2-0.3 g/cm^3). Clutter:
clothes, shoes, laptops, chargers and power banks, bottles, cables, books, toiletries, keys and coins,
umbrellas, belts, food. Each design takes a generator and returns its primitives; sizes and parts vary.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from smartcustoms.hardware.sim._xray_alt_shapes import Prim, box, disc, rod, taper, tube

Design = Callable[[np.random.Generator], list[Prim]]


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _rounds(
    u0: float, v0: float, count: int, calibre: float, length: float, axis_deg: float, double: bool = True
) -> list[Prim]:
    """Cartridges lying along -u (bullets forward, as in a magazine under a slide), stacked from
    (u0, v0) along the magazine's axis ``axis_deg``; a double stack staggers them."""
    parts: list[Prim] = []
    a = math.radians(axis_deg)
    for k in range(count):
        step = 1.0 + k * calibre * (0.55 if double else 1.0)
        across = calibre * 0.3 if double and k % 2 else 0.0
        cu = u0 + step * math.cos(a) - across * math.sin(a)
        cv = v0 + step * math.sin(a) + across * math.cos(a)
        at = (cu, cv, 180.0)
        parts += [
            tube("brass", -length / 2, length * 0.15, 0.0, calibre, calibre * 0.86, at=at),
            rod("bullet", length * 0.15, length / 2, 0.0, calibre * 0.93, at=at),
        ]
    return parts


# --------------------------------------------------------------------------- firearms


def polymer_pistol(rng: np.random.Generator) -> list[Prim]:
    s = _u(rng, 0.85, 1.1)
    length, height = 18.6 * s, 3.0 * s
    grip_angle = _u(rng, 14, 24)
    parts = [
        box("steel", 0, length, 0, height, 0.85 * s),  # slide side walls
        box("steel", 0.3, length - 0.3, height - 0.5 * s, height, 1.2 * s),  # slide top
        tube("steel", 0.4, length - 3.0 * s, height * 0.5, 1.35 * s, 0.9 * s),  # barrel
        rod("steel", 0.5, length * 0.45, height * 0.12, 0.35 * s),  # recoil spring guide
        box("nylon_glass", 1.0, length - 0.8, -1.1 * s, 0.1, 2.2 * s),  # frame
        disc("nylon_glass", length * 0.55, -2.0 * s, 1.7 * s, 1.3 * s, 0.9 * s, hole=0.7),  # trigger guard
        box("steel", length * 0.55, length * 0.6, -2.3 * s, -0.6 * s, 0.6 * s),  # trigger bar
        disc("steel", length * 0.35, -0.5 * s, 0.18, 0.18, 2.4 * s),  # pins
        disc("steel", length * 0.6, -0.5 * s, 0.18, 0.18, 2.4 * s),
    ]
    grip_at = (length * 0.78, -1.0 * s, -90 + grip_angle)
    grip_len = 11.0 * s
    parts += [
        box("nylon_glass", 0, grip_len, -1.6 * s, 1.6 * s, 1.0 * s, at=grip_at),  # grip shell
        box("steel", 0.3, grip_len - 0.2, -1.3 * s, 1.3 * s, 0.16, at=grip_at),  # magazine body
        box("nylon_glass", grip_len - 0.6, grip_len + 0.2, -1.5 * s, 1.5 * s, 2.6 * s, at=grip_at),  # base
    ]
    loaded = int(rng.integers(0, 16))
    if loaded:
        parts += _rounds(grip_at[0], grip_at[1], loaded, 0.99, 2.95, grip_at[2])
    return parts


def steel_pistol(rng: np.random.Generator) -> list[Prim]:
    s = _u(rng, 0.8, 1.1)
    length, height = 21.0 * s, 3.0 * s
    grip_angle = _u(rng, 10, 20)
    parts = [
        box("steel", 0, length, 0, height, 1.0 * s),  # slide
        tube("steel", 0.5, length - 1.0, height * 0.5, 1.6 * s, 1.15 * s, sign=-1),  # bore of the slide
        tube("steel", 0.5, length - 1.0, height * 0.5, 1.5 * s, 1.15 * s),  # barrel
        box("steel", 2.5, length - 1.5, -1.2 * s, 0.0, 1.0 * s),  # frame
        disc("steel", length * 0.62, -2.2 * s, 1.8 * s, 1.2 * s, 0.8 * s, hole=0.75),  # trigger guard
        disc("steel", 0.8, height * 0.2, 0.9 * s, 0.8 * s, 1.0 * s),  # hammer
    ]
    grip_at = (length * 0.85, -1.0 * s, -90 + grip_angle)
    grip_len = 11.5 * s
    parts += [
        box("steel", 0, grip_len, -1.7 * s, 1.7 * s, 0.6 * s, at=grip_at),  # grip frame
        box(str(rng.choice(["wood", "rubber"])), 0.3, grip_len - 0.5, -1.7 * s, 1.7 * s, 0.8, at=grip_at),
        box("steel", 0.2, grip_len, -1.3 * s, 1.3 * s, 0.2, at=grip_at),  # magazine
    ]
    loaded = int(rng.integers(0, 9))
    if loaded:
        parts += _rounds(grip_at[0], grip_at[1], loaded, 1.2, 3.2, grip_at[2], False)
    return parts


def revolver(rng: np.random.Generator) -> list[Prim]:
    s = _u(rng, 0.85, 1.1)
    barrel = _u(rng, 5.0, 15.0)
    cylinder_d, cylinder_len = 3.8 * s, 4.0 * s
    axis_v = 0.0
    parts = [
        tube("steel", -barrel, 0.3, axis_v + 1.0 * s, 1.9 * s, 0.9 * s),  # barrel
        box("steel", -barrel, -0.5, axis_v + 1.7 * s, axis_v + 2.2 * s, 0.7 * s),  # rib
        box("steel", 0.0, cylinder_len + 3.0 * s, axis_v - 2.2 * s, axis_v + 2.4 * s, 1.0 * s),  # frame
        rod("steel", 0.3, 0.3 + cylinder_len, axis_v, cylinder_d),  # cylinder
        disc("steel", cylinder_len + 3.5 * s, axis_v + 1.8 * s, 1.0 * s, 0.7 * s, 1.0),  # hammer
        disc("steel", cylinder_len + 0.5 * s, axis_v - 3.3 * s, 1.6 * s, 1.2 * s, 0.8 * s, hole=0.7),
    ]
    chamber_r = 1.25 * s
    loaded = int(rng.integers(0, 7))
    for k in range(6):
        v = axis_v + chamber_r * math.cos(2 * math.pi * k / 6 + math.pi / 6)
        parts.append(rod("steel", 0.3, 0.3 + cylinder_len, v, 0.95 * s, sign=-1))
        if k < loaded:
            parts.append(tube("brass", 0.3, 0.3 + cylinder_len, v, 0.95 * s, 0.85 * s))
            parts.append(rod("bullet", 0.3, 1.6 * s, v, 0.9 * s))
    grip_at = (cylinder_len + 3.0 * s, axis_v - 1.5 * s, -90 + _u(rng, 20, 35))
    parts += [
        box("steel", 0, 8.5 * s, -0.9 * s, 0.9 * s, 1.0, at=grip_at),  # grip frame
        box(str(rng.choice(["wood", "rubber"])), 0, 10.0 * s, -1.9 * s, 1.9 * s, 2.6 * s, at=grip_at),
    ]
    return parts


def submachine_gun(rng: np.random.Generator) -> list[Prim]:
    s = _u(rng, 0.9, 1.1)
    receiver = _u(rng, 24, 32) * s
    h = _u(rng, 4.5, 6.0) * s
    parts = [
        box("steel", 0, receiver, 0, h, 0.3),  # sheet-metal receiver: two side walls
        box("steel", 0, receiver, 0, 0.15, 4.5 * s),  # its top and bottom seen edge-on
        box("steel", 0, receiver, h - 0.15, h, 4.5 * s),
        tube("steel", -_u(rng, 3, 12), receiver * 0.6, h * 0.55, 1.5 * s, 0.9 * s),  # barrel
        box("steel", receiver * 0.45, receiver * 0.75, h * 0.2, h * 0.85, 3.0 * s),  # bolt
        disc("steel", receiver * 0.55, -2.0, 1.8, 1.2, 0.9, hole=0.7),  # trigger guard
    ]
    if rng.random() < 0.5:  # magazine through the pistol grip
        grip_at = (receiver * 0.62, -0.3, -90 - _u(rng, 0, 10))
        parts += [box("nylon_glass", 0, 10 * s, -1.8, 1.8, 3.0, at=grip_at)]
        mag_at = (grip_at[0], grip_at[1], grip_at[2])
    else:  # magazine ahead of the grip, a pistol grip of its own
        parts += [box("nylon_glass", 0, 10 * s, -1.6, 1.6, 3.0, at=(receiver * 0.78, -0.3, -110))]
        mag_at = (receiver * 0.4, -0.3, -90 + _u(rng, -12, 0))
    mag_len = _u(rng, 15, 25) * s
    parts.append(box("steel", 0, mag_len, -1.2, 1.2, 0.24, at=mag_at))
    loaded = int(rng.integers(0, 30))
    if loaded:
        parts += _rounds(mag_at[0], mag_at[1], min(loaded, int(mag_len / 0.6)), 0.99, 2.95, mag_at[2])
    if rng.random() < 0.5:  # folding wire stock
        parts += [
            rod("steel", receiver, receiver + 22 * s, h * 0.8, 0.7),
            rod("steel", receiver, receiver + 22 * s, h * 0.1, 0.7),
            rod("steel", 0, 4.5 * s, 0, 0.8, at=(receiver + 22 * s, h * 0.1, 90)),
        ]
    else:
        parts.append(box("abs", receiver, receiver + 20 * s, -0.5, h, 3.0))  # polymer stock
    return parts


# --------------------------------------------------------------------------- knives


def _handle(rng: np.random.Generator, start: float, length: float, width: float, tang: bool) -> list[Prim]:
    material = str(rng.choice(["wood", "polycarbonate", "rubber", "abs"]))
    parts = [box(material, start, start + length, -width / 2, width / 2, _u(rng, 1.4, 2.2))]
    if tang:
        parts.append(box("steel", start, start + length - 0.3, -width * 0.35, width * 0.35, 0.25))
        for k in range(int(rng.integers(2, 4))):
            parts.append(disc("brass", start + length * (0.2 + 0.3 * k), 0.0, 0.25, 0.25, 1.6))
    else:
        parts.append(rod("steel", start, start + length * 0.7, 0.0, 0.5))
    return parts


def kitchen_knife(rng: np.random.Generator) -> list[Prim]:
    blade = _u(rng, 10, 25)
    width = _u(rng, 2.0, 5.0)
    steel = str(rng.choice(["steel", "stainless"]))
    if rng.random() < 0.2:  # cleaver
        parts = [box(steel, 0, blade * 0.8, -width * 1.8, width * 0.2, 0.3, profile="wedge")]
        return parts + _handle(rng, -11, 11, 2.4, True)
    edge = [-width, -width, -width * 0.8, -width * 0.2]
    us = [0, blade * 0.6, blade * 0.9, blade]
    parts = [
        taper(steel, us, edge, [0.2, 0.2, 0.0, -width * 0.15], _u(rng, 0.15, 0.28), profile="wedge"),
        box(steel, -0.8, 0.1, -width * 0.9, 0.3, 0.9),  # bolster
    ]
    if rng.random() < 0.3:  # serrated (bread knife): teeth along the edge
        teeth = np.arange(0, blade * 0.9, 0.5)
        lo = [(-width if k % 2 else -width + 0.15) for k in range(len(teeth))]
        parts.append(taper(steel, list(teeth), lo, [-width + 0.4] * len(teeth), 0.2))
    return parts + _handle(rng, -12, _u(rng, 10, 13), 2.2, bool(rng.random() < 0.7))


def folding_knife(rng: np.random.Generator) -> list[Prim]:
    handle = _u(rng, 9, 13)
    blade = handle * _u(rng, 0.75, 0.9)
    width = _u(rng, 1.8, 3.0)
    scales = str(rng.choice(["aluminium", "fr4", "nylon_glass", "wood"]))
    parts = [
        box(scales, 0, handle, -width / 2 - 0.2, width / 2 + 0.2, 0.7),
        box("stainless", 0.2, handle - 0.2, -width / 2, width / 2, 0.2),  # liners
        disc("stainless", handle - 0.8, 0, 0.6, 0.6, 1.3),  # pivot
        disc("steel", 0.8, 0, 0.3, 0.3, 1.3),
        box("stainless", 0.5, handle * 0.6, width / 2 + 0.2, width / 2 + 0.5, 0.15),  # pocket clip
    ]
    tip = [width * 0.15, -width / 2 * 0.9]
    if rng.random() < 0.7:  # open
        us = [handle - 0.8, handle + blade * 0.55, handle + blade - 0.8, handle + blade]
        parts.append(
            taper(
                "stainless",
                us,
                [-width / 2] * 3 + [tip[1]],
                [width / 2, width / 2, tip[0], tip[1] + 0.05],
                0.3,
                profile="wedge",
            )
        )
    else:  # closed: the blade lies inside the handle
        parts.append(
            box("stainless", 0.6, handle - 0.5, -width / 2 + 0.2, width / 2 - 0.1, 0.3, profile="wedge")
        )
    return parts


def combat_knife(rng: np.random.Generator) -> list[Prim]:
    blade = _u(rng, 13, 20)
    width = _u(rng, 3.0, 4.2)
    t = _u(rng, 0.4, 0.6)
    clip = blade * _u(rng, 0.65, 0.8)
    parts = [
        taper(
            "steel",
            [0, clip, blade],
            [-width / 2] * 2 + [0.0],
            [width / 2, width / 2, 0.0],
            t,
            profile="wedge",
        ),
        taper("steel", [clip, blade], [width / 2 - 0.6, 0.0], [width / 2, 0.0], t * 0.5, profile="wedge"),
        box("steel", 1.0, blade * 0.6, 0.1, 0.6, t * 0.4, sign=-1),  # fuller
        box("steel", -1.0, 0.0, -width * 1.1, width * 1.1, 1.2),  # guard
        disc("steel", -13.2, 0, 1.3, 1.3, 2.6, profile="lens"),  # pommel
    ]
    return parts + _handle(rng, -12.5, 12, 3.0, False)


# --------------------------------------------------------------------------- phones, tablets, radios


def _board(rng: np.random.Generator, u0: float, u1: float, v0: float, v1: float) -> list[Prim]:
    parts = [box("fr4", u0, u1, v0, v1, 0.1), box("copper", u0, u1, v0, v1, 0.004)]
    for _ in range(int(rng.integers(4, 10))):
        cu, cv = _u(rng, u0, u1), _u(rng, v0, v1)
        w, h = _u(rng, 0.3, 1.4), _u(rng, 0.3, 1.4)
        material = str(rng.choice(["silicon", "abs", "stainless", "copper"], p=[0.4, 0.3, 0.2, 0.1]))
        t = {"silicon": 0.08, "abs": 0.12, "stainless": 0.03, "copper": 0.02}[material]
        parts.append(
            box(
                material,
                max(u0, cu - w / 2),
                min(u1, cu + w / 2),
                max(v0, cv - h / 2),
                min(v1, cv + h / 2),
                t,
            )
        )
    return parts


def smartphone(rng: np.random.Generator) -> list[Prim]:
    length, width, depth = _u(rng, 13.5, 16.5), _u(rng, 6.5, 7.8), _u(rng, 0.7, 0.95)
    frame = str(rng.choice(["aluminium", "stainless", "polycarbonate"], p=[0.6, 0.2, 0.2]))
    back = str(rng.choice(["glass", "polycarbonate", "aluminium"]))
    parts = [
        box("glass", 0, length, 0, width, 0.07),  # screen
        box(back, 0, length, 0, width, 0.06 if back != "aluminium" else 0.08),
        box(frame, 0, length, 0, 0.25, depth),
        box(frame, 0, length, width - 0.25, width, depth),
        box(frame, 0, 0.25, 0, width, depth),
        box(frame, length - 0.25, length, 0, width, depth),
        box("li_ion", length * 0.3, length * 0.92, 0.6, width - 0.6, _u(rng, 0.35, 0.5)),  # battery
        box("ferrite", 0.5, 1.5, 0.8, 1.6, 0.3),  # speaker magnet
        disc("stainless", 1.2, width - 1.4, 0.5, 0.5, 0.25),  # camera
    ]
    return parts + _board(rng, 0.4, length * 0.3, 0.4, width - 0.4)


def feature_phone(rng: np.random.Generator) -> list[Prim]:
    length, width = _u(rng, 10.5, 12.5), _u(rng, 4.5, 5.5)
    parts = [
        box("abs", 0, length, 0, width, 0.3),
        box("li_ion", length * 0.45, length * 0.9, 0.5, width - 0.5, 0.5),
        box("glass", 0.5, length * 0.45, 0.4, width - 0.4, 0.1),
        box("ferrite", 0.3, 1.0, 1.5, 2.5, 0.25),
    ]
    for k in range(12):  # keypad domes
        parts.append(disc("stainless", length * 0.55 + (k // 3) * 1.0, 1.0 + (k % 3) * 1.4, 0.3, 0.3, 0.02))
    return parts + _board(rng, 0.3, length - 0.3, 0.3, width - 0.3)


def tablet(rng: np.random.Generator) -> list[Prim]:
    length, width = _u(rng, 20, 28), _u(rng, 13, 19)
    parts = [
        box("glass", 0, length, 0, width, 0.08),
        box(str(rng.choice(["aluminium", "polycarbonate"])), 0, length, 0, width, 0.1),
        box("li_ion", length * 0.1, length * 0.9, width * 0.15, width * 0.7, _u(rng, 0.3, 0.45)),
    ]
    return parts + _board(rng, length * 0.2, length * 0.8, width * 0.72, width * 0.95)


def handheld_radio(rng: np.random.Generator) -> list[Prim]:
    length, width = _u(rng, 10, 14), _u(rng, 5.0, 6.5)
    parts = [
        box("abs", 0, length, 0, width, 0.6),  # housing front and back walls
        box("abs", 0, length, 0, 0.3, 3.5),
        box("abs", 0, length, width - 0.3, width, 3.5),
        box(str(rng.choice(["li_ion", "steel"])), length * 0.55, length - 0.2, 0.4, width - 0.4, 1.5),
        disc("ferrite", length * 0.3, width / 2, 1.4, 1.4, 0.6, hole=0.3),  # speaker magnet
        rod("steel", -_u(rng, 6, 14), 0.5, width * 0.75, 0.35),  # antenna
        rod("rubber", -_u(rng, 6, 14), 0.5, width * 0.75, 1.1),
        box("steel", length * 0.5, length * 0.95, width * 0.3, width * 0.7, 0.08),  # belt clip
    ]
    return parts + _board(rng, 0.5, length * 0.5, 0.5, width - 0.5)


# --------------------------------------------------------------------------- cigarettes


def _pack(
    u: float,
    v: float,
    angle: float,
    stick: float,
    tobacco: float,
    filter_cm: float,
    length: float,
    width: float,
    rows: int,
) -> list[Prim]:
    """A pack lying flat: ``rows`` layers of sticks along v (their axes run along v over ``length``),
    touching across u, each layer offset by half a stick from the one above."""
    layers = tuple((0.5 * stick if k % 2 else 0.0) for k in range(rows))
    at = (u, v, angle)
    return [
        box("board", 0, width, 0, length, 0.075, at=at),  # paperboard, both faces
        box("aluminium", 0, width, 0, length, 0.0015, at=at),  # foil liner
        # rods run along v: the pack's u is across them, so the slab is laid along v (rotated 90)
        Prim(
            "tobacco",
            "slab",
            (0.0, length - filter_cm),
            (-width, -width),
            (0.0, 0.0),
            stick,
            "rods",
            0.0,
            layers,
            tobacco,
            (u, v, angle + 90),
        ),
        Prim(
            "acetate",
            "slab",
            (length - filter_cm, length),
            (-width, -width),
            (0.0, 0.0),
            stick,
            "rods",
            0.0,
            layers,
            0.12,
            (u, v, angle + 90),
        ),
    ]


def _stick(rng: np.random.Generator) -> tuple[float, float, float, float]:
    if rng.random() < 0.2:  # slims
        return _u(rng, 0.52, 0.56), _u(rng, 0.2, 0.3), _u(rng, 2.0, 2.7), _u(rng, 9.5, 10.0)
    return _u(rng, 0.76, 0.8), _u(rng, 0.2, 0.3), _u(rng, 2.0, 2.7), _u(rng, 8.3, 8.5)


def cigarette_cartons(rng: np.random.Generator) -> list[Prim]:
    stick, tobacco, filter_cm, length = _stick(rng)
    per_row = 7 if stick > 0.7 else 10
    pack_w = stick * per_row
    cartons = int(rng.integers(1, 6))
    spread = rng.random() < 0.4  # side by side rather than stacked
    parts: list[Prim] = []
    for c in range(cartons):
        ou, ov = (0.0, c * (length + 0.4)) if spread else (_u(rng, -0.3, 0.3), _u(rng, -0.3, 0.3))
        parts.append(box("board", ou, ou + 5 * pack_w + 0.4, ov, ov + length + 0.3, 0.08))
        for layer in range(2):
            for k in range(5):
                shift = layer * stick * float(rng.uniform(0.0, 1.0))  # the layers need not line up
                parts += _pack(
                    ou + 0.2 + k * pack_w + shift,
                    ov + 0.15,
                    0.0,
                    stick,
                    tobacco,
                    filter_cm,
                    length,
                    pack_w,
                    3,
                )
    return parts


def cigarette_packs(rng: np.random.Generator) -> list[Prim]:
    stick, tobacco, filter_cm, length = _stick(rng)
    pack_w = stick * (7 if stick > 0.7 else 10)
    count = int(rng.integers(2, 9))
    across = int(rng.integers(1, 4))
    parts: list[Prim] = []
    for k in range(count):
        u = (k % across) * (pack_w + _u(rng, 0.0, 0.6))
        v = (k // across) * (length + _u(rng, 0.0, 0.6))
        parts += _pack(u, v, _u(rng, -4, 4), stick, tobacco, filter_cm, length, pack_w, 3)
    return parts


# --------------------------------------------------------------------------- clutter


def clothes(rng: np.random.Generator) -> list[Prim]:
    """A folded garment: 0.3-3 g/cm^2 of fibre in smooth folds, jeans with rivets and a zip."""
    length, width = _u(rng, 20, 45), _u(rng, 15, 35)
    fibre = str(rng.choice(["cotton", "polyethylene"], p=[0.7, 0.3]))
    parts = [
        Prim(
            fibre,
            "slab",
            (0, length),
            (0, 0),
            (width, width),
            _u(rng, 1.0, 3.5),
            "noise",
            seed=int(rng.integers(1 << 30)),
            density=0.8 if fibre == "cotton" else 0.9,
        )
    ]
    if rng.random() < 0.3:
        parts.append(box("brass", length * 0.4, length * 0.42, width * 0.2, width * 0.7, 0.15))  # zip
        for _ in range(int(rng.integers(2, 6))):
            parts.append(disc("copper", _u(rng, 0, length), _u(rng, 0, width), 0.4, 0.4, 0.15))
    return parts


def shoes(rng: np.random.Generator) -> list[Prim]:
    length = _u(rng, 24, 31)
    parts: list[Prim] = []
    for side in (0.0, _u(rng, 9, 12)):
        parts += [
            taper(
                "rubber",
                [0, length * 0.3, length],
                [side, side - 0.6, side + 0.8],
                [side + 8.5, side + 9.2, side + 7.2],
                _u(rng, 2.5, 4.5),
            ),
            taper("leather", [0, length], [side, side + 0.8], [side + 8.5, side + 7.2], 0.6),
        ]
        if rng.random() < 0.3:
            parts.append(box("steel", length * 0.3, length * 0.6, side + 3.5, side + 4.7, 0.15))  # shank
        for k in range(int(rng.integers(0, 8))):
            parts.append(disc("brass", length * 0.55 + k * 1.0, side + 2.5, 0.25, 0.25, 0.2, hole=0.5))
    return parts


def laptop(rng: np.random.Generator) -> list[Prim]:
    length, width = _u(rng, 30, 38), _u(rng, 21, 26)
    shell = str(rng.choice(["aluminium", "polycarbonate"]))
    parts = [
        box(shell, 0, length, 0, width, 0.3 if shell == "aluminium" else 0.5),
        box("glass", 0, length, 0, width, 0.08),
        box("steel", 1, length - 1, width * 0.45, width - 1, 0.05),  # keyboard plate
        box("steel", 2, 5, 0, 1.2, 1.0),
        box("steel", length - 5, length - 2, 0, 1.2, 1.0),  # hinges
        tube("copper", length * 0.3, length * 0.7, width * 0.3, 0.6, 0.5),  # heat pipe
        disc("abs", length * 0.75, width * 0.3, 3, 3, 0.8),  # fan
    ]
    if rng.random() < 0.5:
        for k in range(int(rng.integers(3, 7))):  # 18650 cells
            parts += [tube("steel", 1, 7.5, 2 + k * 1.85, 1.8, 1.7), rod("li_ion", 1, 7.5, 2 + k * 1.85, 1.7)]
    else:
        parts.append(box("li_ion", length * 0.15, length * 0.85, width * 0.6, width - 1, _u(rng, 0.4, 0.7)))
    return parts + _board(rng, length * 0.2, length * 0.8, 1.5, width * 0.45)


def charger(rng: np.random.Generator) -> list[Prim]:
    if rng.random() < 0.4:  # power bank
        length, width = _u(rng, 9, 15), _u(rng, 6, 8)
        return [
            box(str(rng.choice(["aluminium", "abs"])), 0, length, 0, width, 0.3),
            box("li_ion", 0.5, length - 0.5, 0.5, width - 0.5, _u(rng, 1.0, 2.0)),
        ]
    size = _u(rng, 4, 9)
    parts = [
        box("abs", 0, size, 0, size * 0.8, 2.5),
        box("ferrite", size * 0.3, size * 0.6, size * 0.2, size * 0.5, 1.2),
        box("copper", size * 0.25, size * 0.65, size * 0.15, size * 0.55, 0.3),
    ]
    parts += [
        box("brass", -1.8, 0, size * 0.25, size * 0.3, 0.15),
        box("brass", -1.8, 0, size * 0.5, size * 0.55, 0.15),
    ]
    return parts + cable(rng)


def cable(rng: np.random.Generator) -> list[Prim]:
    parts: list[Prim] = []
    u, v, heading = 0.0, 0.0, _u(rng, 0, 360)
    thick = _u(rng, 0.3, 0.8)
    for _ in range(int(rng.integers(8, 25))):
        step = _u(rng, 2, 6)
        parts += [
            rod("pvc", 0, step + thick / 2, 0, thick, at=(u, v, heading)),
            rod("copper", 0, step, 0, thick * 0.3, at=(u, v, heading)),
        ]
        u += step * math.cos(math.radians(heading))
        v += step * math.sin(math.radians(heading))
        heading += _u(rng, -60, 60)
    return parts


def bottle(rng: np.random.Generator) -> list[Prim]:
    length, diameter = _u(rng, 15, 30), _u(rng, 5, 9)
    wall = str(rng.choice(["glass", "polyethylene", "aluminium"], p=[0.3, 0.5, 0.2]))
    liquid = str(rng.choice(["water", "sugar"]))
    t = {"glass": 0.35, "polyethylene": 0.05, "aluminium": 0.03}[wall]
    return [
        tube(wall, 0, length, 0, diameter, diameter - 2 * t),
        rod(liquid, 0.3, length * _u(rng, 0.5, 0.95), 0, diameter - 2 * t, density=_u(rng, 0.9, 1.2)),
        rod(wall, length, length + 4, 0, 2.5),
    ]


def book(rng: np.random.Generator) -> list[Prim]:
    return [box("paper", 0, _u(rng, 14, 30), 0, _u(rng, 10, 22), _u(rng, 1, 5))]


def toiletries(rng: np.random.Generator) -> list[Prim]:
    can = _u(rng, 4, 6)
    parts = [
        tube("aluminium", 0, _u(rng, 12, 20), 0, can, can - 0.1),  # aerosol
        rod("sugar", 0, _u(rng, 10, 18), 5, _u(rng, 3, 5), density=0.9),
    ]  # lotion tube
    if rng.random() < 0.5:
        parts += [box("stainless", 0, 6, 9, 10.2, 0.3), box("abs", 6, 16, 9.2, 10.4, 1.5)]  # razor
    if rng.random() < 0.4:
        parts.append(box("stainless", 0, 6, 12, 13.2, 0.6))  # nail clippers
    return parts


def keys_and_coins(rng: np.random.Generator) -> list[Prim]:
    parts: list[Prim] = [disc("stainless", 0, 0, 1.5, 1.5, 0.3, hole=0.8)]
    for _ in range(int(rng.integers(1, 6))):
        a = _u(rng, 0, 360)
        parts += [box(str(rng.choice(["brass", "steel"])), 1.5, _u(rng, 5, 7), -1.0, 1.0, 0.2, at=(0, 0, a))]
    for _ in range(int(rng.integers(0, 8))):
        parts.append(
            disc(
                str(rng.choice(["brass", "stainless", "copper"])),
                _u(rng, -4, 8),
                _u(rng, 3, 8),
                1.2,
                1.2,
                0.2,
            )
        )
    return parts


def umbrella(rng: np.random.Generator) -> list[Prim]:
    length = _u(rng, 22, 32)
    parts = [
        tube("steel", 0, length, 0, 1.2, 1.0),
        box("polyethylene", 0, length, -2.5, 2.5, 0.4),
        box("abs", -10, 0, -1.5, 1.5, 2.5),
    ]
    for k in range(8):
        parts.append(rod("steel", 2, length, -2.0 + k * 0.55, 0.2))
    return parts


def belt(rng: np.random.Generator) -> list[Prim]:
    buckle = str(rng.choice(["zamak", "steel", "brass"]))
    return [
        disc(buckle, 0, 1.75, 3.0, 2.5, 0.5, hole=0.6),
        box("leather", 3, _u(rng, 25, 40), 0.25, 3.25, 0.8),
    ]


def food(rng: np.random.Generator) -> list[Prim]:
    if rng.random() < 0.4:  # a tin can
        d = _u(rng, 6, 10)
        return [tube("steel", 0, _u(rng, 8, 12), 0, d, d - 0.04), rod("water", 0.1, 10, 0, d - 0.1)]
    return [box("sugar", 0, _u(rng, 10, 20), 0, _u(rng, 8, 15), _u(rng, 2, 6), density=_u(rng, 0.3, 0.9))]


CLUTTER: tuple[tuple[Design, float], ...] = (  # design, expected count per bag
    (clothes, 5.0),
    (shoes, 0.5),
    (laptop, 0.35),
    (charger, 0.8),
    (cable, 0.8),
    (bottle, 0.6),
    (book, 0.7),
    (toiletries, 0.6),
    (keys_and_coins, 0.5),
    (umbrella, 0.25),
    (belt, 0.4),
    (food, 0.5),
)

THREATS: dict[str, tuple[Design, ...]] = {
    "firearm": (polymer_pistol, steel_pistol, revolver, submachine_gun),
    "knife": (kitchen_knife, folding_knife, combat_knife),
    "phone": (smartphone, smartphone, feature_phone, tablet, handheld_radio),
    "cigarettes": (cigarette_cartons, cigarette_packs),
}
