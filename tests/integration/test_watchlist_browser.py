"""The vehicle watchlist through the running gateway with officer login on: a supervisor logs in on the
watchlist page in a real browser, is refused an empty plate, adds a plate, sees it listed (as what the
vehicle_risk plugin reads), and removes it."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from smartcustoms.core import config as config_module
from smartcustoms.core.keys import plugin_state_prefix
from smartcustoms.core.state import open_state
from smartcustoms.plugins.vehicle_risk import watchlist
from smartcustoms.runtime.officers import OfficerStore
from smartcustoms.runtime.services import EmbeddedBroker, EmbeddedRedis
from smartcustoms.runtime.stack import Stack, with_free_ports

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
PASSWORD = "a long test password"


@pytest.fixture
def guarded_gateway(
    tmp_path: Path, broker: EmbeddedBroker, redis_service: EmbeddedRedis, start_stack: Callable[..., Stack]
) -> Stack:
    """The gateway alone (the watchlist page lives there), officer login on, with a supervisor account."""
    config = with_free_ports(config_module.load(environ={}))
    config.namespace = f"wl{uuid.uuid4().hex[:10]}"
    config.run_dir = str(tmp_path / "run")
    config.broker.bootstrap_servers = broker.bootstrap_servers
    config.redis.url = redis_service.url
    (tmp_path / "shm").mkdir()
    config.blobstore.shm_root = str(tmp_path / "shm")
    config.gateway.officer_auth = True

    async def supervisor() -> None:
        client = aioredis.Redis.from_url(config.redis.url)
        try:
            await OfficerStore(client, config.namespace).add("SPO 12", "supervisor", PASSWORD, by="test")
        finally:
            await client.aclose()

    asyncio.run(supervisor())
    return start_stack(config, worker=False)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup installs it)")
def test_a_supervisor_adds_a_plate_on_the_page_sees_it_listed_and_removes_it(
    guarded_gateway: Stack, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # a loaded 2-core machine: a step may take seconds
    config = guarded_gateway.config
    state = open_state(config.redis.url, plugin_state_prefix(config.namespace, "vehicle_risk"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(guarded_gateway.review_url + "search")
            page.wait_for_url("**/login**", timeout=10_000)  # not logged in: the login page
            page.fill("#name", "SPO 12")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("body[data-loaded=true]", timeout=15_000)
            page.click("header a[href='/watchlist']")
            page.wait_for_selector("body[data-loaded=true]", timeout=15_000)
            expect(page.locator("#watchlist")).to_contain_text("Nothing is on the watchlist.")
            assert page.locator("#officer").input_value() == "SPO 12"

            page.fill("#watch-reason", "tip-off: cartons in the boot")
            page.click("#watch-add button[type=submit]")
            expect(page.locator("#watch-error")).to_have_text("name the plate to watch")
            expect(page.locator("#watch-reason")).to_have_value("tip-off: cartons in the boot")  # kept
            page.fill("#watch-id", "ab 1234")
            page.click("#watch-add button[type=submit]")
            row = page.locator("tr.entry[data-kind=plate][data-id=AB1234]")
            expect(row.locator(".reason")).to_have_text("tip-off: cartons in the boot")
            expect(row.locator(".officer")).to_have_text("SPO 12")
            expect(page.locator("#watch-error")).to_have_text("")
            [(kind, entry)] = watchlist.lookup(state, "AB1234", None)  # what the plugin reads
            assert (kind, entry.reason, entry.officer) == ("plate", "tip-off: cartons in the boot", "SPO 12")
            page.screenshot(path=str(tmp_path / "watchlist.png"), full_page=True)

            row.locator("button.remove").click()
            expect(row).to_have_count(0)
            expect(page.locator("#watchlist")).to_contain_text("Nothing is on the watchlist.")
            assert watchlist.lookup(state, "AB1234", None) == []
        finally:
            browser.close()
            state.close()
