"""Vehicle portal X-ray simulator: side views of cars, vans, trucks and containers, with concealments.

A portal scanner's fan beam crosses the vehicle sideways while it drives through; the image is a side
view, x along the vehicle (its front on the left), y down from the top of a 5 m field. Physics as in
``xray``: Beer-Lambert transmission of two energies with photon noise, here the MeV energies of a
6 MV / 3 MV dual-energy linear accelerator (effective energies 2 and 1 MeV; NIST XCOM coefficients, see
``MATERIALS``). At MeV energies Compton scattering dominates, so low/high ratios differ little
(organic ~1.43, steel ~1.41, lead ~1.54): the image shows mass first, material second.

Every model in ``MODELS`` is a fixed geometry of panels, frames, wheels, engine, tanks and seats, so the
same model always gives the same image up to photon noise and where it stood in the portal: a scan is the
model shifted by ``offset_px`` (x by up to +-25 cm, y by up to +-1.5 cm of suspension travel), and
``reference(model)`` is the noiseless empty vehicle at offset 0, the database image a comparison works
against. Trucks, vans and containers carry a declared load (or are declared empty): pallets of goods.

Concealments (ground truth ``ConcealmentTruth``, a box in pixels):

* ``hidden_compartment``: organic or dense contraband in a void of the vehicle (fuel tank, floor, roof,
  doors, spare-wheel well, side walls, a false front wall), displacing the fuel where it sits in a tank;
* ``undeclared_goods``: pallets in a cargo space declared empty;
* ``extra_load``: pallets beyond the declared ones.

Scans of one index share vehicle, load, pose and noise whether or not the concealment is painted, so
they differ only inside its box.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from smartcustoms.core.types import Modality
from smartcustoms.hardware.sim._timing import report_generation_time
from smartcustoms.v1 import frame_pb2

from . import _kernels
from ._frames import array_to_frame
from ._vehicle_geometry import (
    CONTAINER_TYPES,
    DEFAULT_RIG,
    GOODS_VEHICLE_KINDS,
    MODEL_NAMES,
    MODELS,
    RIG_PARTS,
    TRACTOR_NAMES,
    TRAILER_NAMES,
    Layout,
    Piece,
    Rig,
    Ring,
    Slab,
    VehicleModel,
    extent,
    layout,
    model_named,
    rig_model,
    rig_parts,
)
from .xray import MATERIAL_CATEGORIES, Material, transmission_image

__all__ = [  # the models are defined in _vehicle_geometry and belong to this module's API
    "CONCEALMENT_KINDS",
    "CONTAINER_TYPES",
    "CONTRABAND",
    "DEFAULT_RIG",
    "GOODS",
    "GOODS_VEHICLE_KINDS",
    "MATERIALS",
    "MODELS",
    "MODEL_NAMES",
    "RIG_PARTS",
    "SPEED_PROFILES",
    "TRACTOR_NAMES",
    "TRAILER_NAMES",
    "ConcealmentTruth",
    "Realism",
    "Rig",
    "ScanConditions",
    "VehicleModel",
    "VehicleScan",
    "VehicleSimulator",
    "to_frame",
    "truth_dict",
]

ENERGY_HIGH_MV = 6
ENERGY_LOW_MV = 3
EFFECTIVE_ENERGY_HIGH_MEV = 2.0
EFFECTIVE_ENERGY_LOW_MEV = 1.0
PORTAL_HEIGHT_CM = 500.0  # the image height spans this; pixels are square
GROUND_MARGIN_CM = 12.0  # ground line above the bottom edge
FRONT_MARGIN_CM = 60.0  # front bumper from the left edge at offset 0
OFFSET_X_CM = 25.0  # uniform jitter of the position along the portal
OFFSET_Y_CM = 1.5  # suspension travel
DEFAULT_PHOTONS_PER_PIXEL = (4.0e5, 2.0e5)  # (high, low)
MAX_COMPARTMENT_CM = 120.0  # largest extent of a hidden compartment in any direction
CONCEALMENT_KINDS = ("hidden_compartment", "undeclared_goods", "extra_load")
REALISM_KINDS = ("levels", "pixels", "speed")  # what Realism.portal() varies by default
# what it varies when named: an 8-bit export, the tractor and trailer under a container, the photon count
EXTRA_REALISM_KINDS = (
    "eight_bit",
    "trailers",
    "photons",
    "coarse",
    "framing",
    "road",
    "detector",
    "suspension",
    "scatter",
    "fuel",
    "stops",
)
FRAMING_CM = 100.0  # "framing": the scan starts up to this much earlier or later (the portal's trigger)
# "coarse": a real portal's pixels (8-17 mm across, its detector pitch; 20-30 mm along, from the speed),
# as factors of the simulator's 4.88 mm: rows averaged this many into one, columns this many square ones
COARSE_ACROSS = (1.7, 3.5)
COARSE_ALONG = (4.1, 6.1)
PHOTONS_SCALE = (0.25, 4.0)  # "photons": the scan's photon count this many times the default, log-uniform
# "road": the portal's lowest rows see this much road and foundation below the ground line (cm), nearly
# opaque (attenuation ROAD_ATTENUATION at high energy), instead of the rendering's GROUND_MARGIN_CM of air
ROAD_CM = (5.0, 30.0)
ROAD_ATTENUATION = (4.0, 7.0)
LOW_TO_HIGH_ATTENUATION = 0.0636 / 0.0447  # concrete as glass: its attenuation at 1 MeV over at 2 MeV
FULL_SCALE_COUNTS = 65535.0
# "detector": what a flat-field correction leaves: each detector row's gain off by a standard deviation
# in ROW_GAIN_SD, up to WEAK_BOARDS boards of BOARD_ROWS neighbouring rows (one board's electronics)
# WEAK_BOARD_LOSS low, and the linac's dose per pulse (per column) off by a standard deviation in PULSE_SD
ROW_GAIN_SD = (0.001, 0.006)
WEAK_BOARDS = 2
BOARD_ROWS = (8, 32)
WEAK_BOARD_LOSS = (0.015, 0.04)
PULSE_SD = (0.0005, 0.003)
# "suspension": the body (everything but the wheels) rides this much higher or lower on its wheels than
# in the reference (its load, its springs), cm
BODY_LIFT_CM = 5.0
# "scatter": the detectors also see this share of the signal scattered by the vehicle and its load (a
# collimated portal: a few per cent), spread as SCATTER_SPREAD_CM: a narrow and a broad Gaussian (cm),
# SCATTER_BROAD_SHARE of it in the broad one
SCATTER_SHARE = (0.005, 0.04)
SCATTER_SPREAD_CM = (20.0, 80.0)
SCATTER_BROAD_SHARE = 0.5
# "fuel": the scan's tanks hold fuel to this share of their height (the references: a car's 60 %, the
# others' full), the same share in every tank of the vehicle
FUEL_LEVEL = (0.05, 1.0)
SPEED_PROFILES = ("sine", "ramp", "stop_and_go")  # how a vehicle's speed changes as it passes
# "stops": in STOP_SHARE of the scans the vehicle slows almost to a halt in the portal (a driver braking,
# a queue ahead): its speed dips by a share in STOP_DEPTH over a Gaussian of standard deviation a share
# in STOP_WIDTH of the pass, around a point in STOP_CENTRE of the vehicle's length; the scan has that
# many more columns
STOP_SHARE = 0.5
STOP_DEPTH = (0.5, 0.9)
STOP_WIDTH = (0.02, 0.08)
STOP_CENTRE = (0.15, 0.85)  # a share of the vehicle's length
_MATERIAL_COUNTS = 0.9 * 65535.0  # a column with a pixel darker than this shows the vehicle

# mu/rho (cm^2/g) at 1 MeV (low) and 2 MeV (high), NIST XCOM; compounds by the mixture rule.
_MATERIAL_LIST = (
    Material("polymer", "organic", 0.0700, 0.0490, 1.10),  # rubber, plastics, foam as solid equivalent
    Material("wood", "organic", 0.0640, 0.0448, 0.60),
    Material("cellulose", "organic", 0.0650, 0.0455, 1.50),  # paper, textiles, tobacco, packed powders
    Material("water", "organic", 0.0707, 0.0494, 1.00),
    Material("fuel", "organic", 0.0706, 0.0493, 0.80),  # petrol and diesel, (CH2)n
    Material("glass", "inorganic", 0.0636, 0.0447, 2.50),
    Material("aluminium", "inorganic", 0.0615, 0.0432, 2.70),
    Material("pcb", "inorganic", 0.0630, 0.0443, 1.90),
    Material("battery", "metal", 0.0612, 0.0433, 2.60),
    Material("steel", "metal", 0.0600, 0.0427, 7.87),
    Material("copper", "metal", 0.0590, 0.0420, 8.96),
    Material("lead", "metal", 0.0710, 0.0461, 11.35),
)
MATERIALS: dict[str, Material] = {m.name: m for m in _MATERIAL_LIST}

# What a cubic centimetre of a load holds, as (material, solid volume fraction).
Mix = tuple[tuple[str, float], ...]
CONTRABAND: dict[str, Mix] = {
    "cigarettes": (("cellulose", 0.45),),
    "drugs": (("cellulose", 0.7), ("polymer", 0.1)),
    "cash": (("cellulose", 0.55),),
    "firearms": (("steel", 0.12), ("polymer", 0.08)),
    "metal_bars": (("copper", 0.6),),
    "electronics": (("pcb", 0.12), ("battery", 0.08), ("aluminium", 0.05), ("polymer", 0.1)),
}
GOODS: dict[str, Mix] = {
    "textiles": (("cellulose", 0.12),),
    "cigarettes": (("cellulose", 0.3),),
    "electronics": (("polymer", 0.08), ("pcb", 0.04), ("aluminium", 0.03), ("battery", 0.02)),
    "beverages": (("water", 0.45), ("glass", 0.06)),
    "machinery": (("steel", 0.07), ("polymer", 0.02)),
    "frozen_food": (("water", 0.6), ("polymer", 0.02)),
    "furniture": (("wood", 0.3), ("steel", 0.01)),
}


# --------------------------------------------------------------------------- what a real portal adds


@dataclass(frozen=True)
class Realism:
    """What a real portal does to a scan, each drawn per scan from its range (``ScanConditions``):

    * ``gain`` and ``offset_grey_levels``: a brighter or darker scanner, or an export lifted or lowered by
      some 8-bit grey levels (257 counts each), clipped to 0..65535 (the air clips when lifted);
    * ``along_ratio``: pixels this many times longer along the vehicle than across (the scanner states
      it: ``pixel_size_along_mm``); the scan has that many times fewer columns;
    * ``speed_variation``: the vehicle's speed past the portal varies along it by up to this share (the
      scanner does not know: the stated pixel size is its mean), in one of ``SPEED_PROFILES`` drawn per
      scan: a slow sine of half a cycle to two along the scan, a steady ramp (accelerating or braking
      through the portal), or a stop-and-go (the speed dips, or surges, over part of the vehicle and
      recovers);
    * ``eight_bit``: the counts rounded to 8-bit grey levels (an export), before the level change;
    * ``trailers``: a container carried by any of the tractor models and any of the trailer models
      (``TRACTOR_NAMES``, ``TRAILER_NAMES``), drawn per scan, instead of always ``tractor-1`` and
      ``skeletal-1`` (``DEFAULT_RIG``);
    * ``photons_scale``: the scan's photon count per pixel this many times the simulator's (log-uniform
      in the range): a scanner brighter or noisier than the one the plugin was configured for;
    * ``frame_shift_cm``: the scan starts this much later (negative: earlier) than the reference's, as
      a portal's trigger varies, so the vehicle sits that much further back in it (air let in at one end,
      cut at the other);
    * ``across_factor``: rows this many times taller than the simulator's (each the average of that
      many: a detector of coarser pitch), the scan that many times fewer rows; with ``coarse``, also
      ``along_ratio`` 4.1-6.1 (a real portal's 20-30 mm along), whatever ``pixels`` says;
    * ``road_cm``: the scan's lowest rows show this much road and foundation below the ground line,
      nearly opaque, instead of the rendering's air (the scan has more or fewer rows);
    * ``row_gain_sd``, ``weak_boards``, ``pulse_sd``: a flat-field correction's residuals: each detector
      row's gain off by a standard deviation drawn in the range, up to ``weak_boards`` boards of
      neighbouring rows a few per cent low, and each column's dose (the linac's pulse) off by a standard
      deviation drawn in its range;
    * ``body_lift_cm``: the body rides up to this much higher or lower on its wheels (which stay on the
      ground) than the reference's;
    * ``scatter_share``: the detectors also see this share of the signal scattered by the vehicle and its
      load, spread over tens of centimetres (``SCATTER_SPREAD_CM``): dark parts read lighter beside
      bright air and darker beside a full cargo space. References are rendered without;
    * ``fuel_level``: the vehicle's fuel tanks hold fuel to this share of their height, drawn in
      ``FUEL_LEVEL``, where the reference's car holds 60 % and the others are full (a compartment in a
      tank keeps its own columns as the concealment made them);
    * ``stop_depth``: in ``STOP_SHARE`` of the scans the vehicle's speed dips by a share drawn in this
      range over a short part of the pass (``STOP_WIDTH``), as when a driver brakes in the portal: the
      scan has more columns, those of the dip each showing a sliver of the vehicle, and the scanner
      states the pass's mean pixel size along it.

    The default changes nothing; ``Realism.portal()`` is a real portal's spread.
    """

    gain: tuple[float, float] = (1.0, 1.0)
    offset_grey_levels: tuple[float, float] = (0.0, 0.0)
    along_ratio: tuple[float, float] = (1.0, 1.0)
    speed_variation: float = 0.0
    eight_bit: bool = False
    trailers: bool = False
    photons_scale: tuple[float, float] = (1.0, 1.0)
    across_factor: tuple[float, float] = (1.0, 1.0)
    frame_shift_cm: float = 0.0
    road_cm: tuple[float, float] = (0.0, 0.0)
    row_gain_sd: tuple[float, float] = (0.0, 0.0)
    weak_boards: int = 0
    pulse_sd: tuple[float, float] = (0.0, 0.0)
    body_lift_cm: float = 0.0
    scatter_share: tuple[float, float] = (0.0, 0.0)
    fuel_level: tuple[float, float] | None = None
    stop_depth: tuple[float, float] | None = None

    @classmethod
    def portal(cls, kinds: tuple[str, ...] = REALISM_KINDS) -> Realism:
        """A real portal's spread of the ``kinds`` named (default all): ``levels`` gain 0.9-1.1 and offset
        -15..+15 grey levels, ``pixels`` 1-2 times longer along the vehicle, ``speed`` within 3 %,
        ``eight_bit`` an 8-bit export, ``trailers`` any tractor and trailer under a container, ``photons``
        a photon count a quarter to four times the simulator's, ``coarse`` a real portal's pixel sizes
        (8-17 mm across, 20-30 mm along), ``framing`` its trigger, ``road`` the road under the vehicle
        in its lowest rows, ``detector`` a flat-field correction's residuals, ``suspension`` the body at
        another height on its wheels, ``scatter`` 0.5-4 % of the signal scattered, ``fuel`` the tanks
        filled to another level, ``stops`` the vehicle slowing almost to a halt in half the scans."""
        known = (*REALISM_KINDS, *EXTRA_REALISM_KINDS)
        unknown = set(kinds) - set(known)
        if unknown:
            raise ValueError(f"unknown variation(s) {sorted(unknown)}: choose from {known}")
        levels, coarse, detector = "levels" in kinds, "coarse" in kinds, "detector" in kinds
        return cls(
            (0.9, 1.1) if levels else (1.0, 1.0),
            (-15.0, 15.0) if levels else (0.0, 0.0),
            COARSE_ALONG if coarse else (1.0, 2.0) if "pixels" in kinds else (1.0, 1.0),
            0.03 if "speed" in kinds else 0.0,
            "eight_bit" in kinds,
            "trailers" in kinds,
            PHOTONS_SCALE if "photons" in kinds else (1.0, 1.0),
            COARSE_ACROSS if coarse else (1.0, 1.0),
            FRAMING_CM if "framing" in kinds else 0.0,
            ROAD_CM if "road" in kinds else (0.0, 0.0),
            ROW_GAIN_SD if detector else (0.0, 0.0),
            WEAK_BOARDS if detector else 0,
            PULSE_SD if detector else (0.0, 0.0),
            BODY_LIFT_CM if "suspension" in kinds else 0.0,
            SCATTER_SHARE if "scatter" in kinds else (0.0, 0.0),
            FUEL_LEVEL if "fuel" in kinds else None,
            STOP_DEPTH if "stops" in kinds else None,
        )

    def draw(self, rng: np.random.Generator) -> ScanConditions:
        return ScanConditions(
            float(rng.uniform(*self.gain)),
            float(rng.uniform(*self.offset_grey_levels)),
            float(rng.uniform(*self.along_ratio)),
            float(rng.uniform(-self.speed_variation, self.speed_variation)),
            float(rng.uniform(0.0, 2 * math.pi)),
            self.eight_bit,
            # drawn after the others, so a scan's levels and pixels do not depend on the speed's shape
            SPEED_PROFILES[int(rng.integers(len(SPEED_PROFILES)))],
            float(rng.uniform(0.5, 2.0)),
            float(rng.uniform(0.15, 0.85)),
            float(rng.uniform(0.04, 0.2)),
            *self._rig(rng),
            # log-uniform in the range; 1 when the range is (1, 1)
            float(np.exp(rng.uniform(*np.log(self.photons_scale)))),
            float(rng.uniform(*self.across_factor)),  # drawn last: the other draws stay the same
            float(rng.uniform(-self.frame_shift_cm, self.frame_shift_cm)),
            # drawn after the others, so that the other draws stay the same
            float(rng.uniform(*self.road_cm)),
            float(rng.uniform(*ROAD_ATTENUATION)),
            float(rng.uniform(*self.row_gain_sd)),
            int(rng.integers(self.weak_boards + 1)),
            float(rng.uniform(*self.pulse_sd)),
            int(rng.integers(1, 2**31)),
            float(rng.uniform(-self.body_lift_cm, self.body_lift_cm)),
            float(rng.uniform(*self.scatter_share)),
            self._fuel(rng),  # drawn after the others: they stay the same
            *self._stop(rng),  # drawn last: the other draws stay the same
        )

    def _stop(self, rng: np.random.Generator) -> tuple[float, float, float]:
        """(depth, centre, width) of the scan's stop, depth 0 for none: drawn whether or not it varies."""
        stops = rng.random() < STOP_SHARE
        depth = float(rng.uniform(*(self.stop_depth or STOP_DEPTH)))
        centre, width = float(rng.uniform(*STOP_CENTRE)), float(rng.uniform(*STOP_WIDTH))
        return (depth if stops and self.stop_depth is not None else 0.0), centre, width

    def _fuel(self, rng: np.random.Generator) -> float | None:
        """The tanks' fuel level (a share of their height), None to keep the reference's: drawn whether
        or not it varies."""
        level = float(rng.uniform(*(self.fuel_level or FUEL_LEVEL)))
        return level if self.fuel_level is not None else None

    def _rig(self, rng: np.random.Generator) -> tuple[str, str]:
        """The tractor and trailer under a container ("" for the default rig): drawn whether or not they
        vary, so that the other draws stay the same."""
        tractor = TRACTOR_NAMES[int(rng.integers(len(TRACTOR_NAMES)))]
        trailer = TRAILER_NAMES[int(rng.integers(len(TRAILER_NAMES)))]
        return (tractor, trailer) if self.trailers else ("", "")


@dataclass(frozen=True)
class ScanConditions:
    """One scan's draw of ``Realism``: what was done to it (in its truth)."""

    gain: float = 1.0
    offset_grey_levels: float = 0.0
    along_ratio: float = 1.0
    speed_variation: float = 0.0  # the speed's largest relative change along the scan (signed)
    speed_phase: float = 0.0  # of the sine
    eight_bit: bool = False
    speed_profile: str = "sine"  # one of SPEED_PROFILES
    speed_cycles: float = 1.0  # of the sine along the scan
    speed_centre: float = 0.5  # of a stop-and-go's dip, a share of the scan's length
    speed_width: float = 0.1  # of the dip (its standard deviation), a share of the scan's length
    tractor: str = ""  # under a container; "" the default rig's
    trailer: str = ""
    photons_scale: float = 1.0  # the scan's photon count against the simulator's
    across_factor: float = 1.0  # rows averaged into one (a coarser detector pitch)
    frame_shift_cm: float = 0.0  # the vehicle this much further back in the scan than in the rendering
    road_cm: float = 0.0  # road and foundation in the lowest rows, below the ground line; 0: air
    road_attenuation: float = 5.0  # of the road rows, at high energy
    row_gain_sd: float = 0.0  # each detector row's gain residual
    weak_boards: int = 0  # boards of BOARD_ROWS rows WEAK_BOARD_LOSS low
    pulse_sd: float = 0.0  # each column's dose residual
    detector_seed: int = 0  # of the rows' and pulses' draws
    body_lift_cm: float = 0.0  # the body this much higher on its wheels than in the rendering's
    scatter_share: float = 0.0  # of the signal scattered onto the detectors
    fuel_level: float | None = None  # share of the tanks' height holding fuel; None: the reference's
    stop_depth: float = 0.0  # the speed's dip as a share of it, 0: no stop
    stop_centre: float = 0.5  # of the dip, a share of the pass (drawn as a share of the vehicle)
    stop_width: float = 0.05  # of the dip (its standard deviation), a share of the pass

    @property
    def changes_geometry(self) -> bool:
        return self.along_ratio != 1.0 or self.speed_variation != 0.0 or self.stop_depth != 0.0

    def rows(self, height: int) -> int:
        """The output scan's rows for a rendering of ``height``."""
        return max(1, round(height / self.across_factor))

    def source_columns(self, width: int) -> np.ndarray:
        """For each column of the output scan, the (fractional) column of the square-pixel rendering it
        shows: the vehicle moved ``along_ratio`` square pixels per column, give or take the speed's sine."""
        out = max(1, round(width / self.along_ratio))
        u = np.arange(out + 1, dtype=np.float64)
        columns = (u + self.speed_variation * self._drift(u, out)) * (width / out)
        return self._stopped(columns, width) if self.stop_depth else columns

    def _stopped(self, columns: np.ndarray, width: int) -> np.ndarray:
        """``columns`` with the vehicle slowed by ``stop_depth`` around ``stop_centre``: each column's step
        shrunk by the dip, more columns added (at the last step) until the rendering's ``width`` is
        passed, the last column at it."""
        out = len(columns) - 1
        centre, spread = self.stop_centre * out, max(self.stop_width * out, 1.0)
        extra = math.ceil(self.stop_depth * spread * math.sqrt(2 * math.pi) / (1 - self.stop_depth)) + 2
        steps = np.diff(columns)
        steps = np.concatenate((steps, np.full(extra, steps[-1])))
        middle = np.arange(len(steps), dtype=np.float64) + 0.5
        steps *= 1 - self.stop_depth * np.exp(-0.5 * ((middle - centre) / spread) ** 2)
        moved = np.concatenate(([0.0], np.cumsum(steps)))
        last = int(np.searchsorted(moved, width))  # the first column at or past the rendering's end
        moved = moved[: last + 1]
        moved[-1] = min(moved[-1], float(width))
        return moved

    def _drift(self, u: np.ndarray, out: int) -> np.ndarray:
        """The integral over output columns 0..u of the speed's relative change at unit amplitude."""
        if self.speed_profile == "sine":
            period = out / self.speed_cycles
            return (
                period
                / (2 * math.pi)
                * (math.cos(self.speed_phase) - np.cos(2 * math.pi * u / period + self.speed_phase))
            )
        if self.speed_profile == "ramp":  # from -1 to +1 along the scan
            return np.asarray(u * u / out - u)
        if self.speed_profile == "stop_and_go":  # a dip of depth 1 and standard deviation width
            centre, spread = self.speed_centre * out, max(self.speed_width * out, 1.0)
            fine = np.exp(-0.5 * ((u - centre) / spread) ** 2)
            return -np.concatenate(([0.0], np.cumsum((fine[1:] + fine[:-1]) / 2)))
        raise ValueError(f"unknown speed profile {self.speed_profile!r}: choose from {SPEED_PROFILES}")

    def apply(self, image: np.ndarray, pixel_size_mm: float = 0.0) -> np.ndarray:
        """A uint16 [2, H, W] square-pixel scan (of ``pixel_size_mm``, for the road) as this portal gives
        it."""
        counts: np.ndarray = image.astype(np.float32)
        height = counts.shape[1]
        if self.scatter_share and pixel_size_mm:  # in the vehicle's own geometry, before the portal's
            counts = self._scattered(counts, pixel_size_mm / 10)
        if self.changes_geometry:
            counts = self._resampled(counts)
        if self.across_factor != 1.0:  # each row the average of the rendering's rows it spans
            rows = self.rows(counts.shape[1])
            counts = np.stack(
                [cv2.resize(c, (c.shape[1], rows), interpolation=cv2.INTER_AREA) for c in counts]
            )
        if self.road_cm and pixel_size_mm:
            counts = self._on_road(counts, pixel_size_mm * height / counts.shape[1] / 10)
        if self.row_gain_sd or self.weak_boards or self.pulse_sd:
            counts = counts * self._detector_gain(counts.shape[1], counts.shape[2])
        if self.eight_bit:
            counts = np.round(counts / 257) * 257
        counts = counts * self.gain + self.offset_grey_levels * 257
        return np.clip(np.round(counts), 0, 65535).astype(np.uint16)

    def _scattered(self, counts: np.ndarray, pixel_cm: float) -> np.ndarray:
        """The signal plus ``scatter_share`` of it spread (``SCATTER_SPREAD_CM``), renormalised so that
        air stays at full scale."""
        out = np.empty_like(counts)
        for channel, signal in enumerate(counts):
            spread = np.zeros_like(signal)
            for sigma_cm, share in zip(
                SCATTER_SPREAD_CM, (1 - SCATTER_BROAD_SHARE, SCATTER_BROAD_SHARE), strict=True
            ):
                spread += share * _blurred(signal, sigma_cm / pixel_cm)
            out[channel] = (signal + self.scatter_share * spread) / (1 + self.scatter_share)
        return out

    def road_rows(self, rows: int, pixel_cm: float) -> int:
        """How many rows a scan of ``rows`` rows of ``pixel_cm`` has with its road: the rows below the
        ground line are ``road_cm`` of road instead of the rendering's ``GROUND_MARGIN_CM`` of air."""
        return rows - round(GROUND_MARGIN_CM / pixel_cm) + max(1, round(self.road_cm / pixel_cm))

    def _on_road(self, counts: np.ndarray, pixel_cm: float) -> np.ndarray:
        """The rows below the ground line replaced by ``road_cm`` of road (more or fewer rows)."""
        ground = counts.shape[1] - round(GROUND_MARGIN_CM / pixel_cm)
        total = self.road_rows(counts.shape[1], pixel_cm)
        out = np.empty((counts.shape[0], total, counts.shape[2]), dtype=np.float32)
        out[:, :ground] = counts[:, :ground]
        high = math.exp(-self.road_attenuation)
        out[0, ground:] = FULL_SCALE_COUNTS * high
        out[1:, ground:] = FULL_SCALE_COUNTS * high**LOW_TO_HIGH_ATTENUATION
        return out

    def _detector_gain(self, rows: int, columns: int) -> np.ndarray:
        """float32 [rows, columns]: each row's gain residual (some boards weak) times each column's dose."""
        rng = np.random.default_rng(self.detector_seed)
        row = rng.normal(1.0, self.row_gain_sd, rows) if self.row_gain_sd else np.ones(rows)
        for _ in range(self.weak_boards):
            size = int(rng.integers(BOARD_ROWS[0], BOARD_ROWS[1] + 1))
            first = int(rng.integers(max(rows - size, 0) + 1))
            row[first : first + size] *= 1 - rng.uniform(*WEAK_BOARD_LOSS)
        pulse = rng.normal(1.0, self.pulse_sd, columns) if self.pulse_sd else np.ones(columns)
        return (row[:, None] * pulse[None, :]).astype(np.float32)

    def _resampled(self, counts: np.ndarray) -> np.ndarray:
        height, width = counts.shape[1:]
        columns = self.source_columns(width)
        # the pixel integrates what passes during its time: average over its span, then sample
        span = max(1, round(float(np.max(np.diff(columns)))))
        map_x = np.broadcast_to(
            (columns[:-1] + np.diff(columns) / 2 - 0.5).astype(np.float32), (height, len(columns) - 1)
        )
        map_y = np.broadcast_to(np.arange(height, dtype=np.float32)[:, None], map_x.shape)
        out = []
        for channel in counts:
            smoothed = cv2.blur(channel, (span, 1)) if span > 1 else channel
            out.append(
                cv2.remap(
                    smoothed,
                    np.ascontiguousarray(map_x),
                    np.ascontiguousarray(map_y),
                    cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE,
                )
            )
        return np.stack(out)

    def box(self, box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
        """A box of the square-pixel rendering (``width`` x ``height``) in the output scan's pixels."""
        x0, y0, x1, y1 = box
        if self.across_factor != 1.0:
            scale = self.rows(height) / height
            y0, y1 = math.floor(y0 * scale), max(math.ceil(y1 * scale), math.floor(y0 * scale) + 1)
        if not self.changes_geometry:
            return x0, y0, x1, y1
        columns = self.source_columns(width)
        u = np.interp([x0, x1], columns, np.arange(len(columns), dtype=np.float64))
        out = len(columns) - 1
        x0 = min(max(math.floor(u[0]), 0), out - 1)
        return (x0, y0, max(min(math.ceil(u[1]), out), x0 + 1), y1)

    def as_dict(self) -> dict[str, object]:
        return {
            "gain": round(self.gain, 4),
            "offset_grey_levels": round(self.offset_grey_levels, 2),
            "along_ratio": round(self.along_ratio, 4),
            "speed_variation": round(self.speed_variation, 4),
            "speed_profile": self.speed_profile,
            "eight_bit": self.eight_bit,
            "photons_scale": round(self.photons_scale, 4),
            "across_factor": round(self.across_factor, 4),
            "frame_shift_cm": round(self.frame_shift_cm, 1),
            "road_cm": round(self.road_cm, 1),
            "row_gain_sd": round(self.row_gain_sd, 5),
            "weak_boards": self.weak_boards,
            "pulse_sd": round(self.pulse_sd, 5),
            "body_lift_cm": round(self.body_lift_cm, 2),
            "scatter_share": round(self.scatter_share, 4),
            "fuel_level": None if self.fuel_level is None else round(self.fuel_level, 3),
            "stop_depth": round(self.stop_depth, 3),
            "stop_centre": round(self.stop_centre, 3),
            "stop_width": round(self.stop_width, 4),
        }


NO_CHANGE = ScanConditions()


def _blurred(signal: np.ndarray, sigma_px: float) -> np.ndarray:
    """``signal`` through a Gaussian of ``sigma_px``: a wide one on an image reduced by a quarter of it,
    then enlarged again (smooth at that scale anyway)."""
    height, width = signal.shape
    factor = max(1, int(sigma_px // 4))
    small = cv2.resize(
        signal, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (0, 0), max(sigma_px / factor, 0.5), borderType=cv2.BORDER_REPLICATE)
    return np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR))


@dataclass(frozen=True, slots=True)
class ConcealmentTruth:
    """Ground truth of a concealment: box (x_min, y_min, x_max, y_max) in pixels, max exclusive.

    category is the material category carrying most of its mass (see ``xray.MATERIAL_CATEGORIES``).
    """

    kind: str
    label: str
    category: str
    location: str
    box: tuple[int, int, int, int]
    mass_kg: float


@dataclass(frozen=True, slots=True, eq=False)
class VehicleScan:
    """One portal scan: uint16 (2, H, W), channel 0 high energy, 65535 = no attenuation.

    offset_px: (dx, dy) of this scan against ``reference(model)``: scan[y + dy, x + dx] ~ reference[y, x].
    declared_goods: the declared load ("" when declared empty); declared_box its pixel box.
    """

    image: np.ndarray
    model: str
    kind: str
    offset_px: tuple[float, float]
    declared_goods: str
    declared_box: tuple[int, int, int, int] | None
    concealments: tuple[ConcealmentTruth, ...]
    pixel_size_mm: float  # across the vehicle (between rows); along it too unless pixel_size_along_mm
    pixel_size_along_mm: float | None = None  # set when the pixels are longer along the vehicle
    conditions: ScanConditions = NO_CHANGE  # what the portal did to it (``Realism``)
    rig: Rig | None = None  # a container vehicle's tractor, trailer and container type


def _mix_pieces(
    mix: Mix, x0: float, x1: float, z0: float, z1: float, depth: float, profile: int
) -> list[Piece]:
    return [Slab(material, x0, x1, z0, z1, depth * fraction, profile=profile) for material, fraction in mix]


def _mix_mass_kg(mix: Mix, volume_cm3: float) -> float:
    return sum(MATERIALS[material].density_g_cm3 * fraction for material, fraction in mix) * volume_cm3 / 1000


def _mix_category(mix: Mix) -> str:
    mass = {c: 0.0 for c in MATERIAL_CATEGORIES}
    for material, fraction in mix:
        mass[MATERIALS[material].category] += MATERIALS[material].density_g_cm3 * fraction
    return max(mass, key=lambda c: mass[c])


def _pallet(
    goods: Mix, x0: float, z0: float, stack_cm: float, depth: float, rng: np.random.Generator
) -> list[Piece]:
    """A wooden pallet with a stack of cartons of goods, two pallets abreast across the beam."""
    load = 0.85 * depth
    pieces: list[Piece] = [Slab("wood", x0, x0 + 120, z0, z0 + 14, 0.35 * load)]
    pieces += _mix_pieces(goods, x0, x0 + 120, z0 + 14, z0 + 14 + stack_cm, load, _kernels.SLAB_FLAT)
    carton = rng.uniform(30, 55)
    for z in np.arange(z0 + 14 + carton, z0 + 14 + stack_cm - 5, carton):
        pieces.append(Slab("cellulose", x0, x0 + 120, z, z + 0.6, 0.08 * load))  # carton walls
    for x in (x0 + 40, x0 + 80):
        pieces.append(Slab("cellulose", x - 0.3, x + 0.3, z0 + 14, z0 + 14 + stack_cm, 0.08 * load))
    return pieces


# --------------------------------------------------------------------------- the simulator


@dataclass
class _Canvas:
    height: int
    width: int
    pixel_cm: float
    origin_x_cm: float  # image x of the front bumper
    ground_y_cm: float  # image y of the ground
    body_lift_cm: float = 0.0  # everything but the wheels (rings) drawn this much higher
    line_integral: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.line_integral = np.zeros((2, self.height, self.width), dtype=np.float32)

    def paint(self, piece: Piece, sign: float = 1.0) -> None:
        material, px = MATERIALS[piece.material], self.pixel_cm
        high = sign * material.mu_high_per_cm * piece.thickness_cm
        low = sign * material.mu_low_per_cm * piece.thickness_cm
        if isinstance(piece, Ring):
            x, y = (self.origin_x_cm + piece.x) / px, (self.ground_y_cm - piece.z) / px
            _kernels._add_ring(self.line_integral, y, x, piece.r_inner / px, piece.r_outer / px, high, low)
            return
        top_x0 = piece.x0 if piece.top_x0 is None else piece.top_x0
        top_x1 = piece.x1 if piece.top_x1 is None else piece.top_x1
        body_y_cm = self.ground_y_cm - self.body_lift_cm
        _kernels._add_slab(
            self.line_integral,
            (body_y_cm - piece.z1) / px,
            (body_y_cm - piece.z0) / px,
            (self.origin_x_cm + top_x0) / px,
            (self.origin_x_cm + top_x1) / px,
            (self.origin_x_cm + piece.x0) / px,
            (self.origin_x_cm + piece.x1) / px,
            high,
            low,
            piece.profile,
        )

    def box_px(self, extent_cm: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        x0, z0, x1, z1 = extent_cm
        px = self.pixel_cm
        left, right = (self.origin_x_cm + x0) / px, (self.origin_x_cm + x1) / px
        body_y_cm = self.ground_y_cm - self.body_lift_cm  # boxes are of the body's pieces
        top, bottom = (body_y_cm - z1) / px, (body_y_cm - z0) / px
        return (
            min(max(math.floor(left), 0), self.width - 1),
            min(max(math.floor(top), 0), self.height - 1),
            max(min(math.ceil(right), self.width), 1),
            max(min(math.ceil(bottom), self.height), 1),
        )


class VehicleSimulator:
    """Deterministic portal scans: the same (seed, index) always gives the same scan.

    A fraction ``concealment_rate`` of scans holds one concealment; goods vehicles are declared empty
    with probability ``empty_rate``, else declared with pallets of one kind of goods. ``models`` limits
    the models drawn (default: all of ``MODEL_NAMES``). ``realism`` (None: none) draws per scan what a
    real portal changes (levels, pixels longer along the vehicle, speed variation), from a random stream
    of its own: the vehicle, load, concealment and noise of a scan are the same with or without it.
    """

    def __init__(
        self,
        seed: int,
        height: int = 1024,
        width: int = 3072,
        *,
        concealment_rate: float = 0.2,
        empty_rate: float = 0.4,
        models: tuple[str, ...] = MODEL_NAMES,
        photons_per_pixel: tuple[float, float] | None = DEFAULT_PHOTONS_PER_PIXEL,
        realism: Realism | None = None,
    ) -> None:
        if seed < 0:
            raise ValueError("seed must be non-negative")
        if height < 64 or width < 64:
            raise ValueError("height and width must be at least 64 pixels")
        if not (0.0 <= concealment_rate <= 1.0 and 0.0 <= empty_rate <= 1.0):
            raise ValueError("concealment_rate and empty_rate must be within [0, 1]")
        unknown = set(models) - set(MODEL_NAMES)
        if not models or unknown:
            raise ValueError(
                f"models must be a non-empty subset of {MODEL_NAMES}, unknown: {sorted(unknown)}"
            )
        self.seed, self.height, self.width = seed, height, width
        self.concealment_rate, self.empty_rate = concealment_rate, empty_rate
        self.models = tuple(models)
        self.photons_per_pixel = photons_per_pixel
        self.realism = realism
        self.pixel_cm = PORTAL_HEIGHT_CM / height

    @property
    def pixel_size_mm(self) -> float:
        return self.pixel_cm * 10

    def reference(self, model: str) -> VehicleScan:
        """The database image of a model: empty, at offset 0, without noise."""
        spec = model_named(model)
        canvas = self._canvas(0.0, 0.0)
        for piece in layout(spec).pieces:
            canvas.paint(piece)
        image = transmission_image(canvas.line_integral)
        image.flags.writeable = False
        rig = DEFAULT_RIG if spec.kind == "container" else None
        return VehicleScan(image, spec.name, spec.kind, (0.0, 0.0), "", None, (), self.pixel_size_mm, rig=rig)

    def reference_part(self, part: str, name: str) -> VehicleScan:
        """The database image of one part of a container vehicle (``RIG_PARTS``): a tractor model
        (``TRACTOR_NAMES``), a trailer model (``TRAILER_NAMES``) or a container type (``CONTAINER_TYPES``),
        alone, empty, without noise, where it sits in ``reference("container-20ft")`` with the default
        rig's other parts (a trailer on ``tractor-1``, a container on ``skeletal-1``). Its ``model`` is
        the part's name, its ``kind`` the part."""
        if part not in RIG_PARTS:
            raise ValueError(f"unknown part {part!r}: one of {RIG_PARTS}")
        rig = dataclasses.replace(DEFAULT_RIG, **{"container_type" if part == "container" else part: name})
        spec = model_named("container-20ft")
        canvas = self._canvas(0.0, 0.0)
        for piece in rig_parts(spec, rig)[part].pieces:
            canvas.paint(piece)
        image = transmission_image(canvas.line_integral)
        image.flags.writeable = False
        return VehicleScan(image, name, part, (0.0, 0.0), "", None, (), self.pixel_size_mm, rig=rig)

    def generate(
        self, index: int, *, model: str | None = None, concealment: str | None = "auto"
    ) -> VehicleScan:
        """Scan number ``index``.

        model: None draws one of ``models``. concealment: "auto" conceals with probability
        ``concealment_rate`` (a kind that fits the vehicle and its declaration); None never; a kind from
        ``CONCEALMENT_KINDS`` always (ValueError where it cannot apply, e.g. extra load in a car).
        """
        if index < 0:
            raise ValueError("index must be non-negative")
        if concealment not in (None, "auto", *CONCEALMENT_KINDS):
            raise ValueError(f"concealment must be 'auto', None or one of {CONCEALMENT_KINDS}")
        choice_seq, scene_seq, conceal_seq, noise_seq, portal_seq = np.random.SeedSequence(
            [self.seed, index]
        ).spawn(5)
        choice_rng, scene_rng = np.random.default_rng(choice_seq), np.random.default_rng(scene_seq)
        drawn = self.models[int(choice_rng.integers(len(self.models)))]
        spec = model_named(drawn if model is None else model)
        offset_cm = (
            choice_rng.uniform(-OFFSET_X_CM, OFFSET_X_CM),
            choice_rng.uniform(-OFFSET_Y_CM, OFFSET_Y_CM),
        )
        conditions = None
        if self.realism is not None:  # its own stream: drawn first, the scan's other draws are unchanged
            conditions = self.realism.draw(np.random.default_rng(portal_seq))
        rig = None
        if spec.kind == "container":
            rig = DEFAULT_RIG
            if conditions is not None and conditions.tractor:
                rig = Rig(conditions.tractor, conditions.trailer, DEFAULT_RIG.container_type)
            spec = rig_model(spec, rig)
        canvas = self._canvas(*offset_cm)
        if conditions is not None:
            canvas.body_lift_cm = conditions.body_lift_cm
        parts = layout(spec, rig or DEFAULT_RIG)
        for piece in parts.pieces:
            canvas.paint(piece)
        goods, pallets, cargo_end = self._declared_load(scene_rng, spec, canvas)
        declared_box = canvas.box_px(extent(pallets)) if pallets else None
        truth = self._conceal(
            np.random.default_rng(conceal_seq), spec, parts, canvas, goods, cargo_end, concealment
        )
        if conditions is not None and conditions.fuel_level is not None:
            _refuel(canvas, parts, conditions.fuel_level, truth)
        photons = self.photons_per_pixel
        if photons is not None and conditions is not None and conditions.photons_scale != 1.0:
            photons = (photons[0] * conditions.photons_scale, photons[1] * conditions.photons_scale)
        image = transmission_image(
            canvas.line_integral,
            photons_per_pixel=photons,
            noise_seed=int(noise_seq.generate_state(1, np.uint64)[0]),
        )
        offset_px = (offset_cm[0] / self.pixel_cm, -offset_cm[1] / self.pixel_cm)
        scan = VehicleScan(
            image, spec.name, spec.kind, offset_px, goods, declared_box, truth, self.pixel_size_mm, rig=rig
        )
        if conditions is not None:
            scan = _as_portal_gives_it(scan, conditions)
        scan.image.flags.writeable = False
        return scan

    def _canvas(self, dx_cm: float, dz_cm: float) -> _Canvas:
        return _Canvas(
            self.height,
            self.width,
            self.pixel_cm,
            FRONT_MARGIN_CM + dx_cm,
            self.height * self.pixel_cm - GROUND_MARGIN_CM - dz_cm,
        )

    def _declared_load(
        self, rng: np.random.Generator, spec: VehicleModel, canvas: _Canvas
    ) -> tuple[str, list[Piece], float]:
        """Paint the declared pallets; return the goods ("" for empty), their pieces, where they end."""
        empty, goods = rng.random() < self.empty_rate, list(GOODS)[int(rng.integers(len(GOODS)))]
        if spec.cargo_cm is None:
            return "", [], 0.0
        x0, x1, z0, z1 = spec.cargo_cm
        slots = int((x1 - x0) // 125)
        count = 0 if empty else int(rng.integers(1, max(2, slots)))
        pieces: list[Piece] = []
        for slot in range(count):
            pieces += _pallet(
                GOODS[goods],
                x0 + 125 * slot,
                z0,
                (z1 - z0 - 14) * rng.uniform(0.55, 0.9),
                spec.width_cm - 20,
                rng,
            )
        for piece in pieces:
            canvas.paint(piece)
        return ("" if empty else goods), pieces, x0 + 125 * count

    def _conceal(
        self,
        rng: np.random.Generator,
        spec: VehicleModel,
        parts: Layout,
        canvas: _Canvas,
        goods: str,
        cargo_end: float,
        concealment: str | None,
    ) -> tuple[ConcealmentTruth, ...]:
        draw, pick = rng.random(), rng.random()
        kinds = ["hidden_compartment"]
        if spec.cargo_cm is not None and spec.cargo_cm[1] - cargo_end >= 125:
            kinds.append("extra_load" if goods else "undeclared_goods")
        kind = concealment
        if concealment == "auto":
            kind = (
                kinds[min(int(pick * len(kinds)), len(kinds) - 1)] if draw < self.concealment_rate else None
            )
        if kind is None:
            return ()
        if kind not in kinds:
            raise ValueError(f"{kind} does not apply to a {spec.name} declared {goods or 'empty'}")
        if kind == "hidden_compartment":
            return (self._hidden(rng, parts, canvas),)
        return (self._pallets(rng, spec, canvas, kind, cargo_end),)

    def _hidden(self, rng: np.random.Generator, parts: Layout, canvas: _Canvas) -> ConcealmentTruth:
        location = sorted(parts.voids)[int(rng.integers(len(parts.voids)))]
        void = parts.voids[location]
        label = list(CONTRABAND)[int(rng.integers(len(CONTRABAND)))]
        length = min((void.x1 - void.x0) * rng.uniform(0.35, 0.9), MAX_COMPARTMENT_CM)
        x0 = void.x0 + rng.uniform(0.0, void.x1 - void.x0 - length)
        depth = min(void.depth_cm * rng.uniform(0.5, 1.0), MAX_COMPARTMENT_CM)
        z1 = void.z1  # a tank is filled top to bottom; elsewhere goods stack up to a height
        if not void.displaced:
            z1 = void.z0 + min(void.z1 - void.z0, MAX_COMPARTMENT_CM) * rng.uniform(0.5, 1.0)
        mix = CONTRABAND[label]
        pieces = _mix_pieces(mix, x0, x0 + length, void.z0, z1, depth, void.profile)
        if void.displaced:
            canvas.paint(
                Slab(void.displaced, x0, x0 + length, void.z0, z1, depth, profile=void.profile), -1.0
            )
        for piece in pieces:
            canvas.paint(piece)
        chord = math.pi / 4 if void.profile == _kernels.SLAB_ROD else 1.0
        mass = _mix_mass_kg(mix, length * (z1 - void.z0) * depth * chord)
        return ConcealmentTruth(
            "hidden_compartment",
            label,
            _mix_category(mix),
            location,
            canvas.box_px(extent(pieces)),
            round(mass, 1),
        )

    def _pallets(
        self, rng: np.random.Generator, spec: VehicleModel, canvas: _Canvas, kind: str, cargo_end: float
    ) -> ConcealmentTruth:
        assert spec.cargo_cm is not None
        _, x1, z0, z1 = spec.cargo_cm
        room = int((x1 - cargo_end) // 125)
        count = int(rng.integers(1, min(room, 4) + 1))
        label = ("cigarettes", "electronics", "textiles", "beverages")[int(rng.integers(4))]
        pieces: list[Piece] = []
        for slot in range(count):
            pieces += _pallet(
                GOODS[label],
                cargo_end + 125 * slot,
                z0,
                (z1 - z0 - 14) * rng.uniform(0.55, 0.9),
                spec.width_cm - 20,
                rng,
            )
        for piece in pieces:
            canvas.paint(piece)
        ex0, ez0, ex1, ez1 = extent(pieces)
        mass = _mix_mass_kg(GOODS[label], 120 * count * (ez1 - ez0 - 14) * 0.85 * (spec.width_cm - 20))
        return ConcealmentTruth(
            kind,
            label,
            _mix_category(GOODS[label]),
            "cargo_space",
            canvas.box_px((ex0, ez0, ex1, ez1)),
            round(mass, 1),
        )


def _refuel(canvas: _Canvas, parts: Layout, level: float, truths: tuple[ConcealmentTruth, ...]) -> None:
    """The layout's tanks filled to ``level`` of their height instead of the reference's, except in the
    columns of a compartment in a tank (it displaced the fuel as the concealment drew it)."""
    kept = [c.box for c in truths if c.location == "fuel_tank"]
    for tank in parts.tanks:
        columns = [(tank.x0, tank.x1)]
        for x0, _, x1, _ in kept:  # the compartment's columns, in cm from the front bumper
            cm0, cm1 = x0 * canvas.pixel_cm - canvas.origin_x_cm, x1 * canvas.pixel_cm - canvas.origin_x_cm
            columns = [piece for a, b in columns for piece in ((a, min(b, cm0)), (max(a, cm1), b))]
        for slab, sign in tank.refilled(level, tuple(columns)):
            canvas.paint(slab, sign)


def _as_portal_gives_it(scan: VehicleScan, conditions: ScanConditions) -> VehicleScan:
    """``scan`` with ``conditions`` applied: its image, its boxes and offset in the output's columns."""
    if conditions.frame_shift_cm:
        scan = _reframed(scan, round(conditions.frame_shift_cm / (scan.pixel_size_mm / 10)))
    height, width = scan.image.shape[1:]
    if conditions.stop_depth:  # the vehicle stops while it is in the portal: its centre along the vehicle
        material = np.flatnonzero(scan.image[0].min(axis=0) < _MATERIAL_COUNTS)
        first, last = (material[0], material[-1] + 1) if len(material) else (0, width)
        centre = (first + conditions.stop_centre * (last - first)) / width
        conditions = dataclasses.replace(conditions, stop_centre=centre)
    image = conditions.apply(scan.image, scan.pixel_size_mm)
    scale = image.shape[2] / width
    rows = conditions.rows(height) / height  # the road adds or cuts rows below the ground, not pitch

    def box(b: tuple[int, int, int, int] | None) -> tuple[int, int, int, int] | None:
        return None if b is None else conditions.box(b, width, height)

    truths = tuple(
        dataclasses.replace(c, box=conditions.box(c.box, width, height)) for c in scan.concealments
    )
    coarse = conditions.changes_geometry or conditions.across_factor != 1.0
    along = scan.pixel_size_mm * conditions.along_ratio if coarse else None
    if conditions.stop_depth:  # the scanner states the pass's mean: longer than the columns it shows
        along = scan.pixel_size_mm * width / image.shape[2]
    return dataclasses.replace(
        scan,
        image=image,
        offset_px=(scan.offset_px[0] * scale, scan.offset_px[1] * rows),
        declared_box=box(scan.declared_box),
        concealments=truths,
        pixel_size_mm=scan.pixel_size_mm / rows,
        pixel_size_along_mm=along,
        conditions=conditions,
    )


def _reframed(scan: VehicleScan, columns: int) -> VehicleScan:
    """``scan`` started ``columns`` later (negative: earlier): its content that much further right, the
    air and road at the edge repeated in, its boxes and offset with it (cut at the scan's ends)."""
    width = scan.image.shape[2]
    padded = np.pad(scan.image, ((0, 0), (0, 0), (max(columns, 0), max(-columns, 0))), mode="edge")
    image = padded[:, :, max(-columns, 0) : max(-columns, 0) + width]

    def moved(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        x0 = min(max(box[0] + columns, 0), width - 1)
        return x0, box[1], max(min(box[2] + columns, width), x0 + 1), box[3]

    return dataclasses.replace(
        scan,
        image=np.ascontiguousarray(image),
        offset_px=(scan.offset_px[0] + columns, scan.offset_px[1]),
        declared_box=moved(scan.declared_box) if scan.declared_box else None,
        concealments=tuple(dataclasses.replace(c, box=moved(c.box)) for c in scan.concealments),
    )


# --------------------------------------------------------------------------- frames


def truth_dict(scan: VehicleScan) -> dict[str, object]:
    """The ground truth of a scan as JSON-ready values."""
    return {
        "model": scan.model,
        "kind": scan.kind,
        "offset_px": [round(v, 3) for v in scan.offset_px],
        "declared_goods": scan.declared_goods,
        "declared_box": list(scan.declared_box) if scan.declared_box else None,
        **({"rig": dataclasses.asdict(scan.rig)} if scan.rig is not None else {}),
        "conditions": scan.conditions.as_dict(),
        "concealments": [
            {
                "kind": c.kind,
                "label": c.label,
                "category": c.category,
                "location": c.location,
                "box": list(c.box),
                "mass_kg": c.mass_kg,
            }
            for c in scan.concealments
        ],
    }


def to_frame(
    scan: VehicleScan,
    *,
    source_id: str,
    sequence: int,
    frame_id: str | None = None,
    conveyance_id: str = "",
    declaration_id: str = "",
) -> frame_pb2.Frame:
    """A MODALITY_XRAY frame: raw little-endian uint16 [2, H, W]; energies and ground truth in metadata."""
    return array_to_frame(
        scan.image.astype("<u2", copy=False),
        modality=Modality.XRAY,
        source_id=source_id,
        sequence=sequence,
        frame_id=frame_id,
        conveyance_id=conveyance_id,
        declaration_id=declaration_id,
        metadata={
            "scanner": "vehicle_portal",
            "energy_high_mv": str(ENERGY_HIGH_MV),
            "energy_low_mv": str(ENERGY_LOW_MV),
            "channels": "high,low",
            "pixel_size_mm": f"{scan.pixel_size_mm:.4f}",
            **_pixel_sizes(scan),
            "vehicle_model": scan.model,
            **_rig_parts(scan),
            "declared_goods": scan.declared_goods or "empty",
            **_declared_pallets(scan),
            "sim_truth": json.dumps(truth_dict(scan)),
        },
    )


def _pixel_sizes(scan: VehicleScan) -> dict[str, str]:
    """Pixels longer along the vehicle than across: both sizes, as the scanner states them."""
    if scan.pixel_size_along_mm is None:
        return {}
    return {
        "pixel_size_along_mm": f"{scan.pixel_size_along_mm:.4f}",
        "pixel_size_across_mm": f"{scan.pixel_size_mm:.4f}",
    }


def _rig_parts(scan: VehicleScan) -> dict[str, str]:
    """A container vehicle's parts as a portal's readers give them: the container's size-type code (its
    ISO 6346 marking) and the tractor's and trailer's models (from their plates)."""
    if scan.rig is None:
        return {}
    rig = scan.rig
    return {"container_type": rig.container_type, "tractor_model": rig.tractor, "trailer_model": rig.trailer}


def _declared_pallets(scan: VehicleScan) -> dict[str, str]:
    """The quantity a manifest declares, from the declared load: 120 cm pallets, 5 cm apart."""
    if scan.declared_box is None:
        return {}
    along_mm = scan.pixel_size_along_mm or scan.pixel_size_mm
    length_cm = (scan.declared_box[2] - scan.declared_box[0]) * along_mm / 10
    return {"declared_pallets": str(round((length_cm + 5) / 125))}


def _measure(height: int = 1024, width: int = 3072, scans: int = 20) -> None:
    simulator = VehicleSimulator(seed=1, height=height, width=width)
    report_generation_time(simulator.generate, f"{height}x{width} dual-energy vehicle scan", scans)


if __name__ == "__main__":
    _measure()
