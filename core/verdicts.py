"""From plugin results to one verdict per frame, and from verdicts to alerts. Pure logic."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from smartcustoms.core.conveyance import conveyance_of
from smartcustoms.v1 import frame_pb2, results_pb2

CLEAR = results_pb2.DECISION_CLEAR
ALARM = results_pb2.DECISION_ALARM
MANUAL = results_pb2.DECISION_MANUAL_INSPECTION


def _base(frame: frame_pb2.Frame) -> results_pb2.Verdict:
    verdict = results_pb2.Verdict(
        frame_id=frame.frame_id,
        source_id=frame.source_id,
        modality=frame.modality,
        conveyance_id=conveyance_of(frame),  # the field, else the frame's metadata key
        declaration_id=frame.declaration_id,
        sequence=frame.sequence,
        control_point=frame.control_point,
    )
    verdict.accepted_time.CopyFrom(frame.accepted_time)
    verdict.decided_time.GetCurrentTime()
    return verdict


def combine(
    frame: frame_pb2.Frame,
    results: Sequence[results_pb2.PluginResult],
    *,
    shadow: Sequence[results_pb2.PluginResult] = (),
) -> results_pb2.Verdict:
    """Any failed plugin means manual inspection; else any alarm means alarm; else clear.

    A frame that no plugin examined goes to manual inspection: nothing looked at it. A plugin that
    ran out of time is named as such (``plugin_timed_out``), apart from other failures. Results of
    shadow-mode plugins are kept beside the verdict and never change it.
    """
    verdict = _base(frame)
    verdict.results.extend(results)
    verdict.shadow_results.extend(shadow)
    failed = [r for r in results if r.error]
    if not results:
        verdict.decision = MANUAL
        verdict.fallback_reason = "no_plugin: no enabled plugin consumes this modality"
    elif failed:
        verdict.decision = MANUAL
        verdict.fallback_reason = _failure_reason(failed)
    elif requested := sorted(r.plugin for r in results if r.decision == MANUAL):
        verdict.decision = MANUAL
        verdict.fallback_reason = f"plugin_requested: {', '.join(requested)} asked for an officer"
    elif any(r.decision == ALARM for r in results):
        verdict.decision = ALARM
    else:
        verdict.decision = CLEAR
    return verdict


def _failure_reason(failed: Sequence[results_pb2.PluginResult]) -> str:
    names = ", ".join(sorted(r.plugin for r in failed))
    if all(r.failure_reason == "timeout" for r in failed):
        return f"plugin_timed_out: {names} timed out"
    return f"plugin_failed: {names}"


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


def shadow_agreement(
    verdict: results_pb2.Verdict, shadow: results_pb2.PluginResult, compare_with: Collection[str] = ()
) -> tuple[bool, dict[str, str]]:
    """How one shadow plugin's result on a frame compares with the live one: whether its
    alarm-or-clear decision matched, and {label: "both" | "shadow_only" | "live_only"}. The live side is
    every live plugin's detections, or only those of the plugins named in ``compare_with``."""
    live = [r for r in verdict.results if not compare_with or r.plugin in compare_with]
    live_labels = {label for r in live for label in _named(r)}
    found = _named(shadow)
    outcomes = {
        label: "both"
        if label in found and label in live_labels
        else ("shadow_only" if label in found else "live_only")
        for label in sorted(found | live_labels)
    }
    live_alarm = any(r.decision == ALARM for r in live)
    return (shadow.decision == ALARM) == live_alarm, outcomes


def _named(result: results_pb2.PluginResult) -> set[str]:
    """The classes a result names: none when it cleared the frame (a clearing result may carry notes,
    such as a vehicle's fuel level, which name nothing found)."""
    return set() if result.decision == CLEAR else {d.label for d in result.detections}


def shadow_adjudications(verdict: results_pb2.Verdict, confirmed: bool) -> list[tuple[str, str, str]]:
    """What an officer's decision on an alert says of each shadow plugin: (plugin, label, outcome).

    Confirmed: each class the alert named is a true positive for a shadow plugin that found it too,
    a false negative for one that did not. Cleared: each class a shadow plugin found is a false
    positive. (Frames that only a shadow plugin alarmed on reach no officer: shadow mode raises no
    alert, so its precision counts the frames the live plugins alarmed on.)
    """
    alert_labels = {label for r in verdict.results for label in _named(r)}
    scored = []
    for shadow in verdict.shadow_results:
        if shadow.error:
            continue
        found = _named(shadow)
        if confirmed:
            scored += [
                (shadow.plugin, label, "true_positive" if label in found else "false_negative")
                for label in sorted(alert_labels)
            ]
        else:
            scored += [(shadow.plugin, label, "false_positive") for label in sorted(found)]
    return scored
