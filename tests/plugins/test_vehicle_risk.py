"""vehicle_risk: point-in-time history, the watchlist, partial records, reasons from the model, and a
trained model that finds illicit crossings on a fleet it never saw."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from smartcustoms.core.artefacts import ArtefactError, ArtefactInfo
from smartcustoms.core.frames import FrameView, inline_view
from smartcustoms.core.manager import DEFAULT_PLUGINS, discover
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.risk import GbmModel
from smartcustoms.core.state import MemoryState
from smartcustoms.core.types import Decision, Modality
from smartcustoms.hardware.sim.records import to_frame
from smartcustoms.plugins.vehicle_risk import (
    FEATURE_NAMES,
    CrossingHistory,
    VehicleRiskPlugin,
    crossing_features,
    record_search,
)
from smartcustoms.plugins.vehicle_risk import watchlist as watch
from smartcustoms.plugins.vehicle_risk.features import display_value
from smartcustoms.plugins.vehicle_risk.model import ARTEFACT_NAME, load_model
from smartcustoms.plugins.vehicle_risk.tools.build import build
from smartcustoms.plugins.vehicle_risk.tools.evaluate import outcome, ranking, top
from smartcustoms.plugins.vehicle_risk.tools.replay import Replay, replay, replay_seeds
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.v1 import frame_pb2

HOUR_S = 3600.0
T0_S = 1_735_689_600.0  # 2025-01-01T00:00:00Z
TRAINING_SEEDS, VALIDATION_SEED, HELD_OUT_SEED = (0, 1), 4, 1000
BATCHES = 40  # of 100 crossings per seed: ~13 h of traffic
IMPORT_PATH = "smartcustoms.plugins.vehicle_risk:VehicleRiskPlugin"


@pytest.fixture(scope="module")
def model_artefact(tmp_path_factory: pytest.TempPathFactory) -> ArtefactInfo:
    """A small model: two training fleets, one validation fleet (a few seconds)."""
    out = tmp_path_factory.mktemp("artefacts") / ARTEFACT_NAME
    return build(out, seeds=TRAINING_SEEDS, validation_seed=VALIDATION_SEED, batches=BATCHES)


def plugin(artefact: ArtefactInfo, state: MemoryState | None = None, **settings: object) -> VehicleRiskPlugin:
    context = PluginContext("vehicle_risk", artefact_root=artefact.path.parent, state=state)
    return VehicleRiskPlugin({**VehicleRiskPlugin.spec.default_settings, **settings}, context)


def iso(at_s: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(at_s, tz=UTC).isoformat()


def crossing(
    record_id: str,
    at_s: float,
    *,
    plate: str = "AB1234",
    driver: str = "d-a",
    direction: str = "inbound",
    **fields: str,
) -> frame_pb2.Record:
    """An ordinary private car's crossing, with ``fields`` overriding (an empty value drops a field)."""
    base = {
        "plate_hk": plate,
        "plate_mainland": "\u7ca4ZAB12\u6e2f",
        "vehicle_model": "Toyota Camry",
        "portal_model": "sedan-1",
        "owner_type": "individual",
        "driver_id_hash": driver,
        "crossing_point": "lok-ma-chau",
        "direction": direction,
        "timestamp": iso(at_s),
        "occupants": "2",
        "crossings_30d": "3",
        "crossings_365d": "35",
        "distinct_drivers_90d": "1",
        "same_day_returns_30d": "0",
        "mean_hours_across_30d": "30.0",
        "vehicle_registered_days": "2400",
        "prior_inspections_365d": "0",
        "prior_seizures_365d": "0",
    }
    merged = {key: value for key, value in (base | fields).items() if value}
    return frame_pb2.Record(record_id=record_id, kind="vehicle_crossing", fields=merged)


SMUGGLER_LIKE = {
    "portal_model": "mpv-1",
    "owner_type": "company",
    "occupants": "1",
    "crossings_30d": "16",
    "crossings_365d": "190",
    "distinct_drivers_90d": "4",
    "same_day_returns_30d": "11",
    "mean_hours_across_30d": "2.5",
    "vehicle_registered_days": "120",
    "prior_inspections_365d": "4",
    "prior_seizures_365d": "1",
}


def frame_of(*records: frame_pb2.Record, sequence: int = 1) -> FrameView:
    return inline_view(to_frame(frame_pb2.RecordBatch(records=list(records)), "crossing-feed", sequence))


def history_features(history: CrossingHistory, record: frame_pb2.Record) -> dict[str, float]:
    row = crossing_features(record, history)
    return dict(zip(FEATURE_NAMES, row.values.tolist(), strict=True))


# --------------------------------------------------------------------------- history in state


def test_history_is_point_in_time_and_counts_a_redelivered_crossing_once() -> None:
    history = CrossingHistory(MemoryState())
    out = crossing("c1", T0_S, direction="outbound", driver="d-a")
    back = crossing("c2", T0_S + 2 * HOUR_S, direction="inbound", driver="d-b")
    later = crossing("c3", T0_S + 3 * 24 * HOUR_S, direction="inbound", driver="d-a")

    first = history_features(history, out)
    assert first["plate_crossings_30d"] == 0 and first["plate_drivers_90d"] == 0
    returned = history_features(history, back)
    assert returned["plate_crossings_1d"] == 1 and returned["plate_opposite_24h"] == 1  # a same-day return
    assert returned["plate_drivers_90d"] == 1 and returned["driver_crossings_30d"] == 0
    assert history_features(history, back) == returned  # delivered again: same features ...
    seen = history_features(history, later)
    assert seen["plate_crossings_1d"] == 0 and seen["plate_crossings_7d"] == 2  # ... and counted once
    assert seen["plate_returns_30d"] == 1 and seen["plate_opposite_24h"] == 0
    assert seen["plate_drivers_90d"] == 2 and seen["driver_crossings_30d"] == 1

    # A crossing processed late sees only what came before its own time, not c1..c3.
    early = history_features(history, crossing("c0", T0_S - HOUR_S, direction="inbound"))
    assert early["plate_crossings_30d"] == 0 and early["plate_drivers_90d"] == 0
    # Delivered again after c3 (and c0), c2 sees what came before it: c1 and now c0, never c3.
    counts = {f"plate_crossings_{days}d": 2.0 for days in (1, 7, 30)}
    assert history_features(history, back) == returned | counts


def test_shared_drivers_are_counted_both_ways() -> None:
    history = CrossingHistory(MemoryState())
    history_features(history, crossing("c1", T0_S, plate="AB1234", driver="d-x"))
    history_features(history, crossing("c2", T0_S + HOUR_S, plate="CD5678", driver="d-x"))
    third = history_features(history, crossing("c3", T0_S + 2 * HOUR_S, plate="EF9012", driver="d-x"))
    assert third["driver_plates_90d"] == 2 and third["driver_crossings_30d"] == 2
    assert third["plate_drivers_90d"] == 0  # EF9012 had no driver before
    # 91 days on, the pairs have left the 90-day window.
    gone = history_features(history, crossing("c4", T0_S + 91 * 24 * HOUR_S, plate="GH3456", driver="d-x"))
    assert gone["driver_plates_90d"] == 0


def test_closed_search_reports_feed_the_plates_history() -> None:
    state = MemoryState()
    history = CrossingHistory(state)
    record_search(state, "ab 1234", "r-1", T0_S + HOUR_S, duty_found_hkd=None)  # plate spelt loosely
    record_search(state, "AB1234", "r-2", T0_S + 2 * HOUR_S, duty_found_hkd=4_000.0)
    record_search(state, "AB1234", "r-2", T0_S + 2 * HOUR_S, duty_found_hkd=4_000.0)  # delivered twice
    before = history_features(history, crossing("c1", T0_S + 1.5 * HOUR_S))
    assert (before["plate_searches_365d"], before["plate_seizures_365d"]) == (1, 0)
    after = history_features(history, crossing("c2", T0_S + 3 * HOUR_S))
    assert (after["plate_searches_365d"], after["plate_seizures_365d"]) == (2, 1)
    assert after["plate_seized_duty_hkd_365d"] == 4_000.0


# --------------------------------------------------------------------------- bad input


def test_missing_and_unreadable_fields_are_nan_and_named_never_zero() -> None:
    record = crossing("c1", T0_S, occupants="", crossings_30d="many", timestamp="2025-01-01T08:00:00")
    row = crossing_features(record, CrossingHistory(MemoryState()))
    values = dict(zip(FEATURE_NAMES, row.values.tolist(), strict=True))
    assert row.missing == ("occupants", "crossings_30d", "timestamp")  # no offset: unreadable
    assert math.isnan(values["occupants"]) and math.isnan(values["crossings_30d"])
    assert math.isnan(values["plate_crossings_30d"])  # no time: no point-in-time history
    assert values["crossings_365d"] == 35
    odd = crossing_features(crossing("c2", T0_S, portal_model="tuk-tuk-2", owner_type="trust"), None)
    assert odd.missing == () and not np.isnan(odd.values[FEATURE_NAMES.index("vehicle_class")])


def test_a_partial_crossing_is_scored_and_flagged(model_artefact: ArtefactInfo) -> None:
    state = MemoryState()
    watch.add(state, watch.WatchEntry.now("tip-off", "officer 7"), watch.targets(plate="ZZ99"))
    vehicle = plugin(model_artefact, state)
    bare = frame_pb2.Record(record_id="c-bare", kind="vehicle_crossing", fields={"plate_hk": "ZZ99"})
    [assessment] = vehicle.smartcustoms_process_batch([frame_of(bare)])
    [detection] = assessment.detections
    assert 0.0 < detection.score < 1.0 and assessment.risk_score == detection.score
    partial = detection.attributes["partial"].split(",")
    assert {"occupants", "driver_id_hash", "timestamp", "portal_model"} <= set(partial)
    assert "plate_hk" not in partial
    empty = frame_pb2.Record(record_id="c-empty", kind="vehicle_crossing")
    [nothing_known] = vehicle.smartcustoms_process_batch([frame_of(empty)])
    assert math.isfinite(nothing_known.risk_score)


def test_frames_without_crossings_are_clear(model_artefact: ArtefactInfo) -> None:
    vehicle = plugin(model_artefact, MemoryState())
    declaration = frame_pb2.Record(record_id="d-1", kind="cargo_declaration", fields={"hs_code": "1"})
    assessments = vehicle.smartcustoms_process_batch([frame_of(declaration), frame_of()])
    assert [a.decision for a in assessments] == [Decision.CLEAR, Decision.CLEAR]


# --------------------------------------------------------------------------- selection and reasons


def test_a_watchlisted_plate_or_driver_is_always_selected(model_artefact: ArtefactInfo) -> None:
    state = MemoryState()
    vehicle = plugin(model_artefact, state, inspect_share=0.01, exploration_share=0.0)
    ordinary = [crossing(f"c{n}", T0_S + n * 60, plate=f"PL{n}", driver=f"d-{n}") for n in range(3)]
    assert vehicle.smartcustoms_process_batch([frame_of(*ordinary)])[0].decision == Decision.CLEAR

    watch.add(state, watch.WatchEntry.now("seen loading cartons", "officer 7"), watch.targets(plate="pl 1"))
    watch.add(state, watch.WatchEntry.now("known runner", "officer 9"), watch.targets(driver="D-2"))
    again = [crossing(f"c{n}b", T0_S + HOUR_S + n * 60, plate=f"PL{n}", driver=f"d-{n}") for n in range(3)]
    [assessment] = vehicle.smartcustoms_process_batch([frame_of(*again)])
    assert assessment.decision == Decision.ALARM
    by_plate = {d.attributes["plate_hk"]: d for d in assessment.detections}
    assert set(by_plate) == {"PL1", "PL2"}
    assert by_plate["PL1"].attributes["reasons"].startswith("watchlist: seen loading cartons")
    assert by_plate["PL1"].attributes["watchlist"] == "plate"
    assert by_plate["PL2"].attributes["reasons"].startswith("watchlist: known runner")
    assert by_plate["PL2"].attributes["watchlist"] == "driver"
    assert all(d.attributes["explored"] == "0" and d.label == "vehicle_risk" for d in assessment.detections)

    assert [one.key for one, _ in watch.remove(state, watch.targets(plate="PL1"))] == ["watch:PL1"]
    later = crossing("c1c", T0_S + 2 * HOUR_S, plate="PL1", driver="d-1")
    assert vehicle.smartcustoms_process_batch([frame_of(later)])[0].decision == Decision.CLEAR


def test_reasons_are_the_models_own_contributions(model_artefact: ArtefactInfo) -> None:
    vehicle = plugin(model_artefact, None, inspect_share=0.5)  # no state: history features missing
    suspicious = crossing("c-s", T0_S, **SMUGGLER_LIKE)
    [assessment] = vehicle.smartcustoms_process_batch([frame_of(suspicious)])
    [detection] = assessment.detections
    row = crossing_features(suspicious, None).values[None, :]
    gbm = load_model(model_artefact.path).gbm
    contributions = gbm.contributions(row)[0]
    logit = math.log(detection.score / (1 - detection.score))
    assert contributions.sum() == pytest.approx(logit, abs=1e-6)  # they add up to the score itself
    shown = re.findall(r"(\w+)=(\S+) \(([+-]\d+\.\d\d)\)", detection.attributes["reasons"])
    expected = np.argsort(-contributions[: len(FEATURE_NAMES)])[:3]
    assert [name for name, _, _ in shown] == [FEATURE_NAMES[i] for i in expected]
    for name, _, pushed in shown:
        assert float(pushed) == pytest.approx(contributions[FEATURE_NAMES.index(name)], abs=0.006)
        assert float(pushed) > 0
    values = dict(zip(FEATURE_NAMES, row[0].tolist(), strict=True))
    assert [shown_value for _, shown_value, _ in shown] == [display_value(n, values[n]) for n, _, _ in shown]
    assert detection.attributes["record_id"] == "c-s" and "partial" not in detection.attributes


def test_exploration_picks_are_marked_and_stable(model_artefact: ArtefactInfo) -> None:
    records = [crossing(f"c{n}", T0_S + n * 60, plate=f"PL{n}") for n in range(200)]
    picked = []
    for _ in range(2):  # a fresh plugin each time, as after a redelivery to another actor
        vehicle = plugin(model_artefact, MemoryState(), inspect_share=0.001, exploration_share=0.05)
        [assessment] = vehicle.smartcustoms_process_batch([frame_of(*records)])
        picked.append(
            {d.attributes["record_id"] for d in assessment.detections if d.attributes["explored"] == "1"}
        )
    assert picked[0] == picked[1] and 2 <= len(picked[0]) <= 25


def test_spec_routing_warm_up_and_a_missing_model(model_artefact: ArtefactInfo, tmp_path: Path) -> None:
    assert IMPORT_PATH in DEFAULT_PLUGINS
    info = discover(IMPORT_PATH)
    assert info.spec.record_kinds == frozenset({"vehicle_crossing"})
    assert info.spec.consumes == frozenset({Modality.RECORD}) and info.spec.artefacts == (ARTEFACT_NAME,)
    vehicle = plugin(model_artefact, MemoryState())
    vehicle.smartcustoms_warm_up()
    assert vehicle.artefacts[0].content_hash == model_artefact.content_hash
    with pytest.raises(ArtefactError, match="smartcustoms library build vehicle_risk"):
        VehicleRiskPlugin({}, PluginContext("vehicle_risk", artefact_root=tmp_path))
    with pytest.raises(ValueError, match="unknown setting"):
        plugin(model_artefact, None, inspect_share_pct=5)


# --------------------------------------------------------------------------- the model on a held-out fleet


def recall_at_5pct(scores: np.ndarray, held_out_illicit: np.ndarray) -> float:
    data = Replay(np.empty((len(scores), 0)), held_out_illicit, np.ones(len(scores)), ("",) * len(scores))
    return outcome(top(ranking([scores], np.random.default_rng(0)), 0.05), data).recall


def test_a_trained_model_finds_illicit_crossings_on_a_fleet_it_never_saw(
    model_artefact: ArtefactInfo,
) -> None:
    held_out = replay(HELD_OUT_SEED, BATCHES)
    model = load_model(model_artefact.path).gbm
    found = recall_at_5pct(model.score(held_out.features), held_out.illicit)
    random_recall = recall_at_5pct(np.random.default_rng(1).random(len(held_out)), held_out.illicit)
    assert random_recall < 0.15
    assert found >= 0.5  # 5% of crossings searched find at least half of the illicit ones

    # The same training with each crossing's features shuffled away from its label fails that margin.
    training = replay_seeds(list(TRAINING_SEEDS), BATCHES)
    shuffled = training.features[np.random.default_rng(2).permutation(len(training))]
    blind = GbmModel.train(shuffled, training.illicit, FEATURE_NAMES, seed=0)
    assert recall_at_5pct(blind.score(held_out.features), held_out.illicit) < 0.3


# --------------------------------------------------------------------------- commands


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from smartcustoms.runtime.cli import main

    with pytest.raises(SystemExit) as done:
        main(argv)
    captured = capsys.readouterr()
    return int(done.value.code or 0), captured.out, captured.err


def test_eval_prints_the_table_beside_its_baselines(
    model_artefact: ArtefactInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "eval",
        "vehicle-risk",
        "--seeds",
        "1000",
        "--batches",
        "10",
        "--model-dir",
        str(model_artefact.path),
    ]
    code, out, _ = run_cli(argv, capsys)
    assert code == 0
    rows = [
        line.split() for line in out.splitlines() if re.match(r"\s+(\d+%\s+)?(model|rule|random)\s", line)
    ]
    assert [row[-5] for row in rows] == ["model", "rule", "random"] * 4
    assert [row[0] for row in rows if row[0].endswith("%")] == ["1%", "2%", "5%", "10%"]
    assert "held-out seeds 1000: 1,000 crossings" in out and "budget" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "vehicle-risk", "--seeds", "1", "1000"], "evaluate on held-out seeds"),
        (["eval", "vehicle-risk", "--batches", "0"], "--batches must be at least 1"),
        (["library", "build", "vehicle_risk", "--source", "/data/x.csv"], "only 'sim'"),
    ],
)
def test_tools_refuse_bad_input_in_one_line(
    model_artefact: ArtefactInfo, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [*argv, "--model-dir", str(model_artefact.path)] if argv[0] == "eval" else argv
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err


def test_eval_without_a_model_names_the_build_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["eval", "vehicle-risk", "--model-dir", str(tmp_path / "none")], capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert "smartcustoms library build vehicle_risk --source sim" in err


def config_file(tmp_path: Path, redis_url: str) -> str:
    path = tmp_path / "watch.toml"
    path.write_text(f'namespace = "watch-{tmp_path.name}"\n[redis]\nurl = "{redis_url}"\n')
    return str(path)


@pytest.mark.integration
def test_watchlist_command_writes_where_the_plugin_reads(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    redis_service: EmbeddedRedis,
    model_artefact: ArtefactInfo,
) -> None:
    from smartcustoms.core.audit import audit_key, read_pending
    from smartcustoms.core.keys import plugin_state_prefix
    from smartcustoms.core.state import open_state

    config = ["--config", config_file(tmp_path, redis_service.url)]
    add = [
        *config,
        "watchlist",
        "add",
        "ab 1234",
        "--driver",
        "D-9",
        "--reason",
        "tip-off",
        "--officer",
        "Chan",
    ]
    assert run_cli(add, capsys)[0] == 0
    code, out, _ = run_cli([*config, "watchlist", "list"], capsys)
    assert code == 0
    assert [line.split()[:2] for line in out.splitlines()] == [["plate", "AB1234"], ["driver", "d-9"]]
    assert all(line.split()[-2:] == ["Chan", "tip-off"] for line in out.splitlines())

    state = open_state(redis_service.url, plugin_state_prefix(f"watch-{tmp_path.name}", "vehicle_risk"))
    vehicle = plugin(model_artefact, state)
    [assessment] = vehicle.smartcustoms_process_batch([frame_of(crossing("c1", T0_S, plate="AB1234"))])
    assert assessment.detections[0].attributes["reasons"].startswith("watchlist: tip-off")

    remove = [*config, "watchlist", "remove", "AB1234", "--driver", "d-9", "--officer", "Wong"]
    assert run_cli(remove, capsys)[0] == 0
    assert run_cli([*config, "watchlist", "list"], capsys)[1] == ""
    trail = [
        read_pending(raw)
        for raw in state.client.lrange(audit_key(f"watch-{tmp_path.name}", "pending"), 0, -1)
    ]
    assert [(kind, body["id"], body["officer"], body["via"]) for kind, _, body in trail] == [
        ("watchlist_added", "AB1234", "Chan", "command"),
        ("watchlist_added", "d-9", "Chan", "command"),
        ("watchlist_removed", "AB1234", "Wong", "command"),
        ("watchlist_removed", "d-9", "Wong", "command"),
    ]
    code, _, err = run_cli([*config, "watchlist", "remove", "AB1234"], capsys)
    assert code == 1 and err.strip() == "smartcustoms watchlist: not on the watchlist"
    state.close()


@pytest.mark.parametrize(
    ("action", "code", "message"),
    [
        (["add", "--reason", "x", "--officer", "y"], 2, "name a plate, a driver (--driver HASH), or both"),
        (["add", "AB1", "--reason", " ", "--officer", "y"], 2, "needs a reason and an officer"),
        (["add", "AB1", "--reason", "x" * 201, "--officer", "y"], 2, "201 characters: at most 200"),
        (["add", "--driver", " ", "--reason", "x", "--officer", "y"], 2, "name a plate, a driver"),
        (["list"], 1, "Redis at redis://127.0.0.1:1/0"),
    ],
)
def test_watchlist_refuses_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: list[str], code: int, message: str
) -> None:
    argv = ["--config", config_file(tmp_path, "redis://127.0.0.1:1/0"), "watchlist", *action]
    got, _, err = run_cli(argv, capsys)
    assert got == code and len(err.splitlines()) == 1 and message in err, err
