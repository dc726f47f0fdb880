"""The liquor duty desk: bottles from the liquor_label plugin's detections, the officer's changes and
their rules, the duty worked out over a traveller's bottles, and the desk on a real Redis (one open
assessment per traveller, atomic changes, overrides counted per database entry and exported, the rate
table, the HTTP API and the receipt)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from smartcustoms.core import verdicts
from smartcustoms.core.audit import AsyncAuditTrail
from smartcustoms.core.duty import DutyError, RateTable
from smartcustoms.runtime.ledger import Ledger
from smartcustoms.runtime.liquor_desk import (
    Assessment,
    AssessmentExists,
    AssessmentNotFound,
    AssessmentStateError,
    Bottle,
    LiquorDesk,
    OverrideCollector,
    add_frames,
    add_manual_bottle,
    check_bottle,
    confirm,
    new_assessment,
    override_bottle,
    read_rates,
    recognised_bottles,
    set_allowance,
    store_rates,
    waiting_travellers,
    work_out,
)
from smartcustoms.runtime.liquor_page import add_routes, receipt_html
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.v1 import frame_pb2, results_pb2

T0_S = 1_767_225_600.0  # 2026-01-01T00:00:00Z
RATES = RateTable.parse("currency,hkd_per_unit,date\nUSD,7.7812,2025-12-31\n", "csv", "rates.csv")

GLEN_12 = {  # as the plugin describes a bottle: LQ-0001 of the simulator's catalogue
    "catalogue_id": "LQ-0001",
    "brand": "Glen Corrach",
    "product": "12 Year Single Malt Whisky",
    "category": "spirit",
    "abv_percent": "40",
    "volume_ml": "700",
    "reference_price_hkd": "480",
    "candidates": json.dumps([{"catalogue_id": "LQ-0001", "confidence": 0.97}]),
    "duty_hkd": "228.00",
    "identified_by": "names",
}
GLEN_18 = GLEN_12 | {
    "catalogue_id": "LQ-0002",
    "product": "18 Year Single Malt Whisky",
    "abv_percent": "43",
    "reference_price_hkd": "1380",
    "duty_hkd": "318.00",
}
UNSURE = GLEN_12 | {  # below the plugin's threshold: it asks for an officer
    "catalogue_id": "LQ-0004",
    "brand": "Maison Delaurier",
    "product": "VSOP Cognac",
    "reference_price_hkd": "520",
    "needs_officer": "1",
    "needs_officer_reason": "confidence 0.41 below 0.80",
    "candidates": json.dumps(
        [{"catalogue_id": "LQ-0004", "confidence": 0.41}, {"catalogue_id": "LQ-0005", "confidence": 0.38}]
    ),
    "identified_by": "keypoints",
}


def _verdict(frame_id: str, *bottles: dict[str, str], traveller: str = "T-1") -> results_pb2.Verdict:
    detections = [
        results_pb2.Detection(
            label="liquor_bottle",
            score=0.9,
            plugin="liquor_label",
            attributes=a | {"traveller_id": traveller},
        )
        for a in bottles
    ]
    unsure = any(a.get("needs_officer") == "1" for a in bottles)
    result = results_pb2.PluginResult(
        plugin="liquor_label",
        decision=results_pb2.DECISION_MANUAL_INSPECTION if unsure else results_pb2.DECISION_ALARM,
        detections=[*detections, results_pb2.Detection(label="label_text", score=0.5)],
    )
    frame = _frame(frame_id, traveller)
    return verdicts.combine(frame, [result])


def _frame(frame_id: str, traveller: str) -> frame_pb2.Frame:
    return frame_pb2.Frame(
        frame_id=frame_id,
        source_id="red-channel-3",
        modality=frame_pb2.MODALITY_CAMERA,
        control_point="airport",
        metadata={"camera_role": "red_channel", "traveller_id": traveller},
    )


def _opened(*frames: results_pb2.Verdict) -> Assessment:
    assessment = new_assessment("la-1", "T-1", "PO 4411", "airport", T0_S)
    add_frames(assessment, [(v.frame_id, v) for v in frames], "PO 4411", T0_S)
    return assessment


def _manual(**facts: Any) -> Bottle:
    values = {"description": "duty-free gin", "abv_percent": "47", "volume_ml": "1000", "value": "35"}
    return Bottle(bottle_id="", source="manual", **(values | {"currency": "USD"} | facts))


# --------------------------------------------------------------------------- bottles from the plugin


def test_each_liquor_bottle_detection_becomes_a_recognised_bottle() -> None:
    bottles = recognised_bottles(_verdict("cam-1", GLEN_12, UNSURE))
    assert [b.bottle_id for b in bottles] == ["cam-1#1", "cam-1#2"]  # the label_text detection is not one
    first, second = bottles
    assert (first.description, first.abv_percent, first.volume_ml, first.value, first.currency) == (
        "Glen Corrach 12 Year Single Malt Whisky",
        "40",
        "700",
        "480",
        "HKD",
    )
    assert (first.catalogue_id, first.frame_id, first.confidence, first.needs_officer) == (
        "LQ-0001",
        "cam-1",
        0.9,
        "",
    )
    assert first.plugin_duty_hkd == "228.00" and first.pending == ""
    assert (first.identified_by, second.identified_by) == ("names", "keypoints")
    assert second.needs_officer == "confidence 0.41 below 0.80"
    assert [c["catalogue_id"] for c in second.candidates] == ["LQ-0004", "LQ-0005"]
    assert second.pending.startswith("the plugin asked for an officer")


def test_a_detection_with_missing_facts_waits_for_the_officer() -> None:
    bare = {"catalogue_id": "LQ-0099", "candidates": "not json"}
    (bottle,) = recognised_bottles(_verdict("cam-1", bare))
    assert bottle.candidates == [] and bottle.description == "unknown"
    assert bottle.pending == "cannot be assessed: its ABV and volume are not known"


@pytest.mark.parametrize(
    ("traveller", "officer", "message"),
    [(" ", "PO 1", "traveller"), ("T-1", " ", "officer"), ("T\x00", "a", "control")],
)
def test_opening_needs_a_traveller_and_an_officer(traveller: str, officer: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        new_assessment("la-1", traveller, officer, "", T0_S)


def test_a_frame_without_a_verdict_is_refused_and_a_frame_seen_twice_adds_nothing() -> None:
    assessment = _opened(_verdict("cam-1", GLEN_12))
    with pytest.raises(ValueError, match="no verdict for frame cam-9"):
        add_frames(assessment, [("cam-9", None)], "PO 1", T0_S)
    add_frames(assessment, [("cam-1", _verdict("cam-1", GLEN_12))], "PO 1", T0_S)
    assert [b.bottle_id for b in assessment.bottles] == ["cam-1#1"] and assessment.frame_ids == ["cam-1"]


# ------------------------------------------------------------------------ the duty over a traveller's bottles


def test_the_allowance_goes_to_the_dearest_litre_of_the_travellers_bottles() -> None:
    assessment = _opened(_verdict("cam-1", GLEN_12), _verdict("cam-2", GLEN_18))
    duty = work_out(assessment, RATES)
    # 228 and 318 before the allowance; its litre covers the 18 year old's 0.7 and 0.3 of the 12 year old's,
    # which pays 228 x 0.4 / 0.7 = 130.29
    assert duty["allowance_order"] == ["cam-2#1", "cam-1#1"]
    assert (duty["duty_before_allowance_hkd"], duty["relief_hkd"], duty["duty_hkd"]) == (
        "546.00",
        "415.71",
        "130.29",
    )
    assert duty["bottles"]["cam-1#1"]["payable_hkd"] == "130.29"
    assert duty["bottles"]["cam-1#1"]["allowance_litres"] == "0.3"
    assert duty["bottles"]["cam-2#1"]["duty_per_litre_hkd"] == "454.29"
    assert duty["rates"] == [] and duty["pending"] == []


def test_a_bottle_entered_by_hand_in_dollars_converts_at_the_desks_rate() -> None:
    assessment = _opened()
    added = add_manual_bottle(assessment, _manual(), "PO 1", T0_S)
    assert (added.bottle_id, added.source) == ("m1", "manual")
    duty = work_out(assessment, RATES)
    # 35 USD x 7.7812 = 272.342 HKD; 1 litre exactly: 200 + 7.2342 = 207.2342; all within the allowance
    shown = duty["bottles"]["m1"]
    assert (shown["value_hkd"], shown["duty_hkd"], shown["payable_hkd"]) == ("272.34", "207.23", "0.00")
    assert duty["rates"] == [{"currency": "USD", "hkd_per_unit": "7.7812", "date": "2025-12-31"}]
    with pytest.raises(DutyError, match="no exchange rate for USD"):
        work_out(assessment, RateTable())


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        ({"description": " "}, "describe the bottle"),
        ({"abv_percent": "140"}, "ABV must be from 0 to 100"),
        ({"volume_ml": "0"}, "more than 0 ml"),
        ({"value": "-3"}, "zero or more"),
        ({"pack": 0}, "whole number of bottles"),
        ({"currency": "dollars"}, "three-letter"),
    ],
)
def test_a_bottle_entered_by_hand_is_checked_as_the_duty_will_read_it(
    facts: dict[str, Any], message: str
) -> None:
    assessment = _opened()
    with pytest.raises(ValueError, match=message):
        add_manual_bottle(assessment, _manual(**facts), "PO 1", T0_S)
    assert assessment.bottles == []


def test_an_unsure_bottle_is_left_out_of_the_duty_until_the_officer_accepts_it() -> None:
    assessment = _opened(_verdict("cam-1", GLEN_18, UNSURE))
    assert work_out(assessment, RATES)["pending"] == ["cam-1#2"]
    assert list(work_out(assessment, RATES)["bottles"]) == ["cam-1#1"]
    with pytest.raises(AssessmentStateError, match=r"cam-1#2 .*confidence 0.41"):
        confirm(assessment, "", "PO 1", T0_S)
    check_bottle(assessment, "cam-1#2", "PO 1", T0_S)
    duty = work_out(assessment, RATES)
    # VSOP 520: 200 + 32 = 232 (331.43 a litre) after the 18 year old (454.29 a litre) took 0.7 litre
    assert duty["pending"] == [] and duty["bottles"]["cam-1#2"]["allowance_litres"] == "0.3"
    assert duty["bottles"]["cam-1#2"]["payable_hkd"] == "132.57"  # 232 x 0.4 / 0.7 = 132.571


def test_an_override_keeps_what_it_replaced_and_counts_against_the_matched_entry() -> None:
    assessment = _opened(_verdict("cam-1", UNSURE))
    counted = override_bottle(
        assessment,
        "cam-1#1",
        {"catalogue_id": "LQ-0005", "description": "Maison Delaurier XO Cognac", "value": "1680"},
        "wrong_product",
        "the XO's label",
        "PO 7",
        T0_S,
    )
    assert counted == "LQ-0004"
    bottle = assessment.bottle("cam-1#1")
    assert (bottle.catalogue_id, bottle.value, bottle.pending) == ("LQ-0005", "1680", "")
    (override,) = bottle.overrides
    assert (override.officer, override.reason, override.note) == ("PO 7", "wrong_product", "the XO's label")
    assert override.before["catalogue_id"] == "LQ-0004" and override.before["value"] == "520"
    again = override_bottle(assessment, "cam-1#1", {"volume_ml": "1000"}, "wrong_volume", "", "PO 7", T0_S)
    assert again == "LQ-0004"  # still the entry the plugin matched
    # 1 litre at 1680: 200 + 148 = 348, all within the allowance
    assert work_out(assessment, RATES)["bottles"]["cam-1#1"]["duty_hkd"] == "348.00"


def test_a_bottle_left_out_pays_nothing_and_a_hand_entry_counts_against_no_entry() -> None:
    assessment = _opened(_verdict("cam-1", GLEN_12, GLEN_18))
    assert (
        override_bottle(assessment, "cam-1#2", {}, "not_liquor", "counted twice", "PO 7", T0_S) == "LQ-0002"
    )
    assert assessment.bottle("cam-1#2").excluded
    assert list(work_out(assessment, RATES)["bottles"]) == ["cam-1#1"]
    add_manual_bottle(assessment, _manual(), "PO 7", T0_S)
    assert override_bottle(assessment, "m1", {"value": "40"}, "value_evidence", "", "PO 7", T0_S) == ""


@pytest.mark.parametrize(
    ("changes", "reason", "note", "message"),
    [
        ({"value": "1"}, "because", "", "reason must be one of"),
        ({"value": "1"}, "other", " ", "say why"),
        ({"price": "1"}, "value_evidence", "", "a bottle has no price"),
        ({"value": "480"}, "value_evidence", "", "changes nothing"),
        ({"abv_percent": "abc"}, "wrong_abv", "", "ABV must be a number"),
        ({"pack": "two"}, "other", "gift box", "whole number"),
    ],
)
def test_an_override_must_say_why_and_change_a_fact(
    changes: dict[str, Any], reason: str, note: str, message: str
) -> None:
    assessment = _opened(_verdict("cam-1", GLEN_12))
    with pytest.raises(ValueError, match=message):
        override_bottle(assessment, "cam-1#1", changes, reason, note, "PO 7", T0_S)
    assert assessment.bottle("cam-1#1").overrides == []
    with pytest.raises(AssessmentNotFound, match="no bottle cam-1#5"):
        override_bottle(assessment, "cam-1#5", {"value": "1"}, "value_evidence", "", "PO 7", T0_S)


def test_a_traveller_not_entitled_pays_on_every_litre_and_the_officer_says_why() -> None:
    assessment = _opened(_verdict("cam-1", GLEN_12))
    with pytest.raises(ValueError, match="say why"):
        set_allowance(assessment, False, "", "PO 1", T0_S)
    set_allowance(assessment, False, "under 18", "PO 1", T0_S)
    duty = work_out(assessment, RATES)
    assert (duty["allowance_offered_litres"], duty["duty_hkd"]) == ("0", "228.00")


def test_a_confirmed_assessment_cannot_change_and_has_a_receipt() -> None:
    assessment = _opened(_verdict("cam-1", GLEN_12), _verdict("cam-2", GLEN_18))
    add_manual_bottle(assessment, _manual(value=""), "PO 1", T0_S)  # no value: 160 x 1 litre
    with pytest.raises(AssessmentStateError, match="no bottle"):
        confirm(_opened(), "", "PO 1", T0_S)
    confirm(assessment, "paid at the counter", "SPO 2", T0_S + 60)
    assessment.duty = work_out(assessment, RATES)
    assert (assessment.status, assessment.confirmed_by) == ("confirmed", "SPO 2")
    for change in (
        lambda: add_manual_bottle(assessment, _manual(), "PO 1", T0_S),
        lambda: check_bottle(assessment, "cam-1#1", "PO 1", T0_S),
        lambda: set_allowance(assessment, True, "", "PO 1", T0_S),
        lambda: confirm(assessment, "", "PO 1", T0_S),
        lambda: override_bottle(assessment, "cam-1#1", {"value": "1"}, "value_evidence", "", "PO 1", T0_S),
    ):
        with pytest.raises(AssessmentStateError, match="confirmed by SPO 2"):
            change()
    # the allowance takes the 18 year old's 0.7 l (454.29 a litre), then 0.3 of the 12 year old's;
    # the unvalued gin (160 a litre) pays 160: 130.29 + 160 = 290.29
    page = receipt_html(assessment)
    assert 'id="total">290.29<' in page and "160.00" in page and "paid at the counter" in page
    assert "taken from cam-2#1, cam-1#1" in page and "SPO 2" in page
    again = Assessment.from_json(assessment.to_json())
    assert again == assessment


def test_travellers_waiting_are_read_from_the_alerts() -> None:
    alerts = [
        verdicts.alert_for(_verdict("cam-3", UNSURE, traveller="T-2")),
        verdicts.alert_for(_verdict("cam-2", GLEN_18)),
        verdicts.alert_for(_verdict("cam-1", GLEN_12)),
        verdicts.alert_for(_verdict("cam-0", GLEN_12, traveller="")),
    ]
    waiting = waiting_travellers([a for a in alerts if a is not None])
    assert [(t["traveller_id"], t["frame_ids"], t["needs_officer"]) for t in waiting] == [
        ("T-2", ["cam-3"], True),
        ("T-1", ["cam-2", "cam-1"], False),
        ("", ["cam-0"], False),
    ]
    assert waiting[1]["bottles"] == [
        "Glen Corrach 18 Year Single Malt Whisky",
        "Glen Corrach 12 Year Single Malt Whisky",
    ]
    only_new = waiting_travellers([a for a in alerts if a is not None], {"cam-1": "la-1", "cam-3": "la-2"})
    assert [(t["traveller_id"], t["frame_ids"]) for t in only_new] == [("T-1", ["cam-2"]), ("", ["cam-0"])]


# --------------------------------------------------------------------------- the desk on a real Redis


class Clock:
    def __init__(self) -> None:
        self.now_s = T0_S

    def __call__(self) -> float:
        self.now_s += 60.0
        return self.now_s


async def _ledger_with(ledger: Ledger, *stored: results_pb2.Verdict) -> None:
    """Put verdicts in the ledger as the stream worker does: accepted, then finalized with their alerts."""
    for verdict in stored:
        await ledger.accept(_frame(verdict.frame_id, "T-1"), 30)
        assert await ledger.finalize(verdict, verdicts.alert_for(verdict)) is not None


def _run(redis_url: str, body: Callable[[LiquorDesk, str], Awaitable[None]]) -> None:
    """``body`` on a desk of a fresh namespace (and the namespace)."""
    namespace = f"l{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await body(LiquorDesk(client, namespace, Ledger(client, namespace), clock=Clock()), namespace)
        finally:
            await client.aclose()

    asyncio.run(main())


@pytest.mark.integration
def test_one_open_assessment_per_traveller_with_bottles_from_the_ledger(redis_service: EmbeddedRedis) -> None:
    async def body(desk: LiquorDesk, namespace: str) -> None:
        await _ledger_with(desk.ledger, _verdict("cam-1", GLEN_12), _verdict("cam-2", GLEN_18))
        first = await desk.open("T-1", "PO 1", ["cam-1", " cam-1 "], "airport")
        assert [b.bottle_id for b in first.bottles] == ["cam-1#1"] and first.duty["duty_hkd"] == "0.00"
        with pytest.raises(AssessmentExists, match=first.assessment_id):
            await desk.open("T-1", "PO 2")
        with pytest.raises(ValueError, match="no verdict for frame cam-7"):
            await desk.open("T-2", "PO 2", ["cam-7"])
        assert await desk.open_for(["T-1", "T-2"]) == [first.assessment_id, None]
        alerts = await desk.ledger.alerts(10)
        (waiting,) = await desk.waiting(alerts)  # cam-1 is assessed: only cam-2 waits
        assert (waiting["frame_ids"], waiting["assessment_id"]) == (["cam-2"], first.assessment_id)
        changed = await desk.add_frames(first.assessment_id, ["cam-2"], "PO 1")
        assert await desk.waiting(alerts) == []
        assert changed.duty["duty_hkd"] == "130.29" and await desk.get(first.assessment_id) == changed
        confirmed = await desk.confirm(first.assessment_id, "", "PO 1")
        assert confirmed.status == "confirmed" and await desk.open_for(["T-1"]) == [None]
        second = await desk.open("T-1", "PO 3")  # a new trip
        other = await desk.open("T-3", "PO 3")
        listed = [a.assessment_id for a in await desk.assessments("", 0)]
        assert listed == [other.assessment_id, second.assessment_id, first.assessment_id]
        assert [a.assessment_id for a in await desk.assessments("T-1", 1)] == [second.assessment_id]
        with pytest.raises(AssessmentNotFound):
            await desk.get("la-none")
        with pytest.raises(AssessmentStateError):
            await desk.add_bottle(first.assessment_id, _manual(currency="HKD"), "PO 1")

    _run(redis_service.url, body)


@pytest.mark.integration
def test_overrides_are_counted_per_entry_and_exported_as_a_counter(redis_service: EmbeddedRedis) -> None:
    async def body(desk: LiquorDesk, namespace: str) -> None:
        await _ledger_with(desk.ledger, _verdict("cam-1", UNSURE, GLEN_12))
        opened = await desk.open("T-1", "PO 1", ["cam-1"])
        await desk.override_bottle(
            opened.assessment_id, "cam-1#1", {"catalogue_id": "LQ-0005"}, "wrong_product", "", "PO 1"
        )
        await desk.override_bottle(
            opened.assessment_id, "cam-1#1", {"volume_ml": "1000"}, "wrong_volume", "", "PO 1"
        )
        await desk.override_bottle(
            opened.assessment_id, "cam-1#2", {"value": "300"}, "value_evidence", "", "PO 1"
        )
        with pytest.raises(ValueError):  # refused: nothing counted
            await desk.override_bottle(opened.assessment_id, "cam-1#2", {"value": "300"}, "other", "", "PO 1")
        expected = {
            ("LQ-0004", "wrong_product"): 1,
            ("LQ-0004", "wrong_volume"): 1,
            ("LQ-0001", "value_evidence"): 1,
        }
        assert await desk.override_counts() == expected
        registry = CollectorRegistry()
        registry.register(OverrideCollector(redis_service.url, namespace))
        labels = {"catalogue_id": "LQ-0004", "reason": "wrong_product"}
        assert registry.get_sample_value("smartcustoms_liquor_overrides_total", labels) == 1.0
        sealed = await AsyncAuditTrail(desk.client, namespace).seal_pending()  # each override audited
        overrides = [(r.body["catalogue_id"], r.body["reason"]) for r in sealed if r.kind == "override"]
        assert overrides == list(expected)

    _run(redis_service.url, body)


@pytest.mark.integration
def test_concurrent_changes_all_land_at_the_rates_loaded(redis_service: EmbeddedRedis) -> None:
    async def body(desk: LiquorDesk, namespace: str) -> None:
        store_rates(redis_service.url, namespace, RATES)
        assert read_rates(redis_service.url, namespace).rows() == RATES.rows()
        opened = await desk.open("T-1", "PO 1")
        await asyncio.gather(
            *(desk.add_bottle(opened.assessment_id, _manual(value=str(10 + n)), f"PO {n}") for n in range(10))
        )
        stored = await desk.get(opened.assessment_id)
        assert sorted(b.value for b in stored.bottles) == [str(10 + n) for n in range(10)]
        assert len(stored.duty["bottles"]) == 10 and stored.duty["rates"][0]["date"] == "2025-12-31"
        store_rates(redis_service.url, namespace, RateTable())  # USD no longer loaded
        with pytest.raises(DutyError, match="no exchange rate for USD"):
            await desk.set_allowance(opened.assessment_id, False, "for trade", "PO 1")
        assert (await desk.get(opened.assessment_id)).allowance_eligible  # the change did not land

    _run(redis_service.url, body)


@pytest.mark.integration
def test_the_http_api_answers_in_one_line_and_serves_the_receipt(redis_service: EmbeddedRedis) -> None:
    async def body(desk: LiquorDesk, namespace: str) -> None:
        await _ledger_with(desk.ledger, _verdict("cam-1", GLEN_12))
        app = web.Application()
        add_routes(app, desk, desk.ledger)
        async with TestClient(TestServer(app)) as http:
            (waiting,) = await (await http.get("/api/liquor/travellers")).json()
            assert (waiting["traveller_id"], waiting["assessment_id"]) == ("T-1", None)
            reply = await http.post(
                "/api/liquor/assessments",
                json={"traveller_id": "T-1", "officer": "PO 1", "frame_ids": waiting["frame_ids"]},
            )
            opened = await reply.json()
            assert reply.status == 200 and opened["bottles"][0]["pending"] == ""
            path = f"/api/liquor/assessments/{opened['assessment_id']}"
            for method, url, payload, status, text in (
                (
                    "post",
                    "/api/liquor/assessments",
                    {"traveller_id": "T-1", "officer": "PO 1"},
                    409,
                    "open already",
                ),
                (
                    "post",
                    f"{path}/bottles",
                    {"officer": "PO 1", "description": "x", "abv_percent": "40", "volume_ml": "0"},
                    400,
                    "more than 0 ml",
                ),
                ("post", f"{path}/allowance", {"officer": "PO 1", "eligible": "no"}, 400, "true or false"),
                ("post", f"{path}/frames", [], 400, "JSON object"),
                ("get", "/api/liquor/assessments/la-none", None, 404, "no liquor assessment la-none"),
                ("get", f"/liquor/receipt/{opened['assessment_id']}", None, 409, "not confirmed yet"),
            ):
                reply = (
                    await getattr(http, method)(url, json=payload)
                    if payload is not None
                    else await http.get(url)
                )
                assert (reply.status, "\n" in await reply.text()) == (status, False), url
                assert text in await reply.text()
            reply = await http.post(f"{path}/confirm", json={"officer": "PO 1"})
            assert (await reply.json())["status"] == "confirmed"
            receipt = await (await http.get(f"/liquor/receipt/{opened['assessment_id']}")).text()
            assert "Glen Corrach 12 Year Single Malt Whisky" in receipt and 'id="total">0.00<' in receipt
            assert (await http.get("/liquor")).status == 200

    _run(redis_service.url, body)
