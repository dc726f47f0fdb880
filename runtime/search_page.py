"""The search page: ``/search`` beside the alert review page, in the gateway's review web app, and its
JSON API over the same ``SearchDesk`` as the gRPC SearchService. Request bodies are the service's
request messages in protobuf JSON; errors come back as 400 / 404 / 409 / 503 with one line of text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, TypeVar

from aiohttp import web
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from google.protobuf.message import Message
from redis.exceptions import RedisError

from smartcustoms.runtime.ledger import Ledger
from smartcustoms.runtime.search import (
    DEFAULT_LIMIT,
    DESK_ERRORS,
    MAX_LIMIT,
    OUTCOMES,
    ReportExists,
    ReportNotFound,
    ReportStateError,
    RiskNotRecorded,
    SearchDesk,
    outcome_name,
)
from smartcustoms.v1 import search_pb2

RequestT = TypeVar("RequestT", bound=Message)


def report_json(report: search_pb2.SearchReport) -> dict[str, Any]:
    """A report as the page reads it: field names as in the proto, the outcome by its short name."""
    shown = MessageToDict(report, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    shown["outcome"] = outcome_name(report.outcome)
    return shown


async def flagged_crossings(desk: SearchDesk, ledger: Ledger, limit: int) -> list[dict[str, Any]]:
    """Crossings flagged in recent alerts: every detection naming a ``record_id`` and a ``plate_hk``
    in its attributes (as a vehicle risk plugin's do), with the report opened for it, if any."""
    flagged: list[dict[str, Any]] = []
    for alert in await ledger.alerts(limit):
        for detection in alert.detections:
            attributes = detection.attributes
            if not (attributes.get("record_id") and attributes.get("plate_hk")):
                continue
            flagged.append(
                {
                    "record_id": attributes["record_id"],
                    "plate_hk": attributes["plate_hk"],
                    "plate_mainland": attributes.get("plate_mainland", ""),
                    "control_point": attributes.get("crossing_point") or alert.control_point,
                    "frame_id": alert.frame_id,
                    "reason": f"{detection.label} ({detection.score:.2f}) {detection.explanation}".strip(),
                    "raised_time": alert.raised_time.ToJsonString(),
                }
            )
    reports = await desk.report_for_crossings([f["record_id"] for f in flagged])
    for crossing, report_id in zip(flagged, reports, strict=True):
        crossing["report_id"] = report_id
    return flagged


_HTTP_STATUS: tuple[tuple[type[Exception], type[web.HTTPException]], ...] = (
    (ReportNotFound, web.HTTPNotFound),
    (ReportExists, web.HTTPConflict),
    (ReportStateError, web.HTTPConflict),
    (RiskNotRecorded, web.HTTPServiceUnavailable),
    (ValueError, web.HTTPBadRequest),
    (RedisError, web.HTTPServiceUnavailable),
)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the request body must be a JSON object")
    return body


def add_routes(app: web.Application, desk: SearchDesk, ledger: Ledger) -> None:
    """The search page (``/search``, beside the alert review page) and its JSON API."""
    routes = web.RouteTableDef()
    page = resources.files("smartcustoms.runtime").joinpath("search.html").read_text()

    async def answer(work: Awaitable[search_pb2.SearchReport]) -> web.Response:
        try:
            return web.json_response(report_json(await work))
        except DESK_ERRORS as error:
            status = next(status for kind, status in _HTTP_STATUS if isinstance(error, kind))
            raise status(text=str(error)) from None

    @routes.get("/search")
    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    @routes.get("/api/search/flagged")
    async def flagged(request: web.Request) -> web.Response:
        return web.json_response(await flagged_crossings(desk, ledger, _limit(request, 200)))

    @routes.get("/api/search/reports")
    async def listing(request: web.Request) -> web.Response:
        found = await desk.reports(request.query.get("plate", ""), _limit(request, DEFAULT_LIMIT))
        return web.json_response([report_json(r) for r in found])

    @routes.get("/api/search/reports/{report_id}")
    async def show(request: web.Request) -> web.Response:
        return await answer(desk.get(request.match_info["report_id"]))

    @routes.post("/api/search/reports")
    async def open_report(request: web.Request) -> web.Response:
        body = await _json_body(request)
        return await answer(_parsed(body, search_pb2.OpenReportRequest(), desk.open))

    @routes.post("/api/search/reports/{report_id}/update")
    async def update(request: web.Request) -> web.Response:
        body = await _json_body(request) | {"report_id": request.match_info["report_id"]}
        return await answer(_parsed(body, search_pb2.UpdateReportRequest(), desk.update))

    @routes.post("/api/search/reports/{report_id}/close")
    async def close(request: web.Request) -> web.Response:
        body = await _json_body(request)
        outcome = OUTCOMES.get(str(body.pop("outcome", "")), search_pb2.SEARCH_OUTCOME_UNSPECIFIED)
        body |= {"report_id": request.match_info["report_id"], "outcome": outcome}
        return await answer(_parsed(body, search_pb2.CloseReportRequest(), desk.close))

    app.add_routes(routes)


async def _parsed(
    body: dict[str, Any], message: RequestT, work: Callable[[RequestT], Awaitable[search_pb2.SearchReport]]
) -> search_pb2.SearchReport:
    """``work`` on the request message ``body`` (proto JSON) parses to; ValueError if it does not."""
    try:
        parsed = ParseDict(body, message)
    except ParseError as error:
        raise ValueError(f"bad request: {error}") from None
    return await work(parsed)


def _limit(request: web.Request, default: int) -> int:
    try:
        return max(1, min(int(request.query.get("limit", default)), MAX_LIMIT))
    except ValueError:
        raise web.HTTPBadRequest(text="limit must be a whole number") from None
