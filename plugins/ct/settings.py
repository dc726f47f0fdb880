"""The CT detector's classes and thresholds: densities in MHU (HU + 1000), sizes in cm.

Thresholds are physical (densities of the materials, sizes of the objects) and were set on development
seeds 100-199 of ``hardware.sim.ct.CtSimulator`` only; the evaluation (``tools/evaluate.py``) refuses
those seeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

LABELS = ("firearm", "knife", "explosive", "cigarettes")


@dataclass(frozen=True)
class CtSettings:
    """Every threshold of the detector; densities in MHU, sizes in cm."""

    voxel_mm: float = 3.0  # used when a frame's metadata has no voxel_size_mm
    metal_min_mhu: int = 4500
    metal_min_cm3: float = 1.5  # smaller metal bits (coin edges) are ignored
    metal_join_cm: float = 1.5
    firearm_min_cm3: float = 70.0
    firearm_min_length_cm: float = 10.0
    knife_min_cm3: float = 8.0
    knife_min_length_cm: float = 7.0
    knife_max_thickness_cm: float = 2.0
    knife_handle_cm: float = 10.4
    handle_band_mhu: tuple[int, int] = (450, 1250)
    organic_band_mhu: tuple[int, int] = (1300, 2100)
    explosive_min_cm3: float = 80.0
    explosive_min_width_cm: float = 5.0
    explosive_min_fill: float = 0.6
    explosive_max_std_mhu: float = 60.0
    explosive_attach_cm: float = 5.0
    tobacco_band_mhu: tuple[int, int] = (230, 450)
    foil_band_mhu: tuple[int, int] = (600, 1300)
    foil_min_contrast_mhu: int = 200
    sheet_min_cm2: float = 6.0
    sheet_max_thickness_cm: float = 2.0
    sheet_min_crossings: float = 3.0
    sheet_core_crossings: int = 6
    sheet_min_spacing_cm: float = 3.5
    sheet_max_spacing_cm: float = 30.0
    sheet_join_cm: float = 3.0
    cigarettes_min_sheets: int = 3
    cigarettes_min_walls: int = 2
    pack_section_cm: tuple[float, float] = (3.5, 6.5)
    pack_min_cm3: float = 80.0
    pack_max_std_mhu: float = 35.0
    pack_min_fill: float = 0.85
    cigarettes_min_packs: int = 2

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> CtSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"ct_detector: unknown setting(s) {', '.join(unknown)}")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
        return cls(**values)
