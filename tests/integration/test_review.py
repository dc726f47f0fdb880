"""Officers review alerts: the gRPC ReviewService, the CLI and the web page in a real browser."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
import redis.asyncio as aioredis

from smartcustoms.core.config import Config
from smartcustoms.core.frames import array_frame
from smartcustoms.core.types import VENDOR_ATR_KEY, Modality
from smartcustoms.hardware.sdk.client import OK, send_all
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import only_plugins
from smartcustoms.v1 import frame_pb2, results_pb2, review_pb2, review_pb2_grpc

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")


def _frames() -> list[frame_pb2.Frame]:
    image = np.full((2, 256, 512), 60_000, dtype=np.uint16)
    image[:, 100:180, 200:300] = 50  # dense: an alarm with a box
    xray_alarm = array_frame(
        image,
        modality=Modality.XRAY,
        source_id="lane-3",
        sequence=1,
        frame_id="bag-alarm",
        conveyance_id="bag-77",
    )
    xray_clear = array_frame(
        np.full((2, 64, 64), 60_000, np.uint16),
        modality=Modality.XRAY,
        source_id="lane-3",
        sequence=2,
        frame_id="bag-clear",
    )
    ct = array_frame(
        np.arange(8 * 16 * 16, dtype=np.int16).reshape(8, 16, 16),
        modality=Modality.CT,
        source_id="ct-1",
        sequence=1,
        frame_id="ct-alarm",
        metadata={"sleep_s": "0"},
    )
    reads = frame_pb2.RfidReadBatch(reads=[frame_pb2.RfidRead(epc_hex="E2801160600002054CC2C7A5")])
    rfid = frame_pb2.Frame(
        frame_id="tag-alarm",
        source_id="vault-reader",
        modality=frame_pb2.MODALITY_RFID,
        sequence=1,
        encoding="protobuf",
        payload=reads.SerializeToString(),
    )
    # the scanner's own ATR alarmed on this bag (its DICOS report came with the image: vendor_atr)
    report = {"decision": "ALARM", "abort": "SUCCESS", "algorithm": "Acme ATR 4.2", "threats": [
        {"id": 7, "category": "PI", "description": "Knife", "flag": "HIGH_THREAT", "probability": 0.9,
         "base": [40, 30, 0], "extents": [60, 50, 1]},
    ]}  # fmt: skip
    scanner = array_frame(
        np.full((2, 128, 256), 60_000, np.uint16),
        modality=Modality.XRAY,
        source_id="lane-3",
        sequence=3,
        frame_id="bag-scanner",
        metadata={VENDOR_ATR_KEY: json.dumps(report)},
    )
    return [xray_alarm, xray_clear, ct, rfid, scanner]


def _settle(config: Config, count: int) -> None:
    async def wait() -> None:
        client = aioredis.Redis.from_url(config.redis.url)
        deadline = time.monotonic() + 60
        try:
            while (counts := await ledger_for(config, client).counts()).verdicts < count:
                assert time.monotonic() < deadline, counts
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    asyncio.run(wait())


@pytest.fixture
def reviewed(runtime_config: Config, start_stack: Callable[..., Stack]) -> Stack:
    runtime_config.extra_plugins = ["sc_fixture_plugins:sleepy"]
    runtime_config.gateway.inline_max_bytes = 64 * 1024  # the X-ray alarm travels by claim check
    stack = start_stack(only_plugins(runtime_config, "dense_region", "rfid_epc_check", "vendor_atr"))
    assert [a.code for a in asyncio.run(send_all(stack.gateway_target, _frames()))] == [OK] * 5
    _settle(runtime_config, 5)
    return stack


def test_review_service_lists_alerts_and_records_decisions(reviewed: Stack) -> None:
    with grpc.insecure_channel(reviewed.gateway_target) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)
        items = stub.ListAlerts(review_pb2.ListAlertsRequest(), timeout=5).items
        assert sorted(i.alert.frame_id for i in items) == [
            "bag-alarm",
            "bag-scanner",
            "ct-alarm",
            "tag-alarm",
        ]
        decided = stub.Adjudicate(
            review_pb2.AdjudicateRequest(
                frame_id="bag-alarm", outcome=results_pb2.ADJUDICATION_OUTCOME_CONFIRMED, officer="PO 4411"
            ),
            timeout=5,
        )
        assert (decided.adjudication.officer, decided.decision) == ("PO 4411", results_pb2.DECISION_ALARM)
        for request, code in (
            (
                review_pb2.AdjudicateRequest(frame_id="bag-clear", outcome=1, officer="x"),
                "FAILED_PRECONDITION",
            ),
            (review_pb2.AdjudicateRequest(frame_id="no-such-frame", outcome=1, officer="x"), "NOT_FOUND"),
            (review_pb2.AdjudicateRequest(frame_id="ct-alarm", outcome=1, officer=" "), "INVALID_ARGUMENT"),
        ):
            with pytest.raises(grpc.RpcError) as refused:
                stub.Adjudicate(request, timeout=5)
            assert refused.value.code().name == code
        changed = stub.Adjudicate(
            review_pb2.AdjudicateRequest(frame_id="bag-alarm", outcome=2, officer="SPO 12"), timeout=5
        )
        assert [a.officer for a in changed.earlier_adjudications] == ["PO 4411"]  # kept, not overwritten
    metrics = scrape(reviewed.metrics_urls[0])
    assert total(metrics, "smartcustoms_alerts_adjudicated", label="dense_object", outcome="confirmed") == 0
    assert total(metrics, "smartcustoms_alerts_adjudicated", label="dense_object", outcome="cleared") == 1


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup installs it)")
def test_the_review_page_draws_detections_and_records_a_decision(reviewed: Stack, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(reviewed.review_url)
            page.wait_for_selector("body[data-loaded=true]", timeout=15_000)
            assert page.locator("article.alert").count() == 4
            xray = page.locator("#alert-bag-alarm")
            xray.locator("svg rect[data-label=dense_object]").wait_for(timeout=10_000)
            assert xray.locator("img").evaluate("img => img.naturalWidth") == 512
            # a dual-energy X-ray opens in the screeners' colours; the grey-scale view is a click away
            assert xray.locator("img").get_attribute("data-view") == "colour"
            assert "blue metal" in xray.locator(".legend").inner_text()
            xray.locator("button.view-toggle").click()
            page.wait_for_function(
                "() => { const img = document.querySelector('#alert-bag-alarm img');"
                " return img.dataset.view === 'grey' && img.complete && img.naturalWidth === 512; }",
                timeout=10_000,
            )
            assert xray.locator("svg rect[data-label=dense_object]").count() == 1  # drawn once, not per load
            assert page.locator("#alert-ct-alarm button.view-toggle").count() == 0  # CT: no colour view
            assert page.locator("#alert-ct-alarm").get_by_text("CT slice 0").count() == 1
            assert "E2801160600002054CC2C7A5" in page.locator("#alert-tag-alarm").inner_text()
            # the scanner's own ATR: its box drawn apart (dashed, its own colour) and named as the scanner's
            scanner = page.locator("#alert-bag-scanner")
            box = scanner.locator("svg rect[data-plugin=vendor_atr][data-label=prohibited_item]")
            box.wait_for(timeout=10_000)
            assert [box.get_attribute(a) for a in ("x", "y", "width", "height")] == ["40", "30", "60", "50"]
            assert box.evaluate("r => getComputedStyle(r).strokeDasharray") != "none"
            label = scanner.locator("svg text[data-plugin=vendor_atr]").text_content()
            assert label == "scanner: prohibited_item"
            assert "· the scanner's own ATR" in scanner.locator("li[data-plugin=vendor_atr]").inner_text()
            assert xray.locator("li[data-plugin=dense_region]").inner_text().endswith("· dense_region")
            page.fill("#officer", "Inspector Chan")
            page.dispatch_event("#officer", "change")
            page.locator("#alert-ct-alarm button[data-outcome=cleared]").click()
            page.locator("#alert-ct-alarm .decided").wait_for(timeout=10_000)
            assert page.locator("#alert-ct-alarm .decided").inner_text() == "cleared by Inspector Chan"
            page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
        finally:
            browser.close()

    async def stored() -> results_pb2.Verdict | None:
        client = aioredis.Redis.from_url(reviewed.config.redis.url)
        try:
            return await ledger_for(reviewed.config, client).verdict("ct-alarm")
        finally:
            await client.aclose()

    verdict = asyncio.run(stored())
    assert verdict is not None
    assert (verdict.adjudication.outcome, verdict.adjudication.officer) == (
        results_pb2.ADJUDICATION_OUTCOME_CLEARED,
        "Inspector Chan",
    )
