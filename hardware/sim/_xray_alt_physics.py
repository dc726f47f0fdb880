"""The physics of the independent X-ray bag generator (``xray_alt``): attenuation tables, tube spectra,
a dual-layer detector and the scanner drawn for each scan.

Mass attenuation coefficients (cm^2/g, total with coherent scattering) of the elements are tabulated at
eight energies from NIST XCOM, rounded; materials are mixtures by mass fraction at their density.
Elements that matter little are stood in for by a neighbour of similar Z (Na by Al, K by Ca, Cr by Fe,
Ni by Cu). Values between the tabulated energies are interpolated log-log.

A scan is polychromatic: a Kramers spectrum ``(kVp - E) / E`` through the tube's aluminium filtration,
absorbed energy-weighted in a thin front scintillator (the low channel) and, behind a copper filter, a
thick back one (the high channel). The spectrum is cut into ``ENERGY_BINS`` bins; a ray's line integral
is kept per bin and each channel's transmission is the weighted sum of ``exp(-L)`` over the bins, so
beam hardening comes with it. The frame's effective energies are those at which water attenuates as
the channel does for a thin layer.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

TABLE_KEV = np.array([20.0, 30.0, 40.0, 50.0, 60.0, 80.0, 100.0, 150.0])
ELEMENTS: Mapping[str, tuple[float, ...]] = {
    "H": (0.3695, 0.3570, 0.3458, 0.3355, 0.3260, 0.3091, 0.2944, 0.2651),
    "C": (0.4418, 0.2562, 0.2076, 0.1871, 0.1753, 0.1610, 0.1514, 0.1347),
    "N": (0.6170, 0.3064, 0.2288, 0.1980, 0.1817, 0.1639, 0.1529, 0.1353),
    "O": (0.8650, 0.3780, 0.2586, 0.2134, 0.1909, 0.1681, 0.1552, 0.1362),
    "Al": (3.441, 1.128, 0.5685, 0.3681, 0.2778, 0.2018, 0.1704, 0.1378),
    "Si": (4.464, 1.436, 0.7012, 0.4385, 0.3207, 0.2228, 0.1835, 0.1448),
    "Cl": (7.54, 2.40, 1.10, 0.643, 0.440, 0.268, 0.210, 0.158),
    "Ca": (12.0, 3.90, 1.78, 1.01, 0.660, 0.370, 0.260, 0.180),
    "Fe": (25.68, 8.176, 3.629, 1.958, 1.205, 0.5952, 0.3717, 0.1964),
    "Cu": (33.79, 10.92, 4.862, 2.613, 1.593, 0.7630, 0.4584, 0.2217),
    "Zn": (37.8, 12.3, 5.50, 2.97, 1.80, 0.870, 0.510, 0.240),
    "CsI": (19.7, 7.20, 24.5, 13.8, 8.50, 4.10, 2.30, 0.790),  # the scintillator, K-edges at 33-36 keV
    "Pb": (86.36, 30.32, 14.36, 8.041, 5.021, 2.419, 5.549, 2.014),
}

_CELLULOSE = {"C": 0.444, "H": 0.062, "O": 0.494}
_GLASS = {"Si": 0.34, "O": 0.46, "Ca": 0.07, "Al": 0.13}  # soda-lime (Na as Al)
_EPOXY = {"C": 0.70, "H": 0.06, "O": 0.24}
_NYLON = {"C": 0.637, "H": 0.098, "N": 0.124, "O": 0.141}


def _mix(*parts: tuple[Mapping[str, float], float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for composition, share in parts:
        for element, fraction in composition.items():
            out[element] = out.get(element, 0.0) + fraction * share
    return out


# name -> (mass fractions, density g/cm^3)
MATERIALS: Mapping[str, tuple[Mapping[str, float], float]] = {
    "water": ({"H": 0.112, "O": 0.888}, 1.0),
    "cotton": (_CELLULOSE, 1.0),  # thickness given as g/cm^2 of fibre: folded clothes are mostly air
    "paper": (_CELLULOSE, 0.8),
    "board": (_CELLULOSE, 0.7),
    "wood": (_CELLULOSE, 0.6),
    "tobacco": (
        {"C": 0.42, "H": 0.06, "O": 0.44, "N": 0.025, "Ca": 0.04, "Cl": 0.015},
        1.0,
    ),  # density per use
    "acetate": ({"C": 0.49, "H": 0.056, "O": 0.454}, 1.0),  # cigarette filters, density per use
    "polyethylene": ({"C": 0.857, "H": 0.143}, 0.93),
    "abs": ({"C": 0.85, "H": 0.08, "N": 0.07}, 1.05),
    "polycarbonate": ({"C": 0.757, "H": 0.055, "O": 0.188}, 1.2),
    "nylon_glass": (_mix((_NYLON, 0.7), (_GLASS, 0.3)), 1.40),
    "pvc": ({"C": 0.384, "H": 0.048, "Cl": 0.568}, 1.38),
    "rubber": ({"C": 0.80, "H": 0.10, "O": 0.04, "Si": 0.04, "Zn": 0.02}, 1.15),
    "leather": ({"C": 0.50, "H": 0.07, "N": 0.10, "O": 0.33}, 0.9),
    "glass": (_GLASS, 2.5),
    "fr4": (_mix((_GLASS, 0.55), (_EPOXY, 0.45)), 1.85),
    "silicon": ({"Si": 1.0}, 2.33),
    "aluminium": ({"Al": 1.0}, 2.70),
    "steel": ({"Fe": 0.98, "C": 0.02}, 7.85),
    "stainless": ({"Fe": 0.80, "Cu": 0.20}, 7.90),  # Cr as Fe, Ni as Cu
    "copper": ({"Cu": 1.0}, 8.96),
    "brass": ({"Cu": 0.65, "Zn": 0.35}, 8.5),
    "zamak": ({"Zn": 0.96, "Al": 0.04}, 6.6),
    "bullet": ({"Pb": 0.9, "Cu": 0.1}, 11.0),
    "ferrite": ({"Fe": 0.62, "O": 0.30, "Ca": 0.08}, 4.9),
    "li_ion": ({"C": 0.25, "H": 0.02, "O": 0.22, "Al": 0.07, "Cu": 0.12, "Fe": 0.30, "Cl": 0.02}, 2.6),
    "sugar": ({"C": 0.421, "H": 0.065, "O": 0.514}, 1.0),  # food and cosmetics, density per use
}

ENERGY_BINS = 6
PIXEL_PITCH_STEP_MM = 0.05  # detector pitches come in steps (0.50, 0.55 ... 1.50 mm), not as any real
SPECTRUM_STEP_KEV = 1.0
LOWEST_KEV = 20.0


@cache
def mass_attenuation(material: str) -> np.ndarray:
    """mu/rho (cm^2/g) of a material on the 1-keV grid 20 .. 160 keV (log-log interpolation)."""
    composition, _ = MATERIALS.get(material, ({material: 1.0}, 1.0))
    total = sum(composition.values())
    grid = energy_grid()
    log_table = np.log(TABLE_KEV)
    out = np.zeros_like(grid)
    for element, fraction in composition.items():
        values = np.log(np.asarray(ELEMENTS[element]))
        slope = (values[-1] - values[-2]) / (log_table[-1] - log_table[-2])  # beyond 150 keV
        inside = np.interp(np.log(grid), log_table, values)
        beyond = values[-1] + slope * (np.log(grid) - log_table[-1])
        out += fraction / total * np.exp(np.where(grid > TABLE_KEV[-1], beyond, inside))
    return out


def density(material: str) -> float:
    return MATERIALS[material][1]


@cache
def energy_grid() -> np.ndarray:
    return np.arange(LOWEST_KEV, 160.0 + SPECTRUM_STEP_KEV / 2, SPECTRUM_STEP_KEV)


@dataclass(frozen=True)
class Scanner:
    """One scan's physics: the tube, the detector and the image chain."""

    kvp: float
    tube_filter_mm_al: float
    front_csi_mm: float
    copper_filter_mm: float
    back_csi_mm: float
    pixel_size_mm: float
    blur_px: tuple[float, float, float]  # Gaussian sigma along rows, along columns; extra in the low channel
    quanta: tuple[float, float]  # photons per pixel in the air, high and low channel
    electronic_noise: float  # in quanta
    row_gain_sd: float  # flat-field residual per detector element
    module_gain_sd: float  # ... per 64-element detector board
    scatter: float  # share of the signal scattered into a broad halo

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Scanner:
        pixel = round(float(rng.uniform(0.5, 1.5)) / PIXEL_PITCH_STEP_MM) * PIXEL_PITCH_STEP_MM
        blur = float(rng.uniform(0.35, 0.9))
        return cls(
            kvp=float(rng.uniform(80.0, 160.0)),
            tube_filter_mm_al=float(rng.uniform(1.5, 4.0)),
            front_csi_mm=float(rng.uniform(0.2, 0.6)),
            copper_filter_mm=float(rng.uniform(0.2, 1.0)),
            back_csi_mm=float(rng.uniform(2.0, 5.0)),
            pixel_size_mm=pixel,
            blur_px=(blur, blur * float(rng.uniform(0.7, 1.4)), float(rng.uniform(0.0, 0.5))),
            quanta=(float(rng.uniform(3000, 20000)), float(rng.uniform(1500, 8000))),
            electronic_noise=float(rng.uniform(1.0, 6.0)),
            row_gain_sd=float(rng.uniform(0.001, 0.006)),
            module_gain_sd=float(rng.uniform(0.0, 0.008)),
            scatter=float(rng.uniform(0.003, 0.02)),
        )

    @property
    def spectra(self) -> tuple[np.ndarray, np.ndarray]:
        """Energy-weighted detected spectra of the high and low channels on ``energy_grid()``."""
        return _spectra(self)

    @property
    def bins(self) -> tuple[np.ndarray, np.ndarray]:
        """(node energies index into the grid's bins, weights [2, ENERGY_BINS]): each bin's share of each
        channel's signal; node k stands for grid energies ``bin_slices()[k]``."""
        return _bins(self)

    def bin_attenuation(self, material: str) -> np.ndarray:
        """Linear attenuation (1/cm) of a material at full density in each bin, weighted within the bin
        by both channels' mean spectrum: [ENERGY_BINS] float32."""
        return _bin_attenuation(self, material)

    def effective_energy_kev(self, channel: int) -> float:
        """The energy at which water attenuates as this channel sees a thin water layer."""
        weights = self.spectra[channel]
        water = mass_attenuation("water")
        mean_mu = float((weights * water).sum() / weights.sum())
        grid = energy_grid()
        return float(np.interp(-mean_mu, -water, grid))  # water's mu falls with energy

    def thin_attenuation(self, material: str, channel: int) -> float:
        """Spectrum-weighted linear attenuation (1/cm) of a thin layer, in one channel."""
        weights = self.spectra[channel]
        return float((weights * mass_attenuation(material)).sum() / weights.sum()) * density(material)


def _csi_mu() -> np.ndarray:
    return mass_attenuation("CsI") * 4.51 / 10.0  # per mm


@lru_cache(maxsize=512)
def _spectra(scanner: Scanner) -> tuple[np.ndarray, np.ndarray]:
    grid = energy_grid()
    photons = np.clip(scanner.kvp - grid, 0.0, None) / grid  # Kramers
    photons *= np.exp(-mass_attenuation("aluminium") * 2.70 * scanner.tube_filter_mm_al / 10.0)
    csi = _csi_mu()
    front_absorbed = 1.0 - np.exp(-csi * scanner.front_csi_mm)
    through = np.exp(-csi * scanner.front_csi_mm)
    through *= np.exp(-mass_attenuation("copper") * 8.96 * scanner.copper_filter_mm / 10.0)
    back_absorbed = through * (1.0 - np.exp(-csi * scanner.back_csi_mm))
    return photons * grid * back_absorbed, photons * grid * front_absorbed


def bin_slices(kvp: float) -> list[slice]:
    """ENERGY_BINS equal slices of the grid from LOWEST_KEV up to ``kvp``."""
    top = round((kvp - LOWEST_KEV) / SPECTRUM_STEP_KEV)
    edges = np.linspace(0, top, ENERGY_BINS + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]


@lru_cache(maxsize=512)
def _bins(scanner: Scanner) -> tuple[np.ndarray, np.ndarray]:
    high, low = scanner.spectra
    weights = np.array(
        [[channel[s].sum() for s in bin_slices(scanner.kvp)] for channel in (high, low)], dtype=np.float64
    )
    weights /= weights.sum(axis=1, keepdims=True)
    nodes = np.array([(s.start + s.stop - 1) / 2 for s in bin_slices(scanner.kvp)])
    return nodes, weights.astype(np.float32)


@lru_cache(maxsize=512)
def _bin_attenuation(scanner: Scanner, material: str) -> np.ndarray:
    high, low = scanner.spectra
    both = high / high.sum() + low / low.sum()
    mu = mass_attenuation(material) * density(material)
    out = [float((both[s] * mu[s]).sum() / max(both[s].sum(), 1e-30)) for s in bin_slices(scanner.kvp)]
    return np.array(out, dtype=np.float32)
