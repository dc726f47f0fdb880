"""Record simulators: private-car crossings, and the duty at stake on cargo declarations."""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pytest

from smartcustoms.hardware.sim import duty, records, vehicle
from smartcustoms.v1 import frame_pb2

CROSSING_FIELDS = {
    "plate_hk", "plate_mainland", "vehicle_model", "portal_model", "owner_type", "driver_id_hash",
    "crossing_point", "direction", "timestamp", "occupants", "crossings_30d", "crossings_365d",
    "distinct_drivers_90d", "same_day_returns_30d", "mean_hours_across_30d", "vehicle_registered_days",
    "prior_inspections_365d", "prior_seizures_365d", "illicit", "illicit_pattern", "duty_at_stake_hkd",
}  # fmt: skip


@pytest.fixture(scope="module")
def crossings() -> list[frame_pb2.Record]:
    simulator = records.CrossingSimulator(seed=4)
    return [record for index in range(60) for record in simulator.batch(index).records]


def test_crossings_are_deterministic() -> None:
    first = records.CrossingSimulator(seed=1).batch(3).SerializeToString()
    assert first == records.CrossingSimulator(seed=1).batch(3).SerializeToString()
    assert first != records.CrossingSimulator(seed=2).batch(3).SerializeToString()
    assert first != records.CrossingSimulator(seed=1).batch(4).SerializeToString()


def test_crossing_fields_are_well_formed(crossings: list[frame_pb2.Record]) -> None:
    assert len({r.record_id for r in crossings}) == len(crossings) == 6000
    times = []
    for record in crossings[:500]:
        fields = record.fields
        assert record.kind == records.CROSSING_KIND
        assert set(fields) == CROSSING_FIELDS
        assert re.fullmatch(r"[A-HJ-NPR-Z]{2}\d{1,4}", fields["plate_hk"])
        assert fields["plate_mainland"].startswith("\u7ca4Z") and fields["plate_mainland"].endswith("\u6e2f")
        assert fields["portal_model"] in vehicle.MODEL_NAMES
        assert fields["crossing_point"] in records.CONTROL_POINTS
        assert fields["direction"] in ("inbound", "outbound")
        assert re.fullmatch(r"[0-9a-f]{16}", fields["driver_id_hash"])
        times.append(datetime.fromisoformat(fields["timestamp"]))
        assert times[-1].utcoffset() is not None and times[-1].utcoffset().total_seconds() == 8 * 3600
        assert int(fields["crossings_365d"]) >= 0 and float(fields["mean_hours_across_30d"]) > 0
    assert times == sorted(times)


def test_illicit_rate_patterns_and_duty(crossings: list[frame_pb2.Record]) -> None:
    illicit = [r for r in crossings if r.fields["illicit"] == "1"]
    assert 0.02 < len(illicit) / len(crossings) < 0.045
    assert {r.fields["illicit_pattern"] for r in illicit} == set(records.CROSSING_PATTERNS)
    for record in crossings:
        at_stake = float(record.fields["duty_at_stake_hkd"])
        dutiable = record.fields["illicit_pattern"] in ("cigarettes", "liquor", "hydrocarbon_oil")
        assert (at_stake > 0) == dutiable, record
        assert record.fields["direction"] == "inbound" or not dutiable


def test_history_features_carry_signal_but_do_not_give_the_answer(crossings: list[frame_pb2.Record]) -> None:
    def mean(field: str, illicit: str) -> float:
        return float(np.mean([float(r.fields[field]) for r in crossings if r.fields["illicit"] == illicit]))

    for field in ("crossings_30d", "same_day_returns_30d", "distinct_drivers_90d", "prior_seizures_365d"):
        assert mean(field, "1") > mean(field, "0"), field
    frequent_honest = [
        r for r in crossings if r.fields["illicit"] == "0" and int(r.fields["same_day_returns_30d"]) >= 5
    ]
    assert len(frequent_honest) > 10  # honest cars cross like smugglers too


def test_crossing_frame_names_its_record_kind() -> None:
    batch = records.CrossingSimulator(seed=1).batch(0, size=5)
    frame = records.to_frame(batch, "lmc-crossings", 1)
    assert frame.metadata["record_kind"] == records.CROSSING_KIND
    assert frame_pb2.RecordBatch.FromString(frame.payload) == batch


def test_cargo_duty_at_stake() -> None:
    honest = records.CargoDeclarationSimulator(seed=2, illicit_rate=0.0).batch(0, size=300).records
    assert all(r.fields["duty_at_stake_hkd"] == "0.00" for r in honest)
    illicit = records.CargoDeclarationSimulator(seed=2, illicit_rate=1.0).batch(0, size=600).records
    at_stake = [r for r in illicit if float(r.fields["duty_at_stake_hkd"]) > 0]
    assert at_stake
    for record in at_stake:
        pattern = record.fields["illicit_pattern"]
        assert pattern in ("undervaluation", "misdeclaration")
        if pattern == "undervaluation":
            assert record.fields["hs_code"] == "22083000"  # only spirits are dutiable among valuables
    smallest_consignment = 10 * duty.STICKS_PER_CARTON * duty.CIGARETTE_DUTY_HKD_PER_STICK
    cigarettes = [r for r in at_stake if r.fields["illicit_pattern"] == "misdeclaration"]
    assert (
        cigarettes
        and min(float(r.fields["duty_at_stake_hkd"]) for r in cigarettes) >= smallest_consignment - 1
    )
