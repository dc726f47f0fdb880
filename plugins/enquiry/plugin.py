"""enquiry: the hook class. Counts each ``enquiry`` record of a record frame in the plugin's keyed state.

The enquiry service (the gateway's ``EnquiryService``, the chat page) answers questions and publishes
each as an ``enquiry`` record; this plugin turns the stream into the analytics ``analytics`` describes:
counts by day, topic, language and outcome, and the log of handed-over and low-confidence questions the
weekly report ranks and clusters. Every frame is CLEAR: a question is not an alarm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.plugin import Plugin, PluginContext
from smartcustoms.core.state import PluginState
from smartcustoms.core.types import Assessment, Modality, PluginSpec
from smartcustoms.plugins.enquiry.analytics import record_enquiry
from smartcustoms.plugins.enquiry.assistant import ENQUIRY_KIND
from smartcustoms.plugins.enquiry.retrieval import RetrievalSettings


@dataclass(frozen=True)
class AnalyticsSettings:
    threshold: float = RetrievalSettings().threshold  # the assistant's, to tell low-confidence answers

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> AnalyticsSettings:
        unknown = sorted(set(settings) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"enquiry: unknown setting(s) {', '.join(unknown)}")
        parsed = cls(**settings)
        if not 0.0 <= float(parsed.threshold) <= 1.0:
            raise ValueError(f"enquiry: threshold must be from 0 to 1, got {parsed.threshold}")
        return parsed


SPEC = PluginSpec(
    name="enquiry",
    version="1.0.0",
    consumes=frozenset({Modality.RECORD}),
    produces=("analytics",),
    description="the enquiry assistant's questions counted by day, topic, language and outcome; "
    "handed-over and low-confidence questions logged for the weekly report",
    default_settings={f.name: f.default for f in fields(AnalyticsSettings)},
    record_kinds=frozenset({ENQUIRY_KIND}),
)


class EnquiryAnalyticsPlugin(Plugin):
    spec = SPEC

    def __init__(self, settings: Mapping[str, Any], context: PluginContext) -> None:
        self.settings = AnalyticsSettings.from_mapping(settings)
        self.state: PluginState | None = context.state

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        for frame in frames:
            self.count(frame)
        return [Assessment.clear() for _ in frames]

    def count(self, frame: FrameView) -> int:
        """Count the frame's enquiry records; how many were new."""
        if self.state is None:
            return 0
        records = [r for r in frame.records().records if r.kind == ENQUIRY_KIND]
        return sum(record_enquiry(self.state, r, float(self.settings.threshold)) for r in records)
