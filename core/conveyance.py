"""One decision per conveyance: from the verdicts that name a conveyance to CLEAR, INSPECT or HOLD.

Pure logic; the fusion stage (``smartcustoms.runtime.fusion``) keeps the parts in Redis and calls it.

A conveyance (a vehicle crossing, a container, a traveller's bag) is named by the ``conveyance_id`` of
its frames (``Frame.conveyance_id``, else the frame's metadata key ``conveyance_id``). Each frame's
verdict becomes a *part*: one *reason* per plugin result (plugin, its decision, the classes it found,
its highest score), or one reason for a verdict no plugin decided (a fallback). The rule, applied to
each reason on its own; the conveyance takes the strongest:

- HOLD: an ALARM with a detection naming an officers' watchlist entry (``hold_on_watchlist``), or an
  ALARM from a detector (a modality not in ``risk_modalities``) with a detection scoring at least
  ``hold_score``;
- INSPECT: any other ALARM (a detector below ``hold_score``, or a risk plugin that selected the
  conveyance), any MANUAL_INSPECTION (a plugin asked for an officer, failed or timed out, or nothing
  examined the frame), and an expected modality still missing once the window closed
  ("timeout: missing ...");
- CLEAR: every result cleared and nothing expected is missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from smartcustoms.core.config import FusionConfig
from smartcustoms.core.types import Modality
from smartcustoms.v1 import conveyance_pb2, frame_pb2, results_pb2

CLEAR = conveyance_pb2.CONVEYANCE_OUTCOME_CLEAR
INSPECT = conveyance_pb2.CONVEYANCE_OUTCOME_INSPECT
HOLD = conveyance_pb2.CONVEYANCE_OUTCOME_HOLD
OUTCOMES = ("clear", "inspect", "hold")  # metric labels, weakest first
TRIGGERS = ("complete", "window", "timeout", "late")
METADATA_KEY = "conveyance_id"  # the frame metadata key read when Frame.conveyance_id is empty
WATCHLIST_ATTRIBUTE = "watchlist"  # a detection attribute naming the watchlist entries it matched
FLOAT32_TOLERANCE = 1e-6  # scores travel as 32-bit floats: 0.9 arrives as 0.89999998
# A conveyance's alert in the frames' alert path: HOLD as an alarm, INSPECT as a manual inspection.
ALERT_DECISIONS = {HOLD: results_pb2.DECISION_ALARM, INSPECT: results_pb2.DECISION_MANUAL_INSPECTION}


@dataclass(frozen=True)
class FusionRule:
    """The mapping rule's settings (``[fusion]`` of the configuration), as modality numbers."""

    hold_score: float = 0.9
    hold_on_watchlist: bool = True
    risk_modalities: frozenset[int] = frozenset({frame_pb2.MODALITY_RECORD})
    expected_modalities: frozenset[int] = frozenset()

    @classmethod
    def from_config(cls, config: FusionConfig) -> FusionRule:
        return cls(
            hold_score=float(config.hold_score),
            hold_on_watchlist=bool(config.hold_on_watchlist),
            risk_modalities=_modalities(config.risk_modalities),
            expected_modalities=_modalities(config.expected_modalities),
        )


def _modalities(names: Iterable[str]) -> frozenset[int]:
    return frozenset(Modality(name).to_proto() for name in names)


def conveyance_of(frame: frame_pb2.Frame) -> str:
    """The conveyance a frame belongs to: its ``conveyance_id`` field, else its metadata key."""
    return frame.conveyance_id or frame.metadata.get(METADATA_KEY, "")


def outcome_name(outcome: int) -> str:
    return conveyance_pb2.ConveyanceOutcome.Name(outcome).removeprefix("CONVEYANCE_OUTCOME_").lower()


# --------------------------------------------------------------------------- parts


def part_of(verdict: results_pb2.Verdict) -> conveyance_pb2.ConveyancePart:
    """What the fusion stage keeps of one verdict: a reason per live plugin result (shadow results
    never count), or one reason for a verdict without results."""
    part = conveyance_pb2.ConveyancePart(
        frame_id=verdict.frame_id,
        modality=verdict.modality,
        decision=verdict.decision,
        control_point=verdict.control_point,
    )
    part.accepted_time.CopyFrom(verdict.accepted_time)
    part.reasons.extend(_reason(verdict, result) for result in verdict.results)
    if not verdict.results:
        part.reasons.append(_reason_base(verdict, "", verdict.decision, verdict.fallback_reason))
    return part


def _reason_base(
    verdict: results_pb2.Verdict, plugin: str, decision: int, detail: str
) -> conveyance_pb2.ConveyanceReason:
    return conveyance_pb2.ConveyanceReason(
        frame_id=verdict.frame_id,
        source_id=verdict.source_id,
        modality=verdict.modality,
        plugin=plugin,
        decision=decision,  # type: ignore[arg-type]  # an enum number
        detail=detail,
    )


def _reason(
    verdict: results_pb2.Verdict, result: results_pb2.PluginResult
) -> conveyance_pb2.ConveyanceReason:
    failed = bool(result.error)
    decision = results_pb2.DECISION_MANUAL_INSPECTION if failed else result.decision
    reason = _reason_base(verdict, result.plugin, decision, _one_line(result.error) if failed else "")
    reason.labels.extend(sorted({d.label for d in result.detections}))
    scores = [d.score for d in result.detections]
    reason.score = max(scores) if scores else result.risk_score
    reason.watchlist = any(d.attributes.get(WATCHLIST_ATTRIBUTE) for d in result.detections)
    return reason


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


# --------------------------------------------------------------------------- the rule


def effect(reason: conveyance_pb2.ConveyanceReason, rule: FusionRule) -> tuple[int, str]:
    """The outcome one reason asks for on its own, and why, in one line."""
    where = f"{reason.plugin or 'no plugin'} on {reason.source_id or reason.frame_id}"
    labels = ", ".join(reason.labels) or "no class named"
    if reason.decision == results_pb2.DECISION_MANUAL_INSPECTION:
        return INSPECT, f"{where}: manual inspection ({reason.detail or 'the plugin asked for an officer'})"
    if reason.decision != results_pb2.DECISION_ALARM:
        return CLEAR, f"{where}: clear"
    if reason.watchlist and rule.hold_on_watchlist:
        return HOLD, f"{where}: watchlist hit ({labels})"
    if reason.modality in rule.risk_modalities:
        return INSPECT, f"{where}: selected by risk ({labels}, score {reason.score:.2f})"
    if reason.score + FLOAT32_TOLERANCE >= rule.hold_score:
        return HOLD, f"{where}: alarm {labels} at {reason.score:.2f} >= hold score {rule.hold_score:g}"
    return INSPECT, f"{where}: alarm {labels} at {reason.score:.2f} < hold score {rule.hold_score:g}"


def missing(parts: Sequence[conveyance_pb2.ConveyancePart], rule: FusionRule) -> list[int]:
    """Expected modalities no part has, in modality order."""
    present = {part.modality for part in parts}
    return sorted(rule.expected_modalities - present)


def complete(parts: Sequence[conveyance_pb2.ConveyancePart], rule: FusionRule) -> bool:
    """Every expected modality is present (never true when nothing is expected: the window decides)."""
    return bool(rule.expected_modalities) and not missing(parts, rule)


def trigger(
    parts: Sequence[conveyance_pb2.ConveyancePart],
    rule: FusionRule,
    *,
    version: int,
    reopened: bool,
    deadline_s: float,
    now_s: float,
) -> str | None:
    """Why the conveyance should be decided now, or None: not yet (or nothing new since its decision)."""
    if version > 0:
        return "late" if reopened else None
    if complete(parts, rule):
        return "complete"
    if now_s >= deadline_s:
        return "timeout" if missing(parts, rule) else "window"
    return None


def decide(
    conveyance_id: str,
    parts: Sequence[conveyance_pb2.ConveyancePart],
    rule: FusionRule,
    *,
    trigger: str,
    version: int,
    opened_s: float,
    now_s: float,
) -> conveyance_pb2.ConveyanceDecision:
    """The decision over every part: the strongest reason's outcome, with every reason in it."""
    ordered = sorted(parts, key=lambda p: (p.accepted_time.ToNanoseconds(), p.frame_id))
    reasons = []
    for part in ordered:
        for kept in part.reasons:
            reason = conveyance_pb2.ConveyanceReason()
            reason.CopyFrom(kept)
            reason.effect, reason.explanation = effect(kept, rule)  # type: ignore[assignment]  # an enum number
            reasons.append(reason)
    absent = missing(parts, rule) if trigger != "complete" else []
    if absent:
        names = ", ".join(Modality.from_proto(m).value for m in absent)
        why = f"timeout: missing {names}"
        reasons.append(conveyance_pb2.ConveyanceReason(effect=INSPECT, explanation=why))
    reasons.sort(key=lambda r: -r.effect)  # stable: strongest first, in frame order within an effect
    decision = conveyance_pb2.ConveyanceDecision(
        conveyance_id=conveyance_id,
        outcome=max((r.effect for r in reasons), default=INSPECT),
        version=version,
        trigger=trigger,
        reasons=reasons,
        missing=absent,  # type: ignore[arg-type]  # enum numbers
        frame_ids=[part.frame_id for part in ordered],
        control_point=next((p.control_point for p in ordered if p.control_point), ""),
        opened_time=_timestamp(opened_s),
        decided_time=_timestamp(now_s),
    )
    decision.summary = summary(decision, ordered)
    return decision


def summary(
    decision: conveyance_pb2.ConveyanceDecision, parts: Sequence[conveyance_pb2.ConveyancePart]
) -> str:
    """One line: the outcome, the conveyance, and the strongest reason (or what cleared it)."""
    head = f"{outcome_name(decision.outcome).upper()} {decision.conveyance_id}"
    if decision.outcome == CLEAR:
        kinds = ", ".join(sorted({Modality.from_proto(p.modality).value for p in parts}))
        return f"{head}: {len(parts)} frame(s) ({kinds}), all clear"
    strongest = [r for r in decision.reasons if r.effect == decision.outcome]
    more = f" (+{len(strongest) - 1} more)" if len(strongest) > 1 else ""
    return f"{head}: {strongest[0].explanation}{more}"


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def alert_for(decision: conveyance_pb2.ConveyanceDecision) -> results_pb2.Alert | None:
    """The alert an officer must see for a HOLD (as ALARM) or an INSPECT (as MANUAL_INSPECTION), named
    ``conveyance-<id>-v<version>`` and pointing at the frame of its strongest reason; None for CLEAR."""
    if decision.outcome not in (HOLD, INSPECT):
        return None
    strongest = next((r for r in decision.reasons if r.effect == decision.outcome), None)
    alert = results_pb2.Alert(
        alert_id=f"conveyance-{decision.conveyance_id}-v{decision.version}",
        frame_id=strongest.frame_id if strongest else "",
        source_id=strongest.source_id if strongest else "",
        conveyance_id=decision.conveyance_id,
        decision=ALERT_DECISIONS[decision.outcome],
        summary=decision.summary,
        control_point=decision.control_point,
    )
    alert.raised_time.CopyFrom(decision.decided_time)
    return alert
