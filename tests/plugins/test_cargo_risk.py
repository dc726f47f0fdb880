"""cargo_risk: point-in-time history features, idempotent writes, partial records, budgeted selection
with the model's own reasons, and a model that beats random selection on a seed it never saw."""

from __future__ import annotations

import math
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from smartcustoms.core import artefacts
from smartcustoms.core.frames import inline_view
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.risk import InspectionBudget, top_reasons
from smartcustoms.core.state import MemoryState
from smartcustoms.core.types import Decision
from smartcustoms.hardware.sim.records import CargoDeclarationSimulator, to_frame
from smartcustoms.plugins.cargo_risk import CargoRiskPlugin
from smartcustoms.plugins.cargo_risk.features import (
    FEATURES,
    CargoHistory,
    Declaration,
    DeclarationBatch,
    Outcome,
)
from smartcustoms.plugins.cargo_risk.model import ARTEFACT_NAME
from smartcustoms.plugins.cargo_risk.tools.evaluate import evaluate
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.v1 import frame_pb2

COLUMN = {name: i for i, name in enumerate(FEATURES)}


def declaration(record_id: str, at: str = "2025-03-01T10:00:00+08:00", **fields: str) -> frame_pb2.Record:
    base = {
        "declared_at": at,
        "hs_code": "85171300",
        "declared_value_hkd": "350000",
        "weight_kg": "40",
        "quantity": "100",
        "origin": "CN",
        "importer": "Harbour Trading Ltd",
        "declarant": "Star Brokerage Ltd",
        "route": "CN-SZX>HK-LMC",
    }
    return frame_pb2.Record(record_id=record_id, kind="cargo_declaration", fields=base | fields)


def parsed(*records: frame_pb2.Record) -> list[Declaration]:
    return [Declaration.from_record(r) for r in records]


def test_features_are_point_in_time_within_a_batch() -> None:
    history = CargoHistory(MemoryState())
    later = declaration("b", at="2025-03-01T11:00:00+08:00")
    earlier = declaration("a", at="2025-03-01T10:00:00+08:00")
    rows = history.features(parsed(later, earlier), token="frame-1")
    assert rows[1, COLUMN["hs_seen"]] == 0  # the earlier one sees nothing, whatever the batch order
    assert rows[0, COLUMN["hs_seen"]] == 1
    assert rows[0, COLUMN["importer_age_days"]] == pytest.approx(1 / 24)


def test_two_declarations_of_one_importer_in_one_batch() -> None:
    """The later one sees the earlier one in every count; the earlier one sees none of the later one."""
    history = CargoHistory(MemoryState())
    later = declaration("b", at="2025-03-01T12:00:00+08:00")
    earlier = declaration("a", at="2025-03-01T10:00:00+08:00")
    counts = ["hs_seen", "hs_origin_seen", "importer_seen", "importer_hs_seen", "declarant_seen"]
    rows = history.features(parsed(later, earlier), token="frame-1")
    assert [rows[1, COLUMN[name]] for name in counts] == [0, 0, 0, 0, 0]
    assert [rows[0, COLUMN[name]] for name in counts] == [1, 1, 1, 1, 1]
    assert rows[1, COLUMN["importer_age_days"]] == 0
    assert rows[0, COLUMN["importer_age_days"]] == pytest.approx(2 / 24)


def test_one_batch_gives_what_declarations_one_at_a_time_give() -> None:
    """Point-in-time within a batch: a shuffled batch of 300 gets the features each of its declarations
    gets when the same declarations come one batch each in time order (outcomes between them)."""
    records = [r for index in range(3) for r in CargoDeclarationSimulator(seed=51).batch(index).records]
    declarations = parsed(*records)
    one_by_one = CargoHistory(MemoryState())
    together = CargoHistory(MemoryState())
    for history in (one_by_one, together):
        history.add_outcomes(
            [Outcome(d, hit=i % 4 == 0, revenue_hkd=10.0 * i) for i, d in enumerate(declarations[:40])], "o"
        )
    by_time = sorted(range(len(declarations)), key=lambda i: declarations[i].at_s)
    expected = np.empty((len(declarations), len(FEATURES)))
    for i in by_time:
        expected[i] = one_by_one.features([declarations[i]], token=f"single-{i}")[0]
    order = np.random.default_rng(0).permutation(len(declarations))
    rows = together.features(DeclarationBatch.from_records([records[i] for i in order]), token="batch")
    np.testing.assert_allclose(rows, expected[order], rtol=1e-9, atol=1e-12)
    assert together.state.get_many(["imp:Harbour Trading Ltd:n"]) == one_by_one.state.get_many(
        ["imp:Harbour Trading Ltd:n"]
    )


def test_a_batch_parses_as_its_records_one_at_a_time() -> None:
    odd = [
        declaration("o1", weight_kg="", importer=" ", quantity="many", declared_value_hkd="-5"),
        declaration("o2", at="2025-03-01T10:00:00", hs_code=" 8517 ", origin=" cn ", route=" CN > SG>HK "),
        frame_pb2.Record(record_id="o3", kind="cargo_declaration"),
    ]
    records = [*CargoDeclarationSimulator(seed=52).batch(0).records, *odd]
    batch = DeclarationBatch.from_records(records)
    for i, record in enumerate(records):
        one = Declaration.from_record(record)
        assert repr(batch.declaration(i)) == repr(one)  # NaN == NaN, as text
    assert batch.declaration(len(records) - 3).missing == (
        "weight_kg",
        "importer",
        "declared_value_hkd",
        "quantity",
    )
    assert len(DeclarationBatch.from_records([])) == 0


def test_a_ratio_that_overflows_is_missing_not_an_infinite_history() -> None:
    history = CargoHistory(MemoryState())
    row = history.features(parsed(declaration("tiny", weight_kg="1e-320")), token="f1")[0]
    assert math.isnan(row[COLUMN["log_value_per_kg"]])
    assert row[COLUMN["log_weight_kg"]] == pytest.approx(math.log(1e-320))
    assert history.state.get("hs:85171300:vk:n") is None and history.state.get("hs:85171300:uv:n") == "1"


def test_a_redelivered_batch_adds_nothing_twice() -> None:
    history = CargoHistory(MemoryState())
    batch = parsed(declaration("a"), declaration("b", at="2025-03-01T11:00:00+08:00"))
    history.features(batch, token="frame-1")
    history.features(batch, token="frame-1")  # redelivered
    after = history.features(parsed(declaration("c", at="2025-03-02T10:00:00+08:00")), token="frame-2")
    assert after[0, COLUMN["hs_seen"]] == 2
    assert after[0, COLUMN["importer_seen"]] == 2


def test_unit_value_z_score_flags_undervaluation_once_history_exists() -> None:
    history = CargoHistory(MemoryState())
    honest = [
        declaration(
            f"h{i}", at=f"2025-03-01T{10 + i}:00:00+08:00", declared_value_hkd=str(350000 * (1 + i / 20))
        )
        for i in range(8)
    ]
    history.features(parsed(*honest), token="f1")
    cheap = declaration("cheap", at="2025-03-02T10:00:00+08:00", declared_value_hkd="35000")
    row = history.features(parsed(cheap), token="f2")[0]
    assert row[COLUMN["unit_value_z"]] < -5
    assert row[COLUMN["hs_seen"]] == 8


def test_unknown_codes_and_missing_fields_are_values_of_their_own() -> None:
    history = CargoHistory(MemoryState())
    odd = declaration("odd", hs_code="99999999", origin="ZZ", weight_kg="", quantity="many")
    d = parsed(odd)[0]
    assert set(d.missing) == {"weight_kg", "quantity"}
    row = history.features([d], token="f1")[0]
    assert row[COLUMN["hs_seen"]] == 0
    assert math.isnan(row[COLUMN["unit_value_z"]])
    assert math.isnan(row[COLUMN["log_weight_kg"]])  # missing, not zero
    assert row[COLUMN["log_value_hkd"]] == pytest.approx(math.log(350000))


def test_outcomes_raise_the_importers_hit_rate() -> None:
    history = CargoHistory(MemoryState())
    first = parsed(declaration("a"))
    history.features(first, token="f1")
    base = history.features(parsed(declaration("b", at="2025-03-02T10:00:00+08:00")), token="f2")[0]
    assert history.add_outcomes([Outcome(first[0], hit=True, revenue_hkd=5000.0)], token="o1")
    assert not history.add_outcomes([Outcome(first[0], hit=True, revenue_hkd=5000.0)], token="o1")
    after = history.features(parsed(declaration("c", at="2025-03-03T10:00:00+08:00")), token="f3")[0]
    assert after[COLUMN["importer_hit_rate"]] > base[COLUMN["importer_hit_rate"]]
    assert after[COLUMN["importer_inspected"]] == 1
    assert after[COLUMN["importer_log_revenue_found"]] == pytest.approx(math.log1p(5000.0))


@pytest.fixture(scope="module")
def plugin() -> CargoRiskPlugin:
    root = Path(artefacts.default_root())
    artefacts.read(root / ARTEFACT_NAME, expected_name=ARTEFACT_NAME)  # built by conftest / make
    return CargoRiskPlugin({"inspect_share": 0.05, "exploration_share": 0.01}, PluginContext("cargo_risk"))


def test_plugin_selects_about_its_budget_with_the_models_own_reasons(plugin: CargoRiskPlugin) -> None:
    simulator = CargoDeclarationSimulator(seed=31)
    selected = explored = total = 0
    for index in range(40):
        frame = inline_view(to_frame(simulator.batch(index), "customs-export", index))
        assessment = plugin.smartcustoms_process_batch([frame])[0]
        total += 100
        selected += len(assessment.detections)
        explored += sum(d.attributes.get("explored") == "1" for d in assessment.detections)
        assert (assessment.decision == Decision.ALARM) == bool(assessment.detections)
    assert 0.02 * total <= selected <= 0.10 * total
    assert 0 < explored < selected

    record = declaration("x", hs_code="24022000", declared_value_hkd="2000", quantity="500", weight_kg="400")
    rows = plugin.history.features(parsed(record), token="probe")
    contributions = plugin.model.contributions(rows)[0]
    reasons = top_reasons(contributions, plugin.model.feature_names, rows[0], k=3)
    assert reasons and all(r.contribution > 0 for r in reasons)
    assert [r.contribution for r in reasons] == sorted((r.contribution for r in reasons), reverse=True)
    assert reasons[0].contribution == pytest.approx(float(np.max(contributions[:-1])))


def test_a_partial_record_is_scored_and_flagged(plugin: CargoRiskPlugin) -> None:
    batch = frame_pb2.RecordBatch(records=[declaration("p", weight_kg="", importer="")])
    plugin.budget = InspectionBudget(0.02, warm_scores=[0.0] * 200)  # any score beats these: it shows
    assessment = plugin.assess("partial-frame", batch)
    (detection,) = assessment.detections
    assert detection.attributes["partial"] == "weight_kg,importer"
    assert 0.0 <= detection.score <= 1.0


def test_model_beats_random_selection_on_a_seed_it_never_saw() -> None:
    simulator = CargoDeclarationSimulator(seed=41)
    records = [r for index in range(120) for r in simulator.batch(index).records]
    report = evaluate(records, budgets=(0.02, 0.05))
    by = {(f.method, f.share): f for f in report.figures}
    ours, rnd = by[("cargo_risk (history + GBM)", 0.05)], by[("random", 0.05)]
    assert ours.precision > 5 * max(rnd.precision, 0.01)
    assert ours.recall >= 0.8
    assert ours.revenue >= 0.8


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "cargo", "--seed", "11"], "trained the shipped model"),
        (["eval", "cargo", "--data", "x.csv"], "--data needs --mapping"),
        (["library", "build", "cargo_risk", "--source", "elsewhere"], "only 'sim'"),
    ],
)
def test_cli_answers_bad_input_in_one_line(argv: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smartcustoms.runtime.cli", *argv], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_batch_scored_again_under_its_token_sees_the_history_its_first_scoring_saw() -> None:
    """A redelivered frame, or the shadow candidate scoring a frame after the live plugin wrote it,
    gets the features the first scoring got, not counts that include the batch itself."""
    history = CargoHistory(MemoryState())
    history.features(parsed(declaration("a"), declaration("b", importer="IMP-B")), token="frame-0")
    batch = parsed(
        declaration("c", at="2025-03-02T10:00:00+08:00"),
        declaration("d", at="2025-03-02T11:00:00+08:00", declared_value_hkd="10"),
        declaration("e", at="2025-03-02T12:00:00+08:00", importer="IMP-NEW"),
    )
    first = history.features(batch, token="frame-1")
    again = CargoHistory(history.state).features(batch, token="frame-1")
    np.testing.assert_allclose(again, first, rtol=1e-9, atol=1e-9, equal_nan=True)  # sums taken back
    assert first[0, COLUMN["hs_seen"]] == 2 and first[2, COLUMN["importer_seen"]] == 0


def test_the_candidate_shares_the_live_history_and_needs_its_own_model() -> None:
    from smartcustoms.plugins.cargo_risk import CargoRiskCandidatePlugin

    spec = CargoRiskCandidatePlugin.spec
    assert spec.state_name == "cargo_risk" and spec.name == "cargo_risk_candidate"
    assert not spec.enabled_by_default
    with pytest.raises(ValueError, match="model_dir"):
        CargoRiskCandidatePlugin({}, PluginContext("cargo_risk_candidate"))
    folder = Path(artefacts.default_root()) / ARTEFACT_NAME
    candidate = CargoRiskCandidatePlugin({"model_dir": str(folder)}, PluginContext("cargo_risk_candidate"))
    assert candidate.artefacts[0].path == folder


def test_outcomes_command_loads_a_file_once(tmp_path: Path, redis_service: EmbeddedRedis) -> None:
    from smartcustoms.core.keys import plugin_state_prefix
    from smartcustoms.core.state import open_state

    csv_path = tmp_path / "outcomes.csv"
    csv_path.write_text(
        "id,date,hs,value,kg,qty,origin,importer,illicit,duty\n"
        "d1,2025-03-01T10:00:00+08:00,24022000,1000,300,10,CN,Shell Ltd,1,52000\n"
        "d2,2025-03-01T11:00:00+08:00,24022000,90000,300,200,CN,Shell Ltd,0,0\n"
        "d3,2025-03-01T12:00:00+08:00,24022000,90000,300,200,CN,Other Ltd,,\n"
    )
    mapping = tmp_path / "map.toml"
    mapping.write_text(
        'kind = "cargo_declaration"\nid = "id"\n[fields]\ndeclared_at = { column = "date", format = "iso" }\n'
        'hs_code = "hs"\ndeclared_value_hkd = "value"\nweight_kg = "kg"\nquantity = "qty"\n'
        'origin = "origin"\nimporter = "importer"\n'
        '[labels]\nillicit = "illicit"\nduty_at_stake_hkd = "duty"\n'
    )
    config = tmp_path / "config.toml"
    namespace = f"outcomes-{uuid.uuid4().hex[:8]}"
    config.write_text(f'namespace = "{namespace}"\n[redis]\nurl = "{redis_service.url}"\n')
    command = [sys.executable, "-m", "smartcustoms.runtime.cli", "--config", str(config), "outcomes", "cargo"]
    for expected in ("2 new to the history", "0 new to the history"):
        done = subprocess.run(
            [*command, str(csv_path), "--mapping", str(mapping)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout and "1 rows without a result skipped" in done.stdout
    state = open_state(redis_service.url, plugin_state_prefix(namespace, "cargo_risk"))
    try:
        assert state.get_many(["imp:Shell Ltd:insp", "imp:Shell Ltd:hits", "imp:Shell Ltd:rev"]) == [
            "2",
            "1",
            "52000",
        ]
    finally:
        state.close()
