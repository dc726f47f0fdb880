"""A container vehicle compared part by part: its tractor, its trailer and its container, each against
the reference of its own model.

A container travels on whatever tractor and trailer the haulier has that day, so a reference of the
whole vehicle (``container-20ft``: one container on one trailer behind one tractor) differs from most
scans of a container of its type. The vehicle-references artefact may instead hold references of
parts (sidecar ``"part"``): ``tractor`` (a tractor alone), ``trailer`` (a trailer alone, without its
tractor) and ``container`` (an empty container alone), each at about the place it has in a vehicle.
A frame that names all three (``container_type``, ``tractor_model``, ``trailer_model``) is compared with
a reference made for it from them:

1. Placing (``place``): each part's reference, resampled to the scan, is moved along the vehicle and
   up or down until it explains the scan best with the others. Attenuation adds along the beam, so the
   scan is the sum of its parts' attenuations; the gradients of the column sums of four bands of rows
   (the container high, the chassis and wheels low) are fitted by least squares, one part at a time
   against what the others leave (the container first, the largest, then the tractor, then the
   trailer), twice, within ``max_part_shift_cm`` of its reference's place along the vehicle and
   ``max_part_lift_cm`` up or down (a higher fifth wheel or deck), to a tenth of a pixel by a parabola;
   every attenuation clipped at 5 and at the scan's highest (a lowered export or a dark level clips the
   darkest parts of a scan, which its references show far darker).
   A loaded container's pallets have edges of their own, which can draw a part off its place; when the
   outline of the parts joined does not line up with the scan's, the comparison places them once more on
   where there is material at all (``body_above``: the scan above the body threshold, each part above
   air's), which no load inside a container changes, and keeps the better outline; if it still does
   not line up, the container is tried at its next best places along the vehicle
   (``place`` with ``alternatives``: a floor's cross-members repeat, and it can fit them a pitch off).
   A speed that changed as the vehicle passed stretches each part as well: when the settings let the
   alignment follow a speed change, each part placed is aligned block by block along the vehicle
   (``alignment.estimate_warp``: its shift within 4 px of its place, then its blocks) with what the
   other parts, clipped likewise, leave of the scan; twice, the second time with the others as the
   first pass stretched them (``follow_speed``). The container is then stretched as its trailer is,
   keeping its own place (``_carried``): whatever passes the portal at one moment is stretched alike,
   and the trailer's chassis shows it without the load, which the container's empty reference lacks.
2. Joining (``composite``): the parts' attenuations, each moved to its place (and stretched), summed
   (at most what a scan can show, ln 65535); the container's cargo space moved with it. This
   reference of the whole vehicle then goes through the comparison as any other (alignment block by
   block along the vehicle, levels, difference, zones), so a clean container on any trailer behind any
   tractor is compared with the same vehicle, empty.

Only the first reference of each part is used (variants ``<name>.2.npy`` of a part are not tried).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.lazy import lazy
from smartcustoms.plugins.vehicle.alignment import Fitted, Warp, estimate_warp, material_box
from smartcustoms.plugins.vehicle.references import BoxPx, Reference

if TYPE_CHECKING:
    from smartcustoms.plugins.vehicle import _kernels as kernels
else:
    kernels = lazy("smartcustoms.plugins.vehicle._kernels")

PARTS = ("container", "tractor", "trailer")  # the order they are placed in: the largest first
PART_KEYS = {"container": "container_type", "tractor": "tractor_model", "trailer": "trailer_model"}
SATURATED = math.log(65535.0)  # the most attenuation a scan can show
_BANDS = 4
_MATERIAL = 0.02  # attenuation of material (air is 0)
_ROUNDS = 3
_PLACE_CEILING = 5.0  # parts are placed on attenuations clipped here, and at the scan's highest
_REFINE_PX = 12  # the later rounds search this far around the first's shift
_FOLLOW_PX = 4  # a part's drift under a changing speed is searched this far around its placement
_FOLLOW_PASSES = 2
NEXT_PLACES = 4  # the container's next best places a comparison whose outline does not line up tries


@dataclass(frozen=True)
class PartModels:
    """The models a frame names for a container vehicle's parts."""

    container_type: str
    tractor: str
    trailer: str

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> PartModels | None:
        """The three from ``container_type``, ``tractor_model`` and ``trailer_model``; None unless all are
        given."""
        found = {part: metadata.get(key, "").strip() for part, key in PART_KEYS.items()}
        if not all(found.values()):
            return None
        return cls(found["container"], found["tractor"], found["trailer"])

    def of(self, part: str) -> str:
        return {"container": self.container_type, "tractor": self.tractor, "trailer": self.trailer}[part]

    def describe(self) -> str:
        return f"{self.container_type} on {self.trailer} behind {self.tractor}"


@dataclass(frozen=True)
class Placement:
    """Where each part's reference sits in the scan: (dx, dy) in pixels, scan[y + dy, x + dx] ~ part[y, x]."""

    shifts: Mapping[str, tuple[float, float]]
    # the container's next best places along the vehicle, best first (``place`` with ``alternatives``):
    # a floor's cross-members repeat, and a container can fit them one pitch off
    alternatives: tuple[float, ...] = ()

    def describe(self) -> str:
        return ";".join(f"{part}:{dx:.1f},{dy:.1f}" for part, (dx, dy) in self.shifts.items())

    def with_container_at(self, dx: float) -> Placement:
        """This placement with the container moved along the vehicle to ``dx``."""
        _, dy = self.shifts["container"]
        return Placement({**self.shifts, "container": (dx, dy)})


def place(
    scan: np.ndarray,
    parts: Mapping[str, Fitted],
    max_shift_px: int,
    max_lift_px: int,
    body_above: float | None = None,
    alternatives: int = 0,
) -> Placement:
    """Each part's shift (see the module), for the scan's attenuation ``scan`` and the parts' references
    fitted to it (one shape). ``body_above``: placed by where material is rather than by how much (the
    scan's pixels above this attenuation, the parts' above air's), which a load inside a part cannot
    draw. ``alternatives``: this many of the container's next best places kept too."""
    height = scan.shape[0]
    if body_above is not None:
        scan = (scan > body_above).astype(np.float32)
        images = {name: (p.attenuation > _MATERIAL).astype(np.float32) for name, p in parts.items()}
    else:
        # what the scan can tell: a lowered export, or a dark level, clips its darkest parts
        ceiling = np.float32(min(float(scan.max()), _PLACE_CEILING))
        scan = np.minimum(scan, ceiling)
        images = {name: np.minimum(p.attenuation, ceiling) for name, p in parts.items()}
    top = min((_top_row(image) for image in images.values()), default=0)
    edges = np.linspace(top, height, _BANDS + 1).round().astype(np.int64)
    target = _profiles(scan, edges)
    profiles = {name: _profiles(image, edges) for name, image in images.items()}
    supports = {name: _support(image) for name, image in images.items()}
    shifts: dict[str, tuple[float, float]] = {}
    for round_ in range(_ROUNDS):
        for name in (n for n in PARTS if n in parts):
            others = [n for n in shifts if n != name]
            residual = target - sum((_moved_profile(profiles[n], shifts[n][0]) for n in others), 0.0)
            if round_ == 0:
                lo, hi = -max_shift_px, max_shift_px
            else:
                centre = round(shifts[name][0])
                lo, hi = centre - _REFINE_PX, centre + _REFINE_PX
            dx = _best_lag(residual, profiles[name], supports[name], lo, hi)
            dy = shifts[name][1] if name in shifts else 0.0
            if round_ in (0, _ROUNDS - 1):  # up or down: first roughly, last with the others in place
                dy = _lift(scan, images, shifts, name, dx, supports[name], max_lift_px)
            shifts[name] = (dx, dy)
    others_placed: tuple[float, ...] = ()
    if alternatives > 0 and "container" in shifts:
        others = [n for n in shifts if n != "container"]
        residual = target - sum((_moved_profile(profiles[n], shifts[n][0]) for n in others), 0.0)
        others_placed = _other_peaks(
            residual,
            profiles["container"],
            supports["container"],
            max_shift_px,
            shifts["container"][0],
            alternatives,
        )
    return Placement({name: shifts[name] for name in PARTS if name in shifts}, others_placed)


def warps(placement: Placement, width: int) -> dict[str, Warp]:
    """Each part moved by its shift alone."""
    return {name: Warp.shift(dx, dy, width) for name, (dx, dy) in placement.shifts.items()}


def follow_speed(
    scan: np.ndarray,
    parts: Mapping[str, Fitted],
    placement: Placement,
    max_speed_change: float,
    pixel_mm: float,
    material: Mapping[str, BoxPx] | None = None,
    container_follows_trailer: bool = True,
) -> dict[str, Warp]:
    """Each part's columns as a speed that changed under it moved them (``alignment.estimate_warp`` of
    what the other parts, placed, leave of the scan against the part placed), within a few pixels of its
    placement. ``material``: each part's ``materials``, when known. ``container_follows_trailer``: the
    container stretched as its trailer is (``_carried``)."""
    width = scan.shape[1]
    ceiling = np.float32(min(float(scan.max()), _PLACE_CEILING))  # as ``place``: what the scan can tell
    scan = np.minimum(scan, ceiling)
    moves = warps(placement, width)
    material = material or materials(parts)
    for _ in range(_FOLLOW_PASSES):
        placed, reach = {}, {}
        others = np.zeros_like(scan)
        for name, p in parts.items():
            placed[name] = image = moves[name].move(p.attenuation, material=material[name])
            # the part is 0 beyond where it reaches: clipped and summed there alone (the same sums as
            # ``sum`` of whole images, a part of the time)
            reach[name] = window = moves[name].reach(material[name], image.shape[0]) if ceiling > 0 else None
            top, bottom, left, right = window or (0, image.shape[0], 0, image.shape[1])
            part = image[top:bottom, left:right]
            np.minimum(part, ceiling, out=part)
            others[top:bottom, left:right] += part
        np.subtract(scan, others, out=others)
        found = {}
        for name in parts:
            # the part's rows: what its blocks compare
            r0, r1 = _rows(placed[name], _FOLLOW_PX + 2, reach[name])
            residual = others[r0:r1] + placed[name][r0:r1]
            found[name] = estimate_warp(
                residual, placed[name][r0:r1], _FOLLOW_PX, _FOLLOW_PX, max_speed_change, pixel_mm
            )
        if container_follows_trailer and {"container", "trailer"} <= found.keys():
            x0, _, x1, _ = material["container"]
            columns = moves["container"].columns  # the scan columns showing the container's material
            span = slice(int(columns.searchsorted(x0)), int(columns.searchsorted(x1)))
            found["container"] = _carried(found["container"], found["trailer"], span)
        stretched = {}
        for name, warp in found.items():
            # the part's own columns for each scan column: through where it was placed
            columns = np.interp(warp.columns, np.arange(width), moves[name].columns).astype(np.float32)
            stretched[name] = Warp(columns, moves[name].dy + warp.dy)
        moves = stretched
    return moves


def _carried(own: Warp, carrier: Warp, span: slice) -> Warp:
    """A container's columns as its trailer's stretch moved them (each a warp of its placed image).

    A speed change stretches whatever passes the portal at one moment alike, so at a scan column the
    container and the trailer under it drift together. The trailer's chassis shows the drift cleanly;
    the container's blocks compare its empty reference with a scan that holds its load too, whose edges
    draw them (a clean loaded container then differs at its walls). The container keeps its own offset
    from the trailer (the median over ``span``, the scan columns of its material) and its own shift up or
    down."""
    if span.stop <= span.start:
        return own
    offset = np.float32(np.median(carrier.columns[span] - own.columns[span]))
    return Warp((carrier.columns - offset).astype(np.float32), own.dy)


def materials(parts: Mapping[str, Fitted]) -> dict[str, BoxPx]:
    """Each part's ``alignment.material_box``: outside it the part's fitted reference is air, which a
    move need not interpolate."""
    return {name: material_box(p.attenuation) for name, p in parts.items()}


def composite(
    parts: Mapping[str, Fitted],
    moves: Mapping[str, Warp],
    model: str,
    material: Mapping[str, BoxPx] | None = None,
) -> Fitted:
    """The parts moved to their places (``moves``: each part's pixels in the scan's) and summed: a
    reference of the whole vehicle in the scan's pixels (its cargo space the container's), named after
    its parts' files. ``material``: each part's ``materials``, when known."""
    material = material or materials(parts)
    container = parts["container"]
    shape = container.attenuation.shape
    total = np.zeros(shape, dtype=np.float32)
    lower: np.ndarray | None = None
    for name, fitted in parts.items():
        warp = moves[name]
        total += warp.move(fitted.attenuation, material=material[name])
        if fitted.lower_bound is not None:
            bound = fitted.lower_bound.astype(np.float32)
            moved = warp.move(bound, material=material_box(bound)) > 0
            lower = moved if lower is None else lower | moved
    np.minimum(total, np.float32(SATURATED), out=total)
    cargo = moves["container"].box(container.cargo_box)
    source = container.reference
    joined = Reference(
        model=model,
        high_energy=source.high_energy,
        pixel_size_mm=source.pixel_size_mm,
        name="+".join(parts[name].reference.name for name in PARTS if name in parts),
        kind="container",
        cargo_box=source.cargo_box,
        description=f"{model}: its parts' references joined",
        along_scale=max(p.reference.along_scale for p in parts.values()),
    )
    return Fitted(joined, total, cargo, container.pixel_size_mm, container.scale, lower)


def _rows(image: np.ndarray, margin: int, reach: tuple[int, int, int, int] | None = None) -> tuple[int, int]:
    """The rows holding the image's material, and ``margin`` more each way. ``reach``: (top, bottom,
    left, right), beyond which the image is 0; looked for there alone."""
    top, bottom, left, right = reach or (0, image.shape[0], 0, image.shape[1])
    rows = top + np.flatnonzero((image[top:bottom, left:right] > _MATERIAL).any(axis=1))
    if not len(rows):
        return 0, image.shape[0]
    return max(int(rows[0]) - margin, 0), min(int(rows[-1]) + 1 + margin, image.shape[0])


def _top_row(attenuation: np.ndarray) -> int:
    rows = np.flatnonzero((attenuation > _MATERIAL).any(axis=1))
    return int(rows[0]) if len(rows) else 0


def _profiles(image: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """float64 [bands, W]: the gradient along the vehicle of the column sums of each band of rows."""
    sums = np.stack([image[a:b].sum(axis=0) for a, b in itertools.pairwise(edges)])
    return np.gradient(sums.astype(np.float64), axis=1)


def _support(attenuation: np.ndarray) -> tuple[int, int]:
    """The columns holding the part's material: (first, last + 1)."""
    columns = np.flatnonzero((attenuation > _MATERIAL).any(axis=0))
    if not len(columns):
        return 0, attenuation.shape[1]
    return int(columns[0]), int(columns[-1]) + 1


def _moved_profile(profile: np.ndarray, dx: float) -> np.ndarray:
    x = np.arange(profile.shape[1], dtype=np.float64)
    return np.stack([np.interp(x - dx, x, band, left=0.0, right=0.0) for band in profile])


def _best_lag(residual: np.ndarray, profile: np.ndarray, support: tuple[int, int], lo: int, hi: int) -> float:
    """The lag minimising the squared misfit of ``profile`` moved against ``residual`` (the part kept
    whole), sub-pixel."""
    x0, x1 = support
    cross = kernels._lag_scores(np.ascontiguousarray(residual), np.ascontiguousarray(profile), x0, x1, lo, hi)
    # the misfit's cross term alone: its other, the part's own energy, is the same wherever it sits (a
    # part moved out of the field would lose some of it and seem to fit better)
    return lo + _peak(cross)


def _lift(
    scan: np.ndarray,
    parts: Mapping[str, np.ndarray],
    shifts: Mapping[str, tuple[float, float]],
    name: str,
    dx: float,
    support: tuple[int, int],
    max_lift_px: int,
) -> float:
    """The part's shift up or down: its row sums over its columns against the scan's less the other
    parts' (each as placed so far), gradients along the rows, least squares."""
    if max_lift_px <= 0:
        return 0.0
    width = scan.shape[1]
    x0, x1 = (min(max(round(v + dx), 0), width) for v in support)
    if x1 - x0 < 8:
        return 0.0
    rows = np.arange(scan.shape[0], dtype=np.float64)
    residual = scan[:, x0:x1].sum(axis=1).astype(np.float64)
    for other, (ox, oy) in shifts.items():
        if other == name:
            continue
        a0, a1 = (min(max(round(v - ox), 0), width) for v in (x0, x1))
        summed = parts[other][:, a0:a1].sum(axis=1).astype(np.float64)
        residual -= np.interp(rows - oy, rows, summed, left=0.0, right=0.0)
    p0, p1 = (min(max(round(v - dx), 0), width) for v in (x0, x1))
    own = parts[name][:, p0:p1].sum(axis=1).astype(np.float64)
    a, b = np.gradient(residual)[None, :], np.gradient(own)[None, :]
    return _best_lag(a, b, (0, len(own)), -max_lift_px, max_lift_px) + 0.0


def _other_peaks(
    residual: np.ndarray,
    profile: np.ndarray,
    support: tuple[int, int],
    max_shift_px: int,
    chosen: float,
    count: int,
) -> tuple[float, ...]:
    """The ``count`` best lags of ``profile`` against ``residual`` after ``chosen`` (local maxima of the
    fit, more than ``_REFINE_PX`` from it and from each other), best first, sub-pixel."""
    x0, x1 = support
    lo = -max_shift_px
    scores = kernels._lag_scores(
        np.ascontiguousarray(residual), np.ascontiguousarray(profile), x0, x1, lo, max_shift_px
    )
    inner = scores[1:-1]
    maxima = np.flatnonzero((inner >= scores[:-2]) & (inner >= scores[2:]) & (inner > 0)) + 1
    found: list[float] = []
    for index in maxima[np.argsort(-scores[maxima], kind="stable")]:
        lag = lo + float(index)
        if all(abs(lag - taken) > _REFINE_PX for taken in (chosen, *found)):
            found.append(lo + index + _peak(scores[index - 1 : index + 2]) - 1)
        if len(found) == count:
            break
    return tuple(found)


def _peak(scores: np.ndarray) -> float:
    """The index of the highest score, refined by a parabola through it and its neighbours."""
    best = int(np.argmax(scores))
    if 0 < best < len(scores) - 1:
        left, middle, right = scores[best - 1], scores[best], scores[best + 1]
        curvature = left - 2 * middle + right
        if curvature < 0:
            return best + float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
    return float(best)
