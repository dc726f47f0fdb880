"""The liquor duty desk through the running gateway, in a real browser: an officer opens a traveller's
assessment from the bottles the liquor_label plugin left in the ledger, overrides a bottle it was unsure
of, enters one by hand in dollars, confirms the duty and opens the traveller's receipt; the override is
then counted on the gateway's /metrics."""

from __future__ import annotations

import asyncio
import json
import shutil
import urllib.request
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from smartcustoms.core import verdicts
from smartcustoms.core.duty import RateTable
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.liquor_desk import store_rates
from smartcustoms.runtime.stack import Stack
from smartcustoms.v1 import frame_pb2, results_pb2

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
TRAVELLER = "T-0088"
GLEN_18 = {
    "catalogue_id": "LQ-0002",
    "brand": "Glen Corrach",
    "product": "18 Year Single Malt Whisky",
    "category": "spirit",
    "abv_percent": "43",
    "volume_ml": "700",
    "reference_price_hkd": "1380",
    "candidates": json.dumps([{"catalogue_id": "LQ-0002", "confidence": 0.97}]),
    "identified_by": "names",  # the keypoints were unsure; the brand and product were read
}
VSOP_UNSURE = {
    "catalogue_id": "LQ-0004",
    "brand": "Maison Delaurier",
    "product": "VSOP Cognac",
    "category": "spirit",
    "abv_percent": "40",
    "volume_ml": "700",
    "reference_price_hkd": "520",
    "candidates": json.dumps(
        [{"catalogue_id": "LQ-0004", "confidence": 0.41}, {"catalogue_id": "LQ-0005", "confidence": 0.38}]
    ),
    "needs_officer": "1",
    "needs_officer_reason": "confidence 0.41 below 0.80",
}


@pytest.fixture
def gateway(gateway_alone: Stack) -> Stack:
    """The gateway alone (the liquor desk lives there; no worker, so no Ray), in a namespace of its own."""
    return gateway_alone


def _bottles_at_the_red_channel(stack: Stack) -> None:
    """Two camera frames of the traveller's bottles, decided as the liquor_label plugin decides them."""

    async def record() -> None:
        client = aioredis.Redis.from_url(stack.config.redis.url)
        try:
            ledger = ledger_for(stack.config, client)
            for frame_id, attributes, decision in (
                ("cam-a", GLEN_18, results_pb2.DECISION_ALARM),
                ("cam-b", VSOP_UNSURE, results_pb2.DECISION_MANUAL_INSPECTION),
            ):
                frame = frame_pb2.Frame(
                    frame_id=frame_id,
                    source_id="red-channel-3",
                    modality=frame_pb2.MODALITY_CAMERA,
                    control_point="airport",
                    metadata={"camera_role": "red_channel", "traveller_id": TRAVELLER},
                )
                detection = results_pb2.Detection(
                    label="liquor_bottle",
                    score=0.97 if decision == results_pb2.DECISION_ALARM else 0.41,
                    plugin="liquor_label",
                    attributes=attributes | {"traveller_id": TRAVELLER},
                )
                result = results_pb2.PluginResult(
                    plugin="liquor_label", decision=decision, detections=[detection]
                )
                verdict = verdicts.combine(frame, [result])
                await ledger.accept(frame, 30)
                assert await ledger.finalize(verdict, verdicts.alert_for(verdict)) is not None
        finally:
            await client.aclose()

    asyncio.run(record())


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup installs it)")
def test_an_officer_assesses_a_travellers_liquor_and_prints_the_receipt(
    gateway: Stack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # a loaded 2-core machine: a step may take seconds

    _bottles_at_the_red_channel(gateway)
    rates = RateTable.parse(
        "currency,hkd_per_unit,date\nUSD,7.7812,2025-01-15\n", "csv", "rates-2025-01-15.csv"
    )
    store_rates(gateway.config.redis.url, gateway.config.namespace, rates)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(gateway.review_url)
            page.click("text=Liquor duty")
            page.wait_for_selector("body[data-loaded=true]", timeout=15_000)
            expect(page.locator("#rates")).to_contain_text("USD 7.7812 HKD (2025-01-15)")
            row = page.locator(f"tr.traveller[data-traveller-id='{TRAVELLER}']")
            expect(row).to_contain_text("Glen Corrach 18 Year Single Malt Whisky")
            expect(row).to_contain_text("officer needed")
            row.locator("button.open-traveller").click()
            expect(page.locator("#open-error")).to_have_text("Enter your name first.")
            page.fill("#officer", "Inspector Wong")
            page.dispatch_event("#officer", "change")
            row.locator("button.open-traveller").click()
            assessment = page.locator("#assessment")
            expect(assessment).to_have_attribute("data-status", "open", timeout=10_000)
            assessment_id = assessment.get_attribute("data-assessment-id")
            assert assessment_id
            expect(page.locator("#bottles tr.bottle")).to_have_count(2)
            unsure = page.locator("#bottles tr.bottle[data-bottle-id='cam-b#1']")
            expect(unsure.locator(".status")).to_contain_text("confidence 0.41 below 0.80")
            named = page.locator("#bottles tr.bottle[data-bottle-id='cam-a#1']")
            expect(named).to_contain_text("identified by the names on its label")
            expect(unsure).not_to_contain_text("identified by the names")

            page.click("#confirm button")
            expect(page.locator("#assessment-error")).to_contain_text("bottles wait for an officer")
            unsure.locator("button.override-open").click()
            expect(page.locator("#ov-catalogue-id")).to_have_value("LQ-0004")
            page.fill("#ov-catalogue-id", "LQ-0005")
            page.fill("#ov-description", "Maison Delaurier XO Cognac")
            page.fill("#ov-value", "1680")
            page.select_option("#ov-reason", "wrong_product")
            page.fill("#ov-note", "the XO's label, partly covered")
            page.click("#override button[type=submit]")
            expect(unsure.locator(".status")).to_have_text("overridden by Inspector Wong (wrong_product)")

            page.fill("#bottle-description", "duty-free gin")
            page.fill("#bottle-abv", "47")
            page.fill("#bottle-volume", "1000")
            page.fill("#bottle-value", "35")
            page.fill("#bottle-currency", "usd")
            page.click("#add-bottle button")
            expect(page.locator("#bottles tr.bottle")).to_have_count(3)
            # XO 1680: 348 (497.14 a litre) takes 0.7 litre of the allowance, the 18 year old (1380: 318,
            # 454.29 a litre) the other 0.3 and pays 318 x 0.4 / 0.7 = 181.71; the gin, 35 USD x 7.7812 =
            # 272.342 HKD in 1 litre, pays 200 + 7.2342 = 207.23. Total 388.94.
            expect(page.locator("#duty-total")).to_have_text("388.94")
            expect(page.locator("#duty-notes")).to_contain_text("from cam-b#1, cam-a#1")
            expect(page.locator("#duty-notes")).to_contain_text("USD at 7.7812 HKD (rate of 2025-01-15)")
            expect(page.locator("tr.override-count")).to_contain_text(["LQ-0004wrong_product1"])

            page.fill("#confirm-note", "paid at counter 3")
            page.click("#confirm button")
            expect(assessment).to_have_attribute("data-status", "confirmed", timeout=10_000)
            assert (
                page.locator("#add-bottle").is_hidden() and page.locator("button.override-open").count() == 0
            )
            receipt_url = page.locator("#receipt-link").get_attribute("href")
            assert receipt_url == f"/liquor/receipt/{assessment_id}"
            page.screenshot(path=str(tmp_path / "liquor.png"), full_page=True)

            page.goto(gateway.review_url.rstrip("/") + receipt_url)
            expect(page.locator("#total")).to_have_text("388.94")
            expect(page.locator("#rates")).to_contain_text("USD 7.7812 HKD (2025-01-15)")
            expect(page.locator("body")).to_contain_text(f"Traveller {TRAVELLER}")
            expect(page.locator("body")).to_contain_text("corrected by Inspector Wong (wrong_product)")
            page.screenshot(path=str(tmp_path / "receipt.png"), full_page=True)
        finally:
            browser.close()

    with urllib.request.urlopen(gateway.metrics_urls[0], timeout=5) as response:
        exported = response.read().decode()
    assert (
        'smartcustoms_liquor_overrides_total{catalogue_id="LQ-0004",reason="wrong_product"} 1.0' in exported
    )
