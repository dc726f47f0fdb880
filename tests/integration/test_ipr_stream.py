"""IPR monitoring on the real stream: the demo's listings feed device serves a simulated platform's
API, the feed connector polls it (paging, a 429 on the way) into the gateway, ``ipr_monitor`` (in its
Ray actor, its state on Redis) flags listings, and each flagged listing is frozen into the audit trail
under its IPR case."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

import pytest
import redis
import redis.asyncio as aioredis

from smartcustoms.core.audit import AuditTrail
from smartcustoms.core.config import Config
from smartcustoms.hardware.sim.listings_feed import run_listings
from smartcustoms.runtime.ipr import ipr_line
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.process import wait_for
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import only_plugins

pytestmark = pytest.mark.integration

FRAMES = 4
BATCH = 40


def test_listings_feed_raises_ipr_cases_with_evidence(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    only_plugins(runtime_config, "ipr_monitor")
    stack = start_stack(runtime_config)
    stats = asyncio.run(
        run_listings(stack.gateway_target, time.monotonic() + 60, 4.0, 1, max_frames=FRAMES, batch_size=BATCH)
    )
    assert stats.accepted == stats.sent == FRAMES

    async def counts() -> tuple[int, int]:
        client = aioredis.Redis.from_url(runtime_config.redis.url)
        try:
            found = await ledger_for(runtime_config, client).counts()
            return found.in_flight, found.verdicts
        finally:
            await client.aclose()

    wait_for(lambda: asyncio.run(counts()) == (0, FRAMES), 90, 0.2, "every listings frame's verdict")

    def line() -> str:
        return ipr_line(runtime_config.redis.url, runtime_config.namespace)

    wait_for(lambda: not line().startswith("ipr: 0 "), 30, 0.2, "evidence in the audit trail")
    found = re.match(
        r"ipr: (\d+) listings flagged, .* in (\d+) cases; largest (IPR-\w+) \((\d+) listings\)", line()
    )
    assert found, line()
    flagged, cases, largest = int(found.group(1)), int(found.group(2)), int(found.group(4))
    assert 0 < cases <= flagged < FRAMES * BATCH
    assert largest >= 2  # a network of accounts: several listings under one case
    exported = scrape(stack.metrics_urls[0])  # the gateway's /metrics tell the same
    assert total(exported, "smartcustoms_ipr_listings_flagged_total") == flagged
    assert total(exported, "smartcustoms_ipr_cases") == cases

    trail = AuditTrail(redis.Redis.from_url(runtime_config.redis.url), runtime_config.namespace)
    sealed = [trail.record(seq) for seq in trail.case_seqs(found.group(3))]
    assert sealed and all(r is not None and r.kind == "evidence_capture" for r in sealed)
    evidence = sealed[0].body  # type: ignore[union-attr]  # checked just above
    assert evidence["case"] == found.group(3) and evidence["reasons"]
    fields = evidence["fields"]
    assert fields["content_hash"] and fields["fetched_at"] and fields["url"].startswith("https://")
    assert fields["image_phash"] and fields["image_sha256"]  # (the device stores no image bytes)
    assert not any(k.startswith("truth_") for k in fields)
