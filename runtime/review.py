"""Alert review for officers: the ReviewService over gRPC and a small web page, both in the gateway
process, both backed by the ledger. An officer sees each alert with its frame and the detections
drawn on it, and confirms or clears it; the decision is stored with the verdict."""

from __future__ import annotations

from importlib import resources
from typing import Any

import grpc
from aiohttp import web
from google.protobuf.json_format import MessageToDict

from smartcustoms.runtime.ledger import Ledger
from smartcustoms.runtime.officer_auth import SESSION_KEY, GrpcGate
from smartcustoms.v1 import frame_pb2, results_pb2, review_pb2, review_pb2_grpc

OUTCOMES = {
    "confirmed": results_pb2.ADJUDICATION_OUTCOME_CONFIRMED,
    "cleared": results_pb2.ADJUDICATION_OUTCOME_CLEARED,
}
DEFAULT_LIMIT = 100


class ReviewDesk:
    """What both front doors do: list alerts with their verdicts, record decisions."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def items(self, limit: int) -> list[review_pb2.ReviewItem]:
        items = []
        for alert in await self.ledger.alerts(limit or DEFAULT_LIMIT):
            verdict = await self.ledger.verdict(alert.frame_id)
            items.append(review_pb2.ReviewItem(alert=alert, verdict=verdict))
        return items

    async def adjudicate(
        self, frame_id: str, outcome: int, officer: str, note: str, *, may_change: bool = True
    ) -> results_pb2.Verdict:
        """LookupError: no such frame; ValueError: nothing to adjudicate or a missing field;
        PermissionError: the alert is decided already and ``may_change`` is False (not a supervisor)."""
        if outcome not in OUTCOMES.values():
            raise ValueError("outcome must be confirmed or cleared")
        if not officer.strip():
            raise ValueError("the officer who decides must be named")
        if not may_change and await self.decided(frame_id):
            raise PermissionError("changing an earlier decision takes the supervisor role")
        return await self.ledger.adjudicate(frame_id, outcome, officer.strip(), note)

    async def decided(self, frame_id: str) -> bool:
        verdict = await self.ledger.verdict(frame_id)
        return verdict is not None and verdict.HasField("adjudication")


class ReviewServicer(review_pb2_grpc.ReviewServiceServicer):
    """``smartcustoms.v1.ReviewService``."""

    def __init__(self, desk: ReviewDesk, gate: GrpcGate | None = None) -> None:
        self.desk = desk
        self.gate = gate  # None: officer_auth is off and the request names the officer

    async def ListAlerts(
        self, request: review_pb2.ListAlertsRequest, context: grpc.aio.ServicerContext
    ) -> review_pb2.ListAlertsResponse:
        if self.gate is not None:
            await self.gate.officer(context)
        return review_pb2.ListAlertsResponse(items=await self.desk.items(request.limit))

    async def Adjudicate(
        self, request: review_pb2.AdjudicateRequest, context: grpc.aio.ServicerContext
    ) -> results_pb2.Verdict:
        officer, may_change = request.officer, True
        if self.gate is not None:  # the recorded officer is the one logged in, whatever the request says
            session = await self.gate.officer(context)
            officer, may_change = session.name, session.account.may("supervisor")
        try:
            return await self.desk.adjudicate(
                request.frame_id, request.outcome, officer, request.note, may_change=may_change
            )
        except LookupError as error:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        except PermissionError as error:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(error))
        except ValueError as error:
            code = (
                grpc.StatusCode.FAILED_PRECONDITION
                if "cleared" in str(error)
                else grpc.StatusCode.INVALID_ARGUMENT
            )
            await context.abort(code, str(error))
        raise AssertionError("unreachable: abort raises")


def item_json(item: review_pb2.ReviewItem, preview: dict[str, Any] | None) -> dict[str, Any]:
    """One alert as the page needs it: detections with their regions, preview geometry, decision."""
    verdict = item.verdict
    detections = []
    for detection in item.alert.detections:
        entry: dict[str, Any] = {
            "label": detection.label,
            "score": round(detection.score, 3),
            "explanation": detection.explanation,
            "plugin": detection.plugin,
            "attributes": dict(detection.attributes),
            "box": None,
            "volume": None,
        }
        if detection.HasField("box"):
            b = detection.box
            entry["box"] = [b.x_min, b.y_min, b.x_max, b.y_max]
        if detection.HasField("volume"):
            v = detection.volume
            entry["volume"] = [v.x_min, v.y_min, v.z_min, v.x_max, v.y_max, v.z_max]
        detections.append(entry)
    adjudication = None
    if verdict.HasField("adjudication"):
        adjudication = _adjudication(verdict.adjudication)
        adjudication["earlier"] = [_adjudication(a) for a in verdict.earlier_adjudications]
    return {
        "frame_id": item.alert.frame_id,
        "source_id": item.alert.source_id,
        "conveyance_id": item.alert.conveyance_id,
        "summary": item.alert.summary,
        "decision": results_pb2.Decision.Name(item.alert.decision).removeprefix("DECISION_").lower(),
        "raised_time": item.alert.raised_time.ToJsonString(),
        "detections": detections,
        "modality": frame_pb2.Modality.Name(verdict.modality).removeprefix("MODALITY_").lower(),
        "fallback_reason": verdict.fallback_reason,
        "preview": preview,
        "adjudication": adjudication,
    }


def _adjudication(adjudication: results_pb2.Adjudication) -> dict[str, Any]:
    entry = MessageToDict(adjudication)
    name = results_pb2.AdjudicationOutcome.Name(adjudication.outcome)
    entry["outcome"] = name.removeprefix("ADJUDICATION_OUTCOME_").lower()
    return entry


def web_app(desk: ReviewDesk) -> web.Application:
    """The review page, its JSON API and the frame previews."""
    routes = web.RouteTableDef()
    page = resources.files("smartcustoms.runtime").joinpath("review.html").read_text()

    @routes.get("/")
    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    @routes.get("/api/alerts")
    async def alerts(request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", DEFAULT_LIMIT))
        payload = []
        for item in await desk.items(limit):
            shown = await desk.ledger.preview(item.alert.frame_id)
            geometry = None if shown is None else {"scale": shown.scale, "slice": shown.slice_index}
            payload.append(item_json(item, geometry))
        return web.json_response(payload)

    @routes.get("/preview/{frame_id}")
    async def preview(request: web.Request) -> web.Response:
        shown = await desk.ledger.preview(request.match_info["frame_id"])
        if shown is None:
            raise web.HTTPNotFound(text="no preview for this frame")
        return web.Response(body=shown.data, content_type=shown.content_type)

    @routes.post("/api/alerts/{frame_id}/adjudication")
    async def adjudicate(request: web.Request) -> web.Response:
        body = await request.json()
        frame_id = request.match_info["frame_id"]
        session = request.get(SESSION_KEY)  # with officer_auth on, "officer" is the session's account
        try:
            verdict = await desk.adjudicate(
                frame_id,
                OUTCOMES.get(str(body.get("outcome")), 0),
                str(body.get("officer", "")),
                str(body.get("note", "")),
                may_change=session is None or session.account.may("supervisor"),
            )
        except LookupError as error:
            raise web.HTTPNotFound(text=str(error)) from None
        except PermissionError as error:
            raise web.HTTPForbidden(text=str(error)) from None
        except ValueError as error:
            status = web.HTTPConflict if "cleared" in str(error) else web.HTTPBadRequest
            raise status(text=str(error)) from None
        return web.json_response({"frame_id": frame_id, "adjudication": MessageToDict(verdict.adjudication)})

    app = web.Application()
    app.add_routes(routes)
    return app
