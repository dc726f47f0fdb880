"""The air_queue plugin: the day's tallies per cargo type from queue events, once per frame."""

from __future__ import annotations

from smartcustoms.core.frames import inline_view
from smartcustoms.core.manager import new_plugin_manager, register
from smartcustoms.core.state import MemoryState
from smartcustoms.core.types import Assessment
from smartcustoms.plugins.air_queue import day_tallies
from smartcustoms.runtime.air_queue_service import events_frame

AT = "1767196800.000"  # 2026-01-01 00:00 in Hong Kong


def test_queue_events_are_tallied_once_per_frame_and_always_clear() -> None:
    events = [
        {"event": "issued", "at": AT, "cargo_type": "general", "ticket_id": "a"},
        {"event": "issued", "at": AT, "cargo_type": "perishables", "ticket_id": "b"},
        {"event": "called", "at": AT, "cargo_type": "perishables", "ticket_id": "b", "wait_s": "240"},
        {"event": "no_show", "at": AT, "cargo_type": "perishables", "ticket_id": "b"},
        {"event": "counter_opened", "at": AT, "counter_id": "c1"},
        {"event": "issued", "at": "not a time", "cargo_type": "general"},
    ]
    frame = inline_view(events_frame(events, 1, "airport"))
    pm = new_plugin_manager()
    register(pm, "smartcustoms.plugins.air_queue:AirQueuePlugin")
    (plugin,) = [p for p in pm.get_plugins() if type(p).__name__ == "AirQueuePlugin"]
    state = plugin.state
    assert isinstance(state, MemoryState)
    for _ in range(2):  # a redelivered frame changes nothing
        assert pm.hook.smartcustoms_process_batch(frames=[frame]) == [Assessment.clear()]
    day = day_tallies(state, "2026-01-01", ["general", "perishables"])
    assert day["general"]["issued"] == 1
    assert day["perishables"] == {
        "issued": 1, "no_show": 1, "cancelled": 0, "rejoined": 0, "served": 0,
        "first_calls": 1, "wait_s": 240,
    }  # fmt: skip
