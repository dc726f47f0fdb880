"""The air cargo queue desk over a real Redis, with a clock the test moves: tickets, priorities,
counters, no-shows and one rejoin, predictions that update, bad input, and a restart that loses nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from smartcustoms.core.air_queue import QueueError
from smartcustoms.core.audit import audit_key
from smartcustoms.runtime.air_queue import (
    CounterStateError,
    QueueDesk,
    TerminalClosed,
    TicketNotFound,
    TicketStateError,
)
from smartcustoms.runtime.services import EmbeddedRedis

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1_767_225_600.0  # a morning, unix seconds

    def __call__(self) -> float:
        return self.now


def _run(redis_url: str, body: Callable[[aioredis.Redis, str, Clock], Awaitable[None]]) -> None:
    namespace = f"aq{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await body(client, namespace, Clock())
        finally:
            await client.aclose()

    asyncio.run(main())


def test_a_day_at_the_counters(redis_service: EmbeddedRedis) -> None:
    async def body(client: aioredis.Redis, namespace: str, clock: Clock) -> None:
        desk = QueueDesk(client, namespace, clock=clock)
        first = await desk.take("general", 1800, "HK-1234")
        assert first["place"] == 1 and first["message"].startswith("No counter is open")
        await desk.open_counter("c1", "PO Lee")
        await desk.open_counter("c2", "PO Lee")
        tickets = [await desk.take(cargo, 600) for cargo in ("general", "express", "perishables")]
        order = [t["ticket_id"] for t in (await desk.board())["waiting"]]
        assert order == [
            tickets[2]["ticket_id"],
            tickets[1]["ticket_id"],
            first["ticket_id"],
            tickets[0]["ticket_id"],
        ]
        # officers call: perishables first, then express
        called = await desk.call_next("c1", "PO Lee")
        assert (
            called is not None
            and called["ticket_id"] == tickets[2]["ticket_id"]
            and called["status"] == "called"
        )
        assert (await desk.call_next("c2", "PO Lee"))["ticket_id"] == tickets[1]["ticket_id"]  # type: ignore[index]
        await desk.arrived("c1", "PO Lee")
        mine = await desk.view(first["ticket_id"])
        assert mine["place"] == 1 and mine["predicted_call_at"] > clock.now
        # c2's express driver never comes: skipped after the grace time, the counter calls the next ticket
        clock.now += 181
        await desk.sweep()
        skipped = await desk.view(tickets[1]["ticket_id"])
        assert skipped["status"] == "no_show" and "rejoin" in skipped["message"]
        assert (await desk.view(first["ticket_id"]))["status"] == "called"
        # ... rejoins once, at the back of its rank (ahead of general cargo), and not twice
        rejoined = await desk.rejoin(tickets[1]["ticket_id"])
        assert rejoined["status"] == "waiting" and rejoined["place"] == 1
        clock.now += 60
        await desk.arrived("c2", "PO Lee")
        await desk.call_next("c1", "PO Lee")  # perishables served in 241 s; the express ticket called
        clock.now += 181
        await desk.sweep()
        with pytest.raises(TicketStateError, match="rejoined once already"):
            await desk.rejoin(tickets[1]["ticket_id"])
        stats = await desk.stats()
        assert (
            stats["issued"] == 4 and stats["no_show"] == 2 and stats["rejoined"] == 1 and stats["served"] == 1
        )
        events = await desk.take_events()
        kinds = [e["event"] for e in events]
        assert kinds.count("issued") == 4 and "no_show" in kinds and "counter_opened" in kinds
        assert all(isinstance(v, str) for e in events for v in e.values())
        assert await desk.take_events() == []
        audited = await client.lrange(audit_key(namespace, "pending"), 0, -1)
        assert any(b"counter_opened" in a for a in audited) and any(b"PO Lee" in a for a in audited)

    _run(redis_service.url, body)


def test_predictions_update_and_drivers_are_told_to_set_off(redis_service: EmbeddedRedis) -> None:
    async def body(client: aioredis.Redis, namespace: str, clock: Clock) -> None:
        desk = QueueDesk(client, namespace, clock=clock)
        await desk.open_counter("c1", "PO Lee")
        for _ in range(6):  # the day's history: 6 general cargo collections of 10 minutes
            await desk.take("general", 0)
            await desk.call_next("c1", "PO Lee")
            await desk.arrived("c1", "PO Lee")
            clock.now += 600
        await desk.call_next("c1", "PO Lee")  # counter idle now
        far = [await desk.take("general", 1200) for _ in range(5)]
        last = far[-1]
        assert last["place"] == 5
        # five tickets ahead of it with one idle counter: called after about 4 x 600 s
        assert 1800 < last["predicted_call_at"] - clock.now < 3000
        assert not last["set_off_now"]
        await desk.call_next("c1", "PO Lee")
        clock.now += 600
        later = await desk.view(last["ticket_id"])
        assert later["place"] == 4 and later["predicted_call_at"] < last["predicted_call_at"] + 600
        await desk.open_counter("c2", "PO Lee")
        sooner = await desk.view(last["ticket_id"])
        assert sooner["predicted_call_at"] < later["predicted_call_at"]
        assert sooner["set_off_now"] and sooner["message"] == "Set off now."
        await desk.sweep()
        kinds = [e["event"] for e in await desk.take_events()]
        assert "set_off" in kinds

    _run(redis_service.url, body)


def test_bad_input_is_a_clear_error_and_changes_nothing(redis_service: EmbeddedRedis) -> None:
    async def body(client: aioredis.Redis, namespace: str, clock: Clock) -> None:
        desk = QueueDesk(client, namespace, clock=clock)
        await desk.open_counter("c1", "PO Lee")
        kept = await desk.take("express", 300)
        gone = await desk.take("general", 300)
        await desk.cancel(gone["ticket_id"])
        before = (await desk.board(), await desk.stats())
        with pytest.raises(QueueError, match="unknown cargo type 'frozen'"):
            await desk.take("frozen", 300)
        with pytest.raises(QueueError, match="travel time"):
            await desk.take("general", -5)
        with pytest.raises(TicketNotFound, match="no ticket 'nope'"):
            await desk.view("nope")
        with pytest.raises(TicketStateError, match="cancelled"):
            await desk.call_next("c1", "PO Lee", gone["ticket_id"])
        with pytest.raises(TicketStateError, match="cancelled"):
            await desk.cancel(gone["ticket_id"])
        with pytest.raises(CounterStateError, match="no counter 'c9'"):
            await desk.call_next("c9", "PO Lee")
        with pytest.raises(QueueError, match="counter id"):
            await desk.open_counter("c 1; drop", "PO Lee")
        assert (await desk.board(), await desk.stats()) == before
        await desk.set_terminal(False, "PO Lee")
        with pytest.raises(TerminalClosed, match="terminal is closed"):
            await desk.take("general", 300)
        assert (await desk.view(kept["ticket_id"]))["status"] == "waiting"  # tickets already taken stay

    _run(redis_service.url, body)


def test_a_new_desk_on_the_same_redis_loses_no_ticket(redis_service: EmbeddedRedis) -> None:
    async def body(client: aioredis.Redis, namespace: str, clock: Clock) -> None:
        desk = QueueDesk(client, namespace, clock=clock)
        await desk.open_counter("c1", "PO Lee")
        taken = [await desk.take(cargo, 900) for cargo in ("general", "dangerous_goods", "general")]
        await desk.call_next("c1", "PO Lee")
        board = await desk.board()
        del desk
        other = aioredis.Redis.from_url(redis_service.url)
        try:
            restarted = QueueDesk(other, namespace, clock=clock)
            assert await restarted.board() == board
            assert [(await restarted.view(t["ticket_id"]))["status"] for t in taken] == [
                "waiting",
                "called",
                "waiting",
            ]
            await restarted.call_next("c1", "PO Lee")
            assert (await restarted.view(taken[0]["ticket_id"]))["status"] == "called"
        finally:
            await other.aclose()

    _run(redis_service.url, body)


def test_concurrent_tickets_all_land(redis_service: EmbeddedRedis) -> None:
    async def body(client: aioredis.Redis, namespace: str, clock: Clock) -> None:
        desks = [QueueDesk(client, namespace, clock=clock) for _ in range(4)]
        taken = await asyncio.gather(*(desks[i % 4].take("general", 60) for i in range(20)))
        board = await desks[0].board()
        assert len(board["waiting"]) == 20
        assert sorted(t["number"] for t in taken) == list(range(1, 21))

    _run(redis_service.url, body)


def test_priorities_are_configurable_and_the_http_api_answers_in_one_line(
    redis_service: EmbeddedRedis,
) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from smartcustoms.runtime.air_queue_page import add_routes

    async def body(client: aioredis.Redis, namespace: str, clock: Clock) -> None:
        desk = QueueDesk(client, namespace, clock=clock)
        general = await desk.take("general", 60)
        express = await desk.take("express", 60)
        app = web.Application()
        add_routes(app, desk)
        async with TestClient(TestServer(app)) as http:
            reply = await http.post(
                "/api/queue/settings",
                json={
                    "officer": "SO Wong",
                    "priorities": {"general": 0, "express": 2, "perishables": 1, "dangerous_goods": 1},
                },
            )
            assert reply.status == 200 and (await reply.json())["priorities"]["general"] == 0
            waiting = [t["ticket_id"] for t in (await (await http.get("/api/queue/board")).json())["waiting"]]
            assert waiting == [general["ticket_id"], express["ticket_id"]]  # re-ranked
            for method, url, payload, status, text in (
                ("post", "/api/queue/tickets", {"cargo_type": "frozen"}, 400, "unknown cargo type 'frozen'"),
                (
                    "post",
                    "/api/queue/tickets",
                    {"cargo_type": "general", "travel_min": "soon"},
                    400,
                    "number",
                ),
                ("post", "/api/queue/tickets", [], 400, "JSON object"),
                ("get", "/api/queue/tickets/nope", None, 404, "no ticket 'nope'"),
                ("post", "/api/queue/counters/c1/call", {"officer": "SO Wong"}, 409, "no counter 'c1'"),
                ("post", "/api/queue/counters/c1/open", {}, 400, "which officer"),
                ("post", "/api/queue/counters/c1/dance", {"officer": "x"}, 404, "no counter action"),
                ("post", "/api/queue/settings", {"officer": "x", "grace_s": 5}, 400, "grace_s must be"),
                (
                    "post",
                    "/api/queue/settings",
                    {"officer": "x", "priorities": {"express": 0}},
                    400,
                    "are waiting",
                ),
                ("post", "/api/queue/terminal", {"officer": "x", "open": "no"}, 400, "true or false"),
            ):
                reply = await (
                    getattr(http, method)(url, json=payload) if payload is not None else http.get(url)
                )
                assert (reply.status, "\n" in await reply.text()) == (status, False), url
                assert text in await reply.text(), url
            await http.post(f"/api/queue/tickets/{general['ticket_id']}/cancel")
            reply = await http.post("/api/queue/counters/c1/open", json={"officer": "SO Wong"})
            reply = await http.post(
                "/api/queue/counters/c1/call", json={"officer": "SO Wong", "ticket_id": general["ticket_id"]}
            )
            assert (reply.status, await reply.text()) == (
                409,
                "ticket G001 is cancelled: only a waiting ticket is called",
            )
            assert (await (await http.get("/queue")).text()).startswith("<!doctype html>")

    _run(redis_service.url, body)


def test_queue_cli_shows_and_changes_settings_and_the_board(
    redis_service: EmbeddedRedis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from smartcustoms.core import config as config_module
    from smartcustoms.runtime.cli import main

    config = config_module.load(environ={})
    config.redis.url = redis_service.url
    config.namespace = f"aq{uuid.uuid4().hex[:8]}"
    path = tmp_path / "config.json"
    path.write_text(config.to_json())

    def run(*argv: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as done:
            main(["--config", str(path), "queue", *argv])
        out, err = capsys.readouterr()
        return int(done.value.code or 0), out, err

    code, out, _ = run("settings")
    assert code == 0 and "perishables 0, dangerous_goods 1, express 2, general 3" in out
    code, out, _ = run("settings", "--priority", "express=0", "--grace-s", "240", "--officer", "SO Wong")
    assert code == 0 and "express 0, perishables 0" in out and "grace 240 s" in out
    assert run("settings", "--priority", "express=first", "--officer", "x")[:2] == (2, "")
    code, _, err = run("settings", "--grace-s", "1", "--officer", "x")
    assert code == 2 and err.count("\n") == 1 and "grace_s must be a number from 30" in err
    assert run("settings", "--grace-s", "60")[0] == 2  # who changes them?
    code, out, _ = run("board")
    assert code == 0 and out.startswith("terminal open")
