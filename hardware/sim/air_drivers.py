"""Simulated drivers and counter officers at the air cargo terminal, over the gRPC QueueService.

A device for the demo: it opens two counters, then ``rate_hz`` times a second either a driver takes a
ticket (cargo types mixed as at the terminal, a travel estimate of 5-60 minutes), or an officer calls the
next ticket at a counter (first marking the driver called before as arrived, except now and then: that
driver is a no-show, skipped when the counter calls again), or a driver cancels.
It takes at least ``MIN_STEPS`` steps however late it starts.
At the end the drivers still waiting go home (cancel) and the counters close, so the queue is empty and
its last events are published before the device returns (the gateway publishes them every second).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import grpc

from smartcustoms.hardware.sdk.stream import open_channel
from smartcustoms.v1 import queue_pb2, queue_pb2_grpc

if TYPE_CHECKING:
    from smartcustoms.hardware.sim.devices import DeviceStats

CARGO_MIX = (("general", 0.6), ("express", 0.2), ("perishables", 0.12), ("dangerous_goods", 0.08))
COUNTERS = ("demo-1", "demo-2")
OFFICER = "demo officer"
NO_SHOW_SHARE = 0.1
Send = Callable[[str, object], Awaitable[object | None]]  # (method, request) -> reply, None if refused
SETTLE_S = 1.5  # the gateway publishes queue events every second: let the last ones go
MIN_STEPS = 12  # even on a machine so loaded that the time is up before the first step


async def run_drivers(
    target: str,
    stop_at: float,
    rate_hz: float = 1.0,
    seed: int = 1,
    source_id: str = "air-cargo-drivers",
    *,
    max_frames: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    officer_token: str = "",
) -> DeviceStats:
    """Drive the queue until ``stop_at``; ``sent`` counts requests, ``accepted`` those answered OK. The
    counter officers' calls carry ``officer_token`` (a session, when the gateway wants officers to log in)."""
    from smartcustoms.hardware.sim.devices import DeviceStats

    if rate_hz <= 0:
        raise ValueError("rate_hz must be positive")
    rng, stats, started = random.Random(seed), DeviceStats(source_id), time.monotonic()
    mine: list[str] = []
    metadata = (("authorization", f"Bearer {officer_token}"),) if officer_token else ()
    async with open_channel(target, credentials) as channel:
        stub = queue_pb2_grpc.QueueServiceStub(channel)  # type: ignore[no-untyped-call]  # generated, untyped

        async def call(method: str, request: object) -> object | None:
            stats.sent += 1
            try:
                reply: object = await getattr(stub, method)(request, timeout=10, metadata=metadata)
            except grpc.aio.AioRpcError:
                stats.rejected += 1
                return None
            stats.accepted += 1
            return reply

        board = None
        for counter in COUNTERS:
            board = await call("OpenCounter", queue_pb2.CounterRequest(counter_id=counter, officer=OFFICER))
        steps = 0
        while (time.monotonic() < stop_at - SETTLE_S or steps < MIN_STEPS) and (
            max_frames is None or stats.sent < max_frames
        ):
            board = await _step(rng, call, board, mine) or board
            steps += 1
            await asyncio.sleep(max(0.0, started + stats.sent / rate_hz - time.monotonic()))
        board = await call("GetBoard", queue_pb2.GetBoardRequest())
        if isinstance(board, queue_pb2.QueueBoard):
            for ticket in board.waiting:
                if ticket.ticket_id in mine:
                    await call("CancelTicket", queue_pb2.TicketRequest(ticket_id=ticket.ticket_id))
        for counter in COUNTERS:
            await call("CloseCounter", queue_pb2.CounterRequest(counter_id=counter, officer=OFFICER))
        await asyncio.sleep(SETTLE_S)
    return stats


async def _step(rng: random.Random, send: Send, board: object, mine: list[str]) -> object | None:
    """One action chosen from the board as last seen; the new board it answered (None: none)."""
    waiting = list(board.waiting) if isinstance(board, queue_pb2.QueueBoard) else []
    counters = list(board.counters) if isinstance(board, queue_pb2.QueueBoard) else []
    roll = rng.random()
    if roll < 0.45 or not waiting:
        cargo = rng.choices([c for c, _ in CARGO_MIX], [w for _, w in CARGO_MIX])[0]
        ticket = await send(
            "TakeTicket", queue_pb2.TakeTicketRequest(cargo_type=cargo, travel_s=rng.uniform(300, 3600))
        )
        if isinstance(ticket, queue_pb2.QueueTicket):
            mine.append(ticket.ticket_id)
        return await send("GetBoard", queue_pb2.GetBoardRequest())
    if roll < 0.9:
        counter = rng.choice([c for c in counters if c.open]) if any(c.open for c in counters) else None
        if counter is None:
            return None
        if counter.ticket.status == "called" and rng.random() > NO_SHOW_SHARE:
            await send(
                "MarkArrived", queue_pb2.CounterRequest(counter_id=counter.counter_id, officer=OFFICER)
            )
        return await send(
            "CallNext", queue_pb2.CounterRequest(counter_id=counter.counter_id, officer=OFFICER)
        )
    ticket = rng.choice(waiting)
    await send("CancelTicket", queue_pb2.TicketRequest(ticket_id=ticket.ticket_id))
    return await send("GetBoard", queue_pb2.GetBoardRequest())
