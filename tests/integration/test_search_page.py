"""Electronic vehicle search reports through the running gateway: an officer opens, fills and closes
a report for a flagged crossing on the search page in a real browser; the report is then read back by
plate over gRPC and the CLI, and its outcome is in the vehicle_risk plugin's state."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import grpc
import pytest
import redis.asyncio as aioredis

from smartcustoms.core import verdicts
from smartcustoms.core.keys import plugin_state_prefix
from smartcustoms.core.state import open_state
from smartcustoms.hardware.sim.records import CrossingSimulator, to_frame
from smartcustoms.runtime.cli import main
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.stack import Stack
from smartcustoms.v1 import frame_pb2, results_pb2, search_pb2, search_pb2_grpc

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
YEAR_S = 365 * 86400.0


@pytest.fixture
def gateway(gateway_alone: Stack) -> Stack:
    """The gateway alone (the search desk lives there; no worker, so no Ray), in a namespace of its own."""
    return gateway_alone


def _flag_a_crossing(stack: Stack) -> frame_pb2.Record:
    """Put an alert in the ledger as a vehicle risk plugin raises one: a detection naming the crossing."""
    batch = CrossingSimulator(seed=11).batch(0, size=3)
    frame = to_frame(batch, "crossings-lmc", 1)
    frame.control_point = "lok-ma-chau"
    crossing = batch.records[1]
    detection = results_pb2.Detection(
        label="vehicle_risk",
        score=0.93,
        explanation="same-day returns 9 in 30 days",
        plugin="vehicle_risk",
        attributes={
            "record_id": crossing.record_id,
            "plate_hk": crossing.fields["plate_hk"],
            "plate_mainland": crossing.fields["plate_mainland"],
            "crossing_point": crossing.fields["crossing_point"],
        },
    )
    result = results_pb2.PluginResult(
        plugin="vehicle_risk", decision=results_pb2.DECISION_ALARM, detections=[detection]
    )

    async def record() -> None:
        client = aioredis.Redis.from_url(stack.config.redis.url)
        try:
            ledger = ledger_for(stack.config, client)
            await ledger.accept(frame, 30)
            verdict = verdicts.combine(frame, [result])
            assert await ledger.finalize(verdict, verdicts.alert_for(verdict)) is not None
        finally:
            await client.aclose()

    asyncio.run(record())
    return crossing


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup installs it)")
def test_an_officer_searches_a_flagged_car_on_the_page_and_the_outcome_feeds_risk(
    gateway: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # a loaded 2-core machine: a step may take seconds

    crossing = _flag_a_crossing(gateway)
    plate = crossing.fields["plate_hk"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(gateway.review_url)
            page.click("text=Vehicle search reports")
            page.wait_for_selector("body[data-loaded=true]", timeout=15_000)
            row = page.locator(f"tr.flagged[data-record-id='{crossing.record_id}']")
            expect(row).to_contain_text("same-day returns 9 in 30 days")
            row.locator("button.open-flagged").click()
            expect(page.locator("#open-error")).to_have_text("Enter your name first.")
            page.fill("#officer", "Inspector Chan")
            page.dispatch_event("#officer", "change")
            row.locator("button.open-flagged").click()
            report = page.locator("#report")
            expect(report).to_have_attribute("data-outcome", "open", timeout=10_000)
            report_id = report.get_attribute("data-report-id")
            assert report_id
            expect(page.locator(f"#row-{report_id}")).to_have_count(1)  # the list catches up on its own
            expect(row.locator("a.report-link")).to_have_text(report_id)  # the crossing has its report now

            boot = page.locator("#checklist li[data-item=boot]")
            boot.locator("input.note").fill("false floor, cartons beneath")
            boot.locator("input.check").check()
            expect(boot.locator(".meta")).to_have_text("Inspector Chan")
            page.locator("#checklist li[data-item=cabin] input.check").check()
            expect(page.locator("#checklist li[data-item=cabin] .meta")).to_have_text("Inspector Chan")
            page.fill("#findings", "40 cartons under the boot floor")
            page.click("#save-findings")
            page.fill("#goods-description", "cigarettes")
            page.fill("#goods-quantity", "-40")
            page.fill("#goods-unit", "carton")
            page.click("#add-goods button")
            expect(page.locator("#report-error")).to_contain_text("must be positive")
            page.fill("#goods-quantity", "40")
            page.fill("#goods-duty", "15000")
            page.click("#add-goods button")
            expect(page.locator("#goods tr")).to_have_count(1)
            page.fill("#frame-id", "xr-portal-17")
            page.click("#add-frame button")
            expect(page.locator("#report-frames a")).to_have_text(["xr-portal-17"])
            page.select_option("#close-outcome", "nothing_found")
            page.click("#close-report button")
            expect(page.locator("#report-error")).to_contain_text("lists seized goods")
            page.select_option("#close-outcome", "goods_seized")
            page.fill("#close-note", "handed to the seizure store")
            page.click("#close-report button")
            expect(report).to_have_attribute("data-outcome", "goods_seized", timeout=10_000)
            expect(page.locator("#closed")).to_contain_text("risk history updated")
            assert page.locator("#add-goods").is_hidden()
            assert page.locator("#checklist input.check").first.is_disabled()
            page.screenshot(path=str(tmp_path / "search.png"), full_page=True)
        finally:
            browser.close()

    with grpc.insecure_channel(gateway.gateway_target) as channel:
        stub = search_pb2_grpc.SearchServiceStub(channel)
        (stored,) = stub.ListReports(search_pb2.ListReportsRequest(plate=plate), timeout=5).reports
        with pytest.raises(grpc.RpcError) as refused:
            stub.UpdateReport(
                search_pb2.UpdateReportRequest(report_id=report_id, officer="x", findings="late"), timeout=5
            )
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.RpcError) as again:
            stub.OpenReport(
                search_pb2.OpenReportRequest(record_id=crossing.record_id, plate_hk=plate, officer="x"),
                timeout=5,
            )
        assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert (stored.report_id, stored.record_id, stored.control_point) == (
        report_id,
        crossing.record_id,
        crossing.fields["crossing_point"],
    )
    assert stored.plate_mainland == crossing.fields["plate_mainland"]
    checked = {item.item: (item.note, item.officer) for item in stored.checklist if item.checked}
    assert checked == {
        "boot": ("false floor, cartons beneath", "Inspector Chan"),
        "cabin": ("", "Inspector Chan"),
    }
    assert stored.findings == "40 cartons under the boot floor"
    assert [(g.description, g.quantity, g.unit, g.estimated_duty_hkd) for g in stored.seized_goods] == [
        ("cigarettes", 40.0, "carton", 15_000.0)
    ]
    assert list(stored.frame_ids) == ["xr-portal-17"]
    assert (stored.outcome, stored.closed_by, stored.risk_recorded) == (
        search_pb2.SEARCH_OUTCOME_GOODS_SEIZED,
        "Inspector Chan",
        True,
    )

    risk = open_state(gateway.config.redis.url, plugin_state_prefix(gateway.config.namespace, "vehicle_risk"))
    try:
        as_of_s = stored.closed_time.ToNanoseconds() / 1e9 + 1
        assert risk.window_count(f"searches:{plate}", window_s=YEAR_S, as_of_s=as_of_s) == 1
        assert risk.window_sum(f"seizures:{plate}", window_s=YEAR_S, as_of_s=as_of_s) == 15_000.0
    finally:
        risk.close()

    config_path = str(gateway.run_dir / "config.json")
    capsys.readouterr()
    for argv, code in (
        (["search", "list", "--plate", plate.lower()], 0),
        (["search", "show", report_id], 0),
        (["search", "add-goods", report_id, "rum", "2", "bottle", "--officer", "PO 1"], 1),
        (["search", "close", "sr-none", "referred", "--officer", "PO 1"], 1),
    ):
        with pytest.raises(SystemExit) as done:
            main(["--config", config_path, *argv])
        assert done.value.code == code, argv
    out, err = capsys.readouterr()
    assert f"{report_id}" in out and "goods_seized" in out and "HKD    15,000.00" in out
    assert "[x] boot" in out and "40 carton cigarettes, duty HKD 15,000.00 (Inspector Chan)" in out
    assert err.splitlines() == [
        f"smartcustoms search: FAILED_PRECONDITION: report {report_id} was closed "
        "(goods_seized by Inspector Chan): it cannot change",
        "smartcustoms search: NOT_FOUND: no search report sr-none",
    ]
