"""Officers' inspection outcomes reach cargo_risk's history through the adjudication path: the review
desk turns a decision into ``inspection_outcome`` records, and the plugin learns from them once."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartcustoms.core import artefacts
from smartcustoms.core.frames import inline_view
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.selections import OUTCOME_KIND, outcome_records, resolve_record_outcomes
from smartcustoms.core.types import Decision
from smartcustoms.plugins.cargo_risk import CargoRiskPlugin
from smartcustoms.plugins.cargo_risk.model import ARTEFACT_NAME
from smartcustoms.runtime.review import outcome_frame
from smartcustoms.v1 import frame_pb2, results_pb2

CONFIRMED, CLEARED = results_pb2.ADJUDICATION_OUTCOME_CONFIRMED, results_pb2.ADJUDICATION_OUTCOME_CLEARED


def alert_verdict(*selected: str) -> results_pb2.Verdict:
    """A record frame's alarm: cargo_risk selected the declarations ``selected``, of two importers."""
    result = results_pb2.PluginResult(plugin="cargo_risk", decision=results_pb2.DECISION_ALARM)
    for n, record_id in enumerate(selected):
        result.detections.add(
            label="cargo_risk",
            attributes={
                "record_id": record_id,
                "importer": "Harbour Trading Ltd" if n == 0 else "Kowloon Imports Ltd",
                "declarant": "Star Brokerage Ltd",
                "origin": "CN",
                "route": "CN-SZX>SG-SIN>HK-LMC",
                "hs_code": "85171300",
                "reasons": "unit value low",
                "outcomes": "1",  # cargo_risk learns from officers' results
            },
        )
    return results_pb2.Verdict(
        frame_id="decl-batch-7",
        modality=frame_pb2.MODALITY_RECORD,
        decision=results_pb2.DECISION_ALARM,
        results=[result],
    )


def decide(verdict: results_pb2.Verdict, outcome: int, *named: results_pb2.RecordOutcome) -> None:
    """What the ledger does with a decision (runtime.ledger.Ledger.adjudicate), without Redis."""
    resolved = resolve_record_outcomes(verdict, outcome, named)
    if verdict.HasField("adjudication"):
        verdict.earlier_adjudications.append(verdict.adjudication)
    verdict.adjudication.outcome = outcome  # type: ignore[assignment]  # an enum number
    verdict.adjudication.officer = "PO 4411"
    del verdict.adjudication.record_outcomes[:]
    verdict.adjudication.record_outcomes.extend(resolved)


def test_records_not_named_take_the_alerts_outcome_and_unknown_records_are_refused() -> None:
    verdict = alert_verdict("D-1", "D-2")
    named = results_pb2.RecordOutcome(record_id="D-2", hit=False)
    resolved = resolve_record_outcomes(verdict, CONFIRMED, [named])
    assert [(o.record_id, o.hit, o.plugin) for o in resolved] == [
        ("D-1", True, "cargo_risk"),
        ("D-2", False, "cargo_risk"),
    ]
    assert [o.hit for o in resolve_record_outcomes(verdict, CLEARED)] == [False, False]
    with pytest.raises(ValueError, match="did not select record"):
        resolve_record_outcomes(verdict, CONFIRMED, [results_pb2.RecordOutcome(record_id="D-9")])
    with pytest.raises(ValueError, match="two outcomes"):
        resolve_record_outcomes(verdict, CONFIRMED, [named, named])
    with pytest.raises(ValueError, match="revenue"):
        bad = results_pb2.RecordOutcome(record_id="D-1", hit=True, revenue_found_hkd=-5)
        resolve_record_outcomes(verdict, CONFIRMED, [bad])
    clear_frame = results_pb2.Verdict(frame_id="bag", modality=frame_pb2.MODALITY_XRAY)
    assert resolve_record_outcomes(clear_frame, CONFIRMED) == []  # not a record frame: nothing to say


def test_outcome_records_carry_the_declaration_and_what_the_earlier_decision_said() -> None:
    verdict = alert_verdict("D-1")
    decide(verdict, CONFIRMED, results_pb2.RecordOutcome(record_id="D-1", hit=True, revenue_found_hkd=12_500))
    (first,) = outcome_records(verdict)
    assert first.kind == OUTCOME_KIND
    assert dict(first.fields) | {"revenue_found_hkd": "-"} == {
        "selected_record_id": "D-1",
        "plugin": "cargo_risk",
        "alert_frame_id": "decl-batch-7",
        "revision": "0",
        "hit": "1",
        "revenue_found_hkd": "-",
        "earlier_hit": "",
        "earlier_revenue_found_hkd": "",
        "officer": "PO 4411",
        "importer": "Harbour Trading Ltd",
        "declarant": "Star Brokerage Ltd",
        "origin": "CN",
        "route": "CN-SZX>SG-SIN>HK-LMC",
        "hs_code": "85171300",
    }
    assert float(first.fields["revenue_found_hkd"]) == 12_500
    del verdict.results[0].detections[0].attributes["outcomes"]  # a plugin that learns another way
    assert outcome_records(verdict) == []
    verdict.results[0].detections[0].attributes["outcomes"] = "1"
    decide(verdict, CLEARED)
    (second,) = outcome_records(verdict)
    assert (second.fields["hit"], second.fields["earlier_hit"], second.fields["revision"]) == ("0", "1", "1")
    assert second.record_id != first.record_id


@pytest.fixture(scope="module")
def plugin_root() -> Path:
    root = Path(artefacts.default_root())
    artefacts.read(root / ARTEFACT_NAME, expected_name=ARTEFACT_NAME)  # built by conftest / make
    return root


def counters(plugin: CargoRiskPlugin, importer: str) -> tuple[float, float, float]:
    state = plugin.history.state
    return tuple(float(state.get(f"imp:{importer}:{field}") or 0) for field in ("insp", "hits", "rev"))  # type: ignore[return-value]  # three fields, three values


def test_the_plugin_learns_each_decision_once_and_a_changed_one_replaces_it(plugin_root: Path) -> None:
    plugin = CargoRiskPlugin({}, PluginContext("cargo_risk"))
    verdict = alert_verdict("D-1", "D-2")
    decide(verdict, CONFIRMED, results_pb2.RecordOutcome(record_id="D-1", hit=True, revenue_found_hkd=9_000))
    first = outcome_frame(verdict, outcome_records(verdict))
    assert first.metadata["record_kind"] == OUTCOME_KIND
    assessments = plugin.smartcustoms_process_batch([inline_view(first)])
    assert [a.decision for a in assessments] == [Decision.CLEAR]
    assert counters(plugin, "Harbour Trading Ltd") == (1.0, 1.0, 9_000.0)
    assert counters(plugin, "Kowloon Imports Ltd") == (1.0, 1.0, 0.0)  # not named: confirmed is a hit
    plugin.smartcustoms_process_batch([inline_view(first)])  # redelivered: nothing twice
    assert counters(plugin, "Harbour Trading Ltd") == (1.0, 1.0, 9_000.0)

    decide(verdict, CLEARED)  # a supervisor changes the decision: the same inspections, no hits
    changed = outcome_frame(verdict, outcome_records(verdict))
    assert changed.frame_id != first.frame_id
    plugin.smartcustoms_process_batch([inline_view(changed)])
    assert counters(plugin, "Harbour Trading Ltd") == (1.0, 0.0, 0.0)
    assert counters(plugin, "Kowloon Imports Ltd") == (1.0, 0.0, 0.0)


def test_outcomes_of_another_plugins_selection_are_not_this_plugins(plugin_root: Path) -> None:
    plugin = CargoRiskPlugin({}, PluginContext("cargo_risk"))
    verdict = alert_verdict("D-1")
    verdict.results[0].plugin = "vehicle_risk"
    decide(verdict, CONFIRMED)
    assert plugin.learn("outcome-x-0", frame_pb2.RecordBatch(records=outcome_records(verdict))) == 0
    assert counters(plugin, "Harbour Trading Ltd") == (0.0, 0.0, 0.0)


def test_the_cli_and_the_page_state_record_outcomes_or_refuse_in_one_line() -> None:
    from smartcustoms.runtime.cli import record_outcome_arg
    from smartcustoms.runtime.review import record_outcomes_json

    stated = record_outcome_arg("DEC-2025-001=hit:12500.5")
    assert (stated.record_id, stated.hit, stated.revenue_found_hkd) == ("DEC-2025-001", True, 12500.5)
    assert not record_outcome_arg("DEC-2025-002=miss").hit
    for bad in ("DEC-1=maybe", "=hit", "DEC-1=miss:300", "DEC-1=hit:lots", "DEC-1=hit:-4", "DEC-1=hit:nan"):
        with pytest.raises(ValueError, match="--record"):
            record_outcome_arg(bad)
    parsed = record_outcomes_json([{"record_id": "D-1", "hit": True, "revenue_found_hkd": 800}])
    assert [(o.record_id, o.hit, o.revenue_found_hkd) for o in parsed] == [("D-1", True, 800.0)]
    for bad_json in ({"record_id": "D-1"}, [{"hit": True}], [{"record_id": "D-1", "hit": "yes"}]):
        with pytest.raises(ValueError):
            record_outcomes_json(bad_json)
