"""Plugins that misbehave on purpose, for integration tests (loaded through ``extra_plugins``)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.types import Assessment, Detection, Modality, PluginSpec


class Exploding:
    """Camera frames: raises when a frame's metadata asks for it, else clears."""

    @hookimpl
    def smartcustoms_plugin_spec(self) -> PluginSpec:
        return PluginSpec(name="exploding", version="0.1.0", consumes=frozenset({Modality.CAMERA}))

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        if any(frame.metadata.get("explode") == "1" for frame in frames):
            raise RuntimeError("boom on purpose")
        return [Assessment.clear() for _ in frames]


class Sleepy:
    """CT frames: sleeps ``sleep_s`` from the metadata, then alarms with a 3D region."""

    @hookimpl
    def smartcustoms_plugin_spec(self) -> PluginSpec:
        return PluginSpec(name="sleepy", version="0.1.0", consumes=frozenset({Modality.CT}))

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        time.sleep(max(float(frame.metadata.get("sleep_s", "0")) for frame in frames))
        region = Detection("test_object", 0.9, volume=(0, 0, 0, 1, 1, 1))
        return [Assessment.alarm(region) for _ in frames]


exploding = Exploding()
sleepy = Sleepy()
