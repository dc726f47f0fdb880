"""RFID evidence warehouse: the event log, reads that follow it, work orders, frames."""

from __future__ import annotations

import collections

import pytest

from smartcustoms.hardware.sim import rfid, warehouse
from smartcustoms.v1 import frame_pb2


@pytest.fixture(scope="module")
def store() -> warehouse.EvidenceWarehouse:
    return warehouse.EvidenceWarehouse(seed=3, item_count=150, horizon_ticks=1800, anomaly_rate=0.2)


def epcs_read(store: warehouse.EvidenceWarehouse, tick: int, zone: str) -> set[str]:
    return {read.epc_hex for read in store.reader_report(tick, zone).reads}


def test_warehouse_is_deterministic() -> None:
    first = warehouse.EvidenceWarehouse(seed=5, horizon_ticks=600)
    second = warehouse.EvidenceWarehouse(seed=5, horizon_ticks=600)
    assert first.events == second.events and first.epcs == second.epcs
    assert (
        first.reader_report(42, "vault-a").SerializeToString()
        == second.reader_report(42, "vault-a").SerializeToString()
    )
    assert warehouse.EvidenceWarehouse(seed=6, horizon_ticks=600).events != first.events


def test_tags_are_sgtin96_of_the_evidence_store(store: warehouse.EvidenceWarehouse) -> None:
    assert len(set(store.epcs)) == len(store.epcs) > 150
    for epc, kind in zip(store.epcs[:50], store.evidence_kinds[:50], strict=True):
        decoded = rfid.decode_sgtin96(epc)
        assert decoded["company_prefix"] == warehouse.STORE_COMPANY_PREFIX
        assert decoded["item_reference"] == warehouse.EVIDENCE_KINDS[kind]


def test_event_mix_and_anomaly_rate(store: warehouse.EvidenceWarehouse) -> None:
    kinds = collections.Counter(event.kind for event in store.events)
    assert set(kinds) == set(warehouse.EVENT_KINDS)
    assert 0.12 < len(store.anomalies) / len(store.events) < 0.28
    assert all(e.work_order == "" for e in store.anomalies)
    assert all(e.work_order for e in store.events if e.authorised)
    assert [e.tick for e in store.events] == sorted(e.tick for e in store.events)


def test_reads_follow_a_deposit(store: warehouse.EvidenceWarehouse) -> None:
    event = next(e for e in store.events if e.kind == "deposit")
    assert event.epc_hex not in {
        read.epc_hex
        for zone in store.zones
        for read in store.reader_report(max(event.tick - 1, 0), zone).reads
    }
    assert event.epc_hex in epcs_read(store, event.tick, "intake")
    settled = event.arrival_tick + 1
    assert store.locate(event.epc_hex, settled) == event.to_zone
    assert event.epc_hex in epcs_read(store, settled, event.to_zone)


def test_reads_stop_when_an_item_goes_missing(store: warehouse.EvidenceWarehouse) -> None:
    event = next(e for e in store.events if e.kind == "missing")
    assert event.epc_hex in epcs_read(store, event.tick - 1, event.from_zone)
    for tick in (event.tick, event.tick + 30):
        assert store.locate(event.epc_hex, tick) is None
        assert all(event.epc_hex not in epcs_read(store, tick, zone) for zone in store.zones)


def test_unauthorised_move_is_read_in_its_new_zone_without_an_order(
    store: warehouse.EvidenceWarehouse,
) -> None:
    event = next(e for e in store.events if e.kind == "unauthorised_move")
    assert event.from_zone != event.to_zone
    assert event.epc_hex in epcs_read(store, event.arrival_tick + 1, event.to_zone)
    issued = store.work_orders(event.tick, event.arrival_tick + 1).records
    assert all(order.fields["epc_hex"] != event.epc_hex for order in issued)


def test_a_retrieved_item_passes_release_and_leaves(store: warehouse.EvidenceWarehouse) -> None:
    event = next(e for e in store.events if e.kind == "retrieve")
    assert event.to_zone == store.zones[-1]
    assert store.locate(event.epc_hex, event.arrival_tick) == event.to_zone
    assert event.epc_hex in epcs_read(store, event.arrival_tick, event.to_zone)
    assert store.locate(event.epc_hex, event.arrival_tick + 31) is None


def test_work_orders_are_the_authorised_events(store: warehouse.EvidenceWarehouse) -> None:
    orders = store.work_orders(0, 600).records
    expected = [e for e in store.events if e.tick < 600 and e.authorised]
    assert [o.record_id for o in orders] == [e.work_order for e in expected]
    for order, event in zip(orders, expected, strict=True):
        assert order.kind == warehouse.ORDER_KIND
        assert order.fields["action"] == event.kind and order.fields["epc_hex"] == event.epc_hex
        assert order.fields["to_zone"] == event.to_zone and order.fields["issued_at"].endswith("Z")


def test_reports_have_plausible_reads(store: warehouse.EvidenceWarehouse) -> None:
    reports = store.tick_reports(100)
    assert [report.zone for report in reports] == list(store.zones)
    located = store.zone_of_items(100)
    for z, report in enumerate(reports):
        assert report.reader_id == f"reader-{report.zone}"
        present = {store.epcs[i] for i, zone in enumerate(located) if zone == z}
        read = {r.epc_hex for r in report.reads}
        assert len(read - present) <= max(3, len(present) // 10)  # strays through the walls are rare
        assert len(present & read) >= 0.9 * len(present)  # nearly every item in the zone is read
        for r in report.reads:
            assert 1 <= r.antenna_id <= 4 and -80 <= r.rssi_dbm <= -30 and r.seen_count >= 1
            assert r.first_seen.ToNanoseconds() <= r.last_seen.ToNanoseconds()
    frame = rfid.to_frame(reports[1], source_id="store-vault-a", sequence=1)
    assert frame.modality == frame_pb2.MODALITY_RFID
    assert frame_pb2.RfidReadBatch.FromString(frame.payload) == reports[1]


def test_arguments_are_checked(store: warehouse.EvidenceWarehouse) -> None:
    with pytest.raises(ValueError):
        warehouse.EvidenceWarehouse(seed=1, zones=("a", "b", "c"))
    with pytest.raises(ValueError):
        warehouse.EvidenceWarehouse(seed=1, anomaly_rate=2.0)
    with pytest.raises(ValueError):
        store.reader_report(0, "basement")
