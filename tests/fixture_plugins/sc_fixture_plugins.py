"""Plugins that misbehave on purpose, for integration tests (loaded through ``extra_plugins``)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.plugin import Plugin
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


# --- plugins of the class contract (one instance per hosting process) ---------------------------------


class LiveDense(Plugin):
    """X-ray frames: a live plugin that alarms "dense_object" when the frame's metadata says so, so
    a test can make the live side agree or disagree with a shadow plugin on purpose."""

    spec = PluginSpec("live_dense", "1.0.0", consumes=frozenset({Modality.XRAY}))

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [
            Assessment.alarm(Detection("dense_object", 0.8, box=(0, 0, 4, 4)))
            if frame.metadata.get("live_alarm") == "1"
            else Assessment.clear()
            for frame in frames
        ]


class Quick(Plugin):
    """CT frames: clears at once; it must never be charged for another plugin's timeout."""

    spec = PluginSpec("quick", "1.0.0", consumes=frozenset({Modality.CT}))

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [Assessment.clear() for _ in frames]


class SlowToWarm(Plugin):
    """RFID frames: takes ``warm_up_s`` to warm up, so readiness can be watched from outside."""

    spec = PluginSpec(
        "slow_to_warm", "1.0.0", consumes=frozenset({Modality.RFID}), default_settings={"warm_up_s": 3.0}
    )

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.warm_up_s = float(settings["warm_up_s"])
        self.warm = False

    @hookimpl
    def smartcustoms_warm_up(self) -> None:
        time.sleep(self.warm_up_s)  # stands in for loading reference data and compiling kernels
        self.warm = True

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        if not self.warm:
            raise RuntimeError("a frame reached a plugin before its warm-up")
        return [Assessment.clear() for _ in frames]


class Broken(Plugin):
    """RFID frames: cannot be built (its reference data is missing)."""

    spec = PluginSpec("broken", "1.0.0", consumes=frozenset({Modality.RFID}))

    def __init__(self) -> None:
        raise FileNotFoundError("reference data /nowhere/broken-library is missing")

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        raise AssertionError("never built")
