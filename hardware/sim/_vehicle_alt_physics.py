"""The physics of the independent vehicle portal generator (``vehicle_alt``): materials, a linac's
bremsstrahlung beam, an energy-integrating detector column and the image chain.

At MeV energies attenuation is Compton-dominated, so mass attenuation depends mostly on electrons per
gram (Z/A) and only a little, through pair production, on Z. Materials therefore fall into three
groups, each with its own mu/rho table (cm^2/g, NIST XCOM totals, rounded): ``organic`` (water as the
reference: diesel, rubber, wood, cargo goods, drugs, paper, tobacco), ``light`` (aluminium: glass,
ceramics, concrete) and ``iron`` (steel, cast iron, copper). A material's mass thickness is scaled by its
Z/A relative to its group's reference, so hydrogen-rich diesel attenuates a little more per gram than
paper. The scene is kept as mass thickness (g/cm^2) per group and pixel.

The beam is a thick-target bremsstrahlung spectrum (``(E0 - E) / E``) hardened by the tungsten target
and flattening filter, cut into energy bins; a thick CdWO4 detector weighs each bin by the energy it
absorbs, so thick steel hardens the beam. A portal is single energy (4-6 MV) or dual energy (6 / 4 MV,
channel 0 high).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

FULL_SCALE = 65535
GROUPS = ("organic", "light", "iron")
TABLE_MEV = np.array([0.3, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0])
_MU_RHO: Mapping[str, tuple[float, ...]] = {  # cm^2/g
    "organic": (0.1186, 0.0969, 0.0707, 0.0575, 0.0494, 0.0397, 0.0340, 0.0303, 0.0277, 0.0243),
    "light": (0.1032, 0.0844, 0.0615, 0.0500, 0.0432, 0.0354, 0.0311, 0.0284, 0.0266, 0.0241),
    "iron": (0.1060, 0.0840, 0.0599, 0.0500, 0.0426, 0.0362, 0.0331, 0.0315, 0.0306, 0.0299),
}
_TUNGSTEN_MU_RHO = (0.324, 0.148, 0.0661, 0.0508, 0.0443, 0.0404, 0.0398, 0.0403, 0.0413, 0.0435)
_CDWO4_MU_RHO = (0.230, 0.118, 0.0620, 0.0480, 0.0420, 0.0375, 0.0362, 0.0362, 0.0368, 0.0385)

# name -> (group, density g/cm^3, Z/A relative to the group's reference)
MATERIALS: Mapping[str, tuple[str, float, float]] = {
    "water": ("organic", 1.00, 1.0),
    "diesel": ("organic", 0.84, 1.03),
    "rubber": ("organic", 1.15, 0.99),
    "wood": ("organic", 0.60, 0.96),
    "plywood": ("organic", 0.70, 0.96),
    "foam": ("organic", 0.05, 1.0),
    "plastic": ("organic", 0.95, 1.03),
    "grp": ("organic", 1.80, 0.93),  # glass-reinforced polyester, cab panels and roof deflectors
    "cardboard": ("organic", 0.70, 0.96),
    "textile": ("organic", 1.00, 0.96),  # goods: density per use (bulk)
    "food": ("organic", 1.00, 0.99),
    "drugs": ("organic", 1.20, 0.97),
    "paper": ("organic", 0.90, 0.96),
    "tobacco": ("organic", 0.25, 0.96),
    "aluminium": ("light", 2.70, 1.0),
    "glass": ("light", 2.50, 1.03),
    "ceramic": ("light", 2.30, 1.03),
    "concrete": ("light", 2.30, 1.04),
    "steel": ("iron", 7.85, 1.0),
    "cast_iron": ("iron", 7.20, 1.0),
    "copper": ("iron", 8.96, 0.98),
}


def group_index(material: str) -> int:
    return GROUPS.index(MATERIALS[material][0])


def mass_per_cm(material: str, density: float | None = None) -> float:
    """g/cm^2 per cm of path, Z/A-scaled to the material's group."""
    _, nominal, z_over_a = MATERIALS[material]
    return (nominal if density is None else density) * z_over_a


def _interp(table: tuple[float, ...], energies_mev: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.exp(np.interp(np.log(energies_mev), np.log(TABLE_MEV), np.log(np.asarray(table))))
    return out


@cache
def beam(endpoint_mev: float, target_cm: float, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin energies (MeV) and detected-energy weights (summing to 1) of one linac beam."""
    fine = np.linspace(0.2, endpoint_mev - 0.05, 200)
    photons = (endpoint_mev - fine) / fine * np.exp(-_interp(_TUNGSTEN_MU_RHO, fine) * 19.3 * target_cm)
    absorbed = fine * (1 - np.exp(-_interp(_CDWO4_MU_RHO, fine) * 7.9 * 3.0))  # 3 cm of CdWO4
    weights = photons * absorbed
    edges = np.linspace(0, len(fine), bins + 1).astype(int)
    energies = np.array([np.average(fine[a:b], weights=weights[a:b]) for a, b in _pairs(edges)])
    totals = np.array([weights[a:b].sum() for a, b in _pairs(edges)])
    return energies, totals / totals.sum()


def _pairs(edges: np.ndarray) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def mu_rho(energies_mev: np.ndarray) -> np.ndarray:
    """[groups, bins] mass attenuation at the given energies."""
    return np.stack([_interp(_MU_RHO[group], energies_mev) for group in GROUPS])


REFERENCE_MU = mu_rho(np.array([3.0]))[:, 0]  # a 3 MeV view of a mass map, for boxes of what changed


@dataclass(frozen=True)
class Portal:
    """One pass's scanner: beam, detector column and image chain, drawn per scan."""

    endpoints_mev: tuple[float, ...]  # one (single energy) or two (high, low)
    target_cm: float
    quanta: float  # photons per pixel in the open beam (high channel)
    electronic_noise: float  # in quanta
    blur_px: tuple[float, float]  # Gaussian sigma across (rows), along (columns)
    scatter: float  # share of the signal spread into a broad halo
    row_gain_sd: float  # flat-field residual per detector element
    card_gain_sd: float  # ... per detector card
    card_rows: int
    pulse_sd: float  # linac dose per pulse, residual after the reference detector
    drift_gain: float  # gain and offset drift since calibration
    drift_offset: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Portal:
        dual = rng.random() < 0.4
        endpoints = (6.0, 4.0) if dual else (float(rng.choice([4.0, 4.5, 5.0, 6.0])),)
        blur = float(rng.uniform(0.4, 1.1))
        return cls(
            endpoints_mev=endpoints,
            target_cm=float(rng.uniform(0.1, 0.3)),
            quanta=float(rng.uniform(4e4, 4e5)),
            electronic_noise=float(rng.uniform(5.0, 40.0)),
            blur_px=(blur, blur * float(rng.uniform(0.6, 1.3))),
            scatter=float(rng.uniform(0.005, 0.04)),
            row_gain_sd=float(rng.uniform(0.001, 0.008)),
            card_gain_sd=float(rng.uniform(0.0, 0.006)),
            card_rows=int(rng.choice([16, 32])),
            pulse_sd=float(rng.uniform(0.0005, 0.004)),
            drift_gain=float(rng.uniform(0.975, 1.008)) if rng.random() < 0.3 else 1.0,
            drift_offset=float(rng.uniform(-60, 60)) if rng.random() < 0.3 else 0.0,
        )

    @property
    def dual(self) -> bool:
        return len(self.endpoints_mev) == 2

    def form_image(self, mass: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Mass maps [groups, H, W] (g/cm^2) to a flat-fielded uint16 [H, W] or [2, H, W] image."""
        channels = [self._channel(mass, endpoint, rng) for endpoint in self.endpoints_mev]
        image = np.stack(channels) if self.dual else channels[0]
        out: np.ndarray = np.clip(np.rint(image), 0, FULL_SCALE).astype(np.uint16)
        return out

    def _channel(self, mass: np.ndarray, endpoint_mev: float, rng: np.random.Generator) -> np.ndarray:
        energies, weights = beam(endpoint_mev, round(self.target_cm, 2), 6)
        mu = mu_rho(energies).astype(np.float32)
        _, height, width = mass.shape
        primary: np.ndarray = np.zeros((height, width), dtype=np.float32)
        for k, weight in enumerate(weights):
            lines = mu[0, k] * mass[0] + mu[1, k] * mass[1] + mu[2, k] * mass[2]
            primary += np.float32(weight) * np.exp(-lines)
        scattered = (primary + np.float32(self.scatter) * _halo(primary)) / np.float32(1 + self.scatter)
        signal: np.ndarray = cv2.GaussianBlur(
            scattered, (0, 0), sigmaX=self.blur_px[1], sigmaY=self.blur_px[0]
        )
        quanta = self.quanta * (1.0 if endpoint_mev >= max(self.endpoints_mev) else 0.6)
        rows = np.asarray(rng.normal(1.0, self.row_gain_sd, height))
        cards = np.repeat(
            np.asarray(rng.normal(1.0, self.card_gain_sd, height // self.card_rows + 1)), self.card_rows
        )
        pulses = np.asarray(rng.normal(1.0, self.pulse_sd, width))
        gain = ((rows * cards[:height])[:, None] * pulses[None, :]).astype(np.float32)
        counts = signal * np.float32(quanta) * gain
        noise = np.sqrt(np.maximum(counts, 0) + np.float32(self.electronic_noise**2))
        counts += noise * rng.standard_normal((height, width), dtype=np.float32)
        scale = np.float32(FULL_SCALE / quanta * self.drift_gain)
        out: np.ndarray = counts * scale + np.float32(self.drift_offset)
        return out


def _halo(signal: np.ndarray) -> np.ndarray:
    """Scatter: the signal spread over some 50 pixels (computed 16 times coarser)."""
    height, width = signal.shape
    small = cv2.resize(signal, (max(1, width // 16), max(1, height // 16)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=3.0)
    out: np.ndarray = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    return out
