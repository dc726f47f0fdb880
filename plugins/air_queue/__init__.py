"""air_queue: the air cargo clearance queue's events (``air_queue_event`` records) as they stream.

The queue itself is a service in the gateway (``smartcustoms.runtime.air_queue``); every change it makes
(a ticket issued, called, served, cancelled, a no-show, a rejoin, a counter opened or closed) is a record
on the stream, and this plugin is where those records are analysed: it keeps the day's tallies in its
keyed state, per cargo type (tickets issued, first calls and the sum of their waits, no-shows,
cancellations), once per frame however often the frame is delivered, and clears every batch: queue
events are never contraband. ``day_tallies`` reads a day back. The offline tools (``tools``) evaluate the
queue's predicted call times on simulated days (``smartcustoms eval queue``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.plugin import Plugin, PluginContext
from smartcustoms.core.state import MemoryState, PluginState
from smartcustoms.core.types import Assessment, Modality, PluginSpec
from smartcustoms.v1 import frame_pb2

__all__ = ["RECORD_KIND", "AirQueuePlugin", "day_of", "day_tallies", "tallies"]

RECORD_KIND = "air_queue_event"
TALLIED = ("issued", "no_show", "cancelled", "rejoined", "served")
TOKEN_TTL_S = 7 * 86400.0


TERMINAL_UTC_OFFSET_S = 8 * 3600  # Hong Kong time: a day's tallies start at the terminal's midnight


def day_of(at_s: float) -> str:
    """The terminal's date (YYYY-MM-DD) at unix time ``at_s``."""
    return time.strftime("%Y-%m-%d", time.gmtime(at_s + TERMINAL_UTC_OFFSET_S))


def tallies(batch: frame_pb2.RecordBatch) -> dict[str, float]:
    """The state increments of one batch of queue events: ``<day>:<tally>:<cargo type>``."""
    increments: dict[str, float] = {}

    def add(key: str, amount: float = 1.0) -> None:
        increments[key] = increments.get(key, 0.0) + amount

    for record in batch.records:
        fields = record.fields
        event, cargo = fields.get("event", ""), fields.get("cargo_type", "")
        try:
            day = day_of(float(fields.get("at", "0")))
        except ValueError:
            continue  # a record without a usable time is left out of the tallies
        if event in TALLIED and cargo:
            add(f"{day}:{event}:{cargo}")
        if event == "called" and cargo and "wait_s" in fields:
            add(f"{day}:first_calls:{cargo}")
            add(f"{day}:wait_s:{cargo}", float(fields["wait_s"]))
    return increments


def day_tallies(state: PluginState, day: str, cargo_types: Sequence[str]) -> dict[str, dict[str, float]]:
    """A day's tallies per cargo type, as the plugin kept them."""
    names = (*TALLIED, "first_calls", "wait_s")
    keys = [f"{day}:{name}:{cargo}" for cargo in cargo_types for name in names]
    values = iter(state.get_many(keys))
    return {cargo: {name: float(next(values) or 0) for name in names} for cargo in cargo_types}


class AirQueuePlugin(Plugin):
    spec = PluginSpec(
        name="air_queue",
        version="1.0.0",
        consumes=frozenset({Modality.RECORD}),
        record_kinds=frozenset({RECORD_KIND}),
        description="tallies the air cargo queue's events per day and cargo type (never an alarm)",
    )

    def __init__(self, settings: Mapping[str, Any], context: PluginContext) -> None:
        # A tool or a test without the runtime's Redis keeps its tallies in this process.
        self.state: PluginState = context.state if context.state is not None else MemoryState()

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        for frame in frames:
            increments = tallies(frame.records())
            if increments:
                self.state.apply_once(frame.frame_id, increments, token_ttl_s=TOKEN_TTL_S)
        return [Assessment.clear() for _ in frames]
