"""rfid_epc_check: alarms on tag reads that are not GS1 EPC-96 identifiers, and says how often each was
read at this reader lately.

Evidence items carry SGTIN-96, GRAI-96 or GIAI-96 EPCs (GS1 Tag Data Standard). A read of anything else
in an evidence store is a foreign, blank or tampered tag that an officer should check; the detection says
why it is not accepted, as ``smartcustoms.core.epc`` decodes it (wrong length, not hex, unknown header,
reserved partition, a field too long for its partition).

With keyed state (``context.state``) each foreign tag also gets the number of times that tag was read at
the same source in the ``repeat_window_s`` before this read ("reads_in_window"): a foreign tag read
again and again in a storage zone was planted there, one read once was passing by. The count is
point-in-time (as of the read's own time, so frames processed out of order count what came before them)
and a redelivered frame does not count twice (each frame adds one event per tag, keyed by frame id and
tag). Without state (a tool, a test) the count is left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from google.protobuf.timestamp_pb2 import Timestamp

from smartcustoms.core.epc import epc96_problem
from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.plugin import Plugin, PluginContext
from smartcustoms.core.types import Assessment, Detection, Modality, PluginSpec
from smartcustoms.v1 import frame_pb2

if TYPE_CHECKING:
    from smartcustoms.core.state import PluginState

__all__ = ["EpcCheckPlugin", "ForeignTag", "foreign_tags", "tag_key"]

REPEAT_WINDOW_S = 600.0


@dataclass(frozen=True)
class ForeignTag:
    """A tag of one frame that is not an accepted EPC-96: as first read, why, and when first seen."""

    epc: str  # as the reader sent it
    problem: str
    first_seen_s: float | None  # None: neither its reads nor the frame carry a time

    @property
    def key(self) -> str:
        """The tag as its reads are counted: case and surrounding whitespace do not matter."""
        return tag_key(self.epc)


def tag_key(epc_hex: str) -> str:
    return epc_hex.strip().upper()


def foreign_tags(reads: Iterable[frame_pb2.RfidRead], frame_time_s: float | None = None) -> list[ForeignTag]:
    """The distinct foreign tags among ``reads``, in order of first read. A tag read on several antennas
    is one tag, first seen at its earliest read; a read without a time counts as read at ``frame_time_s``."""
    found: dict[str, ForeignTag] = {}
    accepted: set[str] = set()
    for read in reads:
        key = tag_key(read.epc_hex)
        if key in accepted:
            continue
        at_s = _seconds(read.first_seen) if read.HasField("first_seen") else frame_time_s
        if (seen := found.get(key)) is not None:
            found[key] = replace(seen, first_seen_s=_earliest(seen.first_seen_s, at_s))
        elif problem := epc96_problem(read.epc_hex):
            found[key] = ForeignTag(read.epc_hex, problem, at_s)
        else:
            accepted.add(key)
    return list(found.values())


class EpcCheckPlugin(Plugin):
    spec = PluginSpec(
        name="rfid_epc_check",
        version="1.1.0",
        consumes=frozenset({Modality.RFID}),
        description=(
            "flags tag reads that are not SGTIN-96, GRAI-96 or GIAI-96 EPCs, "
            "with how often each was read at its reader lately"
        ),
        default_settings={"repeat_window_s": REPEAT_WINDOW_S},
    )

    def __init__(self, settings: Mapping[str, Any], context: PluginContext) -> None:
        self.repeat_window_s = float(settings.get("repeat_window_s", REPEAT_WINDOW_S))
        if not (math.isfinite(self.repeat_window_s) and self.repeat_window_s > 0):
            raise ValueError(f"repeat_window_s must be positive seconds, got {self.repeat_window_s}")
        self.state: PluginState | None = context.state

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [self.assess(frame) for frame in frames]

    def assess(self, frame: FrameView) -> Assessment:
        tags = foreign_tags(frame.rfid_reads().reads, _frame_time_s(frame.frame))
        detections = [self._detection(frame, tag) for tag in tags]
        return Assessment.alarm(*detections) if detections else Assessment.clear()

    def _detection(self, frame: FrameView, tag: ForeignTag) -> Detection:
        attributes = {"epc": tag.epc}
        explanation = tag.problem
        if self.state is not None and tag.first_seen_s is not None:
            reads = self._reads_before(self.state, frame, tag, tag.first_seen_s)
            attributes |= {"reads_in_window": str(reads), "repeat_window_s": f"{self.repeat_window_s:g}"}
            window = _duration(self.repeat_window_s)
            explanation += f"; {_times(reads)} in the last {window} at {frame.source_id}"
        return Detection(label="foreign_tag", score=1.0, explanation=explanation, attributes=attributes)

    def _reads_before(self, state: PluginState, frame: FrameView, tag: ForeignTag, at_s: float) -> int:
        """Reads of ``tag`` at this frame's source in the window before ``at_s``; then records this
        frame's read (once per frame and tag, however often the frame is delivered)."""
        key = "foreign_tag:" + json.dumps([frame.source_id, tag.key], separators=(",", ":"))
        earlier = state.window_count(key, window_s=self.repeat_window_s, as_of_s=at_s)
        state.window_add(key, f"{frame.frame_id}/{tag.key}", at_s, window_s=self.repeat_window_s)
        return earlier


def _seconds(stamp: Timestamp) -> float:
    return stamp.seconds + stamp.nanos / 1e9


def _earliest(first_s: float | None, second_s: float | None) -> float | None:
    return min((t for t in (first_s, second_s) if t is not None), default=None)


def _frame_time_s(frame: frame_pb2.Frame) -> float | None:
    """When the frame was captured, else when the gateway accepted it; None if it says neither."""
    for field in ("capture_time", "accepted_time"):
        if frame.HasField(field):
            return _seconds(getattr(frame, field))
    return None


def _times(reads: int) -> str:
    return {0: "not read before", 1: "read once before"}.get(reads, f"read {reads} times before")


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
