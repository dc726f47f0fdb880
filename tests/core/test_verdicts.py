"""From plugin results to verdicts, and from verdicts to alerts."""

from __future__ import annotations

from smartcustoms.core import verdicts
from smartcustoms.core.types import Detection
from smartcustoms.v1 import frame_pb2, results_pb2


def frame() -> frame_pb2.Frame:
    message = frame_pb2.Frame(
        frame_id="f-1",
        source_id="lane-1-xray",
        modality=frame_pb2.MODALITY_XRAY,
        conveyance_id="HK-1234",
        declaration_id="D-77",
        sequence=42,
        control_point="lok-ma-chau",
    )
    message.accepted_time.FromSeconds(1_700_000_000)
    return message


def result(plugin: str, decision: int, *labels: str, error: str = "") -> results_pb2.PluginResult:
    message = results_pb2.PluginResult(plugin=plugin, plugin_version="1", decision=decision, error=error)
    message.detections.extend(Detection(label, 0.9).to_proto(plugin, "1") for label in labels)
    return message


def test_combine_copies_the_frame_identity() -> None:
    verdict = verdicts.combine(frame(), [result("a", verdicts.CLEAR)])
    assert (verdict.frame_id, verdict.source_id, verdict.modality) == (
        "f-1",
        "lane-1-xray",
        frame_pb2.MODALITY_XRAY,
    )
    assert (verdict.conveyance_id, verdict.declaration_id, verdict.sequence) == ("HK-1234", "D-77", 42)
    assert verdict.control_point == "lok-ma-chau"
    assert verdict.accepted_time.seconds == 1_700_000_000
    assert verdict.HasField("decided_time") and verdict.decided_time.seconds > 0


def test_combine_no_results_is_manual() -> None:
    verdict = verdicts.combine(frame(), [])
    assert verdict.decision == verdicts.MANUAL
    assert verdict.fallback_reason == "no_plugin: no enabled plugin consumes this modality"
    assert verdicts.fallback_kind(verdict) == "no_plugin"


def test_combine_any_error_is_manual_with_reason() -> None:
    results = [
        result("zeta", verdicts.MANUAL, error="timeout: no answer within 30 s"),
        result("dense", verdicts.ALARM, "dense_object"),
        result("alpha", verdicts.MANUAL, error="error: ValueError: boom"),
    ]
    verdict = verdicts.combine(frame(), results)
    assert verdict.decision == verdicts.MANUAL
    assert verdict.fallback_reason == "plugin_failed: alpha, zeta"
    assert verdicts.fallback_kind(verdict) == "plugin_failed"
    assert list(verdict.results) == results


def test_combine_any_alarm_is_alarm() -> None:
    verdict = verdicts.combine(frame(), [result("a", verdicts.CLEAR), result("b", verdicts.ALARM, "x")])
    assert verdict.decision == verdicts.ALARM
    assert verdict.fallback_reason == ""


def test_combine_all_clear_is_clear() -> None:
    verdict = verdicts.combine(frame(), [result("a", verdicts.CLEAR), result("b", verdicts.CLEAR)])
    assert verdict.decision == verdicts.CLEAR
    assert len(verdict.results) == 2


def test_fallback() -> None:
    verdict = verdicts.fallback(frame(), "redelivery_exhausted: 3 attempts")
    assert verdict.decision == verdicts.MANUAL
    assert verdict.fallback_reason == "redelivery_exhausted: 3 attempts"
    assert verdict.frame_id == "f-1" and not verdict.results
    assert verdicts.fallback_kind(verdict) == "redelivery_exhausted"


def test_fallback_kind_without_reason() -> None:
    assert verdicts.fallback_kind(results_pb2.Verdict()) == "unknown"


def test_alert_for_clear_is_none() -> None:
    assert verdicts.alert_for(verdicts.combine(frame(), [result("a", verdicts.CLEAR)])) is None


def test_alert_for_alarm() -> None:
    verdict = verdicts.combine(
        frame(),
        [result("b", verdicts.ALARM, "knife", "dense_object"), result("a", verdicts.ALARM, "dense_object")],
    )
    alert = verdicts.alert_for(verdict)
    assert alert is not None
    assert alert.alert_id == "alert-f-1"
    assert (alert.frame_id, alert.source_id, alert.conveyance_id) == ("f-1", "lane-1-xray", "HK-1234")
    assert alert.control_point == "lok-ma-chau"
    assert alert.decision == verdicts.ALARM
    assert alert.summary == "alarm on lane-1-xray: dense_object, knife"
    assert [d.label for d in alert.detections] == ["knife", "dense_object", "dense_object"]
    assert alert.HasField("raised_time")


def test_alert_for_alarm_without_detections() -> None:
    alert = verdicts.alert_for(verdicts.combine(frame(), [result("risk", verdicts.ALARM)]))
    assert alert is not None
    assert alert.summary == "alarm on lane-1-xray: risk above threshold"


def test_alert_for_manual() -> None:
    alert = verdicts.alert_for(verdicts.fallback(frame(), "payload_missing: blob gone"))
    assert alert is not None
    assert alert.decision == verdicts.MANUAL
    assert alert.summary == "manual inspection of lane-1-xray: payload_missing: blob gone"


def timed_out(plugin: str) -> results_pb2.PluginResult:
    message = result(plugin, verdicts.MANUAL, error="timeout: no answer within 2 s (1 frames)")
    message.failure_reason = "timeout"
    return message


def test_combine_names_a_timeout_as_such() -> None:
    verdict = verdicts.combine(frame(), [timed_out("ct_detector"), result("quick", verdicts.CLEAR)])
    assert verdict.decision == verdicts.MANUAL
    assert verdict.fallback_reason == "plugin_timed_out: ct_detector timed out"
    assert verdicts.fallback_kind(verdict) == "plugin_timed_out"


def test_combine_a_timeout_beside_another_failure_is_a_failure() -> None:
    crashed = result("alpha", verdicts.MANUAL, error="error: boom")
    crashed.failure_reason = "error"
    verdict = verdicts.combine(frame(), [timed_out("zeta"), crashed])
    assert verdict.fallback_reason == "plugin_failed: alpha, zeta"


def test_shadow_results_never_change_the_verdict() -> None:
    shadow = [result("candidate", verdicts.ALARM, "firearm"), result("broken", verdicts.MANUAL, error="x")]
    verdict = verdicts.combine(frame(), [result("live", verdicts.CLEAR)], shadow=shadow)
    assert verdict.decision == verdicts.CLEAR
    assert [r.plugin for r in verdict.shadow_results] == ["candidate", "broken"]
    assert verdicts.alert_for(verdict) is None


def test_shadow_agreement_per_class_against_the_chosen_live_plugins() -> None:
    live = [result("xray", verdicts.ALARM, "knife", "phone"), result("dense", verdicts.ALARM, "dense_object")]
    candidate = result("candidate", verdicts.ALARM, "knife", "firearm")
    verdict = verdicts.combine(frame(), live, shadow=[candidate])
    assert verdicts.shadow_agreement(verdict, candidate, {"xray"}) == (
        True,
        {"firearm": "shadow_only", "knife": "both", "phone": "live_only"},
    )
    assert verdicts.shadow_agreement(verdict, candidate)[1]["dense_object"] == "live_only"
    quiet = result("c", verdicts.CLEAR)
    alarmed = verdicts.combine(frame(), [result("xray", verdicts.ALARM, "knife")], shadow=[quiet])
    assert verdicts.shadow_agreement(alarmed, quiet) == (False, {"knife": "live_only"})


def test_shadow_adjudications_score_against_what_officers_decided() -> None:
    live = [result("xray", verdicts.ALARM, "knife", "phone")]
    shadow = [result("candidate", verdicts.ALARM, "knife", "firearm")]
    verdict = verdicts.combine(frame(), live, shadow=shadow)
    assert verdicts.shadow_adjudications(verdict, confirmed=True) == [
        ("candidate", "knife", "true_positive"),
        ("candidate", "phone", "false_negative"),
    ]
    assert verdicts.shadow_adjudications(verdict, confirmed=False) == [
        ("candidate", "firearm", "false_positive"),
        ("candidate", "knife", "false_positive"),
    ]
    noted = result("vehicle", verdicts.CLEAR, "fuel_level")  # a note on a cleared scan names nothing
    both = verdicts.combine(
        frame(), [*live, noted], shadow=[result("candidate2", verdicts.CLEAR, "fuel_level")]
    )
    assert verdicts.shadow_adjudications(both, confirmed=False) == []
    assert [o for o in verdicts.shadow_adjudications(both, confirmed=True) if o[1] == "fuel_level"] == []
