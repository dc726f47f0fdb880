"""dense_region: the dense-object alarm of X-ray screening.

Regions the X-ray barely penetrates hide whatever they hold, so a screener must look at them: this
plugin finds areas where the high-energy channel transmits less than ``max_transmission`` of the
unattenuated beam, over at least ``min_area_px`` pixels, and reports each as a ``dense_object``
with its box. It is a screening rule, not recognition of what the object is.

The defaults, 0.2 % of the beam over 1,600 pixels (about 10 cm2 at 0.78 mm pixels: room for the core
of a small pistol), alarm on 2.5 % of threat-free bags of the standard simulated set (200 bags of
``XraySimulator(950, 1024, 2048, threat_rate=0)``); the first defaults, 2 % over 400 pixels, alarmed on
85 % of them, since keys, coins, batteries and cans stop 98 % of the beam over a few square
centimetres in most bags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.lazy import lazy
from smartcustoms.core.plugin import Plugin
from smartcustoms.core.types import VEHICLE_SCAN_KEYS, Assessment, Detection, Modality, PluginSpec

if TYPE_CHECKING:
    from smartcustoms.plugins.xray import _kernels as kernels
else:
    kernels = lazy("smartcustoms.plugins.xray._kernels")

SPEC = PluginSpec(
    name="dense_region",
    version="1.1.0",
    consumes=frozenset({Modality.XRAY}),
    description="dense-object alarm: regions the X-ray cannot penetrate",
    default_settings={
        "max_transmission": 0.002,
        "min_area_px": 1600,
        "tile_px": 16,
        "full_scale": 65535,
    },
    excludes_metadata=VEHICLE_SCAN_KEYS,  # an engine block is dense by design: vehicles have their own plugin
)


class DenseRegionPlugin(Plugin):
    """The hook class: the rule's settings, read once."""

    spec = SPEC

    def __init__(self, settings: Mapping[str, Any]) -> None:
        settings = {**SPEC.default_settings, **settings}
        self.rule: dict[str, Any] = {
            "max_transmission": float(settings["max_transmission"]),
            "min_area_px": int(settings["min_area_px"]),
            "tile_px": int(settings["tile_px"]),
            "full_scale": int(settings["full_scale"]),
        }
        if self.rule["tile_px"] < 1:
            raise ValueError(f"dense_region: tile_px must be at least 1, got {self.rule['tile_px']}")

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [assess(frame.array(), **self.rule) for frame in frames]

    @hookimpl
    def smartcustoms_warm_up(self) -> None:
        """Compile the tile kernel (or load it from numba's cache): a small dual-energy image holding
        one dense block; the kernel's cost is per pixel, so nothing depends on the frames' shape."""
        image = np.full((2, 64, 64), 60_000, dtype=np.uint16)
        image[:, :32, :32] = 0
        image.flags.writeable = False  # as a frame's payload is: numba compiles read-only arrays apart
        assess(image, **self.rule)


def assess(
    image: np.ndarray, *, max_transmission: float, min_area_px: int, tile_px: int, full_scale: int
) -> Assessment:
    """Assess one X-ray image: [height, width] or [energies, height, width], channel 0 high energy."""
    if image.ndim == 3:
        image = image[0]
    if image.ndim != 2:
        raise ValueError(f"expected a 2D image or [energies, height, width], got shape {image.shape}")
    threshold = int(max_transmission * full_scale)
    counts = kernels._dense_tile_counts(np.ascontiguousarray(image), threshold, int(tile_px))
    detections = [
        _detection(region, counts, tile_px, image.shape, min_area_px, max_transmission)
        for region in _regions(counts > (tile_px * tile_px) // 4)
    ]
    found = [d for d in detections if d is not None]
    return Assessment.alarm(*found) if found else Assessment.clear()


def _regions(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """4-connected groups of True tiles."""
    seen = np.zeros_like(mask)
    regions = []
    for start in zip(*np.nonzero(mask), strict=True):
        if seen[start]:
            continue
        stack, region = [start], []
        seen[start] = True
        while stack:
            r, c = stack.pop()
            region.append((int(r), int(c)))
            for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                if 0 <= nr < mask.shape[0] and 0 <= nc < mask.shape[1] and mask[nr, nc] and not seen[nr, nc]:
                    seen[nr, nc] = True
                    stack.append((nr, nc))
        regions.append(region)
    return regions


def _detection(
    region: list[tuple[int, int]],
    counts: np.ndarray,
    tile: int,
    shape: tuple[int, ...],
    min_area_px: int,
    max_transmission: float,
) -> Detection | None:
    area = int(sum(counts[r, c] for r, c in region))
    if area < min_area_px:
        return None
    rows = [r for r, _ in region]
    cols = [c for _, c in region]
    box = (
        float(min(cols) * tile),
        float(min(rows) * tile),
        float(min((max(cols) + 1) * tile, shape[1])),
        float(min((max(rows) + 1) * tile, shape[0])),
    )
    return Detection(
        label="dense_object",
        score=min(1.0, area / (4.0 * min_area_px)),
        box=box,
        explanation=f"{area} px transmit < {max_transmission * 100:g}% of the high-energy beam",
        attributes={"area_px": str(area)},
    )
