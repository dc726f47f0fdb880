"""The watchlist page's API on a real Redis, behind the officers' login: who may read and change the
list, one clear refusal for bad input, and an entry added on the page is what the vehicle_risk plugin
reads, the command lists, and the audit trail records (as the officer logged in)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from smartcustoms.core.audit import audit_key, read_pending
from smartcustoms.core.frames import inline_view
from smartcustoms.core.keys import plugin_state_prefix
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.state import RedisState, open_state
from smartcustoms.core.types import Decision
from smartcustoms.hardware.sim.records import to_frame
from smartcustoms.plugins.vehicle_risk import VehicleRiskPlugin, watchlist
from smartcustoms.runtime.cli import main
from smartcustoms.runtime.officer_auth import CSRF_COOKIE, CSRF_HEADER, protect
from smartcustoms.runtime.officers import OfficerStore
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.runtime.watchlist_page import add_routes
from smartcustoms.v1 import frame_pb2

PASSWORD = "correct horse battery"
ACCOUNTS = {"PO 4411": "screener", "SPO 12": "supervisor"}

Body = Callable[[TestClient, RedisState, str], Awaitable[None]]


def _web(redis_url: str, body: Body) -> None:
    """The watchlist routes behind the login, on a namespace of their own, with two officers."""
    namespace = f"wl{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_url)
        state = open_state(redis_url, plugin_state_prefix(namespace, "vehicle_risk"))
        try:
            store = OfficerStore(client, namespace, session_s=60)
            for name, role in ACCOUNTS.items():
                await store.add(name, role, PASSWORD, by="test")
            app = web.Application()
            add_routes(app, state, namespace)
            protect(app, store)
            async with TestClient(TestServer(app)) as http:
                await body(http, state, namespace)
        finally:
            state.close()
            await client.aclose()

    asyncio.run(main())


async def _login(http: TestClient, name: str) -> dict[str, str]:
    """Log ``name`` in (the browser's way: cookies); the CSRF header its writes carry."""
    http.session.cookie_jar.clear()
    reply = await http.post("/login", json={"name": name, "password": PASSWORD})
    assert reply.status == 200, await reply.text()
    return {CSRF_HEADER: http.session.cookie_jar.filter_cookies(http.make_url("/"))[CSRF_COOKIE].value}


def _trail(state: RedisState, namespace: str) -> list[tuple[str, dict[str, Any]]]:
    """The watchlist's audit events queued so far (the gateway's auditor would seal them), as (kind, body);
    the logins' own events left out."""
    events = map(read_pending, _pending(state, namespace))
    return [(kind, body) for kind, _, body in events if kind.startswith("watchlist_")]


def _pending(state: RedisState, namespace: str) -> list[bytes]:
    return list(state.client.lrange(audit_key(namespace, "pending"), 0, -1))


PLATE = {"kind": "plate", "id": "ab 1234", "reason": "tip-off: cartons in the boot"}


def test_reading_takes_a_login_and_changing_takes_a_supervisor_with_the_csrf_token(
    redis_service: EmbeddedRedis,
) -> None:
    async def body(http: TestClient, state: RedisState, namespace: str) -> None:
        assert (await http.get("/api/watchlist")).status == 401
        assert (await http.post("/api/watchlist", json=PLATE)).status == 401
        assert (await http.post("/api/watchlist/remove", json=PLATE)).status == 401
        page = await http.get("/watchlist", allow_redirects=False)
        assert (page.status, page.headers["Location"]) == (302, "/login?next=/watchlist")

        screener = await _login(http, "PO 4411")
        assert (await http.get("/api/watchlist")).status == 200
        assert "window.SC_OFFICER" in await (await http.get("/watchlist")).text()
        for url in ("/api/watchlist", "/api/watchlist/remove"):
            refused = await http.post(url, json=PLATE, headers=screener)
            assert refused.status == 403 and (await refused.json()) == {
                "error": "this takes the supervisor role"
            }

        supervisor = await _login(http, "SPO 12")
        assert (await http.post("/api/watchlist", json=PLATE)).status == 403  # no CSRF token
        assert (await http.post("/api/watchlist", json=PLATE, headers={CSRF_HEADER: "guessed"})).status == 403
        form = await http.post(
            "/api/watchlist",
            data="kind=plate&id=AB1234&reason=x",
            headers={"Content-Type": "text/plain", **supervisor},
        )
        assert form.status == 415
        assert await (await http.get("/api/watchlist")).json() == []  # nothing refused got in
        assert _trail(state, namespace) == []
        assert (await http.post("/api/watchlist", json=PLATE, headers=supervisor)).status == 201

    _web(redis_service.url, body)


def test_an_entry_added_on_the_page_is_read_by_the_plugin_listed_by_the_command_and_audited(
    redis_service: EmbeddedRedis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def body(http: TestClient, state: RedisState, namespace: str) -> None:
        supervisor = await _login(http, "SPO 12")
        typed = PLATE | {"officer": "Chief Inspector Wong"}  # a name typed in: never what is recorded
        added = await http.post("/api/watchlist", json=typed, headers=supervisor)
        assert added.status == 201, await added.text()
        entry = await added.json()
        assert (entry["kind"], entry["id"], entry["reason"], entry["officer"]) == (
            "plate",
            "AB1234",
            "tip-off: cartons in the boot",
            "SPO 12",
        )
        assert await (await http.get("/api/watchlist")).json() == [entry]

        # the plugin's own reader, and the plugin itself, on the next crossing of the plate
        assert [(kind, e.officer) for kind, e in watchlist.lookup(state, "AB1234", None)] == [
            ("plate", "SPO 12")
        ]
        vehicle = VehicleRiskPlugin(
            VehicleRiskPlugin.spec.default_settings, PluginContext("vehicle_risk", state=state)
        )
        record = frame_pb2.Record(record_id="c-1", kind="vehicle_crossing", fields={"plate_hk": "AB 1234"})
        [assessment] = vehicle.smartcustoms_process_batch(
            [inline_view(to_frame(frame_pb2.RecordBatch(records=[record]), "crossing-feed", 1))]
        )
        assert assessment.decision == Decision.ALARM
        [detection] = assessment.detections
        assert detection.attributes["watchlist"] == "plate"
        assert detection.attributes["reasons"].startswith("watchlist: tip-off: cartons in the boot")

        # the command sees the page's entry, and the page the command's
        config = tmp_path / "config.toml"
        config.write_text(f'namespace = "{namespace}"\n[redis]\nurl = "{redis_service.url}"\n')
        command = ["--config", str(config), "watchlist"]
        assert _command([*command, "add", "--driver", "D-77", "--reason", "runner", "--officer", "PO 9"]) == 0
        assert _command([*command, "list"]) == 0
        listed = capsys.readouterr().out.splitlines()
        assert [line.split()[:2] for line in listed[-2:]] == [["plate", "AB1234"], ["driver", "d-77"]]
        shown = await (await http.get("/api/watchlist")).json()
        assert [(e["kind"], e["id"], e["officer"]) for e in shown] == [
            ("plate", "AB1234", "SPO 12"),
            ("driver", "d-77", "PO 9"),
        ]

        removed = await http.post(
            "/api/watchlist/remove", json={"kind": "plate", "id": "ab1234"}, headers=supervisor
        )
        assert removed.status == 200
        assert (await removed.json())["removed_by"] == "SPO 12"
        again = await http.post(
            "/api/watchlist/remove", json={"kind": "plate", "id": "AB1234"}, headers=supervisor
        )
        assert again.status == 404
        assert (await again.json()) == {"error": "plate AB1234 is not on the watchlist"}
        assert watchlist.lookup(state, "AB1234", None) == []
        later = frame_pb2.Record(record_id="c-2", kind="vehicle_crossing", fields={"plate_hk": "AB1234"})
        [after] = vehicle.smartcustoms_process_batch(
            [inline_view(to_frame(frame_pb2.RecordBatch(records=[later]), "crossing-feed", 2))]
        )
        assert "watchlist" not in {k for d in after.detections for k in d.attributes}

        assert [(kind, b["id"], b["officer"], b["via"]) for kind, b in _trail(state, namespace)] == [
            ("watchlist_added", "AB1234", "SPO 12", "page"),
            ("watchlist_added", "d-77", "PO 9", "command"),
            ("watchlist_removed", "AB1234", "SPO 12", "page"),
        ]
        assert _trail(state, namespace)[2][1]["added_by"] == "SPO 12"

    _web(redis_service.url, body)


def _command(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as done:
        main(argv)
    return int(done.value.code or 0)


BAD = [
    ({"kind": "plate", "id": "", "reason": "x"}, "name the plate to watch"),
    ({"kind": "plate", "id": "   ", "reason": "x"}, "name the plate to watch"),
    ({"kind": "driver", "id": "", "reason": "x"}, "name the driver's id hash to watch"),
    ({"kind": "plate", "id": "AB1", "reason": "x" * 201}, "the reason has 201 characters: at most 200"),
    ({"kind": "plate", "id": "AB1", "reason": "  "}, "a watchlist entry needs a reason and an officer"),
    (
        {"kind": "boat", "id": "AB1", "reason": "x"},
        "a watchlist entry watches a plate or a driver, not 'boat'",
    ),
    ({"id": "AB1", "reason": "x"}, "a watchlist entry watches a plate or a driver, not ''"),
    ({"kind": "plate", "id": "A" * 65, "reason": "x"}, "a plate has at most 64 characters, this one 65"),
    ({"kind": "plate", "id": 1234, "reason": "x"}, "id must be text"),
    (["plate", "AB1"], "the request body must be a JSON object"),
]


def test_bad_input_gets_one_clear_error_and_nothing_else_changes(redis_service: EmbeddedRedis) -> None:
    async def body(http: TestClient, state: RedisState, namespace: str) -> None:
        supervisor = await _login(http, "SPO 12")
        assert (await http.post("/api/watchlist", json=PLATE, headers=supervisor)).status == 201
        before = await (await http.get("/api/watchlist")).json()
        for sent, error in BAD:
            for url in ("/api/watchlist", "/api/watchlist/remove"):
                if url.endswith("remove") and "reason" in error:
                    continue  # a removal takes no reason
                reply = await http.post(url, json=sent, headers=supervisor)
                assert (reply.status, await reply.json()) == (400, {"error": error}), (url, sent)
        assert await (await http.get("/api/watchlist")).json() == before
        assert [kind for kind, _ in _trail(state, namespace)] == ["watchlist_added"]

    _web(redis_service.url, body)
