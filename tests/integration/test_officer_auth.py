"""Officers log in to review alerts, on the real runtime: gRPC and the web page refuse anyone who has not,
a cross-site or token-less write is refused, and what is recorded is who logged in, not a typed name."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import grpc
import numpy as np
import pytest
import redis.asyncio as aioredis

from smartcustoms.core.config import Config
from smartcustoms.core.frames import array_frame
from smartcustoms.core.types import Modality
from smartcustoms.hardware.sdk.client import OK, send_all
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.officer_auth import officer_metadata
from smartcustoms.runtime.officers import OfficerStore, initial_password_note
from smartcustoms.runtime.services import EmbeddedBroker, EmbeddedRay, EmbeddedRedis
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import config_on_services, only_plugins
from smartcustoms.v1 import (
    evidence_pb2,
    evidence_pb2_grpc,
    frame_pb2,
    results_pb2,
    review_pb2,
    review_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
)

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium")
PASSWORD = "a long test password"
ACCOUNTS = {"PO 4411": "screener", "SPO 12": "supervisor"}
T = TypeVar("T")


def _alarms() -> list[frame_pb2.Frame]:
    image = np.full((2, 256, 512), 60_000, dtype=np.uint16)
    image[:, 100:180, 200:300] = 50  # dense: an alarm with a box
    ids = ("bag-1", "bag-2", "lane-3/bag-3")  # the last in its source's own scope: a "/" in URLs and ids
    return [
        array_frame(image, modality=Modality.XRAY, source_id="lane-3", sequence=n, frame_id=frame_id)
        for n, frame_id in enumerate(ids, start=1)
    ]


def _on_store(config: Config, work: Callable[[OfficerStore], Awaitable[T]]) -> T:
    async def run() -> T:
        client = aioredis.Redis.from_url(config.redis.url)
        try:
            return await work(OfficerStore(client, config.namespace))
        finally:
            await client.aclose()

    return asyncio.run(run())


def _settled(config: Config, count: int) -> None:
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


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory,
    broker: EmbeddedBroker,
    redis_service: EmbeddedRedis,
    ray_head: EmbeddedRay,
) -> Iterator[Stack]:
    """One runtime with officer login on, for the tests of this module: three alarms, two officers."""
    folder = tmp_path_factory.mktemp("officers")
    config = config_on_services(broker, redis_service, ray_head, folder / "run", folder / "shm", "oa")
    config.gateway.officer_auth = True
    with Stack(only_plugins(config, "dense_region")) as stack:
        assert [a.code for a in asyncio.run(send_all(stack.gateway_target, _alarms()))] == [OK] * 3
        _settled(config, 3)

        async def accounts(store: OfficerStore) -> None:
            for name, role in ACCOUNTS.items():
                await store.add(name, role, PASSWORD, by="test")

        _on_store(config, accounts)
        yield stack


def _token(config: Config, name: str) -> str:
    async def login(store: OfficerStore) -> str:
        return (await store.login(name, PASSWORD)).token

    return _on_store(config, login)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_review_service_and_page_need_a_login_and_record_who_logged_in(guarded: Stack) -> None:
    config = guarded.config
    note = initial_password_note(config.run_dir)  # the gateway made the first operator on its first start
    assert note is not None and "'operator'" in note
    decide = review_pb2.AdjudicateRequest(
        frame_id="bag-1", outcome=results_pb2.ADJUDICATION_OUTCOME_CONFIRMED, officer="Chief Inspector Wong"
    )
    with grpc.insecure_channel(guarded.gateway_target) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)
        for call, request in ((stub.ListAlerts, review_pb2.ListAlertsRequest()), (stub.Adjudicate, decide)):
            for metadata in ((), officer_metadata("forged")):
                with pytest.raises(grpc.RpcError) as refused:
                    call(request, timeout=5, metadata=metadata)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        screener = officer_metadata(_token(config, "PO 4411"))
        assert len(stub.ListAlerts(review_pb2.ListAlertsRequest(), timeout=5, metadata=screener).items) == 3
        decided = stub.Adjudicate(decide, timeout=5, metadata=screener)
        assert decided.adjudication.officer == "PO 4411"  # not the name typed in the request
        with pytest.raises(grpc.RpcError) as refused:  # changing a decision is a supervisor's
            stub.Adjudicate(decide, timeout=5, metadata=screener)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        changed = stub.Adjudicate(
            review_pb2.AdjudicateRequest(frame_id="bag-1", outcome=results_pb2.ADJUDICATION_OUTCOME_CLEARED),
            timeout=5,
            metadata=officer_metadata(_token(config, "SPO 12")),
        )
        assert [a.officer for a in (*changed.earlier_adjudications, changed.adjudication)] == [
            "PO 4411",
            "SPO 12",
        ]

    url = f"{guarded.review_url}api/alerts/bag-2/adjudication"
    body = json.dumps({"outcome": "confirmed", "officer": "Chief Inspector Wong"}).encode()
    assert _post(url, body, {"Content-Type": "application/json"})[0] == 401  # not logged in
    cookie = {"Cookie": f"sc_session={_token(config, 'PO 4411')}"}
    assert _post(url, body, {"Content-Type": "text/plain", **cookie})[0] == 415  # a cross-site form's type
    status, text = _post(url, body, {"Content-Type": "application/json", **cookie})
    assert (status, "X-CSRF-Token" in text) == (403, True)  # no CSRF token
    bearer = {"Authorization": f"Bearer {_token(config, 'PO 4411')}", "Content-Type": "application/json"}
    status, text = _post(f"{guarded.review_url}api/officers", b"{}", bearer)
    assert (status, "operator" in text) == (403, True)  # an operator's action, by a screener


def test_search_and_evidence_services_need_a_login_and_record_who_logged_in(guarded: Stack) -> None:
    typed = "Chief Inspector Wong"
    with grpc.insecure_channel(guarded.gateway_target) as channel:
        search = search_pb2_grpc.SearchServiceStub(channel)  # type: ignore[no-untyped-call]  # generated
        evidence = evidence_pb2_grpc.EvidenceServiceStub(channel)  # type: ignore[no-untyped-call]  # generated
        reads = (
            (search.ListReports, search_pb2.ListReportsRequest()),
            (evidence.Locate, evidence_pb2.LocateRequest(case_number="HK-2026-0001")),
        )
        for call, request in reads:
            with pytest.raises(grpc.RpcError) as refused:
                call(request, timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        screener = officer_metadata(_token(guarded.config, "PO 4411"))
        opening = search_pb2.OpenReportRequest(record_id="vc-oa-1", plate_hk="AB1234", officer=typed)
        assert search.OpenReport(opening, timeout=5, metadata=screener).opened_by == "PO 4411"
        register = evidence_pb2.RegisterItemRequest(
            company_prefix="4891234",
            item_reference="100005",
            serial=901,
            case_number="HK-2026-0001",
            description="cash",
            seizing_officer=typed,
        )
        assert evidence.RegisterItem(register, timeout=5, metadata=screener).seizing_officer == "PO 4411"


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/setup installs it)")
def test_an_officer_logs_in_and_confirms_an_alert_in_the_browser(guarded: Stack, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(guarded.review_url)
            page.wait_for_url("**/login**", timeout=10_000)  # not logged in: the login page
            page.fill("#name", "PO 4411")
            page.fill("#password", "not the password")
            page.click("button[type=submit]")
            page.get_by_text("wrong name or password").wait_for(timeout=10_000)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("body[data-loaded=true]", timeout=15_000)
            assert page.locator("#officer").input_value() == "PO 4411"
            assert page.locator("#officer").evaluate("input => input.readOnly")
            assert "PO 4411 (screener)" in page.locator("#signed-in").inner_text()
            card = page.locator('[id="alert-lane-3/bag-3"]')
            loaded = "() => { const i = document.querySelector('[id=\"alert-lane-3/bag-3\"] img');"
            loaded += " return !!i && i.complete && i.naturalWidth > 0; }"
            page.wait_for_function(loaded, timeout=10_000)
            card.locator("button[data-outcome=confirmed]").click()
            card.locator(".decided").wait_for(timeout=10_000)
            assert card.locator(".decided").inner_text() == "confirmed by PO 4411"
            page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
            page.locator("#signed-in a").click()
            page.wait_for_url("**/login", timeout=10_000)
        finally:
            browser.close()

    async def stored() -> results_pb2.Verdict | None:
        client = aioredis.Redis.from_url(guarded.config.redis.url)
        try:
            return await ledger_for(guarded.config, client).verdict("lane-3/bag-3")
        finally:
            await client.aclose()

    verdict = asyncio.run(stored())
    assert verdict is not None and verdict.adjudication.officer == "PO 4411"
