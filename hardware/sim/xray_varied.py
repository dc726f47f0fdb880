"""Varied threats and hard-negative clutter for the baggage X-ray simulator: training bags for a detector.

``xray.py`` draws each threat class from one crude shape. A detector trained on those learns the shapes,
not the classes, and misses real objects it never saw. ``VariedXraySimulator`` draws each class from
several parametric designs of real objects (pistols of every build, revolvers, submachine guns, stripped
guns; kitchen, folding, combat and utility knives; cartons, packs, piles and bundles of cigarettes;
smartphones, old phones, tablets and radios), every dimension randomised by 15-25 %, and adds clutter a
detector must not call a threat: scissors, tools, cutlery, hair tools, chargers, power banks, cameras,
buckles, flasks, cans, hangers, razors.

Object frame as in ``xray.py``: cm, u along the object's length, v across it, thickness along the beam.
Objects lie flat on the belt, so the beam crosses a gun on its side through the gun's width (a slide's
two walls, a grip's shell); guns point the muzzle to +u with the grip toward +v, blades the tip to +u.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from . import _kernels
from .xray import (
    _CLUTTER,
    _CLUTTER_WEIGHTS,
    MATERIALS,
    THREAT_CLASSES,
    ScanPhysics,
    XraySimulator,
    _blob,
    _box,
    _disc,
    _Part,
    _placed,
    _Pose,
    _rod,
    _rod_row,
    _tube,
)

Maker = Callable[[np.random.Generator], list[_Part]]

# Cigarette rods are cellulose drawn at the standard rod density (xray.STANDARD_ROD_DENSITY_G_CM3 = 0.8
# g/cm3 over cellulose's 1.5): a scan's physics rescales them to its tobacco density (0.2-0.35 g/cm3).
ROD_CELLULOSE_PER_CM = 0.8 / MATERIALS["cellulose"].density_g_cm3


def _k(rng: np.random.Generator, spread: float = 0.2) -> float:
    """A size factor within 1 +- spread."""
    return float(rng.uniform(1 - spread, 1 + spread))


def _posed(parts: Sequence[_Part], u: float, v: float, angle: float = 0.0) -> list[_Part]:
    """Parts built in their own frame, turned by ``angle`` and moved to (u, v)."""
    pose = _Pose(u, v, angle)
    return [_placed(part, pose) for part in parts]


def _ring(m: str, u: float, v: float, radius_u: float, radius_v: float, wall: float, t: float) -> list[_Part]:
    """A flat elliptical ring (a loop, a coil seen end-on): a disc minus its inside."""
    inner = replace(_disc(m, u, v, radius_u - wall, -t), half_wid_cm=max(radius_v - wall, 0.01))
    return [replace(_disc(m, u, v, radius_u, t), half_wid_cm=radius_v), inner]


def _blade(u0: float, length: float, width: float, t: float, point: float, *, spear: bool) -> list[_Part]:
    """A steel blade from its heel at u0 to its tip, ``point`` of its length tapering: a spear point on
    the axis, or a single edge whose spine runs straight along v = -width/2 and whose edge rises to it."""
    taper = point * length
    if spear:
        blade = _box("steel", u0 + length / 2, 0.0, length / 2, width / 2, t)
        return [replace(blade, profile=_kernels.PROFILE_BLADE, taper_cm=taper)]
    turn = -math.atan(width / (2 * taper))  # turns the triangle's upper side level with the spine
    tip_u, tip_v = u0 + length - taper / 2 * math.cos(turn), -width / 2 - taper / 2 * math.sin(turn)
    tip = _box("steel", tip_u, tip_v, taper / 2, width / 2, t, turn)
    heel = tip_u - taper / 2 * math.cos(turn) - width / 2 * math.sin(turn) - u0  # the tip's lower corner
    body = _box("steel", u0 + heel / 2, 0.0, heel / 2, width / 2, t)
    return [body, replace(tip, profile=_kernels.PROFILE_BLADE, taper_cm=taper)]


def _handle(
    rng: np.random.Generator, length: float, width: float, material: str, *, tang: bool, rivets: int
) -> list[_Part]:
    """A handle from u = 0 back to -length, 1.5-2.3 cm thick: a moulded grip or two scales of
    ``material`` over a steel tang (a full tang 0.2-0.4 cm, else a narrow hidden one), with pins."""
    thickness = rng.uniform(1.5, 2.3)
    parts = [replace(_rod(material, -length / 2, 0.0, length / 2, width), thickness_cm=thickness)]
    if tang:
        parts.append(_box("steel", -length / 2, 0.0, 0.48 * length, 0.42 * width, rng.uniform(0.2, 0.4)))
    else:
        parts.append(_box("steel", -0.3 * length, 0.0, 0.3 * length, 0.15 * width, 0.3))
    step = length / (rivets + 1)
    parts += [_disc("steel", -step * (k + 1), 0.0, rng.uniform(0.2, 0.35), thickness) for k in range(rivets)]
    return parts


# --------------------------------------------------------------------------- firearms


def _cartridges(width: float, calibre: float, rounds: int, *, double: bool) -> list[_Part]:
    """Rounds in a magazine ``width`` across running along u from its lips (u = 0), seen side-on: brass
    cases toward +v (hollow: 0.3 of the calibre of copper), lead-cored bullets toward -v; a double stack
    as two columns half a round apart."""
    if rounds <= 0:
        return []
    case_len, bullet_len = 0.62 * (width - 0.3), 0.38 * (width - 0.3)
    v_case = width / 2 - 0.15 - case_len / 2
    v_bullet = v_case - case_len / 2 - bullet_len / 2
    columns = ((0.0, rounds),) if not double else ((0.0, (rounds + 1) // 2), (calibre / 2, rounds // 2))
    parts: list[_Part] = []
    for shift, count in columns:
        if count == 0:
            continue
        half, u = count * calibre / 2, 0.3 + shift + count * calibre / 2
        share = 0.6 if double else 1.0
        case = _rod_row("copper", u, v_case, half, case_len / 2, calibre)
        bullet = _rod_row("copper", u, v_bullet, half, bullet_len / 2, calibre)
        parts += [replace(case, thickness_cm=0.3 * calibre * share)]
        parts += [replace(bullet, thickness_cm=0.75 * calibre * share)]
    return parts


def _magazine(
    rng: np.random.Generator, length: float, width: float, calibre: float, capacity: int, *, double: bool
) -> list[_Part]:
    """A box magazine from its lips (u = 0) down to its polymer base plate: a steel body (two 0.06-0.11
    cm walls) holding 0 to ``capacity`` rounds from the top."""
    rounds, fits = int(rng.integers(0, capacity + 1)), 2 if double else 1
    return [
        _box("steel", length / 2, 0.0, length / 2, width / 2, rng.uniform(0.12, 0.22)),
        _box("polymer", length + 0.3, 0.0, 0.3, width / 2 + 0.2, 2.0),
        _box("steel", length - 0.6, 0.0, 0.4, width / 2 - 0.1, 0.15),  # follower spring's plate
        *_cartridges(width, calibre, min(rounds, fits * int((length - 1.0) / calibre)), double=double),
    ]


def _suppressor(rng: np.random.Generator, u: float, v: float, calibre: float) -> list[_Part]:
    """A suppressor screwed on the muzzle at (u, v): 12-20 cm steel or aluminium tube, 3-4.2 cm across,
    with 6-10 steel baffles (discs across the bore, seen edge-on)."""
    length, outer = rng.uniform(12, 20), rng.uniform(3.0, 4.2)
    shell = "steel" if rng.random() < 0.5 else "aluminium"
    parts = _tube(shell, u + length / 2, v, length / 2, outer, rng.uniform(0.1, 0.2))
    count = int(rng.integers(6, 11))
    for k in range(count):
        baffle = _rod("steel", u + 1.5 + k * (length - 3) / (count - 1), v, 0.05, outer - 0.4)
        parts.append(baffle)
    return [*parts, *_tube("steel", u + length / 2, v, length / 2 - 0.5, calibre + 0.3, 0.05)]


@dataclass(frozen=True, slots=True)
class _Pistol:
    """A self-loading pistol's build (cm): the ``_pistol_parts`` it is drawn from."""

    slide_len: float
    slide_h: float
    grip_len: float
    grip_w: float
    grip_angle: float  # radians from +u toward +v (the grip): 90 degrees is straight down
    calibre: float
    capacity: int
    double: bool
    steel_frame: bool

    @classmethod
    def drawn(
        cls,
        rng: np.random.Generator,
        slide: tuple[float, float],
        height: tuple[float, float],
        grip: tuple[float, float],
        calibres: tuple[float, ...],
        capacity: int,
        *,
        double: float,
        steel: float,
    ) -> _Pistol:
        """A build with its slide, slide height and grip length within the (low, high) ranges, a grip
        0.42-0.5 of the slide wide at 100-115 degrees, one of the calibres, a double stack and a steel
        frame with the given chances."""
        slide_len = rng.uniform(*slide)
        return cls(
            slide_len,
            rng.uniform(*height),
            rng.uniform(*grip),
            min(5.6, slide_len * rng.uniform(0.26, 0.3)),
            math.radians(rng.uniform(100, 115)),
            float(rng.choice(calibres)),
            capacity,
            bool(rng.random() < double),
            bool(rng.random() < steel),
        )


def _pistol_parts(rng: np.random.Generator, gun: _Pistol) -> dict[str, list[_Part]]:
    """A pistol's components in the gun's frame (slide centred at the origin, muzzle at +u): steel slide
    (two 0.25-0.45 cm walls, sights, breech block, firing pin), barrel, recoil spring on its guide rod,
    polymer or steel frame with grip, trigger and guard, and the magazine in the grip."""
    hl, hh = gun.slide_len / 2, gun.slide_h / 2
    barrel_len = gun.slide_len * rng.uniform(0.72, 0.88) + rng.uniform(0.0, 1.2)
    outer = gun.calibre + rng.uniform(0.35, 0.6)
    muzzle = -hl + 1.0 + barrel_len
    frame_m, frame_t = (
        ("steel", rng.uniform(0.7, 1.1)) if gun.steel_frame else ("polymer", rng.uniform(1.4, 2.2))
    )
    direction = (math.cos(gun.grip_angle), math.sin(gun.grip_angle))
    top_u, top_v = -hl + 0.5 * gun.grip_w + 0.6, hh + 0.5
    gu, gv = top_u + direction[0] * gun.grip_len / 2, top_v + direction[1] * gun.grip_len / 2
    front = top_u + 0.5 * gun.grip_w + 0.2  # the trigger guard runs forward from the grip's front
    guard_m, guard_t = ("steel", 0.5) if gun.steel_frame else ("polymer", 1.2)
    grip = [_box(frame_m, gu, gv, gun.grip_len / 2, gun.grip_w / 2, frame_t * 0.7, gun.grip_angle)]
    if gun.steel_frame:  # wooden or polymer panels on a steel grip frame
        panels = "cellulose" if rng.random() < 0.5 else "polymer"
        grip.append(_box(panels, gu, gv, gun.grip_len / 2 - 0.4, gun.grip_w / 2 - 0.3, 1.2, gun.grip_angle))
    mag_len = gun.grip_len + rng.uniform(-0.3, 0.5) + (rng.uniform(2, 8) if rng.random() < 0.15 else 0.0)
    magazine = _magazine(rng, mag_len, gun.grip_w - 1.2, gun.calibre, gun.capacity, double=gun.double)
    return {
        "slide": [
            _box("steel", 0.0, 0.0, hl, hh, rng.uniform(0.5, 0.9)),
            _box("steel", -hl + 0.9, 0.1, 0.9, 0.75 * hh, 0.8),
            _rod("steel", -hl + 2.2, -0.1 * hh, 1.0, 0.3),
            _box("steel", hl - 0.5, -hh - 0.2, 0.3, 0.2, 0.4),
            _box("steel", -hl + 1.2, -hh - 0.25, 0.5, 0.25, 1.4),
        ],
        "barrel": [
            *_tube(
                "steel", muzzle - barrel_len / 2, -0.15 * hh, barrel_len / 2, outer, (outer - gun.calibre) / 2
            ),
            _box("steel", -hl + 2.4, -0.1 * hh, 1.2, 0.55 * hh, 0.6),  # chamber and locking block
        ],
        "spring": [
            _rod("steel", hl - 0.33 * gun.slide_len, 0.6 * hh, 0.3 * gun.slide_len, 0.4),
            *_tube("steel", hl - 0.33 * gun.slide_len, 0.6 * hh, 0.28 * gun.slide_len, 1.0, 0.1),
        ],
        "frame": [
            _box(frame_m, -0.1 * hl, hh + 0.6, 0.85 * hl, 0.6, frame_t),
            *grip,
            _box(guard_m, front + 2.6, hh + 3.3, 2.6, 0.22, guard_t),
            _box(guard_m, front + 5.0, hh + 2.2, 1.2, 0.22, guard_t, math.pi / 2 - 0.3),
            _box("steel" if gun.steel_frame else "polymer", front + 1.6, hh + 2.0, 0.9, 0.25, 0.7, 1.9),
            _box("steel", front + 0.5, hh + 0.8, 1.5, 0.2, 0.6),  # trigger bar
            *([_box("steel", -hl - 0.1, hh + 0.1, 0.7, 0.45, 1.0, 0.6)] if gun.steel_frame else []),
        ],
        "magazine": _posed(magazine, top_u + 0.4 * direction[0], top_v + 0.4 * direction[1], gun.grip_angle),
        "suppressor": _suppressor(rng, muzzle, -0.15 * hh, gun.calibre) if rng.random() < 0.12 else [],
    }


def _assembled(rng: np.random.Generator, gun: _Pistol) -> list[_Part]:
    return [part for group in _pistol_parts(rng, gun).values() for part in group]


def _polymer_pistol(rng: np.random.Generator) -> list[_Part]:
    """Full-size polymer-frame pistol (Glock 17 class): 16.5-21 cm slide, 10-12 cm grip at 100-115
    degrees, double-stack magazine of up to 17 9 mm or .40 rounds."""
    build = _Pistol.drawn(rng, (16.5, 21), (2.9, 3.4), (10, 12), (0.9, 1.0), 17, double=1.0, steel=0.0)
    return _assembled(rng, build)


def _steel_pistol(rng: np.random.Generator) -> list[_Part]:
    """All-steel service pistol (1911 or Beretta 92 class): 18-22 cm slide, steel frame with hammer and
    grip panels, single-stack .45 (8 rounds) or double-stack 9 mm (15)."""
    double = bool(rng.random() < 0.5)
    calibre, capacity = (0.9, 15) if double else (1.15, 8)
    build = _Pistol.drawn(
        rng, (18, 22), (2.9, 3.5), (10.5, 12.5), (calibre,), capacity, double=double, steel=1
    )
    return _assembled(rng, build)


def _compact_pistol(rng: np.random.Generator) -> list[_Part]:
    """Compact or subcompact pistol: 14-17 cm slide, 7.5-9.5 cm grip, polymer or steel frame, up to 13
    rounds in a double stack or 7 in a single one."""
    double = bool(rng.random() < 0.6)
    build = _Pistol.drawn(
        rng, (14, 17), (2.7, 3.2), (7.5, 9.5), (0.9,), 13 if double else 7, double=double, steel=0.3
    )
    return _assembled(rng, build)


def _pocket_pistol(rng: np.random.Generator) -> list[_Part]:
    """Pocket pistol (.380 or .32 class): 10.5-13 cm slide, 2.3-2.8 cm tall, 6-7.5 cm grip, 7 rounds."""
    build = _Pistol.drawn(rng, (10.5, 13), (2.3, 2.8), (6, 7.5), (0.8, 0.9), 7, double=0.0, steel=0.5)
    return _assembled(rng, build)


def _stripped_pistol(rng: np.random.Generator) -> list[_Part]:
    """A field-stripped or partial pistol: two to five of its components (slide, barrel, spring, frame,
    magazine) laid apart a few centimetres from each other."""
    gun = _Pistol.drawn(rng, (14, 21), (2.7, 3.4), (8, 12), (0.9,), 15, double=1.0, steel=0.3)
    groups = _pistol_parts(rng, gun)
    names = ["slide", "barrel", "spring", "frame", "magazine"]
    kept = rng.choice(names, int(rng.integers(2, 6)), replace=False)
    parts: list[_Part] = []
    for row, name in enumerate(sorted(kept, key=names.index)):
        shift_u, shift_v = rng.uniform(-3, 3), row * rng.uniform(3.5, 6.0) - 6.0
        parts += _posed(groups[name], shift_u, shift_v, rng.uniform(-0.3, 0.3))
    return parts


def _revolver(rng: np.random.Generator) -> list[_Part]:
    """Revolver, 16-31 cm: solid steel cylinder (3.5-4.3 cm across, 3.6-4.4 cm long) with 5-7 chambers,
    some loaded; steel frame (top strap, recoil shield, hammer, guard), 5-15 cm barrel with its ejector
    rod lug, and a wooden or rubber grip on a steel grip frame at 110-125 degrees."""
    cyl_len, cyl_d, calibre = rng.uniform(3.6, 4.4), rng.uniform(3.5, 4.3), rng.uniform(0.9, 1.15)
    barrel, outer = rng.uniform(5, 15), rng.uniform(1.6, 2.1)
    r_chamber = cyl_d / 2 - calibre / 2 - 0.3
    chambers, phase = int(rng.integers(5, 8)), rng.uniform(0, math.pi)
    parts = [_rod("steel", 0.0, 0.0, cyl_len / 2, cyl_d)]
    for k in range(chambers):
        v = r_chamber * math.sin(phase + 2 * math.pi * k / chambers)
        parts.append(replace(_rod("steel", 0.0, v, cyl_len / 2, calibre), thickness_cm=-calibre))
        if rng.random() < 0.7:
            parts.append(
                replace(_rod("copper", 0.0, v, cyl_len / 2 - 0.1, calibre), thickness_cm=0.4 * calibre)
            )
    front = cyl_len / 2 + 0.1
    parts += [
        _box("steel", 0.0, -cyl_d / 2 - 0.35, cyl_len / 2 + 0.3, 0.35, 1.3),  # top strap
        _box("steel", 0.0, cyl_d / 2 + 0.4, cyl_len / 2 + 0.3, 0.4, 1.5),  # crane and frame bottom
        _box("steel", -cyl_len / 2 - 0.6, 0.3, 0.6, cyl_d / 2 + 0.6, 3.0),  # recoil shield
        _box("steel", front + 0.8, -0.3, 0.8, 1.2, 1.8),  # barrel shank in the frame
        *_tube("steel", front + barrel / 2, -0.4, barrel / 2, outer, (outer - calibre) / 2),
        _rod("steel", front + 0.45 * barrel, outer / 2 + 0.1, 0.42 * barrel, 0.9),  # ejector rod lug
        _box("steel", front + barrel - 0.5, -0.4 - outer / 2 - 0.3, 0.45, 0.3, 0.5),  # front sight
        _box("steel", -cyl_len / 2 - 1.4, -0.9, 0.9, 0.35, 0.9, -0.6),  # hammer
        _box("steel", cyl_len / 2 - 0.2, cyl_d / 2 + 2.5, 2.0, 0.2, 0.6),  # trigger guard
        _box("steel", -0.6, cyl_d / 2 + 1.6, 0.8, 0.25, 0.6, 1.9),  # trigger
    ]
    angle = math.radians(rng.uniform(110, 125))
    grip_len, top_u, top_v = rng.uniform(8, 11), -cyl_len / 2 - 1.2, cyl_d / 2
    gu, gv = top_u + math.cos(angle) * grip_len / 2, top_v + math.sin(angle) * grip_len / 2
    grip = "cellulose" if rng.random() < 0.5 else "polymer"
    parts += [
        _box("steel", gu, gv, grip_len / 2, 1.0, 0.8, angle),
        replace(
            _rod(grip, gu, gv, grip_len / 2, rng.uniform(3.6, 4.6), angle), thickness_cm=rng.uniform(2.4, 3.3)
        ),
        _disc("steel", gu, gv, 0.35, 3.2),  # grip screw
    ]
    return parts


def _submachine_gun(rng: np.random.Generator) -> list[_Part]:
    """Submachine gun or machine pistol: stamped steel receiver (18-30 cm, two 0.12 cm walls) round a
    solid steel bolt, barrel protruding 2-10 cm (sometimes suppressed), polymer pistol grip, a 15-25 cm
    double-stack magazine in the grip or ahead of it; no stock, a folded or an extended wire stock."""
    rl, rh = rng.uniform(18, 30), rng.uniform(4, 5.5)
    bolt, protrude, outer = rng.uniform(6, 10), rng.uniform(2, 10), rng.uniform(1.4, 1.8)
    barrel_len = protrude + 0.5 * rl
    muzzle = rl / 2 + protrude
    parts = [
        _box("steel", 0.0, 0.0, rl / 2, rh / 2, 0.25),
        _box(
            "steel",
            -rl / 2 + bolt / 2 + rng.uniform(0.5, 3),
            -0.05 * rh,
            bolt / 2,
            0.32 * rh,
            rng.uniform(2, 3),
        ),
        *_tube("steel", muzzle - barrel_len / 2, -0.1 * rh, barrel_len / 2, outer, 0.35),
        _box("steel", rng.uniform(-rl / 4, rl / 4), -rh / 2 - 0.4, 0.6, 0.4, 1.0),  # cocking handle
        _box("polymer", rl / 4, rh / 2 + 0.6, rl / 5, 0.7, 3.0),  # handguard
    ]
    angle = math.radians(rng.uniform(100, 115))
    grip_len, grip_w = rng.uniform(9, 11.5), rng.uniform(4, 5)
    in_grip = bool(rng.random() < 0.45)
    top_u, top_v = (-0.05 * rl if in_grip else -0.25 * rl), rh / 2
    gu, gv = top_u + math.cos(angle) * grip_len / 2, top_v + math.sin(angle) * grip_len / 2
    parts += [
        _box("polymer", gu, gv, grip_len / 2, grip_w / 2, 1.4, angle),
        _box("steel", top_u + grip_w / 2 + 2.4, rh / 2 + 2.8, 2.4, 0.22, 0.5),  # trigger guard
        _box("steel", top_u + grip_w / 2 + 0.8, rh / 2 + 1.5, 0.9, 0.25, 0.7, 1.9),  # trigger
    ]
    mag_len, mag_angle = rng.uniform(15, 25), (angle if in_grip else math.radians(rng.uniform(75, 95)))
    mag_u = top_u if in_grip else rng.uniform(0.05, 0.3) * rl
    magazine = _magazine(rng, mag_len, rng.uniform(3.0, 3.6), 0.9, 32, double=True)
    parts += _posed(magazine, mag_u, rh / 2 - 1.0, mag_angle)
    stock = rng.random()
    if stock < 0.35:  # folded along the receiver, butt plate by the muzzle
        parts += [_rod("steel", 0.0, dv, 0.42 * rl, 0.8) for dv in (-0.3 * rh, 0.3 * rh)]
        parts.append(_box("steel", 0.42 * rl, 0.0, 0.4, rh / 2 + 1.5, 1.2))
    elif stock < 0.7:  # extended behind the receiver (and then no suppressor)
        length = min(rng.uniform(18, 26), 54 - rl - protrude)
        parts += [_rod("steel", -rl / 2 - length / 2, dv, length / 2, 0.8) for dv in (-0.3 * rh, 0.3 * rh)]
        parts.append(_box("steel" if rng.random() < 0.5 else "polymer", -rl / 2 - length, 0.5, 0.5, 6.5, 1.5))
    if not 0.35 <= stock < 0.7 and rng.random() < 0.3:
        parts += _suppressor(rng, muzzle, -0.1 * rh, 0.9)
    return parts


FIREARMS: Mapping[str, Maker] = {
    "polymer_pistol": _polymer_pistol,
    "steel_pistol": _steel_pistol,
    "compact_pistol": _compact_pistol,
    "pocket_pistol": _pocket_pistol,
    "revolver": _revolver,
    "submachine_gun": _submachine_gun,
    "stripped_pistol": _stripped_pistol,
}


# --------------------------------------------------------------------------- knives


def _chef_knife(rng: np.random.Generator) -> list[_Part]:
    """Kitchen or chef's knife: 14-26 cm blade, 3.2-5.2 cm deep, 0.15-0.25 cm thick, straight spine and
    an edge rising to the point; steel bolster; wooden or polymer handle 10-13 cm, full tang and 3 rivets,
    or a moulded handle over a hidden tang."""
    length, width = rng.uniform(14, 26), rng.uniform(3.2, 5.2)
    full = bool(rng.random() < 0.6)
    return [
        *_blade(0.0, length, width, rng.uniform(0.15, 0.25), rng.uniform(0.35, 0.6), spear=False),
        _box("steel", -0.5, 0.2 * width, 0.5, 0.3 * width, rng.uniform(0.6, 1.2)),
        *_handle(
            rng,
            rng.uniform(10, 13),
            rng.uniform(2.2, 2.8),
            "cellulose" if full else "polymer",
            tang=full,
            rivets=3 if full else 0,
        ),
    ]


def _paring_knife(rng: np.random.Generator) -> list[_Part]:
    """Paring or steak knife: 7-11 cm blade, 1.5-2.3 cm deep, 0.1-0.15 cm thick, polymer or wooden handle."""
    material = "polymer" if rng.random() < 0.6 else "cellulose"
    return [
        *_blade(
            0.0,
            rng.uniform(7, 11),
            rng.uniform(1.5, 2.3),
            rng.uniform(0.1, 0.15),
            rng.uniform(0.4, 0.7),
            spear=bool(rng.random() < 0.4),
        ),
        *_handle(
            rng,
            rng.uniform(8.5, 11),
            rng.uniform(1.8, 2.3),
            material,
            tang=False,
            rivets=int(rng.integers(3)),
        ),
    ]


def _folding_knife(rng: np.random.Generator) -> list[_Part]:
    """Folding pocket knife, 8-13 cm closed, open or closed: scales (polymer, wood or aluminium, 0.5-0.9 cm
    together) over two steel liners, steel pivot and back spacer, pocket clip, a 0.25-0.4 cm blade nearly
    as long as the handle."""
    length, width = rng.uniform(8, 13), rng.uniform(2.0, 2.9)
    scales = str(rng.choice(["polymer", "cellulose", "aluminium"]))
    pivot_u = -1.0
    blade_len, blade_w = 0.85 * length, 0.8 * width
    blade = _blade(0.0, blade_len, blade_w, rng.uniform(0.25, 0.4), rng.uniform(0.3, 0.5), spear=False)
    is_open = bool(rng.random() < 0.5)
    blade = (
        _posed(blade, pivot_u + 0.3, 0.0) if is_open else _posed(blade, pivot_u - 0.3, -0.05 * width, math.pi)
    )
    return [
        _box(
            scales,
            -length / 2,
            0.0,
            length / 2,
            width / 2,
            rng.uniform(0.5, 0.9) * (0.5 if scales == "aluminium" else 1),
        ),
        _box("steel", -length / 2, 0.0, length / 2 - 0.2, width / 2 - 0.1, rng.uniform(0.1, 0.25)),
        _disc("steel", pivot_u, 0.0, rng.uniform(0.4, 0.6), 1.2),
        _box("steel", -length + 0.8, 0.0, 0.8, width / 2 - 0.3, 0.5),
        _box("steel", -length / 2, -width / 2 + 0.4, 0.3 * length, 0.35, 0.1),  # pocket clip
        _disc("steel", -length + 0.6, 0.0, 0.2, 1.2),
        *blade,
    ]


def _fighting_knife(rng: np.random.Generator) -> list[_Part]:
    """Combat or hunting knife: 11-20 cm drop-point blade, 2.8-4.3 cm deep, 0.35-0.5 cm thick with a
    thicker spine, steel cross guard, polymer or stacked-leather handle on a full or through tang, pommel."""
    length, width = rng.uniform(11, 20), rng.uniform(2.8, 4.3)
    handle = rng.uniform(10, 13)
    return [
        *_blade(0.0, length, width, rng.uniform(0.35, 0.5), rng.uniform(0.25, 0.45), spear=False),
        _box("steel", 0.4 * length, -width / 2 + 0.2, 0.3 * length, 0.2, 0.15),  # spine
        _box("steel", -0.35, 0.0, 0.35, width / 2 + rng.uniform(0.8, 2.0), rng.uniform(1.0, 1.6)),
        *_handle(
            rng,
            handle,
            rng.uniform(2.5, 3.2),
            "polymer" if rng.random() < 0.5 else "cellulose",
            tang=bool(rng.random() < 0.5),
            rivets=int(rng.integers(0, 3)),
        ),
        _box("steel", -handle - 0.4, 0.0, 0.4, 1.3, rng.uniform(1.5, 2.2)),
    ]


def _cleaver(rng: np.random.Generator) -> list[_Part]:
    """Cleaver: rectangular 14-21 x 7-11 cm blade, 0.25-0.45 cm thick, with a hanging hole; wooden or
    polymer handle 10-13 cm with three rivets."""
    length, width, t = rng.uniform(14, 21), rng.uniform(7, 11), rng.uniform(0.25, 0.45)
    return [
        _box("steel", length / 2, 0.35 * width - 1.2, length / 2, width / 2, t),
        _disc("steel", 0.8 * length, -0.05 * width - 1.2, rng.uniform(0.6, 1.0), -t),
        *_handle(
            rng,
            rng.uniform(10, 13),
            rng.uniform(2.3, 3.0),
            "cellulose" if rng.random() < 0.6 else "polymer",
            tang=True,
            rivets=3,
        ),
    ]


def _dagger(rng: np.random.Generator) -> list[_Part]:
    """Dagger or push knife: double-edged 8-20 cm blade, 2.2-3.6 cm wide, 0.3-0.45 cm thick with a central
    ridge, a 5-9 cm cross guard, handle and steel pommel."""
    length, width, point = rng.uniform(8, 20), rng.uniform(2.2, 3.6), rng.uniform(0.35, 0.7)
    ridge = _blade(0.0, length, 0.3 * width, 0.12, point, spear=True)
    handle = rng.uniform(9, 12)
    return [
        *_blade(0.0, length, width, rng.uniform(0.3, 0.45), point, spear=True),
        *ridge,
        _box("steel", -0.4, 0.0, 0.4, rng.uniform(2.5, 4.5), rng.uniform(1.0, 1.6)),
        *_handle(
            rng,
            handle,
            rng.uniform(2.2, 2.8),
            str(rng.choice(["polymer", "cellulose", "aluminium"])),
            tang=False,
            rivets=0,
        ),
        _disc("steel", -handle - 0.5, 0.0, rng.uniform(0.9, 1.3), rng.uniform(1.2, 2.0)),
    ]


def _utility_knife(rng: np.random.Generator) -> list[_Part]:
    """Box cutter: polymer or aluminium body 12-18 x 1.6-2.6 cm (shell 0.5-0.8 cm edge-to-edge) with a
    steel blade carrier and a 0.05-0.07 cm snap-off or trapezoid blade out by 1-5 cm."""
    length, width = rng.uniform(12, 18), rng.uniform(1.6, 2.6)
    body = "polymer" if rng.random() < 0.6 else "aluminium"
    out, blade_w = rng.uniform(1, 5), min(width - 0.3, float(rng.choice([0.9, 1.8])))
    blade_len = rng.uniform(6, 11)
    blade = _box("steel", out - blade_len / 2, 0.0, blade_len / 2, blade_w / 2, rng.uniform(0.05, 0.07))
    return [
        _box(
            body,
            -length / 2,
            0.0,
            length / 2,
            width / 2,
            rng.uniform(0.5, 0.8) * (0.5 if body == "aluminium" else 1),
        ),
        _box("steel", -0.4 * length, 0.0, 0.35 * length, width / 2 - 0.25, 0.1),
        replace(blade, profile=_kernels.PROFILE_BLADE, taper_cm=rng.uniform(0.8, 1.8)),
        _disc("steel", -0.5 * length, 0.0, 0.3, 1.2),
    ]


def _bayonet(rng: np.random.Generator) -> list[_Part]:
    """Bayonet: 15-25 cm clip-point blade, 2.2-3.2 cm deep, 0.4-0.5 cm thick; cross guard ending in a
    steel muzzle ring; polymer handle with a slotted steel pommel and its release catch."""
    length, width, handle = rng.uniform(15, 25), rng.uniform(2.2, 3.2), rng.uniform(10, 12.5)
    guard = rng.uniform(2.2, 3.0)
    ring_r = rng.uniform(0.9, 1.2)
    return [
        *_blade(0.0, length, width, rng.uniform(0.4, 0.5), rng.uniform(0.2, 0.35), spear=False),
        _box("steel", -0.4, 0.4, 0.4, guard, rng.uniform(1.0, 1.5)),
        *_ring("steel", -0.4, 0.4 - guard - ring_r, ring_r, ring_r, 0.3, 1.2),
        *_handle(rng, handle, rng.uniform(2.6, 3.2), "polymer", tang=True, rivets=2),
        _box("steel", -handle - 1.0, 0.0, 1.2, 1.4, rng.uniform(1.4, 2.0)),
        _box("steel", -handle + 1.5, 1.4, 0.8, 0.3, 0.6),
    ]


KNIVES: Mapping[str, Maker] = {
    "chef_knife": _chef_knife,
    "paring_knife": _paring_knife,
    "folding_knife": _folding_knife,
    "fighting_knife": _fighting_knife,
    "cleaver": _cleaver,
    "dagger": _dagger,
    "utility_knife": _utility_knife,
    "bayonet": _bayonet,
}


# --------------------------------------------------------------------------- phones


def _slab(m: str, hl: float, hw: float, rim: float, depth: float) -> list[_Part]:
    """The four side walls of a flat housing, seen edge-on: ``rim`` wide, ``depth`` thick along the beam."""
    return [
        *[_box(m, 0.0, s * (hw - rim / 2), hl, rim / 2, depth) for s in (-1, 1)],
        *[_box(m, s * (hl - rim / 2), 0.0, hw - rim, rim / 2, depth, math.pi / 2) for s in (-1, 1)],
    ]


def _smartphone(rng: np.random.Generator) -> list[_Part]:
    """Smartphone, 12.5-17 x 6-8 cm, 0.7-1 cm thick: glass front, glass or polymer back, aluminium,
    steel or polymer frame round an aluminium mid-plate; Li-ion pouch 0.35-0.55 cm thick over 55-75 % of
    the face; stacked PCB with steel shields; 1-4 camera lenses with their magnets; speaker; charging
    coil; sometimes in a polymer, leather or wallet case."""
    length, width, depth = rng.uniform(12.5, 17), rng.uniform(6.0, 8.0), rng.uniform(0.7, 1.0)
    hl, hw = length / 2, width / 2
    frame = str(rng.choice(["aluminium", "aluminium", "steel", "polymer"]))
    rim = rng.uniform(0.15, 0.35) if frame != "steel" else rng.uniform(0.08, 0.15)
    battery_l = rng.uniform(0.55, 0.7) * length
    board_u = hl - (length - battery_l) / 2 + 0.1
    parts = [
        _box("glass", 0.0, 0.0, hl, hw, rng.uniform(0.06, 0.1)),
        _box("glass" if rng.random() < 0.6 else "polymer", 0.0, 0.0, hl, hw, rng.uniform(0.06, 0.12)),
        _box("aluminium", 0.0, 0.0, hl - rim, hw - rim, rng.uniform(0.05, 0.15)),
        *_slab(frame, hl, hw, rim, depth),
        _box(
            "battery",
            -hl + battery_l / 2 + 0.6,
            0.0,
            battery_l / 2 - 0.5,
            rng.uniform(0.36, 0.44) * width,
            rng.uniform(0.35, 0.55),
        ),
        _box("pcb", board_u, 0.0, 0.35 * (length - battery_l), 0.4 * width, rng.uniform(0.12, 0.3)),
        *[
            _box("steel", board_u + du, dv, 0.5, 0.6, rng.uniform(0.02, 0.05))
            for du, dv in ((0, -1), (0.3, 1))
        ],
        _box("steel", -hl + 0.5, 0.2 * width, 0.45, 0.6, 0.3),  # speaker
        _box("steel", -hl + 0.25, 0.0, 0.25, 0.45, 0.35),  # USB socket
        *_ring("copper", -0.1 * length, 0.0, 2.2, 2.2, 0.8, 0.02),
    ]
    for k in range(int(rng.integers(1, 5))):
        u, v = hl - 1.2 - (k % 2) * 1.2, -hw + 1.2 + (k // 2) * 1.2
        parts += [_disc("glass", u, v, rng.uniform(0.35, 0.65), 0.5), _disc("steel", u, v, 0.5, 0.1)]
    case = rng.random()
    if case < 0.3:
        parts += [
            _box("polymer", 0.0, 0.0, hl + 0.15, hw + 0.15, 0.15),
            *_slab("polymer", hl + 0.15, hw + 0.15, 0.15, depth + 0.3),
        ]
    elif case < 0.4:  # wallet case: leather flap and cards
        parts += [
            _box("cellulose", 0.0, 0.3, hl + 0.3, hw + 0.6, 0.25),
            _box("polymer", 0.0, 0.0, 4.3, 2.7, 0.2),
        ]
    return parts


def _feature_phone(rng: np.random.Generator) -> list[_Part]:
    """Older phone: a candy bar (10-12 x 4.5-5.2 x 1.2-1.6 cm) or a closed flip phone (two halves and a
    hinge): polymer shell and keypad, small removable Li-ion cell, large PCB with shield cans, small glass
    display, speaker magnet."""
    length, width = rng.uniform(9, 12), rng.uniform(4.5, 5.3)
    hl, hw, flip = length / 2, width / 2, bool(rng.random() < 0.4)
    depth = rng.uniform(1.2, 1.6) * (1.3 if flip else 1.0)
    parts = [
        _box("polymer", 0.0, 0.0, hl, hw, rng.uniform(0.4, 0.6) * (2 if flip else 1)),
        *_slab("polymer", hl, hw, 0.2, depth),
        _box("polymer", -0.25 * length, 0.0, 0.22 * length, 0.4 * width, 0.15),  # keypad
        _box(
            "battery",
            -0.1 * length,
            0.0,
            rng.uniform(0.18, 0.24) * length,
            0.38 * width,
            rng.uniform(0.4, 0.6),
        ),
        _box("pcb", 0.0, 0.0, 0.42 * length, 0.42 * width, 0.12),
        _box("steel", 0.15 * length, 0.1 * width, 0.8, 0.9, 0.03),
        _box("glass", 0.25 * length, 0.0, 0.16 * length, 0.36 * width, 0.1 * (2 if flip else 1)),
        _disc("steel", 0.43 * length, 0.0, rng.uniform(0.5, 0.7), 0.25),
    ]
    if flip:
        parts += [
            _rod("polymer", hl - 0.6, 0.0, hw - 0.3, 1.2, math.pi / 2),
            _rod("steel", hl - 0.6, 0.0, 0.6, 0.3, math.pi / 2),
        ]
    return parts


def _tablet(rng: np.random.Generator) -> list[_Part]:
    """Tablet, 20-28 x 13.5-19 cm, 0.6-0.8 cm thick: aluminium unibody back and rim, cover glass and
    display stack, two or three flat Li-ion cells over most of the face, a board along one edge, four
    speakers, a camera; sometimes in a polymer folio case."""
    length = rng.uniform(20, 28)
    width = length / rng.uniform(1.33, 1.5)
    hl, hw, depth = length / 2, width / 2, rng.uniform(0.6, 0.8)
    cells = int(rng.integers(2, 4))
    cell_w = 0.8 * width / cells
    parts = [
        _box("aluminium", 0.0, 0.0, hl, hw, rng.uniform(0.08, 0.15)),
        *_slab("aluminium", hl, hw, 0.3, depth),
        _box("glass", 0.0, 0.0, hl - 0.3, hw - 0.3, rng.uniform(0.08, 0.12)),
        _box("polymer", 0.0, 0.0, hl - 0.8, hw - 0.8, 0.15),
        *[
            _box(
                "battery",
                -0.08 * length,
                -0.4 * width + (k + 0.5) * cell_w,
                0.33 * length,
                cell_w / 2 - 0.1,
                rng.uniform(0.3, 0.4),
            )
            for k in range(cells)
        ],
        _box("pcb", 0.38 * length, 0.0, 0.06 * length, 0.35 * width, 0.15),
        _box("steel", 0.38 * length, 0.1 * width, 0.04 * length, 0.1 * width, 0.03),
        *[_box("steel", su * (hl - 0.8), sv * (hw - 1.5), 0.4, 1.0, 0.3) for su in (-1, 1) for sv in (-1, 1)],
        _disc("glass", hl - 1.5, -hw + 1.5, 0.5, 0.4),
    ]
    if rng.random() < 0.35:
        parts.append(_box("polymer", 0.0, 0.0, hl + 0.3, hw + 0.3, 0.35))
    return parts


def _radio(rng: np.random.Generator) -> list[_Part]:
    """Walkie-talkie or two-way radio: polymer housing 9-13 x 5-6.5 cm, 3-4 cm deep, over a die-cast
    aluminium chassis; Li-ion or NiMH pack in the lower half; speaker with its steel pot and magnet; board;
    steel belt clip; rubber-duck antenna (polymer over a copper coil) 4-14 cm and a knob."""
    length, width = rng.uniform(9, 13), rng.uniform(5, 6.5)
    hl, hw = length / 2, width / 2
    antenna = rng.uniform(4, min(14.0, 28.0 - length))
    parts = [
        _box("polymer", 0.0, 0.0, hl, hw, rng.uniform(0.6, 1.0)),
        *_slab("polymer", hl, hw, 0.25, rng.uniform(3, 4)),
        _box("aluminium", 0.1 * length, 0.0, 0.35 * length, 0.42 * width, rng.uniform(0.2, 0.5)),
        _box("pcb", 0.15 * length, 0.0, 0.3 * length, 0.4 * width, 0.15),
        _disc("steel", 0.15 * length, 0.0, rng.uniform(0.9, 1.3), rng.uniform(0.4, 0.8)),
        _disc("polymer", 0.15 * length, 0.0, rng.uniform(1.5, 2.0), 0.4),
        _box("steel", -0.1 * length, 0.0, 0.25 * length, 0.6, 0.12),
        _rod("polymer", hl + antenna / 2, -0.25 * width, antenna / 2, rng.uniform(0.8, 1.2), 0.0),
        _rod("copper", hl + antenna / 2 - 0.3, -0.25 * width, antenna / 2 - 0.5, 0.15, 0.0),
        _box("steel", hl + 0.3, -0.25 * width, 0.3, 0.45, 0.8),  # antenna socket
        _rod("polymer", hl + 0.6, 0.25 * width, 0.6, 1.2),  # knob
    ]
    if rng.random() < 0.5:  # cylindrical cells side by side
        cells = int(rng.integers(2, 4))
        for k in range(cells):
            parts.append(
                _rod(
                    "battery",
                    -0.3 * length,
                    -hw + (k + 0.5) * width / cells,
                    0.18 * length,
                    min(1.8, 0.9 * width / cells),
                    0.0,
                )
            )
    else:
        parts.append(_box("battery", -0.3 * length, 0.0, 0.18 * length, 0.42 * width, rng.uniform(0.8, 1.4)))
    return parts


PHONES: Mapping[str, Maker] = {
    "smartphone": _smartphone,
    "feature_phone": _feature_phone,
    "tablet": _tablet,
    "radio": _radio,
}


# --------------------------------------------------------------------------- cigarettes


@dataclass(frozen=True, slots=True)
class _Rods:
    """A cigarette size: rod length and diameter (cm), rods per row across a pack, the pack's depth."""

    length: float
    diameter: float
    rows: tuple[int, ...]


_ROD_SIZES = (  # king size, regular, 100s, superslims
    (_Rods(8.4, 0.78, (7, 6, 7)), 0.55),
    (_Rods(7.0, 0.78, (7, 6, 7)), 0.2),
    (_Rods(10.0, 0.78, (7, 6, 7)), 0.12),
    (_Rods(9.8, 0.54, (10, 10)), 0.13),
)


def _rod_size(rng: np.random.Generator) -> _Rods:
    weights = np.array([w for _, w in _ROD_SIZES])
    return _ROD_SIZES[int(rng.choice(len(_ROD_SIZES), p=weights / weights.sum()))][0]


def _pack(rods: _Rods, board: float) -> list[_Part]:
    """A pack lying on its broad face, rods along v: 20 rods in staggered rows (7-6-7) stacked along the
    beam (each row a cellulose rod array at the standard rod density), cardboard (``board`` cm per face,
    twice over the flip-top lid, edge-on at the long sides) and the aluminium-laminated inner foil."""
    width = max(rods.rows) * rods.diameter + 0.15
    depth, height = len(rods.rows) * rods.diameter * 0.93 + 0.1, rods.length + 0.35
    parts = [
        replace(
            _rod_row("cellulose", 0.0, 0.0, count * rods.diameter / 2, rods.length / 2, rods.diameter),
            thickness_cm=rods.diameter * ROD_CELLULOSE_PER_CM,
        )
        for count in rods.rows
    ]
    return [
        *parts,
        _box("cellulose", 0.0, 0.0, width / 2, height / 2, 2 * board),
        _box("cellulose", 0.0, -height / 2 + 1.0, width / 2, 1.0, 2 * board),
        *[_box("cellulose", s * (width / 2 - board / 2), 0.0, board / 2, height / 2, depth) for s in (-1, 1)],
        _box("aluminium", 0.0, 0.0, width / 2 - 0.05, rods.length / 2, 0.002),
    ]


def _pack_size(rods: _Rods) -> tuple[float, float]:
    return max(rods.rows) * rods.diameter + 0.15, rods.length + 0.35


def _carton(rng: np.random.Generator) -> list[_Part]:
    """One to four cartons side by side, 1-2 deep: 10 packs each, five abreast and two deep, in a 0.04-0.06
    cm board sleeve (27-28 x 9-11 cm, edges seen edge-on)."""
    rods, board = _rod_size(rng), rng.uniform(0.03, 0.045)
    pack_w, pack_h = _pack_size(rods)
    sleeve = rng.uniform(0.04, 0.06)
    across, deep = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    along = int(rng.integers(1, 3)) if across == 1 else 1
    hl, hw = 2.5 * pack_w + 0.1, pack_h / 2 + 0.1
    parts: list[_Part] = []
    for a in range(along):
        for c in range(across):
            u, v = (a - (along - 1) / 2) * 2 * hl, (c - (across - 1) / 2) * 2 * hw
            for k in range(5):
                pack = _posed(_pack(rods, board), u - hl + 0.1 + (k + 0.5) * pack_w, v)
                parts += [replace(p, thickness_cm=p.thickness_cm * 2 * deep) for p in pack]  # packs stacked
            parts += [
                _box("cellulose", u, v, hl, hw, 2 * sleeve * deep),
                *_posed(_slab("cellulose", hl, hw, sleeve, 4.6 * deep), u, v),
            ]
    return parts


def _loose_packs(rng: np.random.Generator) -> list[_Part]:
    """One to six loose packs in a row or a block, nearly square to each other, sometimes two deep."""
    rods, board = _rod_size(rng), rng.uniform(0.03, 0.045)
    pack_w, pack_h = _pack_size(rods)
    count = int(rng.integers(1, 7))
    per_row = int(rng.integers(1, 4))
    parts: list[_Part] = []
    for k in range(count):
        row, col = divmod(k, per_row)
        u, v = col * (pack_w + rng.uniform(0, 0.5)), row * (pack_h + rng.uniform(0, 0.8))
        parts += _posed(_pack(rods, board), u, v, rng.uniform(-0.08, 0.08))
        if rng.random() < 0.2:
            parts += _posed(_pack(rods, board), u + rng.uniform(-0.5, 0.5), v + rng.uniform(-0.5, 0.5))
    return parts


def _pack_pile(rng: np.random.Generator) -> list[_Part]:
    """Two to eight packs thrown together at random angles within about 20 cm, overlapping."""
    rods, board = _rod_size(rng), rng.uniform(0.03, 0.045)
    spread = rng.uniform(5, 11)
    parts: list[_Part] = []
    for _ in range(int(rng.integers(2, 9))):
        u, v = rng.uniform(-spread, spread), rng.uniform(-spread, spread)
        parts += _posed(_pack(rods, board), u, v, rng.uniform(0, math.pi))
    return parts


def _rod_bundle(rng: np.random.Generator) -> list[_Part]:
    """Cigarettes out of their packs: one to three bundles of 10-40 rods abreast and 2-6 staggered rows deep,
    wrapped in polymer film and sometimes paper (the way they are hidden in linings and false bottoms)."""
    rods = _rod_size(rng)
    parts: list[_Part] = []
    for b in range(int(rng.integers(1, 4))):
        abreast, rows = int(rng.integers(10, 41)), int(rng.integers(2, 7))
        half, v = abreast * rods.diameter / 2, b * (rods.length + 0.6)
        for r in range(rows):
            short = r % 2 * rods.diameter / 2
            rod_row = _rod_row("cellulose", 0.0, v, half - short, rods.length / 2, rods.diameter)
            parts.append(replace(rod_row, thickness_cm=rods.diameter * ROD_CELLULOSE_PER_CM))
        parts.append(_box("polymer", 0.0, v, half + 0.1, rods.length / 2 + 0.1, 0.02))
        if rng.random() < 0.4:
            parts.append(_box("cellulose", 0.0, v, half + 0.3, rods.length / 2 + 0.3, rng.uniform(0.05, 0.2)))
    return parts


CIGARETTES: Mapping[str, Maker] = {
    "carton": _carton,
    "loose_packs": _loose_packs,
    "pack_pile": _pack_pile,
    "rod_bundle": _rod_bundle,
}


# --------------------------------------------------------------------------- hard-negative clutter


def _scissors(rng: np.random.Generator) -> list[_Part]:
    """Scissors, 13-25 cm, closed or a little open: two 0.2-0.3 cm steel blades crossing at a steel screw,
    polymer finger loops (or all-steel ones)."""
    blade, width, t = rng.uniform(6, 12), rng.uniform(1.0, 1.8), rng.uniform(0.2, 0.3)
    loops = "steel" if rng.random() < 0.25 else "polymer"
    opening = rng.uniform(0.0, 0.5)
    parts = [_disc("steel", 0.0, 0.0, 0.4, 1.0)]
    for side in (-1, 1):
        half = _box("steel", blade / 2, side * width / 4, blade / 2, width / 4, t)
        shank = _box("steel", -1.5, side * 0.5, 1.5, 0.35, t)
        loop = _ring(
            loops,
            -4.2,
            side * 1.6,
            rng.uniform(1.6, 2.4),
            rng.uniform(1.1, 1.5),
            0.45,
            0.3 if loops == "steel" else 0.9,
        )
        tip = replace(half, profile=_kernels.PROFILE_BLADE, taper_cm=0.4 * blade)
        parts += _posed([tip, shank, *loop], 0.0, 0.0, side * opening / 2)
    return parts


def _pliers(rng: np.random.Generator) -> list[_Part]:
    """A closed multitool (9-12 x 2.5-3.2 cm: stainless channel handles holding blades, files and drivers,
    the folded plier head) or pliers (15-24 cm: forged jaws, pivot, handles in polymer sleeves)."""
    if rng.random() < 0.5:
        length, width = rng.uniform(9, 12), rng.uniform(2.5, 3.2)
        parts = [
            _box("steel", 0.0, 0.0, length / 2, width / 2, rng.uniform(0.6, 1.0)),
            _box("steel", length / 2 - 1.5, 0.0, 1.5, width / 2 - 0.2, rng.uniform(0.8, 1.4)),
            *[_disc("steel", s * (length / 2 - 0.6), 0.0, 0.45, 1.8) for s in (-1, 1)],
        ]
        return parts + [_box("polymer", 0.0, 0.0, length / 2 - 0.5, width / 2 - 0.3, 0.5)] * int(
            rng.random() < 0.4
        )
    jaws, handles, opening = rng.uniform(4, 7), rng.uniform(10, 16), rng.uniform(0.0, 0.35)
    parts = [_disc("steel", 0.0, 0.0, 0.8, 1.2)]
    for side in (-1, 1):
        jaw = replace(
            _box("steel", jaws / 2, side * 0.35, jaws / 2, 0.45, rng.uniform(0.8, 1.1)),
            profile=_kernels.PROFILE_BLADE,
            taper_cm=0.5 * jaws,
        )
        arm = [
            _box("steel", -handles / 2, side * 0.9, handles / 2, 0.35, 0.6),
            _rod("polymer", -handles / 2 - 0.5, side * 0.9, handles / 2 - 1.0, 1.4),
        ]
        parts += _posed([jaw, *arm], 0.0, 0.0, side * opening / 2)
    return parts


def _tool_kit(rng: np.random.Generator) -> list[_Part]:
    """Hand tools: 1-4 screwdrivers (polymer handles 2.5-3.5 cm across, steel shafts 0.4-0.8 cm, 5-20 cm),
    a spanner, or a bit set (polymer case, a row of hex bits, a magnetic bit holder)."""
    kind = rng.random()
    parts: list[_Part] = []
    if kind < 0.5:
        for k in range(int(rng.integers(1, 5))):
            handle, shaft, v = rng.uniform(8, 12), rng.uniform(5, 20), k * rng.uniform(3, 4.5)
            parts += [
                _rod("polymer", -handle / 2, v, handle / 2, rng.uniform(2.5, 3.5)),
                _rod("steel", shaft / 2, v, shaft / 2 + 2, rng.uniform(0.4, 0.8)),
                _box("steel", shaft + 2.2, v, 0.3, 0.3, 0.15),
            ]
    elif kind < 0.75:
        length, jaw = rng.uniform(12, 25), rng.uniform(1.0, 2.4)
        parts += [
            _box("steel", 0.0, 0.0, length / 2, 0.5 + 0.1 * length / 4, rng.uniform(0.4, 0.7)),
            *_ring("steel", length / 2 + jaw, 0.0, jaw + 0.5, jaw + 0.5, 0.6, rng.uniform(0.6, 1.0)),
            _disc("steel", -length / 2 - jaw, 0.0, jaw + 0.6, 0.7),
            _disc("steel", -length / 2 - jaw - 0.6, 0.0, jaw * 0.6, -0.7),
        ]
    else:
        count = int(rng.integers(8, 31))
        length = count * 0.9 / 2 + 1
        parts += [_box("polymer", 0.0, 0.0, length, 4.5, 1.6), _rod("steel", -length + 4, -2.5, 3, 1.0)]
        parts += [
            _box("steel", -length + 1 + k * 0.9, 1.5, 1.25, 0.32, 0.63, math.pi / 2) for k in range(count)
        ]
    return parts


def _hair_tool(rng: np.random.Generator) -> list[_Part]:
    """Hair dryer (polymer barrel 6-8 cm across and 14-22 cm long, a DC motor with copper windings and a
    steel can, fan, nichrome coil on mica, handle and cord) or a straightener (two 24-30 cm polymer arms
    with ceramic-coated aluminium plates and heating elements)."""
    if rng.random() < 0.55:
        length, diameter, handle = rng.uniform(14, 22), rng.uniform(6, 8), rng.uniform(9, 13)
        return [
            *_tube("polymer", 0.0, 0.0, length / 2, diameter, 0.25),
            _rod("copper", -length / 2 + 4, 0.0, 1.6, 2.8),
            *_tube("steel", -length / 2 + 4, 0.0, 1.9, 3.0, 0.05),
            _rod("steel", -length / 2 + 4, 0.0, 2.5, 0.3),
            _disc("polymer", -length / 2 + 1.5, 0.0, 0.4, diameter / 2 - 0.4),
            _rod_row("steel", length / 4, 0.0, length / 5, diameter / 2 - 0.8, 0.06),
            _box("glass", length / 4, 0.0, length / 5, diameter / 2 - 0.7, 0.05),
            replace(
                _rod("polymer", -length / 4, diameter / 2 + handle / 2, handle / 2, 3.2, math.pi / 2),
                thickness_cm=2.6,
            ),
            _box("pcb", -length / 4, diameter / 2 + handle / 2, handle / 3, 0.8, 0.15, math.pi / 2),
            _rod("polymer", -length / 4, diameter / 2 + handle + 6, 6, 0.7, math.pi / 2),
            _rod("copper", -length / 4, diameter / 2 + handle + 6, 6, 0.2, math.pi / 2),
        ]
    length, width = rng.uniform(24, 30), rng.uniform(2.5, 3.5)
    return [
        _box("polymer", 0.0, 0.0, length / 2, width / 2, rng.uniform(1.0, 1.6)),
        _box("aluminium", length / 2 - 5, 0.0, 4.5, width / 2 - 0.4, 2 * rng.uniform(0.15, 0.3)),
        _box("glass", length / 2 - 5, 0.0, 4.5, width / 2 - 0.4, 0.1),
        _box("steel", length / 2 - 5, 0.0, 4, 0.3, 0.05),
        _box("pcb", -length / 4, 0.0, 3, width / 2 - 0.5, 0.15),
        _disc("steel", -length / 2 + 1, 0.0, 0.4, 2.0),
        _rod("polymer", -length / 2 - 6, 0.0, 6, 0.7),
        _rod("copper", -length / 2 - 6, 0.0, 6, 0.2),
    ]


def _power_bank(rng: np.random.Generator) -> list[_Part]:
    """Power bank, 9-16 x 6-8 cm: 2-6 18650 cells (1.8 x 6.5 cm, steel cans) side by side or a flat
    Li-ion pouch, a small PCB and USB sockets, in an aluminium or polymer case."""
    case = "aluminium" if rng.random() < 0.5 else "polymer"
    parts: list[_Part] = []
    if rng.random() < 0.5:
        cells = int(rng.integers(2, 7))
        for k in range(cells):
            v = (k - (cells - 1) / 2) * 1.85
            parts += [_rod("battery", 0.0, v, 3.25, 1.8), *_tube("steel", 0.0, v, 3.25, 1.8, 0.025)]
        hl, hw = 4.3, cells * 0.95 + 0.2
    else:
        hl, hw = rng.uniform(4.5, 8), rng.uniform(3, 4)
        parts.append(_box("battery", -0.6, 0.0, hl - 1.6, hw - 0.3, rng.uniform(0.6, 1.4)))
    return [
        *parts,
        _box(case, 0.0, 0.0, hl, hw, 0.2 if case == "aluminium" else 0.4),
        *_slab(case, hl, hw, 0.15, 2.2),
        _box("pcb", hl - 0.8, 0.0, 0.6, hw - 0.3, 0.15),
        *[_box("steel", hl - 0.3, s * hw / 3, 0.35, 0.6, 0.5) for s in (-1, 1)],
    ]


def _charger(rng: np.random.Generator) -> list[_Part]:
    """Laptop charger: polymer brick 10-15 x 5-7 x 2.5-3.5 cm; inside a transformer (ferrite core, copper
    windings), electrolytic capacitors (aluminium cans), aluminium heat sinks on a PCB; a coiled cable."""
    hl, hw = rng.uniform(5, 7.5), rng.uniform(2.5, 3.5)
    depth = rng.uniform(2.5, 3.5)
    coil_r = rng.uniform(4, 7)
    return [
        _box("polymer", 0.0, 0.0, hl, hw, 0.6),
        *_slab("polymer", hl, hw, 0.25, depth),
        _box("pcb", 0.0, 0.0, hl - 0.4, hw - 0.4, 0.16),
        _box("steel", 0.2 * hl, 0.0, 1.2, 1.2, 1.0),  # ferrite core, as steel of its attenuation
        _rod("copper", 0.2 * hl, 0.0, 1.0, 2.2, math.pi / 2),
        *_tube("aluminium", -0.4 * hl, 0.3 * hw, 1.3, 1.6, 0.05),
        _box("aluminium", -0.1 * hl, -0.6 * hw, 0.5 * hl, 0.12, 2.0),
        *_ring("polymer", hl + coil_r, 0.0, coil_r, coil_r, 1.2, 1.5),
        *_ring("copper", hl + coil_r, 0.0, coil_r - 0.4, coil_r - 0.4, 0.4, 0.15),
    ]


def _camera(rng: np.random.Generator) -> list[_Part]:
    """Camera lying on its bottom: a compact or mirrorless/DSLR body (10-15 x 3-8 cm seen from above:
    magnesium shell, battery, boards, sensor) with a lens (5-8 cm across, 3-15 cm long: aluminium or
    polymer barrel around glass elements seen edge-on)."""
    width, depth = rng.uniform(10, 15), rng.uniform(3, 8)
    lens_d, lens_l = rng.uniform(5, 8), rng.uniform(3, 15)
    barrel = "aluminium" if rng.random() < 0.6 else "polymer"
    parts = [
        _box("aluminium", 0.0, 0.0, depth / 2, width / 2, 0.25 * rng.uniform(4, 8)),
        _box("polymer", 0.0, 0.0, depth / 2 - 0.3, width / 2 - 0.3, 1.5),
        _box("battery", 0.0, -0.3 * width, 0.35 * depth, 0.12 * width, 3.8),
        _box("pcb", -depth / 2 + 0.6, 0.0, 0.1, 0.4 * width, 6.0),
        _box("glass", depth / 2 - 1.0, 0.1 * width, 0.1, 1.5, 3.0),
        *_tube(barrel, depth / 2 + lens_l / 2, 0.1 * width, lens_l / 2, lens_d, 0.3),
        _disc("steel", 0.0, 0.1 * width, 0.4, 1.0),  # tripod socket
    ]
    elements = int(rng.integers(2, 7))
    for k in range(elements):
        u = depth / 2 + (k + 0.5) * lens_l / elements
        parts.append(_rod("glass", u, 0.1 * width, rng.uniform(0.2, 0.6), lens_d - 0.8))
    return parts


def _headphones(rng: np.random.Generator) -> list[_Part]:
    """Over-ear headphones lying flat: a polymer headband round a steel spring band, two cups 7-9 cm across
    with drivers (steel pot and neodymium magnet) and foam; wireless ones with a Li-ion cell and a board;
    or an earbud case (two cells, magnets, a small board)."""
    if rng.random() < 0.3:
        return [
            _box("polymer", 0.0, 0.0, 3.2, 2.3, 1.0),
            _box("battery", 0.0, 0.8, 1.8, 0.6, 0.8),
            _box("pcb", 0.0, -0.5, 2.0, 0.5, 0.1),
            *[_disc("steel", s * 1.2, -1.2, 0.35, 0.4) for s in (-1, 1)],
            *[_disc("battery", s * 1.2, -0.2, 0.4, 0.5) for s in (-1, 1)],
        ]
    radius, cup = rng.uniform(8, 10), rng.uniform(3.5, 4.5)
    parts: list[_Part] = []
    for k in range(7):
        theta = math.pi * (0.1 + 0.8 * k / 6)
        u, v = radius * math.cos(theta), -radius * math.sin(theta)
        segment = 1.2 * radius * math.pi / 7 / 2
        parts += [
            _box("polymer", u, v, segment, 1.6, 1.5, theta + math.pi / 2),
            _box("steel", u, v, segment, 0.5, 0.08, theta + math.pi / 2),
        ]
    for side in (-1, 1):
        u = side * radius * 0.95
        parts += [
            _disc("polymer", u, cup * 0.4, cup, 1.2),
            _blob("polymer", u, cup * 0.4, cup, cup * 0.9, 2.0),
            _disc("steel", u, cup * 0.4, rng.uniform(1.2, 1.7), rng.uniform(0.3, 0.6)),
        ]
    if rng.random() < 0.6:
        parts += [
            _box("battery", radius * 0.95, cup * 0.4 + 2, 1.5, 0.8, 0.6),
            _box("pcb", -radius * 0.95, cup * 0.4 - 2, 1.5, 1.0, 0.12),
        ]
    return parts


def _belt(rng: np.random.Generator) -> list[_Part]:
    """Leather belt (3-4.5 cm wide, 0.35-0.45 cm thick) rolled into a coil lying flat or folded in 2-4
    lengths, with a large steel or zinc-alloy buckle (5-9 x 4-7 cm, 0.3-0.7 cm of metal) and its prong."""
    width, t = rng.uniform(3, 4.5), rng.uniform(0.35, 0.45)
    buckle_l, buckle_w = rng.uniform(5, 9), rng.uniform(4, 7)
    metal, scale = ("steel", 1.0) if rng.random() < 0.5 else ("copper", 0.8)  # zinc alloy, as copper
    if rng.random() < 0.5:
        outer = rng.uniform(4.5, 7)
        leather = _ring("cellulose", 0.0, 0.0, outer, outer, outer - rng.uniform(1.5, 3), 0.9 * width)
        u0 = outer + buckle_l / 2
    else:
        folds, length = int(rng.integers(2, 5)), rng.uniform(22, 35)
        leather = [_box("cellulose", 0.0, k * (width + 0.3), length / 2, width / 2, t) for k in range(folds)]
        u0 = length / 2 + buckle_l / 2
    buckle = (
        [_box(metal, u0, 0.0, buckle_l / 2, buckle_w / 2, rng.uniform(0.3, 0.7) * scale)]
        if rng.random() < 0.5  # a plate buckle; else a frame round the strap's end
        else _ring(
            metal, u0, 0.0, buckle_l / 2, buckle_w / 2, rng.uniform(0.6, 1.2), rng.uniform(0.5, 0.9) * scale
        )
    )
    return [*leather, *buckle, _rod("steel", u0, 0.0, buckle_l / 2 - 0.3, 0.3)]


def _flask(rng: np.random.Generator) -> list[_Part]:
    """Metal water bottle (aluminium or stainless, 6.5-8 cm across, 18-28 cm) or a vacuum flask (two
    stainless walls 0.05 cm apart by a vacuum), empty or partly full of water, with a polymer cap."""
    diameter, length = rng.uniform(6.5, 8), rng.uniform(18, 28)
    shell = "aluminium" if rng.random() < 0.4 else "steel"
    parts = _tube(shell, 0.0, 0.0, length / 2, diameter, 0.05 if shell == "steel" else 0.08)
    if shell == "steel" and rng.random() < 0.6:
        parts += _tube("steel", 0.0, 0.0, length / 2 - 0.5, diameter - 0.8, 0.05)
    fill = rng.uniform(0.0, 1.0) * (length - 1)
    if fill > 1.0:
        parts.append(_rod("water", -length / 2 + 0.5 + fill / 2, 0.0, fill / 2, diameter - 1.0))
    return [
        *parts,
        _rod("polymer", length / 2 + 2, 0.0, 2, diameter * 0.85),
        _rod("steel", length / 2 + 2, 0.0, 0.3, diameter * 0.6),
    ]


def _cutlery(rng: np.random.Generator) -> list[_Part]:
    """Forks and spoons (stainless, 0.15-0.3 cm thick, 14-21 cm) and sometimes chopsticks, loose or in a
    polymer travel case; no knives."""
    parts: list[_Part] = []
    count = int(rng.integers(1, 5))
    for k in range(count):
        length, t = rng.uniform(14, 21), rng.uniform(0.15, 0.3)
        piece = [
            _box("steel", -length / 4, 0.0, length / 4, rng.uniform(0.5, 0.9), t),
            _box("steel", length / 8, 0.0, length / 8, 0.3, t),
        ]
        head = length / 4
        if rng.random() < 0.5:  # fork: palm and 3-4 tines
            tines = int(rng.integers(3, 5))
            piece.append(_box("steel", head + 0.7, 0.0, 0.7, 1.1, t))
            piece += [
                _box("steel", head + 1.4 + 1.9, (j - (tines - 1) / 2) * 0.6, 1.9, 0.12, t)
                for j in range(tines)
            ]
        else:  # spoon: a curved bowl, a little thicker along the beam than the sheet
            piece.append(_disc("steel", head + 2.2, 0.0, 2.3, 1.5 * t))
            piece[-1] = replace(piece[-1], half_wid_cm=rng.uniform(1.4, 2.0))
        parts += _posed(piece, rng.uniform(-2, 2), k * 3.5, rng.uniform(-0.15, 0.15))
    if rng.random() < 0.3:
        parts += [
            _rod(str(rng.choice(["cellulose", "polymer"])), 0.0, count * 3.5 + s * 0.8, 11.5, 0.7)
            for s in (0, 1)
        ]
    if rng.random() < 0.4:
        parts.append(_box("polymer", 0.0, (count - 1) * 1.75, 11, count * 1.75 + 1.5, 0.6))
    return parts


def _hanger(rng: np.random.Generator) -> list[_Part]:
    """Clothes hanger 36-45 cm wide: a steel wire triangle (0.2-0.3 cm) with a twisted neck and hook, or a
    wooden or polymer hanger with a steel hook."""
    half, drop = rng.uniform(18, 22.5), rng.uniform(8, 12)
    slope = math.atan2(drop, half)
    side = math.hypot(half, drop) / 2
    hook = [_rod("steel", 0.0, -1.5, 1.5, 0.35, math.pi / 2)]
    for k in range(6):
        theta = math.pi * k / 5
        hook.append(
            _rod(
                "steel", 1.2 * math.cos(theta), -3.2 - 1.2 * math.sin(theta), 0.45, 0.35, theta + math.pi / 2
            )
        )
    if rng.random() < 0.5:
        wire = rng.uniform(0.2, 0.3)
        return [
            _rod("steel", 0.0, drop, half, wire),
            *[_rod("steel", s * half / 2, drop / 2, side, wire, s * slope) for s in (-1, 1)],
            *hook,
        ]
    m, t = ("cellulose", rng.uniform(1.0, 1.6)) if rng.random() < 0.5 else ("polymer", rng.uniform(0.5, 0.9))
    return [*[_box(m, s * half / 2, drop / 4, side, 1.2, t, s * slope / 2) for s in (-1, 1)], *hook]


def _glasses(rng: np.random.Generator) -> list[_Part]:
    """Glasses in a hard case (14-17 x 5.5-7 cm: polymer-covered aluminium or steel shell, spring hinge) or
    loose: glass or polymer lenses in a metal or acetate frame, folded temples with steel hinges."""
    lens_r = rng.uniform(2.2, 2.8)
    lens = "glass" if rng.random() < 0.4 else "polymer"
    frame = "steel" if rng.random() < 0.5 else "polymer"
    parts: list[_Part] = []
    for s in (-1, 1):
        parts += [
            replace(_disc(lens, s * (lens_r + 0.9), 0.0, lens_r, 0.25), half_wid_cm=lens_r * 0.75),
            *_ring(
                frame,
                s * (lens_r + 0.9),
                0.0,
                lens_r + 0.2,
                lens_r * 0.75 + 0.2,
                0.25,
                0.3 if frame == "steel" else 0.5,
            ),
            _box("steel", s * (2 * lens_r + 1.1), -0.3, 0.3, 0.2, 0.5),
            _box(frame, s * lens_r, -0.6 - 0.3 * s, 2 * lens_r, 0.15, 0.35 if frame == "steel" else 0.6),
        ]
    parts.append(_box(frame, 0.0, -0.5, 0.8, 0.15, 0.3))
    if rng.random() < 0.6:
        hl, hw = rng.uniform(7, 8.5), rng.uniform(2.8, 3.5)
        shell = "steel" if rng.random() < 0.3 else "aluminium"
        parts += [
            _box("polymer", 0.0, 0.0, hl, hw, 0.3),
            _box(shell, 0.0, 0.0, hl, hw, 0.05 if shell == "steel" else 0.12),
            *_slab(shell, hl, hw, 0.08, 3.0),
            _box("steel", 0.0, -hw + 0.3, 2.5, 0.25, 0.8),
        ]
    return parts


def _razor(rng: np.random.Generator) -> list[_Part]:
    """Shaving: a cartridge razor (polymer handle with a steel insert, 3-5 blades 0.01 cm thick), a safety
    razor (chrome-plated brass handle and head, steel double-edge blade) or an electric shaver (motor,
    Li-ion cell, steel foil head)."""
    kind = rng.random()
    if kind < 0.4:
        length = rng.uniform(11, 15)
        return [
            _box("polymer", 0.0, 0.0, length / 2, 0.6, 1.0),
            _box("steel", -0.1 * length, 0.0, 0.3 * length, 0.25, 0.25),
            _box("polymer", length / 2 + 0.5, 0.0, 0.6, 2.1, 1.0),
            *[
                _box("steel", length / 2 + 0.3 + 0.15 * j, 0.0, 0.05, 1.9, 0.01 * 20)
                for j in range(int(rng.integers(3, 6)))
            ],
        ]
    if kind < 0.7:
        length = rng.uniform(8, 11)
        return [
            _rod("copper", 0.0, 0.0, length / 2, rng.uniform(1.0, 1.4)),
            _box("copper", length / 2 + 0.6, 0.0, 0.6, 2.2, 0.5),
            _box("steel", length / 2 + 0.6, 0.0, 1.1, 2.2, 0.01 * 10),
        ]
    length = rng.uniform(12, 16)
    return [
        _box("polymer", 0.0, 0.0, length / 2, 2.8, 1.4),
        _rod("copper", 0.1 * length, 0.0, 1.2, 1.6),
        *_tube("steel", 0.1 * length, 0.0, 1.3, 1.8, 0.05),
        _rod("battery", -0.2 * length, 0.0, 2.2, 1.4),
        _box("pcb", -0.3 * length, 1.5, 2.0, 0.6, 0.12),
        _box("steel", length / 2 - 0.6, 0.0, 0.6, 2.5, 0.05 * 4),
    ]


def _books(rng: np.random.Generator) -> list[_Part]:
    """One to four books or magazines of varied formats (pocket 11 x 18 to atlas 25 x 33 cm, 0.3-5 cm of
    paper at about 60 % of cellulose's density), hardcover boards, a spiral notebook's steel wire."""
    parts: list[_Part] = []
    for k in range(int(rng.integers(1, 5))):
        hl, hw = rng.uniform(5.5, 16.5), rng.uniform(5.5, 12.5)
        hl, hw = max(hl, hw), min(hl, hw)
        pages = rng.uniform(0.3, 5.0) * 0.6
        book = [_box("cellulose", 0.0, 0.0, hl, hw, pages)]
        if rng.random() < 0.35:
            book += [
                _box("cellulose", 0.0, 0.0, hl + 0.3, hw + 0.3, 0.4),
                _box("cellulose", 0.0, -hw - 0.15, hl + 0.3, 0.15, pages + 0.4),
            ]
        elif rng.random() < 0.2:
            book.append(replace(_rod_row("steel", 0.0, -hw + 0.5, hl, 0.5, 0.6), thickness_cm=0.1))
        parts += _posed(book, rng.uniform(-4, 4), rng.uniform(-4, 4), rng.uniform(-0.3, 0.3) + k * 0.2)
    return parts


def _shoe_pair(rng: np.random.Generator) -> list[_Part]:
    """A pair of shoes side by side: trainers (polymer soles 2-4 cm, textile uppers, metal eyelets),
    leather shoes (steel shank, heel nails), high heels (steel heel pin) or boots."""
    length, width = rng.uniform(24, 31), rng.uniform(8, 11)
    kind = str(rng.choice(["trainer", "leather", "heel", "boot"]))
    parts: list[_Part] = []
    for s in (-1, 1):
        v = s * (width / 2 + rng.uniform(0, 2))
        shoe = [
            _blob("polymer", 0.0, 0.0, length / 2, width / 2, rng.uniform(2, 4)),
            _blob(
                "cellulose",
                0.0,
                0.0,
                0.45 * length,
                0.45 * width,
                rng.uniform(0.5, 1.2) * (2 if kind == "boot" else 1),
            ),
        ]
        if kind in ("leather", "boot"):
            shoe += [_box("steel", -0.15 * length, 0.0, 0.15 * length, 0.5, 0.15)]
            shoe += [
                _disc("steel", -0.4 * length + 0.6 * j, 0.6 * (j % 2) - 0.3, 0.08, 1.5) for j in range(4)
            ]
        if kind == "heel":
            shoe += [
                _disc("steel", -0.42 * length, 0.0, 0.3, 6.0),
                _box("steel", -0.2 * length, 0.0, 0.2 * length, 0.4, 0.2),
            ]
        if kind in ("trainer", "boot"):
            shoe += [
                _disc("steel", 0.15 * length + 1.2 * j, s * 0.8 * (-1) ** j, 0.25, 0.05) for j in range(5)
            ]
        parts += _posed(shoe, 0.0, v, s * rng.uniform(0, 0.2))
    return parts


def _cans(rng: np.random.Generator) -> list[_Part]:
    """One to four drink cans in a row (aluminium 6.6 cm across, 11.5-16.8 cm tall, 0.01 cm walls, full
    of liquid), lying or standing, or steel food tins."""
    parts: list[_Part] = []
    for k in range(int(rng.integers(1, 5))):
        metal, diameter = ("aluminium", 6.6) if rng.random() < 0.75 else ("steel", rng.uniform(7.3, 10))
        height = rng.uniform(11.5, 16.8) if metal == "aluminium" else rng.uniform(5, 12)
        u, v = 0.0, k * (diameter + 0.3)
        if rng.random() < 0.5:  # lying on its side
            parts += [
                *_tube(metal, u, v, height / 2, diameter, 0.015),
                _rod("water", u, v, height / 2 - 0.1, diameter - 0.05),
            ]
        else:  # standing: seen end-on, its wall edge-on
            parts += [
                _disc("water", u, v, diameter / 2, height),
                _disc(metal, u, v, diameter / 2, 0.06),
                *_ring(metal, u, v, diameter / 2, diameter / 2, 0.015, height),
            ]
    return parts


VARIED_CLUTTER: Mapping[str, tuple[Maker, float]] = {  # maker and its weight among these makers
    "scissors": (_scissors, 1.5),
    "pliers": (_pliers, 1.0),
    "tool_kit": (_tool_kit, 1.0),
    "hair_tool": (_hair_tool, 1.0),
    "power_bank": (_power_bank, 1.0),
    "charger": (_charger, 1.0),
    "camera": (_camera, 1.0),
    "headphones": (_headphones, 1.0),
    "belt": (_belt, 1.0),
    "flask": (_flask, 1.0),
    "cutlery": (_cutlery, 1.5),
    "hanger": (_hanger, 0.8),
    "glasses": (_glasses, 1.0),
    "razor": (_razor, 1.0),
    "books": (_books, 1.5),
    "shoe_pair": (_shoe_pair, 1.0),
    "cans": (_cans, 1.0),
}
VARIED_CLUTTER_SHARE = 0.5  # of the clutter drawn from these makers, the rest from xray's


# --------------------------------------------------------------------------- the training generator


@dataclass(frozen=True, slots=True)
class _Family:
    """A threat class's maker: draws one of its designs, then that design's object."""

    designs: Mapping[str, Maker]

    def __call__(self, rng: np.random.Generator) -> list[_Part]:
        return self.draw(rng)[1]

    def draw(self, rng: np.random.Generator) -> tuple[str, list[_Part]]:
        """The design drawn and its object's parts."""
        names = tuple(self.designs)
        name = names[int(rng.integers(len(names)))]
        return name, self.designs[name](rng)


THREAT_DESIGNS: Mapping[str, Mapping[str, Maker]] = {
    "firearm": FIREARMS,
    "knife": KNIVES,
    "cigarettes": CIGARETTES,
    "phone": PHONES,
}


def _clutter_weights() -> np.ndarray:
    ours = np.array([weight for _, weight in VARIED_CLUTTER.values()])
    weights = np.concatenate(
        [_CLUTTER_WEIGHTS * (1 - VARIED_CLUTTER_SHARE), ours / ours.sum() * VARIED_CLUTTER_SHARE]
    )
    out: np.ndarray = weights / weights.sum()
    return out


class VariedXraySimulator(XraySimulator):
    """The training generator of the learned X-ray detector: ``XraySimulator`` scans whose threats come
    from many designs per class (``THREAT_DESIGNS``) and whose clutter adds hard negatives
    (``VARIED_CLUTTER``: scissors, tools, cutlery, chargers, cameras, buckles...) to the standard makers.

    Varied designs keep a detector from learning one simulator's shapes instead of the classes: draw
    training data with ``randomise=True, threat_mask=True`` so physics and rotation vary as well.
    """

    threats = {label: _Family(THREAT_DESIGNS[label]) for label in THREAT_CLASSES}
    clutter = (
        (*_CLUTTER, *(maker for maker, _ in VARIED_CLUTTER.values())),
        _clutter_weights(),
    )

    def draw_physics(self, rng: np.random.Generator) -> ScanPhysics:
        """``ScanPhysics.drawn``, and what a real tube and detector add to it: a polychromatic beam
        (in each channel 30-85 % of the photons attenuated at the effective energy, the rest 0.3-0.8 times
        as much: thick metal hardens the beam) in half the scans, and scattered radiation of 0-3 % of the
        open beam (it caps the darkest line integrals at 3.5-8)."""
        physics = ScanPhysics.drawn(rng)
        hardening = None
        if rng.random() < 0.5:
            hardening = (
                (float(rng.uniform(0.3, 0.85)), float(rng.uniform(0.3, 0.8))),
                (float(rng.uniform(0.3, 0.85)), float(rng.uniform(0.3, 0.8))),
            )
        scatter = float(rng.uniform(0.0003, 0.03)) if rng.random() < 0.8 else 0.0
        return replace(physics, hardening=hardening, scatter=scatter)
