"""Threat image projection end to end: X-ray frames of a screened lane reach the screening page through
the real stack, a library threat projected into them; a screener's miss and hit are scored, revealed,
tallied in Redis and exported by the gateway; the frames' verdicts are untouched."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis

from smartcustoms.core.config import Config
from smartcustoms.core.frames import array_frame
from smartcustoms.core.types import Modality
from smartcustoms.hardware.sdk.client import OK, send_all
from smartcustoms.plugins.xray.library import FULL_SCALE, LibraryEntry, write_library_dir
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import only_plugins
from smartcustoms.v1 import frame_pb2, results_pb2

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
FRAME_IDS = ("bag-1", "bag-2", "bag-unscreened")


def _counts(integrals: np.ndarray) -> np.ndarray:
    return np.rint(FULL_SCALE * np.exp(-integrals)).astype(np.uint16)


def _frames() -> list[frame_pb2.Frame]:
    frames = []
    for n, (frame_id, lane) in enumerate(zip(FRAME_IDS, ("lane-s", "lane-s", "lane-z"), strict=True)):
        integrals = np.zeros((2, 256, 384))
        integrals[0, 40:220, 40:340] = 0.5  # a bag of clothes, nothing dense in it
        integrals[1] = integrals[0] * 1.5
        frames.append(
            array_frame(
                _counts(integrals),
                modality=Modality.XRAY,
                source_id=lane,
                sequence=n + 1,
                frame_id=frame_id,
                metadata={"pixel_size_mm": "1.5"},
            )
        )
    return frames


def _threat_dir(folder: Path) -> Path:
    integrals = np.zeros((2, 60, 90))
    integrals[0, 15:27, 5:80] = 1.6  # a barrel
    integrals[0, 27:52, 5:22] = 1.6  # a grip
    integrals[1] = integrals[0] * 2.4
    write_library_dir(folder, [LibraryEntry("pistol-1.npy", "firearm", _counts(integrals), 0.75)])
    return folder


def _verdicts(config: Config, count: int) -> dict[str, bytes]:
    """Wait for ``count`` verdicts; the verdicts of FRAME_IDS, serialized."""

    async def wait() -> dict[str, bytes]:
        client = aioredis.Redis.from_url(config.redis.url)
        ledger = ledger_for(config, client)
        deadline = time.monotonic() + 60
        try:
            while (counts := await ledger.counts()).verdicts < count:
                assert time.monotonic() < deadline, counts
                await asyncio.sleep(0.05)
            found = {frame_id: await ledger.verdict(frame_id) for frame_id in FRAME_IDS}
            return {k: v.SerializeToString(deterministic=True) for k, v in found.items() if v is not None}
        finally:
            await client.aclose()

    return asyncio.run(wait())


def _tip_of(config: Config, item_id: str) -> dict[str, object]:
    """What was projected into a queued bag (a synchronous client: Playwright's loop runs meanwhile)."""
    client = redis.Redis.from_url(config.redis.url)
    try:
        return dict(json.loads(client.hget(f"sc:{config.namespace}:screening:item:{item_id}", "tip")))
    finally:
        client.close()


@pytest.fixture
def screened(runtime_config: Config, start_stack: Callable[..., Stack], tmp_path: Path) -> Stack:
    runtime_config.screening.lanes = {"lane-s": 1.0}  # every bag of lane-s gets a projected threat
    runtime_config.screening.threat_dir = str(_threat_dir(tmp_path / "threats"))
    stack = start_stack(only_plugins(runtime_config, "dense_region"))
    assert [a.code for a in asyncio.run(send_all(stack.gateway_target, _frames()))] == [OK] * 3
    return stack


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup installs it)")
def test_a_screener_misses_then_finds_projected_threats_and_verdicts_stay_as_decided(
    screened: Stack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    config = screened.config
    before = _verdicts(config, 3)
    assert sorted(before) == sorted(FRAME_IDS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(screened.review_url.rstrip("/") + "/screening")
            page.wait_for_selector("body[data-loaded=true]", timeout=15_000)
            page.fill("#officer", "Inspector Chan")
            page.dispatch_event("#officer", "change")

            deadline = time.monotonic() + 30  # the sink queues a bag just after storing its verdict
            while True:
                page.click("#next")
                # the button is disabled at the click and enabled once this click's answer is shown
                expect(page.locator("#next")).to_be_enabled(timeout=10_000)
                if page.locator("#frame").is_visible() or time.monotonic() > deadline:
                    break
                page.wait_for_timeout(200)
            page.wait_for_selector("#image[data-ready=true]", state="attached", timeout=10_000)
            assert page.locator("#image").get_attribute("data-view") == "colour"
            assert page.locator("#threat").is_disabled()  # a threat call needs its place marked
            assert "lane lane-s" in page.locator("#bag-meta").inner_text()
            page.click("#clear")
            page.wait_for_selector("#outcome[data-result=miss]", timeout=10_000)
            assert "Missed: a firearm was projected" in page.locator("#outcome").inner_text()
            assert page.locator("svg polygon.projected[data-label=firearm]").count() == 1

            page.click("#next")
            page.wait_for_function("() => document.body.dataset.answered === 'false'", timeout=10_000)
            page.wait_for_selector("#image[data-ready=true]", state="attached", timeout=10_000)
            item_id = page.locator("#image").get_attribute("src").split("/")[3]
            x, y = np.mean(_tip_of(config, item_id)["outline"], axis=0)  # inside the threat's outline
            shown = page.locator("#image").bounding_box()
            assert shown is not None
            scale = shown["width"] / 384  # screen pixels per frame pixel (the frame is 384 wide)
            page.locator("#frame").click(position={"x": x * scale, "y": y * scale})
            assert page.locator("#threat").is_enabled()
            page.click("#threat")
            page.wait_for_selector("#outcome[data-result=hit]", timeout=10_000)
            row = page.locator('#scores tr[data-officer="Inspector Chan"][data-class=firearm]')
            # the row is already there from the miss: wait for the page to reload it after the hit
            expect(row).to_contain_text("50 %", timeout=10_000)  # one found of two
            page.screenshot(path=str(tmp_path / "screening.png"), full_page=True)
            page.click("#next")  # lane-z is not screened: nothing else waits
            page.wait_for_selector("#waiting:has-text('No bag is waiting')", timeout=10_000)
        finally:
            browser.close()

    metrics = scrape(screened.metrics_urls[0])
    answers = "smartcustoms_screening_answers_total"
    for result in ("hit", "miss"):
        assert total(metrics, answers, officer="Inspector Chan", threat_class="firearm", result=result) == 1
    assert _verdicts(config, 3) == before  # the screener's answers never touch a verdict
    for verdict in before.values():
        assert not results_pb2.Verdict.FromString(verdict).HasField("adjudication")
