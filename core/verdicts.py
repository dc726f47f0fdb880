"""From plugin results to one verdict per frame, and from verdicts to alerts. Pure logic."""

from __future__ import annotations

from collections.abc import Sequence

from smartcustoms.v1 import frame_pb2, results_pb2

CLEAR = results_pb2.DECISION_CLEAR
ALARM = results_pb2.DECISION_ALARM
MANUAL = results_pb2.DECISION_MANUAL_INSPECTION


def _base(frame: frame_pb2.Frame) -> results_pb2.Verdict:
    verdict = results_pb2.Verdict(
        frame_id=frame.frame_id,
        source_id=frame.source_id,
        modality=frame.modality,
        conveyance_id=frame.conveyance_id,
        declaration_id=frame.declaration_id,
        sequence=frame.sequence,
        control_point=frame.control_point,
    )
    verdict.accepted_time.CopyFrom(frame.accepted_time)
    verdict.decided_time.GetCurrentTime()
    return verdict


def combine(frame: frame_pb2.Frame, results: Sequence[results_pb2.PluginResult]) -> results_pb2.Verdict:
    """Any failed plugin means manual inspection; else any alarm means alarm; else clear.

    A frame that no plugin examined goes to manual inspection: nothing looked at it.
    """
    verdict = _base(frame)
    verdict.results.extend(results)
    failed = [r.plugin for r in results if r.error]
    if not results:
        verdict.decision = MANUAL
        verdict.fallback_reason = "no_plugin: no enabled plugin consumes this modality"
    elif failed:
        verdict.decision = MANUAL
        verdict.fallback_reason = f"plugin_failed: {', '.join(sorted(failed))}"
    elif requested := sorted(r.plugin for r in results if r.decision == MANUAL):
        verdict.decision = MANUAL
        verdict.fallback_reason = f"plugin_requested: {', '.join(requested)} asked for an officer"
    elif any(r.decision == ALARM for r in results):
        verdict.decision = ALARM
    else:
        verdict.decision = CLEAR
    return verdict


def fallback(frame: frame_pb2.Frame, reason: str) -> results_pb2.Verdict:
    """A manual-inspection verdict for a frame the pipeline could not decide (``reason: detail``)."""
    verdict = _base(frame)
    verdict.decision = MANUAL
    verdict.fallback_reason = reason
    return verdict


def fallback_kind(verdict: results_pb2.Verdict) -> str:
    """The bounded metric label of a fallback reason (the text before the colon)."""
    return verdict.fallback_reason.partition(":")[0] or "unknown"


def alert_for(verdict: results_pb2.Verdict) -> results_pb2.Alert | None:
    """The alert an officer must see for a verdict, or None for a clear one."""
    if verdict.decision not in (ALARM, MANUAL):
        return None
    detections = [d for r in verdict.results for d in r.detections]
    if verdict.decision == ALARM:
        labels = sorted({d.label for d in detections})
        summary = f"alarm on {verdict.source_id}: {', '.join(labels) or 'risk above threshold'}"
    else:
        summary = f"manual inspection of {verdict.source_id}: {verdict.fallback_reason}"
    alert = results_pb2.Alert(
        alert_id=f"alert-{verdict.frame_id}",
        frame_id=verdict.frame_id,
        source_id=verdict.source_id,
        conveyance_id=verdict.conveyance_id,
        decision=verdict.decision,
        summary=summary,
        control_point=verdict.control_point,
    )
    alert.detections.extend(detections)
    alert.raised_time.GetCurrentTime()
    return alert
