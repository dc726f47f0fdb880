"""The air cargo queue's pages on the gateway's review web app: ``/queue`` for drivers (a phone page:
take a ticket, follow it live, cancel, rejoin after a no-show) and ``/queue/officer`` for the counters
(open, close, call next, mark arrived), with their JSON API and server-sent events (``.../events``)
that push a ticket's or the board's new state as the queue moves. Errors come back as 400 / 404 / 409 /
503 with one line of text.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from smartcustoms.core.air_queue import QueueError
from smartcustoms.runtime.air_queue import (
    CounterStateError,
    QueueDesk,
    TerminalClosed,
    TicketNotFound,
    TicketStateError,
)
from smartcustoms.runtime.air_queue_service import WATCH_POLL_S, watch_ticket

HTTP_STATUS: tuple[tuple[type[Exception], type[web.HTTPException]], ...] = (
    (TicketNotFound, web.HTTPNotFound),
    (TerminalClosed, web.HTTPConflict),
    (TicketStateError, web.HTTPConflict),
    (CounterStateError, web.HTTPConflict),
    (QueueError, web.HTTPBadRequest),
    (RedisError, web.HTTPServiceUnavailable),
)
ERRORS = tuple(kind for kind, _ in HTTP_STATUS)
BOARD_REFRESH_S = 5.0


def _error(error: Exception) -> web.HTTPException:
    status = next(status for kind, status in HTTP_STATUS if isinstance(error, kind))
    return status(text=(str(error).splitlines() or [type(error).__name__])[0])


async def _answer(work: Awaitable[Any]) -> web.Response:
    try:
        return web.json_response(await work)
    except ERRORS as error:
        raise _error(error) from None


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.body_exists else {}  # body_exists: read before or not
    except ValueError:
        raise web.HTTPBadRequest(text="the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the request body must be a JSON object")
    return body


def _number(body: dict[str, Any], name: str) -> float:
    value = body.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise web.HTTPBadRequest(text=f"{name} must be a number")
    try:
        return float(value)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be a number") from None


def _officer(body: dict[str, Any]) -> str:
    officer = str(body.get("officer", "")).strip()
    if not officer:
        raise web.HTTPBadRequest(text="say which officer acts (officer)")
    return officer[:64]


def add_routes(app: web.Application, desk: QueueDesk) -> None:
    """The pages and the API (the pages read only the API)."""
    routes = web.RouteTableDef()
    folder = resources.files("smartcustoms.runtime")
    driver_page = folder.joinpath("air_queue.html").read_text()
    officer_page = folder.joinpath("air_queue_officer.html").read_text()
    closing = asyncio.Event()

    async def on_shutdown(app: web.Application) -> None:
        closing.set()  # live streams end, so the site stops within its drain time

    app.on_shutdown.append(on_shutdown)

    @routes.get("/queue")
    async def driver(request: web.Request) -> web.Response:
        return web.Response(text=driver_page, content_type="text/html")

    @routes.get("/queue/officer")
    async def officer(request: web.Request) -> web.Response:
        return web.Response(text=officer_page, content_type="text/html")

    @routes.get("/api/queue/board")
    async def board(request: web.Request) -> web.Response:
        return await _answer(desk.board())

    @routes.post("/api/queue/tickets")
    async def take(request: web.Request) -> web.Response:
        body = await _body(request)
        travel_s = _number(body, "travel_s") if "travel_s" in body else 60 * _number(body, "travel_min")
        return await _answer(
            desk.take(str(body.get("cargo_type", "")), travel_s, str(body.get("driver", "")))
        )

    @routes.get("/api/queue/tickets/{ticket_id}")
    async def show(request: web.Request) -> web.Response:
        return await _answer(desk.view(request.match_info["ticket_id"]))

    @routes.post("/api/queue/tickets/{ticket_id}/cancel")
    async def cancel(request: web.Request) -> web.Response:
        return await _answer(desk.cancel(request.match_info["ticket_id"]))

    @routes.post("/api/queue/tickets/{ticket_id}/rejoin")
    async def rejoin(request: web.Request) -> web.Response:
        return await _answer(desk.rejoin(request.match_info["ticket_id"]))

    @routes.get("/api/queue/tickets/{ticket_id}/events")
    async def ticket_events(request: web.Request) -> web.StreamResponse:
        return await _stream(request, closing, _ticket_updates(desk, request.match_info["ticket_id"]))

    @routes.get("/api/queue/board/events")
    async def board_events(request: web.Request) -> web.StreamResponse:
        return await _stream(request, closing, _board_updates(desk))

    @routes.post("/api/queue/terminal")
    async def terminal(request: web.Request) -> web.Response:
        body = await _body(request)
        if not isinstance(body.get("open"), bool):
            raise web.HTTPBadRequest(text="open must be true or false")
        return await _answer(_then_board(desk, desk.set_terminal(body["open"], _officer(body))))

    @routes.get("/api/queue/settings")
    async def settings(request: web.Request) -> web.Response:
        return web.json_response((await desk.board())["settings"])

    @routes.post("/api/queue/settings")
    async def configure(request: web.Request) -> web.Response:
        body = await _body(request)
        officer = _officer(body)
        changes = {k: v for k, v in body.items() if k != "officer"}
        return await _answer(desk.configure(changes, officer))

    actions: dict[str, Callable[[str, str, str], Awaitable[object]]] = {
        "open": lambda counter, who, _: desk.open_counter(counter, who),
        "close": lambda counter, who, _: desk.close_counter(counter, who),
        "call": desk.call_next,
        "arrived": lambda counter, who, _: desk.arrived(counter, who),
    }

    @routes.post("/api/queue/counters/{counter_id}/{action}")
    async def counter(request: web.Request) -> web.Response:
        action = actions.get(request.match_info["action"])
        if action is None:
            raise web.HTTPNotFound(
                text=f"no counter action {request.match_info['action']!r} (open, close, call, arrived)"
            )
        body = await _body(request)
        work = action(request.match_info["counter_id"], _officer(body), str(body.get("ticket_id", "")))
        return await _answer(_then_board(desk, work))

    app.add_routes(routes)


async def _then_board(desk: QueueDesk, work: Awaitable[object]) -> dict[str, Any]:
    await work
    return await desk.board()


async def _ticket_updates(desk: QueueDesk, ticket_id: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    async for view in watch_ticket(desk, ticket_id):
        if isinstance(view, Exception):
            yield "error", {"message": str(view)}
            return
        yield "ticket", view


async def _board_updates(desk: QueueDesk) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    seen, sent_at = -1, 0.0
    loop = asyncio.get_running_loop()
    while True:
        version = await desk.version()
        if version != seen or loop.time() - sent_at > BOARD_REFRESH_S:
            seen, sent_at = version, loop.time()
            yield "board", await desk.board()
        await asyncio.sleep(WATCH_POLL_S)


async def _stream(
    request: web.Request, closing: asyncio.Event, updates: AsyncIterator[tuple[str, dict[str, Any]]]
) -> web.StreamResponse:
    """Server-sent events: each update as ``event: <name>`` with its JSON, until the client goes, the
    updates end or the site stops."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)

    async def pump() -> None:
        try:
            async for name, data in updates:
                await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        except (ConnectionResetError, RedisError):
            pass  # the client went away, or Redis did: the page reconnects

    pumping = asyncio.ensure_future(pump())
    stopping = asyncio.ensure_future(closing.wait())
    await asyncio.wait({pumping, stopping}, return_when=asyncio.FIRST_COMPLETED)
    for task in (pumping, stopping):
        task.cancel()
    await asyncio.gather(pumping, stopping, return_exceptions=True)
    return response
