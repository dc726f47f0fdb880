"""The sensor layer's risk-on-records events, read back from a fresh registry per test."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from smartcustoms.core.metrics import SELECTION_REASONS, Metrics
from smartcustoms.core.selections import RecordSelection
from smartcustoms.core.sensors import Sensor
from smartcustoms.core.types import Modality, PluginSpec

CARGO = PluginSpec(
    name="cargo_risk",
    version="1",
    consumes=frozenset({Modality.RECORD}),
    record_kinds=frozenset({"cargo_declaration"}),
)
ANY_RECORD = PluginSpec(name="any_record", version="1", consumes=frozenset({Modality.RECORD}))
XRAY = PluginSpec(name="xray", version="1", consumes=frozenset({Modality.XRAY}))


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def sensor(registry: CollectorRegistry) -> Sensor:
    sensor = Sensor(Metrics(registry))
    sensor.record_plugins_enabled([CARGO, ANY_RECORD, XRAY])
    return sensor


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_enabled_record_plugins_have_every_series_at_zero(
    registry: CollectorRegistry, sensor: Sensor
) -> None:
    assert (
        value(registry, "smartcustoms_records_scored_total", plugin="cargo_risk", kind="cargo_declaration")
        == 0
    )
    for reason in SELECTION_REASONS:
        labels = {"plugin": "cargo_risk", "kind": "cargo_declaration", "reason": reason}
        assert value(registry, "smartcustoms_records_selected_total", **labels) == 0
    assert value(registry, "smartcustoms_records_scored_total", plugin="any_record", kind="other") == 0
    assert value(registry, "smartcustoms_record_risk_score_count", plugin="cargo_risk") == 0
    assert value(registry, "smartcustoms_records_scored_total", plugin="xray", kind="other") is None


def test_a_frame_counts_its_records_top_score_and_selections(
    registry: CollectorRegistry, sensor: Sensor
) -> None:
    selected = [
        RecordSelection("score", False),
        RecordSelection("score", True),
        RecordSelection("exploration", False),
    ]
    sensor.records_assessed("cargo_risk", "cargo_declaration", 200, 0.93, selected)
    sensor.records_assessed("cargo_risk", "cargo_declaration", 100, 0.04, [])
    cargo = {"plugin": "cargo_risk", "kind": "cargo_declaration"}
    assert value(registry, "smartcustoms_records_scored_total", **cargo) == 300
    assert value(registry, "smartcustoms_records_selected_total", **cargo, reason="score") == 2
    assert value(registry, "smartcustoms_records_selected_total", **cargo, reason="exploration") == 1
    assert value(registry, "smartcustoms_records_selected_total", **cargo, reason="watchlist") == 0
    assert value(registry, "smartcustoms_records_selected_partial_total", **cargo) == 1
    assert value(registry, "smartcustoms_record_risk_score_count", plugin="cargo_risk") == 2
    assert value(registry, "smartcustoms_record_risk_score_sum", plugin="cargo_risk") == pytest.approx(0.97)
    assert value(registry, "smartcustoms_record_risk_score_bucket", plugin="cargo_risk", le="0.05") == 1
    assert value(registry, "smartcustoms_record_risk_score_bucket", plugin="cargo_risk", le="0.9") == 1
    assert value(registry, "smartcustoms_record_risk_score_bucket", plugin="cargo_risk", le="0.95") == 2


def test_labels_stay_bounded(registry: CollectorRegistry, sensor: Sensor) -> None:
    """A kind no enabled plugin declares is "other"; an unknown reason counts as a score pick."""
    sensor.records_assessed("any_record", "plate HK-1234", 5, 0.5, [RecordSelection("rec-77", False)])
    sensor.records_assessed("any_record", "", 5, 0.5, [])
    sensor.records_assessed("any_record", "cargo_declaration", 1, 0.5, [])  # declared by cargo_risk
    other = {"plugin": "any_record", "kind": "other"}
    assert value(registry, "smartcustoms_records_scored_total", **other) == 10
    assert value(registry, "smartcustoms_records_selected_total", **other, reason="score") == 1
    assert (
        value(registry, "smartcustoms_records_scored_total", plugin="any_record", kind="cargo_declaration")
        == 1
    )
    kinds = {
        s.labels["kind"]
        for family in registry.collect()
        if family.name == "smartcustoms_records_scored"
        for s in family.samples
    }
    assert kinds == {"cargo_declaration", "other"}


def test_unknown_counts_empty_batches_and_odd_scores(registry: CollectorRegistry, sensor: Sensor) -> None:
    cargo = {"plugin": "cargo_risk", "kind": "cargo_declaration"}
    sensor.records_assessed("cargo_risk", "cargo_declaration", None, 0.5, [])  # count unknown: score kept
    assert value(registry, "smartcustoms_records_scored_total", **cargo) == 0
    assert value(registry, "smartcustoms_record_risk_score_count", plugin="cargo_risk") == 1
    sensor.records_assessed("cargo_risk", "cargo_declaration", 0, 0.0, [])  # an empty batch: no top score
    sensor.records_assessed("cargo_risk", "cargo_declaration", 3, float("nan"), [])
    assert value(registry, "smartcustoms_record_risk_score_count", plugin="cargo_risk") == 1
    sensor.records_assessed("cargo_risk", "cargo_declaration", 3, 1.5, [])  # clamped into [0, 1]
    assert value(registry, "smartcustoms_record_risk_score_bucket", plugin="cargo_risk", le="1.0") == 2
    assert value(registry, "smartcustoms_records_scored_total", **cargo) == 6


def test_a_plugin_seen_without_registration_gets_its_series(registry: CollectorRegistry) -> None:
    sensor = Sensor(Metrics(registry))  # a sink built without the worker's plugin list
    sensor.records_assessed("vehicle_risk", "vehicle_crossing", 4, 0.2, [RecordSelection("watchlist", False)])
    labels = {"plugin": "vehicle_risk", "kind": "other"}
    assert value(registry, "smartcustoms_records_scored_total", **labels) == 4
    assert value(registry, "smartcustoms_records_selected_total", **labels, reason="watchlist") == 1
    assert value(registry, "smartcustoms_records_selected_total", **labels, reason="exploration") == 0


def test_source_labels_are_bounded(
    sensor: Sensor, registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flood of new source ids (spoofed, or a device misconfigured) cannot grow /metrics without bound."""
    from smartcustoms.core import sensors

    monkeypatch.setattr(sensors, "MAX_SOURCE_LABELS", 3)
    for number in range(10):
        sensor.frame_accepted("xray", f"lane-{number}", 100, 0.01)
    sensor.frame_accepted("xray", "lane-0", 100, 0.01)  # a known source keeps its own series
    counted = {
        sample.labels["source"]: sample.value
        for metric in registry.collect()
        if metric.name == "smartcustoms_ingest_frames_accepted"
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    assert counted == {"lane-0": 2, "lane-1": 1, "lane-2": 1, "other": 7}
