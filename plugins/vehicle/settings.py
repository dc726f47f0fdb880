"""The vehicle comparison's classes and settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

LABELS = ("hidden_compartment", "undeclared_goods", "extra_load")


@dataclass(frozen=True)
class VehicleSettings:
    reference_dir: str = ""  # the vehicle-references artefact; "" = <artefact root>/vehicle-references
    require_vehicle_metadata: bool = True
    # A portal's pixel size when its frames do not state it (metadata pixel_size_mm, pixel_size_along_mm /
    # pixel_size_across_mm, DICOS pixel_spacing_mm win): square, or along and across the vehicle. 0 = unset.
    pixel_size_mm: float = 0.0
    pixel_size_along_mm: float = 0.0
    pixel_size_across_mm: float = 0.0
    # high-energy channel, for the noise model: measured on each scan (``noise``) when noise_from_scan,
    # this figure then only where a scan shows too little to measure it; else always this figure
    photons_per_pixel: float = 4.0e5
    noise_from_scan: bool = True
    # along the vehicle: the scan may start up to a metre earlier or later than its reference (a portal's
    # trigger), and the vehicle stop a little further on
    max_shift_cm: float = 150.0
    max_shift_y_px: int = 10  # suspension travel
    # the vehicle's speed may change along it by this share (its scale along the scan drifts): the
    # alignment follows it, block by block along the vehicle; 0 = a shift only
    max_speed_change: float = 0.1
    # a scan whose outline does not line up so may be of a vehicle that slowed almost to a halt in the
    # portal: it is then aligned column by column, each column of the scan within this of where the
    # blocks put it (``alignment.follow_path``), the better outline kept; 0 = never
    max_stop_shift_cm: float = 300.0
    # and is kept only when it lines up better and finds the vehicle slowed to at most this share of its
    # speed over some 20 cm of the scan, away from its ends (a path that finds no stop is not what it is
    # for: a wrong pixel size, a wrong shift)
    max_stop_speed: float = 0.6
    # a container vehicle whose frame names its container type, tractor model and trailer model, each with
    # a part reference, is compared with those joined (``parts``), each part placed within these of its
    # reference's place; false: with references of the whole vehicle only
    compare_parts: bool = True
    max_part_shift_cm: float = 200.0  # along the vehicle
    max_part_lift_cm: float = 15.0  # up or down: a higher fifth wheel or trailer deck
    # under a speed change, the container is stretched as its trailer's chassis is (its load, which its
    # empty reference lacks, would draw its own blocks), keeping its own place; false: as its own blocks
    container_follows_trailer: bool = True
    # parts whose joined outline does not line up with the scan's are placed again by where their material
    # is rather than by how much (a loaded container's pallets draw the first placement), then with the
    # container at its next best places, the better outline kept; false: a scan whose parts' outline does
    # not line up goes to an officer as it is
    place_by_outline: bool = True
    # the difference is smoothed over a window of this size (9 pixels of 4.88 mm; at least 3 pixels, odd):
    # in cm, so that a portal of coarse pixels (13-17 mm across) does not smooth a floor compartment away
    smooth_cm: float = 4.4
    # scattered radiation is spread over a Gaussian of this size (cm) when the reference is fitted to the
    # scan's veil of it (``scanner.scatter_matched``; 50 for a portal whose loaded scans alarm in the dark
    # parts beside the cargo); 0: not fitted (the default: see docs/detectors_ct_vehicle.md)
    scatter_cm: float = 0.0
    # a band of one sign that is a tank's fuel standing higher or lower than in the reference (``fuel``)
    # is noted (``fuel_level``), not judged; false: judged as any other region. A band of fuel across a
    # tank attenuates at least min_fuel_attenuation (diesel, 0.03-0.04 /cm at a linac's energies, across
    # a tank 30 cm deep or more); weaker, it is goods (a door's compartment resting on an edge)
    fuel_levels: bool = True
    min_fuel_attenuation: float = 1.0
    edge_fraction: float = 0.35  # residual misalignment, as a fraction of the local gradient per pixel
    min_z: float = 6.0
    min_attenuation: float = 0.08
    min_area_cm2: float = 100.0
    # a region whose pixels are at least this share more material than the reference and at least this
    # share less, side by side, as thin strips along one edge or moving as much material as they leave,
    # is an edge out of line (a shift of a few pixels leaves such a pair), not a concealment; 0: judged as
    # any other region
    edge_pair_share: float = 0.25
    join_cm: float = 10.0  # regions closer than this are one: tanks 15 cm apart stay three regions
    # a region in a cargo space declared empty that lies wholly within this of its front wall is behind
    # where a false front wall would stand: a hidden_compartment, not undeclared goods; 0: never
    false_wall_cm: float = 60.0
    pallet_pitch_cm: float = 125.0
    declared_tolerance_cm: float = 40.0
    cargo_roof_margin_cm: float = 12.0  # the roof void is not cargo space
    cargo_side_margin_cm: float = 6.0  # the walls' edges blur into the cargo space
    outline_tolerance_cm: float = 3.0  # outlines' edges closer than this line up
    max_outline_mismatch: float = 0.1  # beyond this share of edges not lining up: manual inspection

    def smooth_px(self, pixel_cm: float) -> int:
        """The smoothing window in pixels of ``pixel_cm``: ``smooth_cm`` rounded to an odd count, at
        least 3."""
        count = max(3, round(self.smooth_cm / pixel_cm))
        return count if count % 2 else count + 1

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> VehicleSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            hint = (
                " (references come from the vehicle-references artefact now)"
                if "builtin_references" in unknown
                else ""
            )
            raise ValueError(f"vehicle_compare: unknown setting(s) {', '.join(unknown)}{hint}")
        return cls(**settings)
