"""A record plugin that says back what reached it, for tests of the record paths (``extra_plugins``)."""

from __future__ import annotations

from collections.abc import Sequence

from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.plugin import Plugin
from smartcustoms.core.types import Assessment, Decision, Detection, Modality, PluginSpec


class RecordEcho(Plugin):
    """Cargo declarations: clears each frame with one "record" detection per record, whose attributes
    are the record's id and fields, so a test can see every record arrive as it was sent."""

    spec = PluginSpec(
        "record_echo",
        "1.0.0",
        consumes=frozenset({Modality.RECORD}),
        record_kinds=frozenset({"cargo_declaration"}),
    )

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [Assessment(Decision.CLEAR, _echo(frame)) for frame in frames]


def _echo(frame: FrameView) -> tuple[Detection, ...]:
    return tuple(
        Detection("record", 0.0, attributes={"record_id": record.record_id, **record.fields})
        for record in frame.records().records
    )
