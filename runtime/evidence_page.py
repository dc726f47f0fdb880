"""The evidence page: ``/evidence`` beside the alert review page, and its JSON API over the
``EvidenceDesk``. Refusals come back as 400 with one line of text, Redis down as 503."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict
from importlib import resources
from typing import Any

import redis
from aiohttp import web

from smartcustoms.plugins.evidence.custody import CustodyError
from smartcustoms.runtime.evidence import EvidenceDesk


def add_routes(app: web.Application, desk: EvidenceDesk) -> None:
    routes = web.RouteTableDef()
    page = resources.files("smartcustoms.runtime").joinpath("evidence.html").read_text()

    @routes.get("/evidence")
    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    @routes.post("/api/evidence/items")
    async def register(request: web.Request) -> web.Response:
        body = await _json_body(request)
        fields: dict[str, Any] = {
            k: _text(body, k)
            for k in (
                "case",
                "description",
                "officer",
                "epc_hex",
                "company_prefix",
                "item_reference",
                "slot",
                "retrieval_due",
            )
        }
        fields |= {"serial": _whole(body, "serial", 0), "size": _whole(body, "size", 1)}
        return await _answer(desk.register, **fields)

    @routes.post("/api/evidence/orders")
    async def order(request: web.Request) -> web.Response:
        body = await _json_body(request)
        fields: dict[str, Any] = {
            k: _text(body, k) for k in ("order_id", "action", "epc_hex", "reason", "to_zone", "purpose")
        }
        officers = body.get("officers", [])
        if not isinstance(officers, list) or not all(isinstance(o, str) for o in officers):
            raise web.HTTPBadRequest(text="officers must be a list of names")
        return await _answer(desk.order, officers=officers, **fields)

    @routes.get("/api/evidence/locate")
    async def locate(request: web.Request) -> web.Response:
        query = {
            k: request.query.get(q, "") for k, q in (("epc_hex", "epc"), ("case", "case"), ("zone", "zone"))
        }
        return await _answer(desk.locate, **query)

    @routes.get("/api/evidence/stocktake")
    async def stocktake(request: web.Request) -> web.Response:
        lines, undecodable = await _call(
            desk.stock_take, zone=request.query.get("zone", ""), case=request.query.get("case", "")
        )
        return web.json_response(
            {"zones": [asdict(line) for line in lines], "undecodable_reads": undecodable}
        )

    @routes.get("/api/evidence/suggest")
    async def suggest(request: web.Request) -> web.Response:
        size = _whole(dict(request.query), "size", 1)
        slot, reason = await _call(
            desk.suggest,
            case=request.query.get("case", ""),
            size=size,
            retrieval_due=request.query.get("due", ""),
        )
        return web.json_response({"slot": slot, "reason": reason})

    app.add_routes(routes)


async def _call(function: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return await asyncio.to_thread(function, **kwargs)
    except CustodyError as error:
        raise web.HTTPBadRequest(text=str(error)) from None
    except redis.RedisError as error:
        raise web.HTTPServiceUnavailable(text=f"Redis: {error}") from None


async def _answer(function: Callable[..., Any], **kwargs: Any) -> web.Response:
    return web.json_response(await _call(function, **kwargs))


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the request body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise web.HTTPBadRequest(text=f"{name} must be text")
    return value


def _whole(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if value in ("", None):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise web.HTTPBadRequest(text=f"{name} must be a whole number") from None
    if number < 0:
        raise web.HTTPBadRequest(text=f"{name} must not be negative")
    return number
