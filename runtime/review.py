"""Alert review for officers: the ReviewService over gRPC and a small web page, both in the gateway
process, both backed by the ledger. An officer sees each alert with its frame and the detections
drawn on it, and confirms or clears it; the decision is stored with the verdict."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

import grpc
from aiohttp import web
from google.protobuf.json_format import MessageToDict

from smartcustoms.core.selections import OUTCOME_KIND, outcome_records
from smartcustoms.runtime.ledger import Ledger
from smartcustoms.runtime.officer_auth import SESSION_KEY, GrpcGate
from smartcustoms.runtime.record_sink import GatewayRecordSink, RecordSink, records_frame
from smartcustoms.v1 import frame_pb2, results_pb2, review_pb2, review_pb2_grpc

if TYPE_CHECKING:
    from smartcustoms.runtime.gateway import GatewayCore

log = logging.getLogger(__name__)

OUTCOME_SOURCE_ID = "review-desk"  # the source of the inspection outcome records the desk publishes
OUTCOMES = {
    "confirmed": results_pb2.ADJUDICATION_OUTCOME_CONFIRMED,
    "cleared": results_pb2.ADJUDICATION_OUTCOME_CLEARED,
}
DEFAULT_LIMIT = 100


class ReviewDesk:
    """What both front doors do: list alerts with their verdicts, record decisions.

    A decision on an alert that a risk plugin raised on a record frame also goes on the stream, as
    ``inspection_outcome`` records through ``outcomes`` (the gateway's ingest path): the selecting
    plugin adds what the inspection found to its history (cargo_risk: the importer's, declarant's,
    origin's and transit hub's hit rates and revenue).
    """

    def __init__(self, ledger: Ledger, outcomes: RecordSink | None = None, control_point: str = "") -> None:
        self.ledger = ledger
        self.outcomes = outcomes
        self.control_point = control_point

    async def items(self, limit: int) -> list[review_pb2.ReviewItem]:
        items = []
        for alert in await self.ledger.alerts(limit or DEFAULT_LIMIT):
            verdict = await self.ledger.verdict(alert.frame_id)
            items.append(review_pb2.ReviewItem(alert=alert, verdict=verdict))
        return items

    async def adjudicate(
        self,
        frame_id: str,
        outcome: int,
        officer: str,
        note: str,
        *,
        may_change: bool = True,
        record_outcomes: Sequence[results_pb2.RecordOutcome] = (),
    ) -> results_pb2.Verdict:
        """LookupError: no such frame; ValueError: nothing to adjudicate, a missing field or a record
        the alert did not select; PermissionError: the alert is decided already and ``may_change`` is
        False (not a supervisor). A decision stored whose outcome records could not be made durable is
        logged and still returned: the decision itself is kept."""
        if outcome not in OUTCOMES.values():
            raise ValueError("outcome must be confirmed or cleared")
        if not officer.strip():
            raise ValueError("the officer who decides must be named")
        if not may_change and await self.decided(frame_id):
            raise PermissionError("changing an earlier decision takes the supervisor role")
        verdict = await self.ledger.adjudicate(frame_id, outcome, officer.strip(), note, record_outcomes)
        records = outcome_records(verdict)
        if records and self.outcomes is not None:
            try:
                await self.outcomes.publish(outcome_frame(verdict, records, self.control_point))
            except Exception:  # the decision is stored; its records are what is lost, and said so
                log.exception("inspection outcomes of %s not published", frame_id)
        return verdict

    async def decided(self, frame_id: str) -> bool:
        verdict = await self.ledger.verdict(frame_id)
        return verdict is not None and verdict.HasField("adjudication")


def review_desk(core: GatewayCore) -> ReviewDesk:
    """The gateway's desk: decisions in its ledger, inspection outcomes through its ingest path."""
    return ReviewDesk(core.ledger, GatewayRecordSink(core), core.config.control_point)


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
                request.frame_id,
                request.outcome,
                officer,
                request.note,
                may_change=may_change,
                record_outcomes=request.record_outcomes,
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


def record_outcomes_json(items: object) -> list[results_pb2.RecordOutcome]:
    """``[{"record_id": ..., "hit": true, "revenue_found_hkd": 1200.0}, ...]`` from the page's JSON;
    ValueError for anything else."""
    if not isinstance(items, list):
        raise ValueError("record_outcomes must be a list")
    found = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("record_id"), str):
            raise ValueError("each record outcome needs a record_id")
        hit, revenue = item.get("hit", False), item.get("revenue_found_hkd", 0.0)
        if not isinstance(hit, bool) or isinstance(revenue, bool) or not isinstance(revenue, int | float):
            raise ValueError(f"record {item['record_id']!r}: hit must be true or false, revenue a number")
        found.append(
            results_pb2.RecordOutcome(record_id=item["record_id"], hit=hit, revenue_found_hkd=float(revenue))
        )
    return found


def outcome_frame(
    verdict: results_pb2.Verdict, records: Sequence[frame_pb2.Record], control_point: str = ""
) -> frame_pb2.Frame:
    """The record frame that carries one adjudication's ``inspection_outcome`` records, under an id of
    the alert's frame and the decision's revision (a changed decision is a frame of its own)."""
    return records_frame(
        f"outcome-{verdict.frame_id}-{len(verdict.earlier_adjudications)}",
        OUTCOME_SOURCE_ID,
        OUTCOME_KIND,
        records,
        control_point or verdict.control_point,
    )


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
    entry.pop("recordOutcomes", None)
    entry["record_outcomes"] = [
        {"record_id": o.record_id, "hit": o.hit, "revenue_found_hkd": o.revenue_found_hkd, "plugin": o.plugin}
        for o in adjudication.record_outcomes
    ]
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
            geometry = (
                None
                if shown is None
                else {"scale": shown.scale, "slice": shown.slice_index, "colour": bool(shown.colour)}
            )
            payload.append(item_json(item, geometry))
        return web.json_response(payload)

    @routes.get("/preview/{frame_id:.+}")
    async def preview(request: web.Request) -> web.Response:
        shown = await desk.ledger.preview(request.match_info["frame_id"])
        if shown is None:
            raise web.HTTPNotFound(text="no preview for this frame")
        if request.query.get("view") == "colour":  # the screeners' colour view of a dual-energy X-ray
            if not shown.colour:
                raise web.HTTPNotFound(text="no colour view for this frame (not a dual-energy X-ray)")
            return web.Response(body=shown.colour, content_type="image/png")
        return web.Response(body=shown.data, content_type=shown.content_type)

    @routes.post("/api/alerts/{frame_id:.+}/adjudication")
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
                record_outcomes=record_outcomes_json(body.get("record_outcomes", [])),
            )
        except LookupError as error:
            raise web.HTTPNotFound(text=str(error)) from None
        except PermissionError as error:
            raise web.HTTPForbidden(text=str(error)) from None
        except ValueError as error:
            status = web.HTTPConflict if "cleared" in str(error) else web.HTTPBadRequest
            raise status(text=str(error)) from None
        return web.json_response({"frame_id": frame_id, "adjudication": _adjudication(verdict.adjudication)})

    app = web.Application()
    app.add_routes(routes)
    return app
