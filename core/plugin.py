"""A plugin is an object: its class says what it is, one instance per hosting process does the work.

::

    class PlateWatch(Plugin):
        spec = PluginSpec(name="plate_watch", version="1.0.0", consumes=frozenset({Modality.RECORD}))

        def __init__(self, settings: Mapping[str, Any], context: PluginContext) -> None:
            self.window_s = float(settings["window_s"])
            self.state = context.state

        @hookimpl
        def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]: ...

The host reads ``spec`` and the hooks from the class without building anything, then builds the plugin
only in the processes that run its hooks: in each Ray actor of its pool when it processes frames
(role ``FRAMES``), in the stream worker when it implements result hooks (role ``RESULTS``). The stream
worker therefore never loads a detector's reference data. The constructor takes ``settings`` (the
spec's defaults overlaid with ``[plugins.NAME.settings]``) and ``context``, or only the ones it names.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from smartcustoms.core.artefacts import ArtefactInfo, default_root
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.types import PluginSpec

if TYPE_CHECKING:
    from smartcustoms.core.state import PluginState


class Role(enum.Enum):
    """Why a process hosts a plugin."""

    FRAMES = "frames"  # a Ray actor of the plugin's pool: smartcustoms_process_batch
    RESULTS = "results"  # the stream worker's sink: smartcustoms_verdict, smartcustoms_alert
    TOOL = "tool"  # an offline tool or a test (evaluation, benchmarks)


@dataclass(frozen=True)
class PluginContext:
    """What the host gives a plugin besides its settings."""

    name: str
    role: Role = Role.TOOL
    namespace: str = "smartcustoms"
    artefact_root: Path = field(default_factory=default_root)  # where reference data artefacts live
    state: PluginState | None = None  # keyed state on the runtime's Redis (None: the plugin did not ask)

    @property
    def processes_frames(self) -> bool:
        return self.role in (Role.FRAMES, Role.TOOL)

    def require_state(self) -> PluginState:
        if self.state is None:
            raise RuntimeError(f"plugin {self.name}: this process ({self.role.value}) has no plugin state")
        return self.state


class Plugin:
    """Optional base class: answers ``smartcustoms_plugin_spec`` from the class's ``spec`` and keeps
    the reference data the plugin loaded in ``artefacts`` (reported on every result)."""

    spec: ClassVar[PluginSpec]
    artefacts: Sequence[ArtefactInfo] = ()

    @hookimpl
    def smartcustoms_plugin_spec(self) -> PluginSpec:
        return type(self).spec
