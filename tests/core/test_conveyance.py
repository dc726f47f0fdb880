"""One decision per conveyance: the mapping rule, pure."""

from __future__ import annotations

import pytest

from smartcustoms.core import conveyance
from smartcustoms.core.config import ConfigError, FusionConfig, from_dict
from smartcustoms.core.conveyance import CLEAR, HOLD, INSPECT, FusionRule
from smartcustoms.core.verdicts import fallback
from smartcustoms.v1 import conveyance_pb2, frame_pb2, results_pb2

ALARM = results_pb2.DECISION_ALARM
MANUAL = results_pb2.DECISION_MANUAL_INSPECTION
XRAY, CT, RECORD = frame_pb2.MODALITY_XRAY, frame_pb2.MODALITY_CT, frame_pb2.MODALITY_RECORD
RULE = FusionRule(hold_score=0.9, expected_modalities=frozenset({XRAY, RECORD}))


def _verdict(
    frame_id: str,
    modality: int,
    *results: results_pb2.PluginResult,
    accepted_s: int = 100,
    decision: int = results_pb2.DECISION_CLEAR,
) -> results_pb2.Verdict:
    verdict = results_pb2.Verdict(
        frame_id=frame_id,
        source_id=f"src-{frame_id}",
        modality=modality,  # type: ignore[arg-type]  # an enum number
        conveyance_id="HK-1",
        decision=decision,  # type: ignore[arg-type]
        results=results,
        control_point="lok-ma-chau",
    )
    verdict.accepted_time.FromSeconds(accepted_s)
    return verdict


def _result(
    plugin: str, decision: int = results_pb2.DECISION_CLEAR, *scores: float, **attributes: str
) -> results_pb2.PluginResult:
    result = results_pb2.PluginResult(plugin=plugin, decision=decision)  # type: ignore[arg-type]
    for n, score in enumerate(scores):
        result.detections.add(label=f"class-{n}", score=score, attributes=attributes)
    return result


def _parts(*verdicts: results_pb2.Verdict) -> list[conveyance_pb2.ConveyancePart]:
    return [conveyance.part_of(v) for v in verdicts]


def _decide(
    *verdicts: results_pb2.Verdict, trigger: str = "window", rule: FusionRule = RULE
) -> conveyance_pb2.ConveyanceDecision:
    return conveyance.decide(
        "HK-1", _parts(*verdicts), rule, trigger=trigger, version=1, opened_s=100.0, now_s=112.5
    )


def test_a_part_keeps_one_reason_per_live_result_and_ignores_shadow_results() -> None:
    verdict = _verdict("x1", XRAY, _result("dense_region", ALARM, 0.4, 0.95), _result("xray_detector"))
    verdict.shadow_results.add(plugin="candidate", decision=ALARM)
    part = conveyance.part_of(verdict)
    assert [(r.plugin, r.decision, list(r.labels)) for r in part.reasons] == [
        ("dense_region", ALARM, ["class-0", "class-1"]),
        ("xray_detector", results_pb2.DECISION_CLEAR, []),
    ]
    assert part.reasons[0].score == pytest.approx(0.95)
    assert (part.frame_id, part.modality, part.control_point) == ("x1", XRAY, "lok-ma-chau")


def test_a_failed_plugin_and_a_fallback_verdict_become_manual_inspection_reasons() -> None:
    failed = _result("xray_detector", MANUAL)
    failed.error = "timeout: took longer than\n10 s"
    (reason,) = conveyance.part_of(_verdict("x1", XRAY, failed)).reasons
    assert (reason.decision, reason.detail) == (MANUAL, "timeout: took longer than 10 s")
    frame = frame_pb2.Frame(frame_id="r1", source_id="feed", modality=RECORD, conveyance_id="HK-1")
    (reason,) = conveyance.part_of(fallback(frame, "no_plugin: nothing consumes records")).reasons
    assert (reason.plugin, reason.decision, reason.detail) == (
        "",
        MANUAL,
        "no_plugin: nothing consumes records",
    )


@pytest.mark.parametrize(
    ("modality", "result", "effect", "says"),
    [
        (XRAY, _result("xray_detector", ALARM, 0.95), HOLD, "alarm class-0 at 0.95 >= hold score 0.9"),
        (XRAY, _result("xray_detector", ALARM, 0.9), HOLD, ">= hold score"),
        (XRAY, _result("xray_detector", ALARM, 0.6), INSPECT, "alarm class-0 at 0.60 < hold score 0.9"),
        (RECORD, _result("vehicle_risk", ALARM, 0.99), INSPECT, "selected by risk (class-0, score 0.99)"),
        (RECORD, _result("vehicle_risk", ALARM, 0.2, watchlist="plate"), HOLD, "watchlist hit"),
        (XRAY, _result("xray_detector", MANUAL), INSPECT, "manual inspection"),
        (CT, _result("ct_detector"), CLEAR, "ct_detector on src-f: clear"),
    ],
)
def test_each_reason_asks_for_an_outcome_by_the_rule(
    modality: int, result: results_pb2.PluginResult, effect: int, says: str
) -> None:
    (reason,) = conveyance.part_of(_verdict("f", modality, result)).reasons
    found, explanation = conveyance.effect(reason, RULE)
    assert found == effect and says in explanation, explanation


def test_the_thresholds_are_settings() -> None:
    (reason,) = conveyance.part_of(
        _verdict("f", RECORD, _result("vehicle_risk", ALARM, 0.2, watchlist="x"))
    ).reasons
    assert conveyance.effect(reason, FusionRule(hold_on_watchlist=False))[0] == INSPECT
    (reason,) = conveyance.part_of(_verdict("f", XRAY, _result("xray_detector", ALARM, 0.8))).reasons
    assert conveyance.effect(reason, FusionRule(hold_score=0.75))[0] == HOLD
    assert conveyance.effect(reason, FusionRule(risk_modalities=frozenset({XRAY})))[0] == INSPECT
    rule = FusionRule.from_config(
        FusionConfig(hold_score=0.5, expected_modalities=["ct"], risk_modalities=[])
    )
    assert (rule.hold_score, rule.expected_modalities, rule.risk_modalities) == (0.5, {CT}, frozenset())


def test_hold_wins_over_inspect_and_every_reason_is_kept_strongest_first() -> None:
    decision = _decide(
        _verdict("r1", RECORD, _result("vehicle_risk", ALARM, 0.7), accepted_s=101),
        _verdict("x1", XRAY, _result("dense_region"), _result("xray_detector", ALARM, 0.97), accepted_s=100),
    )
    assert decision.outcome == HOLD
    assert [(r.frame_id, r.plugin, r.effect) for r in decision.reasons] == [
        ("x1", "xray_detector", HOLD),
        ("r1", "vehicle_risk", INSPECT),
        ("x1", "dense_region", CLEAR),
    ]
    assert list(decision.frame_ids) == ["x1", "r1"]  # in the order the frames were accepted
    assert decision.summary == "HOLD HK-1: xray_detector on src-x1: alarm class-0 at 0.97 >= hold score 0.9"
    assert (decision.version, decision.trigger, decision.control_point) == (1, "window", "lok-ma-chau")
    assert (decision.opened_time.seconds, decision.decided_time.ToNanoseconds()) == (100, 112_500_000_000)


def test_all_clear_with_nothing_missing_is_clear() -> None:
    decision = _decide(
        _verdict("x1", XRAY, _result("xray_detector")), _verdict("r1", RECORD, _result("vehicle_risk"))
    )
    assert (decision.outcome, list(decision.missing)) == (CLEAR, [])
    assert decision.summary == "CLEAR HK-1: 2 frame(s) (record, xray), all clear"


def test_an_expected_part_that_never_came_makes_it_inspect_with_a_timeout_reason() -> None:
    decision = _decide(_verdict("x1", XRAY, _result("xray_detector")), trigger="timeout")
    assert (decision.outcome, list(decision.missing)) == (INSPECT, [RECORD])
    assert decision.reasons[0].explanation == "timeout: missing record"
    assert decision.summary == "INSPECT HK-1: timeout: missing record"
    held = _decide(_verdict("x1", XRAY, _result("xray_detector", ALARM, 0.99)), trigger="timeout")
    assert held.outcome == HOLD and "timeout: missing record" in [r.explanation for r in held.reasons]


def test_the_trigger_says_when_a_conveyance_is_due() -> None:
    xray = _parts(_verdict("x1", XRAY, _result("xray_detector")))
    both = xray + _parts(_verdict("r1", RECORD, _result("vehicle_risk")))

    def due(parts: list[conveyance_pb2.ConveyancePart], now_s: float, **kw: object) -> str | None:
        args: dict[str, object] = {"version": 0, "reopened": False, "deadline_s": 130.0, "now_s": now_s, **kw}
        return conveyance.trigger(parts, RULE, **args)  # type: ignore[arg-type]

    assert due(xray, 120.0) is None
    assert due(both, 120.0) == "complete"  # every expected modality: at once
    assert due(xray, 130.0) == "timeout"
    assert (
        conveyance.trigger(xray, FusionRule(), version=0, reopened=False, deadline_s=130, now_s=131)
        == "window"
    )
    assert (
        conveyance.trigger(both, FusionRule(), version=0, reopened=False, deadline_s=130, now_s=129) is None
    )
    assert due(both, 200.0, version=1) is None  # decided, nothing new
    assert due(both, 200.0, version=1, reopened=True) == "late"


def test_alerts_for_hold_and_inspect_only() -> None:
    held = _decide(_verdict("x1", XRAY, _result("xray_detector", ALARM, 0.97)))
    alert = conveyance.alert_for(held)
    assert alert is not None
    assert (alert.alert_id, alert.frame_id, alert.conveyance_id, alert.decision) == (
        "conveyance-HK-1-v1",
        "x1",
        "HK-1",
        ALARM,
    )
    assert alert.summary == held.summary
    timed_out = conveyance.alert_for(
        _decide(_verdict("x1", XRAY, _result("xray_detector")), trigger="timeout")
    )
    assert timed_out is not None and (timed_out.decision, timed_out.frame_id) == (MANUAL, "")
    assert conveyance.alert_for(_decide(_verdict("x1", XRAY), _verdict("r1", RECORD))) is None


def test_a_frame_names_its_conveyance_by_field_or_metadata() -> None:
    assert (
        conveyance.conveyance_of(frame_pb2.Frame(conveyance_id="A", metadata={"conveyance_id": "B"})) == "A"
    )
    assert conveyance.conveyance_of(frame_pb2.Frame(metadata={"conveyance_id": "B"})) == "B"
    assert conveyance.conveyance_of(frame_pb2.Frame()) == ""


@pytest.mark.parametrize(
    ("fusion", "message"),
    [
        (
            {"expected_modalities": ["xray", "vehicle"]},
            "fusion.expected_modalities: unknown modality 'vehicle'",
        ),
        ({"window_s": 0}, "fusion.window_s must be positive"),
        ({"hold_score": 1.5}, "fusion.hold_score must be between 0 and 1"),
        ({"window": 3}, "unknown setting(s) in fusion: window"),
    ],
)
def test_bad_fusion_settings_are_one_line_errors(fusion: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        from_dict({"fusion": fusion})
