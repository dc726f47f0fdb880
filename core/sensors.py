"""The sensor layer: the runtime reports events here, and only here do they become metrics."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from smartcustoms.core.metrics import (
    CONVEYANCE_ARRIVALS,
    CONVEYANCE_OUTCOMES,
    CONVEYANCE_TRIGGERS,
    DEAD_LETTER_REASONS,
    DECISIONS,
    FALLBACK_REASONS,
    OTHER_RECORD_KIND,
    PLUGIN_ERROR_REASONS,
    REJECT_REASONS,
    RESULT_HOOKS,
    SELECTION_REASONS,
    SHADOW_AGREEMENT_OUTCOMES,
    Metrics,
)
from smartcustoms.core.selections import OUTCOME_KIND, RecordSelection
from smartcustoms.core.types import Decision, Modality, PluginSpec

MAX_SOURCE_LABELS = 256  # distinct source ids a process labels; the rest are counted as "other"


class _Waits:
    """The start times of the waits in progress (the event loop's), the oldest's age read from the
    metrics server's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[int, float] = {}
        self._count = 0

    def begin(self) -> int:
        with self._lock:
            self._count += 1
            self._started[self._count] = time.monotonic()
            return self._count

    def end(self, token: int) -> None:
        with self._lock:
            self._started.pop(token, None)

    def oldest_s(self) -> float:
        with self._lock:
            return time.monotonic() - min(self._started.values()) if self._started else 0.0


class Sensor:
    """Translates pipeline events into metric updates (Faust's sensor design)."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics
        self._record_kinds: set[str] = set()  # the kind label's values besides "other"
        self._sources: set[str] = set()  # the source label's values besides "other" (MAX_SOURCE_LABELS)
        self._record_series: set[tuple[str, str]] = set()  # (plugin, kind) whose series exist
        self._publishes = _Waits()  # verdict publishes in progress
        metrics.stream_publish_waiting.set_function(self._publishes.oldest_s)
        # Every bounded label combination exists from the start, at zero, so rate() sees first events.
        for reason in REJECT_REASONS:
            metrics.ingest_rejected.labels(reason)
        for reason in DEAD_LETTER_REASONS:
            metrics.stream_dead_letters.labels(reason)
        for hook in RESULT_HOOKS:
            metrics.sink_hook_errors.labels(hook)
        for modality in (m.value for m in Modality):
            for metric in (
                metrics.ingest_received,
                metrics.stream_frames,
                metrics.stream_verdicts,
                metrics.stream_publish_retries,
                metrics.reconciler_republished,
            ):
                metric.labels(modality)
            for reason in FALLBACK_REASONS:
                metrics.fallbacks.labels(modality, reason)
            for decision in DECISIONS:
                metrics.sink_verdicts.labels(modality, decision)
            for decision in DECISIONS[1:]:
                metrics.alerts.labels(modality, decision)

    # ingest -----------------------------------------------------------------------------------------
    def frame_received(self, modality: str) -> None:
        self.m.ingest_received.labels(modality).inc()

    def frames_in_progress(self, delta: int) -> None:
        """Frames open on a stream or being made durable went up or down by ``delta``."""
        self.m.ingest_in_progress.inc(delta)

    def backlog_watched(self, frames: Callable[[], float], size_bytes: Callable[[], float]) -> None:
        """The push-back estimate, read whenever /metrics is scraped."""
        self.m.ingest_backlog.set_function(frames)
        self.m.ingest_backlog_bytes.set_function(size_bytes)

    def frame_accepted(self, modality: str, source: str, size_bytes: int, duration_s: float) -> None:
        if source not in self._sources:
            if len(self._sources) >= MAX_SOURCE_LABELS:
                source = "other"  # bounded series: a flood of new source ids cannot grow /metrics
            else:
                self._sources.add(source)
        self.m.ingest_accepted.labels(modality, source).inc()
        self.m.ingest_bytes.labels(modality).inc(size_bytes)
        self.m.ingest_duration.labels(modality).observe(duration_s)

    def frame_duplicate(self, modality: str) -> None:
        self.m.ingest_duplicates.labels(modality).inc()

    def frame_rejected(self, reason: str) -> None:
        self.m.ingest_rejected.labels(reason if reason in REJECT_REASONS else "other").inc()

    def publish_failed(self) -> None:
        self.m.ingest_publish_errors.inc()

    def stream_opened(self) -> None:
        self.m.ingest_streams.inc()

    def stream_closed(self) -> None:
        self.m.ingest_streams.dec()

    def republished(self, modality: str) -> None:
        self.m.reconciler_republished.labels(modality).inc()

    # stream -----------------------------------------------------------------------------------------
    def batch_consumed(self, modality: str, frames: int) -> None:
        self.m.stream_frames.labels(modality).inc(frames)
        self.m.stream_batch_frames.observe(frames)

    def stream_delay(self, modality: str, delay_s: float) -> None:
        self.m.stream_delay.labels(modality).observe(max(delay_s, 0.0))

    def verdicts_published(self, modality: str, count: int) -> None:
        self.m.stream_verdicts.labels(modality).inc(count)

    def verdict_publish_retried(self, modality: str) -> None:
        self.m.stream_publish_retries.labels(modality).inc()

    def verdict_publish_started(self) -> int:
        """A verdict publish began: a token for ``verdict_publish_ended``. The waiting gauge is the age
        of the oldest publish not ended, read whenever /metrics is scraped."""
        return self._publishes.begin()

    def verdict_publish_ended(self, token: int) -> None:
        self._publishes.end(token)

    def partitions_assigned(self, count: int) -> None:
        self.m.stream_partitions.set(count)

    def dead_lettered(self, reason: str) -> None:
        self.m.stream_dead_letters.labels(reason).inc()

    # dispatch and plugins ---------------------------------------------------------------------------
    def pool_sized(self, plugin: str, actors: int) -> None:
        for reason in PLUGIN_ERROR_REASONS:
            self.m.plugin_errors.labels(plugin, reason)
        for decision in DECISIONS:
            self.m.plugin_frames.labels(plugin, decision)
        self.m.plugin_ready.labels(plugin).set(0)
        self.m.dispatch_actors.labels(plugin).set(actors)
        self.m.dispatch_actors_busy.labels(plugin).set(0)
        self.m.dispatch_queue_depth.labels(plugin).set(0)

    def batch_queued(self, plugin: str, frames: int) -> None:
        self.m.dispatch_frames.labels(plugin).inc(frames)
        self.m.dispatch_queue_depth.labels(plugin).inc(frames)

    def batch_started(self, plugin: str, frames: int) -> None:
        self.m.dispatch_queue_depth.labels(plugin).dec(frames)
        self.m.dispatch_actors_busy.labels(plugin).inc()

    def batch_done(self, plugin: str, dispatch_s: float, plugin_s: float | None) -> None:
        self.m.dispatch_actors_busy.labels(plugin).dec()
        self.m.dispatch_duration.labels(plugin).observe(dispatch_s)
        if plugin_s is not None:
            self.m.plugin_duration.labels(plugin).observe(plugin_s)

    def plugin_assessed(self, plugin: str, decision: Decision) -> None:
        self.m.plugin_frames.labels(plugin, decision.value).inc()

    def plugin_failed(self, plugin: str, reason: str) -> None:
        self.m.plugin_errors.labels(plugin, reason if reason in PLUGIN_ERROR_REASONS else "error").inc()

    def pool_ready(self, plugin: str, ready: bool, warm_up_s: float | None = None) -> None:
        self.m.plugin_ready.labels(plugin).set(1 if ready else 0)
        if warm_up_s is not None:
            self.m.plugin_warm_up.labels(plugin).set(warm_up_s)

    def shadow_compared(self, plugin: str, agreed: bool, outcomes: dict[str, str]) -> None:
        """One frame a shadow plugin assessed: decision agreement, and per class where it was found."""
        self.m.shadow_frames.labels(plugin, "agree" if agreed else "disagree").inc()
        for label, outcome in outcomes.items():
            for other in SHADOW_AGREEMENT_OUTCOMES:  # every outcome of a class exists, so ratios have data
                self.m.shadow_agreement.labels(plugin, label, other)
            self.m.shadow_agreement.labels(plugin, label, outcome).inc()

    # sink -------------------------------------------------------------------------------------------
    def verdict_stored(self, modality: str, decision: Decision, latency_s: float | None) -> None:
        self.m.sink_verdicts.labels(modality, decision.value).inc()
        if latency_s is not None:
            self.m.frame_latency.labels(modality).observe(max(latency_s, 0.0))

    def detected(self, modality: str, plugin: str, label: str) -> None:
        self.m.detections.labels(modality, plugin, label).inc()

    def fallback(self, modality: str, reason: str) -> None:
        self.m.fallbacks.labels(modality, reason if reason in FALLBACK_REASONS else "other").inc()

    def alert_raised(self, modality: str, decision: Decision) -> None:
        self.m.alerts.labels(modality, decision.value).inc()

    def duplicate_verdict(self) -> None:
        self.m.sink_duplicates.inc()

    def sink_batch(self, duration_s: float) -> None:
        self.m.sink_duration.observe(duration_s)

    def blob_released(self) -> None:
        self.m.blobs_released.inc()

    def blob_release_failed(self, awaiting: int) -> None:
        self.m.blob_release_failures.inc()
        self.m.blobs_awaiting_release.set(awaiting)

    def blobs_awaiting_release(self, awaiting: int) -> None:
        self.m.blobs_awaiting_release.set(awaiting)

    def hook_failed(self, hook: str) -> None:
        self.m.sink_hook_errors.labels(hook).inc()

    def screening_bag(self, outcome: str) -> None:
        """A screened lane's X-ray bag: queued as scanned or projected, skipped or failed."""
        self.m.screening_bags.labels(outcome).inc()

    # risk on records (sink) -------------------------------------------------------------------------
    def record_plugins_enabled(self, specs: Iterable[PluginSpec]) -> None:
        """The plugins that consume record frames: the kinds they declare become values of the ``kind``
        label (any other kind is "other"), and their series exist at zero before the first frame."""
        for spec in specs:
            if Modality.RECORD not in spec.consumes:
                continue
            kinds = spec.record_kinds - {OUTCOME_KIND}  # officers' outcomes are learned from, not scored
            self._record_kinds |= kinds
            for kind in sorted(kinds) or [OTHER_RECORD_KIND]:
                self._ensure_record_series(spec.name, kind)

    def records_assessed(
        self,
        plugin: str,
        kind: str,
        records: int | None,
        top_score: float,
        selected: Sequence[RecordSelection],
    ) -> None:
        """A plugin's result on one record frame of ``records`` records (None: unknown): the frame's
        highest record score and the records it selected."""
        kind = kind if kind in self._record_kinds else OTHER_RECORD_KIND
        self._ensure_record_series(plugin, kind)
        if records:
            self.m.records_scored.labels(plugin, kind).inc(records)
        if records != 0 and math.isfinite(top_score):  # an empty batch has no top score
            self.m.record_risk_score.labels(plugin).observe(min(max(top_score, 0.0), 1.0))
        for selection in selected:
            reason = selection.reason if selection.reason in SELECTION_REASONS else "score"
            self.m.records_selected.labels(plugin, kind, reason).inc()
            if selection.partial:
                self.m.records_selected_partial.labels(plugin, kind).inc()

    def _ensure_record_series(self, plugin: str, kind: str) -> None:
        """Every series of a (plugin, kind) at zero, so rate() and shares have data from the start."""
        if (plugin, kind) in self._record_series:
            return
        self._record_series.add((plugin, kind))
        self.m.records_scored.labels(plugin, kind)
        self.m.records_selected_partial.labels(plugin, kind)
        for reason in SELECTION_REASONS:
            self.m.records_selected.labels(plugin, kind, reason)
        self.m.record_risk_score.labels(plugin)

    # conveyances (fusion stage) ---------------------------------------------------------------------
    def conveyances_started(self) -> None:
        """The fusion stage runs here: its series exist at zero from the start."""
        for modality in (m.value for m in Modality):
            for arrival in CONVEYANCE_ARRIVALS:
                self.m.conveyance_frames.labels(modality, arrival)
        for outcome in CONVEYANCE_OUTCOMES:
            for trigger in CONVEYANCE_TRIGGERS:
                self.m.conveyance_decisions.labels(outcome, trigger)

    def conveyance_joined(self, modality: str, late: bool) -> None:
        self.m.conveyance_frames.labels(modality, "late" if late else "in_window").inc()

    def conveyance_decided(self, outcome: str, trigger: str, latency_s: float | None) -> None:
        """A decision made; ``latency_s`` (first frame to decision) for a conveyance's first one only."""
        self.m.conveyance_decisions.labels(outcome, trigger).inc()
        if latency_s is not None:
            self.m.conveyance_latency.observe(max(latency_s, 0.0))
