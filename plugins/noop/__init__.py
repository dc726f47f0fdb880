"""noop: assesses every frame of every modality as clear without looking at it.

Disabled by default. It measures the framework's own cost (benchmarks) and checks a pipeline end to
end; never enable it at a real control point, where it would clear everything.
"""

from __future__ import annotations

from collections.abc import Sequence

from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.plugin import Plugin
from smartcustoms.core.types import ALL_MODALITIES, Assessment, PluginSpec


class NoopPlugin(Plugin):
    spec = PluginSpec(
        name="noop",
        version="1.1.0",
        consumes=ALL_MODALITIES,
        description="clears every frame unseen: for benchmarks and pipeline checks only",
        enabled_by_default=False,
    )

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [Assessment.clear() for _ in frames]
