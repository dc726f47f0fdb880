"""The crime analytics page in a real browser: a simulated world's case files, news and posts go through
the crime_analytics plugin into its store on Redis; on the page an officer finds what links the two cases
of the planted burner phone, who used that phone, the companies at the planted shared address, cases like
a case, and the trend alerts with the cases behind them."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import uuid
from collections.abc import Iterator

import pytest
import redis
from aiohttp import web

from smartcustoms.core.audit import AuditTrail
from smartcustoms.core.keys import plugin_state_prefix
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.state import RedisState
from smartcustoms.hardware.sim.cases import Scenario, generate
from smartcustoms.plugins.crime import CrimeAnalyticsPlugin
from smartcustoms.plugins.crime.store import StoredRecord, TrendAlert
from smartcustoms.plugins.crime.tools.evaluate import BATCH, stream_alerts
from smartcustoms.runtime.crime_page import add_crime_routes, crime_desk
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.v1 import frame_pb2

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
DROP = TrendAlert(
    "commodity=drugs",
    99999,
    "2026-06-01",
    0,
    12.5,
    27,
    ("CR-0021-00001",),
    direction="drop",
    bottom=1,
    weeks=4,
)
SEED = 21  # a tuning-range seed with a small world


def _fill(redis_url: str, namespace: str, world: Scenario) -> None:
    client = redis.Redis.from_url(redis_url)
    state = RedisState(client, plugin_state_prefix(namespace, "crime_analytics"))
    plugin = CrimeAnalyticsPlugin({}, PluginContext("crime_analytics", namespace=namespace, state=state))
    for start in range(0, len(world.records), BATCH):
        records = [
            frame_pb2.Record(record_id=r.record_id, kind=r.kind, fields=r.fields)
            for r in world.records[start : start + BATCH]
        ]
        plugin.assess(frame_pb2.RecordBatch(records=records))
    client.close()


@pytest.fixture
def page_url(redis_service: EmbeddedRedis) -> Iterator[tuple[str, Scenario, AuditTrail]]:
    """The crime page on a free port, over a store filled by the plugin from a simulated world."""
    namespace = f"crime{uuid.uuid4().hex[:8]}"
    world = generate(SEED, rate_scale=0.4)
    _fill(redis_service.url, namespace, world)
    # the store on Redis raised what the in-memory twin raises on the same batches
    on_redis = crime_desk(redis_service.url, namespace).store.alerts()
    in_memory = stream_alerts([StoredRecord(r.record_id, r.kind, r.fields) for r in world.records])
    assert sorted(on_redis, key=lambda a: a.key) == sorted(in_memory, key=lambda a: a.key) != []
    # a drop as the plugin keeps one (this small world's series are too quiet to drop rarely enough)
    crime_desk(redis_service.url, namespace).store.add_alert(DROP)
    loop = asyncio.new_event_loop()
    app = web.Application()
    add_crime_routes(app, crime_desk(redis_service.url, namespace))
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp keeps the bound server here
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield (
            f"http://127.0.0.1:{port}",
            world,
            AuditTrail(redis.Redis.from_url(redis_service.url), namespace),
        )
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def _company_address(world: Scenario, case_id: str) -> str:
    record = next(r for r in world.records if r.record_id == case_id)
    entities = {e["id"]: e for e in json.loads(record.fields["entities"])}
    company = [e for e in entities.values() if e["schema"] == "Company"][-1]
    return str(entities[company["properties"]["addressEntity"][0]]["properties"]["full"][0])


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup installs it)")
def test_an_officer_follows_links_and_trends_on_the_crime_page(
    page_url: tuple[str, Scenario, AuditTrail],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # a loaded 2-core machine: a step may take seconds
    url, world, trail = page_url
    phone_link = next(link for link in world.links if link.kind == "shared_phone")
    (phone,) = set(world.cases[phone_link.a].phones.values())
    address_link = next(link for link in world.links if link.kind == "shared_address")
    route = next(a for a in world.anomalies if a.kind == "new_route")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page()
        page.goto(f"{url}/crime")
        rise = page.locator("#alerts tr.alert.rise").filter(has_text=route.value).first
        expect(rise).to_be_visible()
        expect(rise.locator(".direction")).to_have_text("▲ rise")
        drop = page.locator("#alerts tr.alert.drop").filter(has_text=DROP.series)
        expect(drop.locator(".direction")).to_have_text("▼ drop")
        expect(drop).to_contain_text("2026-06-01 (4 weeks)")
        expect(drop).to_contain_text("12.50 (bottom 1)")
        expect(drop).to_contain_text("before the drop: CR-0021-00001")

        page.fill("#links-a", phone_link.a)
        page.fill("#links-b", phone_link.b)
        page.click("#links button")
        path = page.locator("#links-result .path").first
        expect(path).to_contain_text(phone)
        expect(path.locator(".node.record")).to_have_count(2)

        page.fill("#phone-number", f"+852 {phone[:4]} {phone[4:]}")
        page.click("#phone button")
        for case_id in (phone_link.a, phone_link.b):
            expect(page.locator("#phone-result li").filter(has_text=case_id)).to_have_count(1)

        page.fill("#address-text", _company_address(world, address_link.a))
        page.click("#address button")
        expect(page.locator("#address-result li")).to_have_count(2)

        page.fill("#similar-case", phone_link.a)
        page.click("#similar button")
        expect(page.locator("#similar-result tr").filter(has_text=phone_link.b)).to_have_count(1)
        browser.close()
    assert trail.kinds()["crime_query"] == 4  # links, phone, address, similar: each question audited
    assert len(trail.case_seqs(phone_link.a)) == 2  # the links and the similar-cases questions
