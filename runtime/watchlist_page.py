"""The watchlist page: ``/watchlist`` beside the vehicle search reports, and its JSON API over the
vehicle_risk plugin's watchlist (``plugins/vehicle_risk/watchlist.py``, the functions
``smartcustoms watchlist`` calls too: same keys, same checks, same audit events).

    GET  /api/watchlist          every entry: kind, id (plate or driver id hash), reason, officer, added_at
    POST /api/watchlist          {"kind": "plate" | "driver", "id", "reason"}: add or replace an entry
    POST /api/watchlist/remove   {"kind", "id"}: remove one

Reading takes a screener, adding and removing a supervisor (``officer_auth.ROLE_ROUTES``). The officer
recorded is the session's account; only with ``gateway.officer_auth`` off is it the ``officer`` the
request names. Every change goes into the audit trail in the same transaction, ``via: page``. Refusals
are 400 (bad input), 404 (not on the list) or 503 (Redis), with ``{"error": one line}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from importlib import resources
from typing import Any, TypeVar

from aiohttp import web
from redis.exceptions import RedisError

from smartcustoms.core.state import PluginState
from smartcustoms.plugins.vehicle_risk import watchlist
from smartcustoms.runtime.officer_auth import SESSION_KEY, json_object, refusal

T = TypeVar("T")


def entry_json(kind: str, watched_id: str, entry: watchlist.WatchEntry) -> dict[str, str]:
    return {
        "kind": kind,
        "id": watched_id,
        "reason": entry.reason,
        "officer": entry.officer,
        "added_at": entry.added_at,
    }


def add_routes(app: web.Application, state: PluginState, namespace: str) -> None:
    """``state`` is the vehicle_risk plugin's on Redis (synchronous: called from a thread; the search desk
    that shares it closes it)."""
    routes = web.RouteTableDef()
    page = resources.files("smartcustoms.runtime").joinpath("watchlist.html").read_text()
    audit = watchlist.Audit(namespace, "page")

    @routes.get("/watchlist")
    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    @routes.get("/api/watchlist")
    async def listing(request: web.Request) -> web.Response:
        found = await _off_loop(lambda: list(watchlist.entries(state)))
        return web.json_response([entry_json(*one) for one in found])

    @routes.post("/api/watchlist")
    async def add(request: web.Request) -> web.Response:
        body = await json_object(request)
        try:
            watched = watchlist.target(_text(body, "kind"), _text(body, "id"))
            entry = watchlist.WatchEntry.now(_text(body, "reason"), _officer(request, body))
        except ValueError as error:
            raise refusal(web.HTTPBadRequest, str(error)) from None
        await _off_loop(lambda: watchlist.add(state, entry, [watched], audit))
        return web.json_response(entry_json(watched.kind, watched.id, entry), status=201)

    @routes.post("/api/watchlist/remove")
    async def remove(request: web.Request) -> web.Response:
        body = await json_object(request)
        try:
            watched = watchlist.target(_text(body, "kind"), _text(body, "id"))
            officer = _officer(request, body)
        except ValueError as error:
            raise refusal(web.HTTPBadRequest, str(error)) from None
        removed = await _off_loop(lambda: watchlist.remove(state, [watched], officer, audit))
        if not removed:
            raise refusal(web.HTTPNotFound, f"{watched.kind} {watched.id} is not on the watchlist")
        [(_, entry)] = removed
        return web.json_response(entry_json(watched.kind, watched.id, entry) | {"removed_by": officer})

    app.add_routes(routes)


def _officer(request: web.Request, body: dict[str, Any]) -> str:
    """Who acts: the account logged in; the name the request gives only when officer login is off."""
    session = request.get(SESSION_KEY)
    name = session.name if session is not None else _text(body, "officer")
    if not name.strip():
        raise ValueError("the officer who makes the change must be named")
    return name.strip()


async def _off_loop(work: Callable[[], T]) -> T:
    """``work`` on the synchronous Redis client, in a thread; Redis down is 503."""
    try:
        return await asyncio.to_thread(work)
    except RedisError as error:
        raise refusal(web.HTTPServiceUnavailable, f"the watchlist cannot be reached: {error}") from None


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field, "")
    if not isinstance(value, str):
        raise ValueError(f"{field} must be text")
    return value
