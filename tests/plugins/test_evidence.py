"""The evidence store: tag tracks, custody, alerts against custody, stock-take, slot suggestions, and
a short simulated warehouse run through the locator."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import date
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from smartcustoms.core.epc import encode_sgtin96
from smartcustoms.core.frames import inline_view
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.types import Decision
from smartcustoms.plugins.evidence import (
    CustodyError,
    EvidenceLocationPlugin,
    EvidenceOrderPlugin,
    Locator,
    MemoryStore,
    Order,
    apply_order,
    register_item,
)
from smartcustoms.plugins.evidence.custody import enrol_stock
from smartcustoms.plugins.evidence.locate import LocatorSettings, observe
from smartcustoms.plugins.evidence.stocktake import Layout, first_fit, stock_take, suggest_slot
from smartcustoms.v1 import frame_pb2

S = LocatorSettings()
T0 = 1_735_689_600.0
EPC_A = encode_sgtin96("4891234", "100001", 1)
EPC_B = encode_sgtin96("4891234", "100002", 2)
STRANGER = encode_sgtin96("4891234", "100003", 3)


class FakeAudit:
    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    def append(self, kind: str, body: Mapping[str, Any]) -> object:
        self.records.append((kind, dict(body)))
        return None


def report(zone: str, at_s: float, reads: list[tuple[str, int, int]]) -> frame_pb2.RfidReadBatch:
    """A reader report of ``zone``: (epc, antenna, rssi) reads, all at ``at_s``."""
    batch = frame_pb2.RfidReadBatch(reader_id=f"reader-{zone}", zone=zone)
    stamp = Timestamp(seconds=int(at_s), nanos=int((at_s % 1) * 1e9))
    for epc, antenna, rssi in reads:
        batch.reads.add(epc_hex=epc, antenna_id=antenna, rssi_dbm=rssi, first_seen=stamp, last_seen=stamp)
    return batch


def run(
    locator: Locator, zone: str, start_s: float, seconds: int, reads: list[tuple[str, int, int]]
) -> list[Any]:
    alerts = []
    for tick in range(seconds):
        (found,) = locator.process([(f"reader-{zone}", None, report(zone, start_s + tick, reads))])
        alerts += found
    return alerts


def stored(store: MemoryStore, epc: str, zone: str) -> None:
    enrol_stock(store, epc, case="C-1", description="cigarettes", zone=zone, at_s=T0)


# ------------------------------------------------------------------ tracks


def test_a_zone_holds_a_tag_only_after_its_dwell_and_faint_reads_never_hold_it() -> None:
    track = None
    for tick in range(S.dwell_reads - 1):
        track = observe(track, "vault-a", -60, T0 + tick, S)
    assert track is not None and track["z"] == ""
    track = observe(track, "vault-a", -60, T0 + S.dwell_reads, S)
    assert track["z"] == "vault-a"
    for tick in range(20):  # read through the wall, every second, faintly
        track = observe(track, "vault-b", -77, T0 + 10 + tick, S)
        track = observe(track, "vault-a", -60, T0 + 10 + tick, S)
    assert track["z"] == "vault-a"


def test_hysteresis_keeps_a_tag_until_the_other_zone_is_clearly_stronger() -> None:
    track = None
    for tick in range(5):
        track = observe(track, "vault-a", -62, T0 + tick, S)
    for tick in range(5, 10):
        track = observe(track, "vault-a", -62, T0 + tick, S)
        track = observe(track, "vault-b", -60, T0 + tick, S)  # stronger, but by less than the margin
    assert track is not None and track["z"] == "vault-a"
    for tick in range(10, 25):  # vault-a falls silent: the tag was carried over
        track = observe(track, "vault-b", -60, T0 + tick, S)
    assert track["z"] == "vault-b"


# ------------------------------------------------------------------ custody


def test_retrieving_an_item_never_deposited_is_refused_with_the_reason() -> None:
    store, audit = MemoryStore(), FakeAudit()
    register_item(store, EPC_A, case="C-7", description="cash", officer="Chan", at_s=T0, audit=audit)
    order = Order("WO-1", "retrieval", EPC_A, ("Chan", "Lee"), "court hearing", purpose="court", at_s=T0 + 5)
    with pytest.raises(CustodyError, match="registered but never deposited, a retrieval needs it stored"):
        apply_order(store, order)
    assert [kind for kind, _ in audit.records] == ["evidence_registered"]


def test_retrieval_and_disposal_need_two_different_officers() -> None:
    store = MemoryStore()
    register_item(store, EPC_A, case="C-7", description="cash", officer="Chan", at_s=T0)
    apply_order(store, Order("WO-1", "deposit", EPC_A, ("Chan",), "intake", to_zone="vault-b", at_s=T0))
    for officers in (("Chan",), ("Chan", "Chan")):
        with pytest.raises(CustodyError, match="two-person rule"):
            apply_order(store, Order("WO-2", "disposal", EPC_A, officers, "court order"))


def test_each_custody_step_is_audited_with_its_case_and_an_order_applies_once() -> None:
    store, audit = MemoryStore(), FakeAudit()
    register_item(
        store, EPC_A, case="C-7", description="cash", officer="Chan", slot="vault-b/03", at_s=T0, audit=audit
    )
    steps = [
        Order("WO-1", "deposit", EPC_A, ("Chan",), "intake", to_zone="vault-b", at_s=T0 + 1),
        Order("WO-2", "transfer", EPC_A, ("Lee",), "make room", to_zone="vault-c", at_s=T0 + 2),
        Order("WO-3", "retrieval", EPC_A, ("Lee", "Ho"), "trial", purpose="lab", at_s=T0 + 3),
        Order("WO-4", "return", EPC_A, ("Ho",), "back from the lab", to_zone="vault-a", at_s=T0 + 4),
        Order("WO-5", "disposal", EPC_A, ("Ho", "Chan"), "case closed", at_s=T0 + 5),
    ]
    for step in steps:
        item = apply_order(store, step, audit=audit)
    assert item["status"] == "disposed" and item["zone"] == ""
    kinds = [kind for kind, _ in audit.records]
    assert kinds == [
        "evidence_registered",
        *(f"evidence_{a}" for a in ("deposit", "transfer", "retrieval", "return", "disposal")),
    ]
    assert all(body["case"] == "C-7" and body["epc"] == EPC_A for _, body in audit.records)
    assert audit.records[3][1]["officers"] == ["Lee", "Ho"]
    with pytest.raises(CustodyError, match="applied already"):
        apply_order(store, steps[0])
    assert store.members("zone:vault-a") == set()


def test_an_epc_that_does_not_decode_is_refused() -> None:
    with pytest.raises(CustodyError, match="does not decode"):
        register_item(MemoryStore(), "E2801160600002", case="C-1", description="x", officer="Chan", at_s=T0)


# ------------------------------------------------------------------ alerts


def test_an_item_carried_to_another_vault_without_an_order_is_in_the_wrong_zone() -> None:
    store = MemoryStore()
    stored(store, EPC_A, "vault-a")
    locator = Locator(store)
    assert run(locator, "vault-a", T0, 5, [(EPC_A, 1, -58)]) == []
    alerts = run(locator, "vault-b", T0 + 20, 5, [(EPC_A, 2, -55)])
    assert [(a.label, a.zone, a.expected_zone, a.case) for a in alerts] == [
        ("wrong_zone", "vault-b", "vault-a", "C-1")
    ]


def test_an_ordered_transfer_raises_nothing() -> None:
    store = MemoryStore()
    stored(store, EPC_A, "vault-a")
    locator = Locator(store)
    run(locator, "vault-a", T0, 5, [(EPC_A, 1, -58)])
    apply_order(
        store, Order("WO-9", "transfer", EPC_A, ("Lee",), "reorganise", to_zone="vault-b", at_s=T0 + 6)
    )
    assert run(locator, "vault-b", T0 + 20, 5, [(EPC_A, 2, -55)]) == []


def test_once_arrived_an_item_carried_back_where_it_came_from_is_in_the_wrong_zone() -> None:
    store = MemoryStore()
    stored(store, EPC_A, "vault-a")
    locator = Locator(store)
    run(locator, "vault-a", T0, 5, [(EPC_A, 1, -58)])
    apply_order(
        store, Order("WO-9", "transfer", EPC_A, ("Lee",), "reorganise", to_zone="vault-b", at_s=T0 + 6)
    )
    assert run(locator, "vault-b", T0 + 20, 5, [(EPC_A, 2, -55)]) == []
    alerts = run(locator, "vault-a", T0 + 40, 12, [(EPC_A, 1, -55)])  # within the order's grace time
    assert [(a.label, a.zone) for a in alerts] == [("wrong_zone", "vault-a")]


def test_exit_without_retrieval_unknown_tag_and_undecodable_reads() -> None:
    store = MemoryStore()
    stored(store, EPC_A, "vault-a")
    locator = Locator(store)
    alerts = run(locator, "release", T0, 4, [(EPC_A, 1, -50)])
    alerts += run(locator, "vault-c", T0, 4, [(STRANGER, 3, -52), ("NOT-AN-EPC", 1, -50)])
    assert [a.label for a in alerts] == ["exit_unapproved", "unknown_tag"]
    assert store.counter("count:undecodable") == 4


def test_an_item_not_read_for_the_window_is_reported_once() -> None:
    ticks = itertools.count()
    store = MemoryStore(clock=lambda: float(next(ticks)))  # a second between claims
    stored(store, EPC_A, "vault-a")
    stored(store, EPC_B, "vault-a")
    locator = Locator(store, missing_after_s=30, sweep_s=0.5)
    alerts = run(locator, "vault-a", T0, 70, [(EPC_B, 1, -58)])
    assert [(a.label, a.epc) for a in alerts] == [("not_read", EPC_A)]


# ------------------------------------------------------------------ hook classes


def _frame(message: Any, modality: int, metadata: dict[str, str]) -> Any:
    return inline_view(
        frame_pb2.Frame(
            frame_id="f1",
            source_id="store",
            modality=modality,
            payload=message.SerializeToString(),
            metadata=metadata,
        )
    )


def test_the_plugins_apply_orders_and_alert_through_their_shared_store() -> None:
    orders = EvidenceOrderPlugin({}, PluginContext(name="evidence_orders"))
    locator = EvidenceLocationPlugin({}, PluginContext(name="evidence_locator"))
    locator.locator.store = orders.store  # the host gives both the same state
    record = frame_pb2.Record(
        record_id="WO-1",
        kind="evidence_work_order",
        fields={
            "order_id": "WO-1",
            "action": "retrieve",
            "epc_hex": EPC_A,
            "officers": "Chan,Lee",
            "issued_at": "2025-01-01T00:00:00Z",
        },
    )
    batch = frame_pb2.RecordBatch(records=[record])
    (refused,) = orders.smartcustoms_process_batch([_frame(batch, frame_pb2.MODALITY_RECORD, {})])
    assert refused.decision is Decision.ALARM and refused.detections[0].label == "order_refused"
    assert "not registered" in refused.detections[0].explanation
    deposit = frame_pb2.Record(
        record_id="WO-2",
        kind="evidence_work_order",
        fields={
            "action": "deposit",
            "epc_hex": EPC_A,
            "officers": "Chan",
            "to_zone": "vault-a",
            "case": "C-3",
            "issued_at": "2025-01-01T00:00:00Z",
        },
    )
    (applied,) = orders.smartcustoms_process_batch(
        [_frame(frame_pb2.RecordBatch(records=[deposit]), frame_pb2.MODALITY_RECORD, {})]
    )
    assert applied.decision is Decision.CLEAR
    results = []
    for tick in range(200, 205):
        frame = _frame(
            report("vault-c", T0 + tick, [(EPC_A, 1, -55)]), frame_pb2.MODALITY_RFID, {"zone": "vault-c"}
        )
        results += locator.smartcustoms_process_batch([frame])
    labels = [d.label for r in results for d in r.detections]
    assert labels == ["wrong_zone"]


# ------------------------------------------------------------------ stock-take and slots


def test_stock_take_lists_missing_and_unexpected_items() -> None:
    store = MemoryStore()
    stored(store, EPC_A, "vault-a")
    stored(store, EPC_B, "vault-a")
    locator = Locator(store)
    run(locator, "vault-a", T0, 5, [(EPC_A, 1, -58)])
    run(locator, "vault-b", T0, 5, [(STRANGER, 1, -58)])
    lines = {line.zone: line for line in stock_take(store)}
    assert (lines["vault-a"].expected, lines["vault-a"].read, lines["vault-a"].missing) == (2, 1, [EPC_B])
    assert lines["vault-b"].unexpected == [STRANGER]
    (only,) = stock_take(store, zone="vault-a", case="C-1")
    assert only.missing == [EPC_B]


def test_slot_suggestions_keep_a_case_together_and_items_due_soon_near_the_exit() -> None:
    layout = Layout(zones=("vault-a", "vault-b"), slots_per_zone=3, slot_capacity=4)
    today = date(2025, 1, 1)
    slot, reason = suggest_slot(layout, {}, {}, case="C-1", size=1, due=date(2025, 1, 10), today=today)
    assert slot == "vault-b/01" and "nearest" in reason
    assert first_fit(layout, {}, 1) == "vault-a/01"
    slot, reason = suggest_slot(
        layout, {"vault-b/01": 1}, {"vault-b/01": {"C-1"}}, case="C-1", size=2, due=None, today=today
    )
    assert slot == "vault-b/01" and "case C-1" in reason
    with pytest.raises(CustodyError, match="no slot has room"):
        suggest_slot(layout, dict.fromkeys(layout.slots(), 4), {}, case="C-2", size=1, due=None, today=today)


# ------------------------------------------------------------------ the simulator


def test_a_short_simulated_day_finds_its_anomalies_without_false_alerts() -> None:
    from smartcustoms.plugins.evidence.tools.evaluate import replay, summarise

    summary = summarise([replay(5, horizon_ticks=420, item_count=60)])
    due = sum(summary[k]["due"] for k in ("missing", "unauthorised_move"))  # type: ignore[index]
    found = sum(summary[k]["found"] for k in ("missing", "unauthorised_move"))  # type: ignore[index]
    assert due >= 1 and found == due
    assert summary["false_alerts"] == 0 and summary["refused_orders"] == 0
    assert min(summary["location_accuracy"].values()) > 0.5  # type: ignore[attr-defined]


def test_only_zone_readers_reach_the_locator() -> None:
    """A store reader names its zone; an e-seal or lane reader does not, and is not the store's."""
    from smartcustoms.core.config import PluginConfig
    from smartcustoms.core.manager import discover
    from smartcustoms.core.types import Modality
    from smartcustoms.runtime.dispatch import accepts

    info = discover("smartcustoms.plugins.evidence:EvidenceLocationPlugin")
    rfid = frozenset({Modality.RFID})
    store_reader = frame_pb2.Frame(modality=frame_pb2.MODALITY_RFID, metadata={"zone": "vault-a"})
    seal = frame_pb2.Frame(modality=frame_pb2.MODALITY_RFID, metadata={"conveyance_id": "CAR-1"})
    unnamed = frame_pb2.Frame(modality=frame_pb2.MODALITY_RFID, metadata={"zone": ""})
    assert accepts(info, PluginConfig(), rfid, store_reader)
    assert not accepts(info, PluginConfig(), rfid, seal)
    assert not accepts(info, PluginConfig(), rfid, unnamed)
