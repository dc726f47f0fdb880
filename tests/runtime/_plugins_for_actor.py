"""Small plugins for tests/runtime/test_actor.py, loaded by PluginHost as ``_plugins_for_actor:NAME``.

test_actor.py puts this directory on sys.path; each object below is one plugin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from smartcustoms.core import artefacts
from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.plugin import Plugin
from smartcustoms.core.types import Assessment, Detection, Modality, PluginSpec


class _Base:
    """Records what the host does to it; subclasses decide how to answer a batch."""

    name = "base"

    def __init__(self) -> None:
        self.settings: dict[str, Any] = {}
        self.shutdowns = 0

    @hookimpl
    def smartcustoms_plugin_spec(self) -> PluginSpec:
        return PluginSpec(self.name, "3.1.4", consumes=frozenset({Modality.XRAY}))

    @hookimpl
    def smartcustoms_configure(self, settings: Mapping[str, Any]) -> None:
        self.settings = dict(settings)

    @hookimpl
    def smartcustoms_shutdown(self) -> None:
        self.shutdowns += 1


class _Bright(_Base):
    """Alarms on frames whose brightest pixel exceeds the ``threshold`` setting."""

    name = "bright"

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [self._assess(frame) for frame in frames]

    def _assess(self, frame: FrameView) -> Assessment:
        peak = int(frame.array().max())
        if peak <= self.settings["threshold"]:
            return Assessment.clear()
        found = Detection("bright", 0.5, box=(0.0, 0.0, 2.0, 2.0), attributes={"peak": str(peak)})
        return Assessment.alarm(found, risk_score=0.25)


class _Raising(_Base):
    name = "raising"

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        raise ValueError("detector crashed")


class _Short(_Base):
    name = "short"

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [Assessment.clear() for _ in frames][1:]


class _NotAssessments(_Base):
    name = "not_assessments"

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[str]:
        return ["clear" for _ in frames]


class _Abstains(_Base):
    name = "abstains"

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> None:
        return None


class _Tuple(_Base):
    name = "tuple"

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> tuple[Assessment, ...]:
        return tuple(Assessment.clear() for _ in frames)


class Warm(Plugin):
    """A plugin of the class contract: reads a level from its artefact, counts its warm-ups."""

    spec = PluginSpec("warm", "2.0.0", consumes=frozenset({Modality.XRAY}), artefacts=("bright-reference",))

    def __init__(self, settings: Mapping[str, Any]) -> None:
        info = artefacts.read(settings["reference_dir"], expected_name="bright-reference")
        self.level = int((info.path / "levels.txt").read_text())
        self.artefacts = (info,)
        self.warmed = 0

    @hookimpl
    def smartcustoms_warm_up(self) -> None:
        self.warmed += 1

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [
            Assessment.alarm(Detection("bright", 0.9))
            if int(f.array().max()) > self.level
            else Assessment.clear()
            for f in frames
        ]


bright = _Bright()
raising = _Raising()
short = _Short()
not_assessments = _NotAssessments()
abstains = _Abstains()
tuple_result = _Tuple()
