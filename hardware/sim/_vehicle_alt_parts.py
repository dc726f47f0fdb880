"""Vehicle parts of the independent vehicle generator (``vehicle_alt``), in the vehicle's side view.

Each part returns primitives (``_vehicle_alt_shapes``); dimensions are cm, ``u`` along the vehicle from
its front bumper, ``v`` above the road. A ``Spot`` is a place a smuggler can use: its side-view box, the
path across it, and the material it displaces (fuel in a tank). Sizes are those of common European vans,
trucks, tractors, trailers and ISO containers, from memory of their data sheets, not from any other
simulator.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartcustoms.hardware.sim._vehicle_alt_shapes import FLAT, Disc, Prim, Profile, Slab, chord, slant


@dataclass(frozen=True)
class Spot:
    """A hiding place: side-view box (cm), path across it (cm), what it holds already and its shape."""

    u0: float
    u1: float
    v0: float
    v1: float
    across_cm: float
    host: str | None = None  # material displaced by contraband (fuel in a tank)
    host_level: float = 0.0  # v of the host's surface (a tank's fuel level)
    up: Profile = FLAT  # path profile up the spot (a round tank's chord)
    built: bool = True  # a smuggler adds walls (a box, a panel) rather than filling a cavity


def wheel(u: float, radius: float, rim: float, tyre_cm: float, tyres: int, driven: bool) -> list[Prim]:
    """A wheel position seen side on: ``tyres`` tyres across the vehicle (2 single, 4 twin), hub, axle."""
    parts: list[Prim] = [
        Disc("rubber", u, radius, rim + 1.5, radius, tyre_cm * tyres * 0.85),  # tread and sidewalls
        Disc("steel", u, radius, radius - 3.0, radius - 1.5, tyre_cm * tyres * 0.04),  # belts
        Disc("steel", u, radius, rim - 0.6, rim + 1.5, tyre_cm * 0.9 * tyres),  # rim barrel, seen end on
        Disc("steel", u, radius, 0.0, rim - 0.6, 1.2 * tyres),  # wheel discs
        Disc("cast_iron", u, radius, rim * 0.55, rim * 0.8, 16.0 * tyres / (2 if tyres > 2 else 1)),  # drums
        Disc("steel", u, radius, 0.0, rim * 0.45, 18.0 * 2),  # hubs
    ]
    if driven:
        parts.append(Disc("cast_iron", u, radius, 0.0, rim * 0.9, 28.0))  # differential
        parts.append(Disc("steel", u, radius, 4.0, 7.5, 170.0 * 0.35))  # axle housing
    else:
        parts.append(Disc("steel", u, radius, 0.0, 6.0, 160.0 * 0.45))  # beam axle
    return parts


def rails(u0: float, u1: float, v0: float, height: float, spacing: float, across: float) -> list[Prim]:
    """Two C-section chassis rails (webs, flanges) and cross members every ``spacing`` cm."""
    parts: list[Prim] = [
        Slab("steel", u0, u1, v0, v0 + height, 2 * 0.8),
        Slab("steel", u0, u1, v0 + height - 0.9, v0 + height, 2 * 8.0),
        Slab("steel", u0, u1, v0, v0 + 0.9, 2 * 8.0),
    ]
    u = u0 + spacing / 2
    while u < u1 - 5:
        parts.append(Slab("steel", u, u + 6.0, v0 + 3, v0 + height - 3, across * 0.12))
        u += spacing
    return parts


def round_tank(
    u0: float, length: float, v_centre: float, radius: float, fill: float, shell: str
) -> tuple[list[Prim], Spot]:
    """A cylindrical fuel tank along the vehicle, outside a rail; fuel to ``fill`` of its height."""
    level = v_centre - radius + 2 * radius * fill
    up = chord(v_centre, radius - 0.3)
    thick = 0.3 if shell == "steel" else 0.25
    parts: list[Prim] = [
        Slab("diesel", u0 + 0.5, u0 + length - 0.5, v_centre - radius, level, 2 * radius, up=up),
        Slab(shell, u0, u0 + length, v_centre - radius, v_centre + radius, 2 * thick * 1.3),
        Slab(shell, u0, u0 + 0.4, v_centre - radius, v_centre + radius, 2 * radius * 0.8, up=up),
        Slab(
            shell,
            u0 + length - 0.4,
            u0 + length,
            v_centre - radius,
            v_centre + radius,
            2 * radius * 0.8,
            up=up,
        ),
        Slab(
            shell,
            u0 + length * 0.5 - 0.2,
            u0 + length * 0.5 + 0.2,
            v_centre - radius,
            v_centre + radius,
            2 * radius * 0.5,
            up=up,
        ),  # baffle
        Slab(
            "steel", u0 + 10, u0 + 16, v_centre - radius - 1, v_centre + radius + 1, 2 * 5.0 * 0.1
        ),  # straps
        Slab("steel", u0 + length - 16, u0 + length - 10, v_centre - radius - 1, v_centre + radius + 1, 1.0),
    ]
    spot = Spot(
        u0 + 3,
        u0 + length - 3,
        v_centre - radius + 2,
        v_centre + radius - 2,
        2 * radius,
        host="diesel",
        host_level=level,
        up=up,
        built=False,
    )
    return parts, spot


def box_tank(
    u0: float, length: float, v0: float, height: float, width: float, fill: float
) -> tuple[list[Prim], Spot]:
    """A moulded plastic fuel tank under a van's floor."""
    level = v0 + height * fill
    parts: list[Prim] = [
        Slab("diesel", u0 + 0.5, u0 + length - 0.5, v0 + 0.5, level, width - 1),
        Slab("plastic", u0, u0 + length, v0, v0 + height, 2 * 0.6),
        Slab("plastic", u0, u0 + length, v0, v0 + 0.6, width),
        Slab("plastic", u0, u0 + length, v0 + height - 0.6, v0 + height, width),
    ]
    spot = Spot(
        u0 + 2,
        u0 + length - 2,
        v0 + 1,
        v0 + height - 1,
        width - 2,
        host="diesel",
        host_level=level,
        built=False,
    )
    return parts, spot


def flat_spare(
    u_centre: float, v0: float, radius: float, rim: float, tyre_cm: float
) -> tuple[list[Prim], Spot]:
    """A spare wheel lying flat in a cradle under the floor."""
    ring = Profile("ring", u_centre, radius, inner=rim + 1)
    parts: list[Prim] = [
        Slab("rubber", u_centre - radius, u_centre + radius, v0, v0 + tyre_cm, 2 * radius * 0.85, along=ring),
        Slab(
            "steel",
            u_centre - rim,
            u_centre + rim,
            v0 + tyre_cm / 2 - 0.6,
            v0 + tyre_cm / 2 + 0.6,
            2 * rim,
            along=chord(u_centre, rim),
        ),
        Slab(
            "steel",
            u_centre - rim - 1,
            u_centre + rim + 1,
            v0 + 2,
            v0 + tyre_cm - 2,
            2 * (rim + 1),
            along=Profile("ring", u_centre, rim + 1, inner=rim + 0.5),
        ),
        Slab("steel", u_centre - radius - 3, u_centre + radius + 3, v0 - 1.5, v0, 2 * 4.0),  # cradle
    ]
    spot = Spot(
        u_centre - radius + 4,
        u_centre + radius - 4,
        v0 + 3,
        v0 + tyre_cm - 3,
        2 * (radius - rim) * 0.8,
        built=False,
    )
    return parts, spot


def cab(
    u0: float, length: float, floor: float, roof: float, width: float, *, conventional: float = 0.0
) -> tuple[list[Prim], dict[str, Spot]]:
    """A steel cab from ``u0`` (front face) ``length`` long; ``conventional`` cm of bonnet in front
    of the windscreen (0 for a cab-over). Doors, glass, dashboard, seats, back wall."""
    front = u0 + conventional
    back = u0 + length
    screen_low = floor + (roof - floor) * 0.42
    parts: list[Prim] = [
        Slab("steel", front, back, floor, roof, 2 * 0.1),  # side skins and doors
        Slab("plastic", front + 10, back - 5, floor + 5, screen_low, 2 * 0.4),  # door trim
        Slab("steel", front + 20, front + 28, floor + 20, screen_low - 5, 2 * 3.0),  # door beams, locks
        Slab("glass", front + 25, back - 30, screen_low + 5, roof - 15, 2 * 0.4),  # side windows
        Slab("steel", front - 1, back, roof - 0.12, roof, width),  # roof skin, edge on
        Slab("steel", front, back, floor - 0.3, floor, width),  # floor
        Slab("steel", back - 0.15, back, floor, roof, width * 0.9),  # back wall
        Slab("steel", back - 6, back - 1, floor, roof, 2 * 1.5),  # B/C pillars
        Slab("plastic", front + 8, front + 48, screen_low - 20, screen_low + 5, width * 0.35),  # dashboard
        Slab("steel", front + 38, front + 42, screen_low - 15, screen_low - 10, width),  # dash crossbar
        Slab("foam", back - 75, back - 25, floor + 40, floor + 105, width * 0.7),  # seats
        Slab("steel", back - 75, back - 25, floor + 28, floor + 40, 2 * 4.0),  # seat frames
        *slant("glass", (front + 2, screen_low), (front + 18, roof - 5), 0.6, width * 0.9),
        *slant("steel", (front + 38, screen_low - 10), (front + 55, screen_low + 12), 4.0, 1.5),  # steering
        Disc("steel", front + 58, screen_low + 14, 17.0, 19.0, 1.0 * 6),  # steering wheel rim, tilted
    ]
    if conventional > 0:  # bonnet and grille
        parts += [
            Slab("steel", u0, front, screen_low - 2, screen_low, width * 0.7),
            Slab("plastic", u0, u0 + 4, floor - 20, screen_low, width * 0.4),
        ]
    else:
        parts += slant("steel", (u0, floor - 10), (front + 2, screen_low), 0.15, width)
    spots = {
        "behind_seats": Spot(back - 24, back - 1, floor + 30, floor + (roof - floor) * 0.55, width * 0.6),
        "cab_wall": Spot(back - 7, back - 0.5, floor + 25, roof - 10, width * 0.7),
        "roof": Spot(front + 20, back - 10, roof - 12, roof - 1, width * 0.8),
    }
    return parts, spots


def engine(u0: float, length: float, v0: float, height: float, across: float) -> list[Prim]:
    """Engine block, head, sump, gearbox behind it and the radiator in front."""
    return [
        Slab("cast_iron", u0, u0 + length, v0 + height * 0.25, v0 + height, across, density=2.4),
        Slab(
            "cast_iron",
            u0 + 5,
            u0 + length - 5,
            v0 + height * 0.6,
            v0 + height * 0.85,
            across * 0.5,
            density=2.0,
        ),
        Slab("aluminium", u0 + 3, u0 + length - 3, v0, v0 + height * 0.25, across * 0.8, density=1.1),
        Slab(
            "aluminium",
            u0 + length,
            u0 + length * 1.45,
            v0 + height * 0.15,
            v0 + height * 0.6,
            across * 0.6,
            density=1.6,
        ),
        Slab(
            "steel",
            u0 + length * 1.45,
            u0 + length * 1.55,
            v0 + height * 0.2,
            v0 + height * 0.55,
            across * 0.5,
            density=3.0,
        ),
        Slab("aluminium", u0 - 14, u0 - 8, v0, v0 + height * 1.2, across * 1.3, density=0.5),  # radiator
    ]


def battery_box(u0: float, v0: float, across: float) -> list[Prim]:
    """Two lead-acid batteries in a steel box (lead stood in for by dense cast iron)."""
    return [
        Slab("cast_iron", u0, u0 + 35, v0, v0 + 25, across, density=3.2),
        Slab("steel", u0 - 1, u0 + 36, v0 - 1, v0 + 26, 2 * 0.3),
    ]


def air_tank(u0: float, length: float, v_centre: float, radius: float) -> list[Prim]:
    return [
        Slab(
            "steel",
            u0,
            u0 + length,
            v_centre - radius,
            v_centre + radius,
            2 * radius,
            up=Profile("ring", v_centre, radius, inner=radius - 0.3),
        )
    ]


def box_body(
    u0: float, u1: float, floor: float, roof: float, width: float, wall: str
) -> tuple[list[Prim], tuple[float, float, float, float]]:
    """A rigid truck's or van's cargo body: walls (aluminium or steel skins with a core), floor, roof,
    front wall and rear doors. Returns its parts and the inside (u0, u1, v0, v1)."""
    skin = 0.1 if wall == "aluminium" else 0.08
    inside = (u0 + 4.0, u1 - 5.0, floor + 2.5, roof - 4.0)
    parts: list[Prim] = [
        Slab(wall, u0, u1, floor, roof, 2 * 2 * skin),  # two sides, two skins each
        Slab("foam", u0, u1, floor, roof, 2 * 4.0, density=0.04),
        Slab("plywood", inside[0], inside[1], floor, floor + 2.5, width),  # floor boards, edge on
        Slab("aluminium", u0, u1, floor - 12, floor, 2 * 1.2),  # side rails
        Slab(wall, u0, u1, roof - 0.15, roof, width),  # roof skin
        Slab(wall, u0, u0 + 0.2, floor, roof, width),  # front wall, edge on
        Slab(wall, u0 + 3.8, u0 + 4.0, floor, roof, width),
        Slab(wall, u1 - 5.0, u1 - 4.8, floor, roof, width * 0.9),  # rear doors
        Slab("steel", u1 - 3.0, u1, floor, roof, 2 * 2.0 + 4 * 0.5),  # rear frame, hinges, bars
        Slab("steel", u1 - 6.0, u1, floor - 4, floor + 2, width * 0.15),  # rear sill
    ]
    u = u0 + 30
    while u < u1 - 20:  # roof bows and floor cross bearers
        parts.append(Slab(wall, u, u + 4, roof - 5, roof, width * 0.1))
        parts.append(Slab("steel", u, u + 8, floor - 12, floor - 1, width * 0.15))
        u += 55
    return parts, inside


CONTAINERS: dict[str, tuple[float, str]] = {
    "22G1": (605.8, "20 ft general purpose"),
    "42G1": (1219.2, "40 ft general purpose"),
}
CONTAINER_HEIGHT = 259.1
CONTAINER_INNER_WIDTH = 235.0


def container(
    u0: float, v0: float, code: str
) -> tuple[list[Prim], tuple[float, float, float, float], dict[str, Spot]]:
    """An ISO steel container, blind end at ``u0``, doors at the rear, bottom at ``v0``: corrugated side
    walls, rails, corner posts and castings, cross members, plywood floor, roof, front wall and doors."""
    length, _ = CONTAINERS[code]
    u1, top, w = u0 + length, v0 + CONTAINER_HEIGHT, CONTAINER_INNER_WIDTH
    inside = (u0 + 6.0, u1 - 10.0, v0 + 16.0, top - 4.5)
    wave = Profile("corrugated", u0 + 15, period=27.8)
    parts: list[Prim] = [
        Slab("steel", u0 + 15, u1 - 15, v0 + 16, top - 6, 2 * 0.16, along=wave),  # side walls
        Slab("steel", u0, u1, v0, v0 + 16, 2 * 1.2),  # bottom side rails
        Slab("steel", u0, u1, top - 6, top, 2 * 1.5),  # top side rails
        Slab("steel", u0 + 10, u1 - 10, top - 4.5, top - 4.3, w),  # roof sheet, edge on
        Slab("plywood", inside[0], inside[1], v0 + 13.2, v0 + 16.0, w),  # floor
        Slab("steel", u0, u0 + 4.5, v0 + 16, top - 6, w * 0.2 * 1.3 / 4.5),  # front wall, corrugated
        Slab("steel", u1 - 8.0, u1 - 7.8, v0 + 16, top - 6, w),  # doors
        Slab("steel", u1 - 4.0, u1 - 0.7, v0 + 20, top - 20, 4 * 0.9),  # locking bars
    ]
    for end in (u0, u1 - 15):
        parts += [
            Slab("steel", end, end + 15, v0, top, 2 * 3.5),  # corner posts
            Slab("steel", end, end + 15, top - 12, top, w * 0.12),  # headers
            Slab("steel", end, end + 15, v0, v0 + 14, w * 0.18),  # sills
        ]
        for u in (end, end + 15 - 17.8):
            parts.append(Slab("cast_iron", u, u + 17.8, v0, v0 + 11.8, 2 * 16.2 * 0.45))
            parts.append(Slab("cast_iron", u, u + 17.8, top - 11.8, top, 2 * 16.2 * 0.45))
    u = u0 + 25
    while u < u1 - 25:
        parts.append(Slab("steel", u, u + 4.5, v0 + 1, v0 + 13, w * 0.17))  # cross members
        u += float(29.5 if code == "22G1" else 30.5)
    spots = {
        "false_front_wall": Spot(inside[0], inside[0] + 60, inside[2], inside[3], w),
        "double_floor": Spot(inside[0] + 30, inside[1] - 30, inside[2], inside[2] + 14, w),
    }
    return parts, inside, spots
