"""ct_detector: the hook class of the CT detector, and how a CT frame becomes an MHU volume.

One ``CtDetector`` per hosting process, built from the plugin's settings; it holds no reference data
and no state between volumes. ``smartcustoms_warm_up`` runs it on two small synthetic frames (uint16 MHU
and int16 HU, each holding a brick, a blade and a block of metal) so every numba kernel is compiled,
or loaded from numba's cache, for the array types a real frame brings before the first one arrives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

import numpy as np

from smartcustoms.core.frames import FrameView, array_frame, inline_view
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.plugin import Plugin
from smartcustoms.core.types import Assessment, Modality, PluginSpec
from smartcustoms.plugins.ct.detector import CtDetector
from smartcustoms.plugins.ct.settings import CtSettings

SPEC = PluginSpec(
    name="ct_detector",
    version="1.1.0",
    consumes=frozenset({Modality.CT}),
    description="3D threat detection in CT volumes: firearms, knives, explosives, cigarettes",
    default_settings={f.name: f.default for f in fields(CtSettings)},
)
WARM_UP_SHAPE = (64, 64, 64)  # depth, height, width: small, the kernels compile for any size


class CtDetectorPlugin(Plugin):
    """The hook class: one detector per hosting process."""

    spec = SPEC

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.detector = CtDetector(CtSettings.from_mapping(settings))

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [self.assess(frame) for frame in frames]

    @hookimpl
    def smartcustoms_warm_up(self) -> None:
        """Compile the kernels: assess a synthetic frame of each stored form (MHU and rescaled HU)."""
        for frame in warm_up_frames():
            self.assess(frame)

    def assess(self, frame: FrameView) -> Assessment:
        """The assessment of one CT frame."""
        volume = volume_mhu(frame)
        found = self.detector.detect(volume, voxel_size_mm(frame))
        detections = [f.detection(volume.shape) for f in found]
        if not detections:
            return Assessment.clear()
        return Assessment.alarm(*detections, risk_score=max(d.score for d in detections))


def volume_mhu(frame: FrameView) -> np.ndarray:
    """The frame's volume as uint16 MHU, rescaled when its metadata says the stored values are not MHU."""
    array = frame.array()
    if array.ndim != 3:
        raise ValueError(f"CT frame {frame.frame_id}: expected [depth, height, width], got {array.shape}")
    slope = float(frame.metadata.get("rescale_slope", "1") or 1)
    intercept = float(frame.metadata.get("rescale_intercept", "-1000") or -1000)
    if array.dtype == np.uint16 and slope == 1.0 and intercept == -1000.0:
        return array
    mhu = array.astype(np.float32) * slope + intercept + 1000.0
    return np.asarray(np.clip(np.rint(mhu), 0, 65535), dtype=np.uint16)


def voxel_size_mm(frame: FrameView) -> float | None:
    for key in ("voxel_size_mm", "pixel_spacing_mm", "slice_spacing_mm"):
        text = frame.metadata.get(key, "")
        if text:
            return float(text.replace("\\", ",").split(",")[0])
    return None


def warm_up_volume() -> np.ndarray:
    """A uint16 MHU volume (3 mm voxels) of clothes holding an organic brick, a knife blade and a stack
    of tobacco with three foil walls: the rules of every class reach the kernels they call."""
    volume = np.full(WARM_UP_SHAPE, 300, np.uint16)  # clothes
    volume[4:20, 4:36, 4:30] = 1500  # a brick of organic density, 4.8 x 9.6 x 7.8 cm
    volume[50:52, 4:34, 36:44] = 9000  # a blade, 0.6 x 9 x 2.4 cm, far from the brick
    volume[24:64, 36:64, 2:62] = 330  # tobacco
    volume[24:64, 36:64, [12, 26, 40]] = 1000  # foil walls between its packs
    return volume


def warm_up_frames() -> list[FrameView]:
    """The warm-up volume as frames store it: uint16 MHU, and int16 HU with its rescale metadata."""
    mhu = warm_up_volume()
    hu = (mhu.astype(np.int32) - 1000).astype(np.int16)
    rescaled = {"rescale_slope": "1", "rescale_intercept": "0", "voxel_size_mm": "3.0"}
    return [
        inline_view(array_frame(mhu, modality=Modality.CT, source_id="warm-up", sequence=1)),
        inline_view(
            array_frame(hu, modality=Modality.CT, source_id="warm-up", sequence=2, metadata=rescaled)
        ),
    ]
