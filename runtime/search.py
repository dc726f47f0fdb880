"""Electronic vehicle search reports: the ``SearchDesk`` over Redis and the gRPC SearchService, in the
gateway process; the search page (``search_page``) is a second front door to the same desk. With
officer login on, both front doors record the officer logged in (docs/security.md).

An officer opens a report for a flagged cross-boundary crossing (one report per crossing record),
ticks the search checklist, writes findings, records seized goods and closes it with an outcome.
Each report is one protobuf under ``search:report:<id>``; ``search:crossing:<record id>`` names the
report of a crossing, ``search:plate:<plate>`` (both plates) and ``search:recent`` index reports by
time opened. A closed report's outcome goes into the vehicle_risk plugin's keyed state, where that
plugin reads a plate's history:

- ``searches:<plate_hk>``: one event per closed report (value 1) at its close time;
- ``seizures:<plate_hk>``: one event per report with seized goods, valued at their duty in HKD;

both windows of 365 days, keyed by report id (writing again changes nothing).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

import grpc
import redis.asyncio as aioredis
from google.protobuf.timestamp_pb2 import Timestamp
from redis.exceptions import RedisError, WatchError

from smartcustoms.core.keys import plugin_state_prefix, redis_prefix
from smartcustoms.core.state import PluginState, open_state
from smartcustoms.plugins.vehicle_risk.history import searches_key, seizures_key
from smartcustoms.runtime.officer_auth import GrpcGate
from smartcustoms.v1 import search_pb2, search_pb2_grpc

log = logging.getLogger(__name__)

RISK_PLUGIN = "vehicle_risk"
RISK_WINDOW_S = 365 * 86400.0
DEFAULT_LIMIT = 20
MAX_LIMIT = 500

# What a private-car search covers; an update may add an item of its own.
CHECKLIST: tuple[tuple[str, str], ...] = (
    ("documents", "Driver's and vehicle documents"),
    ("occupants_luggage", "Occupants and their luggage"),
    ("cabin", "Cabin: seats, door panels, dashboard"),
    ("boot", "Boot and spare-wheel well"),
    ("engine_bay", "Engine bay"),
    ("underbody", "Underbody and wheel arches"),
    ("fuel_tank", "Fuel tank: level and modifications"),
    ("hidden_compartments", "Signs of hidden compartments"),
)

OUTCOMES = {
    "nothing_found": search_pb2.SEARCH_OUTCOME_NOTHING_FOUND,
    "goods_seized": search_pb2.SEARCH_OUTCOME_GOODS_SEIZED,
    "referred": search_pb2.SEARCH_OUTCOME_REFERRED,
}


class ReportNotFound(LookupError):
    """No report with this id."""


class ReportExists(Exception):
    """The crossing has a report already."""


class ReportStateError(Exception):
    """The report is closed, so nothing may change, or its seized goods contradict the outcome asked for."""


class RiskNotRecorded(Exception):
    """The report is closed, but its outcome could not be written to the risk history yet."""


def outcome_name(outcome: int) -> str:
    """``nothing_found``, ``goods_seized``, ``referred``, or ``open`` for a report not closed."""
    if outcome == search_pb2.SEARCH_OUTCOME_UNSPECIFIED:
        return "open"
    return search_pb2.SearchOutcome.Name(outcome).removeprefix("SEARCH_OUTCOME_").lower()


def normalise_plate(plate: str) -> str:
    """A plate as the crossing records write it: upper case, no spaces ("ab 1234" -> "AB1234")."""
    return "".join(plate.split()).upper()


# ---------------------------------------------------------------- what a report may become


def _officer(name: str) -> str:
    if not name.strip():
        raise ValueError("the officer must be named")
    return name.strip()


def _set_time(timestamp: Timestamp, at_s: float) -> None:
    timestamp.FromNanoseconds(round(at_s * 1e9))


def new_report(
    request: search_pb2.OpenReportRequest, report_id: str, now_s: float
) -> search_pb2.SearchReport:
    """A report as opened: the standard checklist, nothing checked. ValueError for a missing field."""
    officer = _officer(request.officer)
    plate_hk, plate_mainland = normalise_plate(request.plate_hk), normalise_plate(request.plate_mainland)
    if not plate_hk:
        raise ValueError("the Hong Kong plate must not be empty")
    if not (plate_hk + plate_mainland).isprintable():
        raise ValueError("a plate must not hold control characters")
    if not request.record_id.strip():
        raise ValueError("the crossing's record id must not be empty")
    report = search_pb2.SearchReport(
        report_id=report_id,
        record_id=request.record_id.strip(),
        plate_hk=plate_hk,
        plate_mainland=plate_mainland,
        control_point=request.control_point.strip(),
        frame_ids=_frame_ids([], request.frame_ids),
        opened_by=officer,
        checklist=[search_pb2.ChecklistItem(item=item, label=label) for item, label in CHECKLIST],
    )
    _set_time(report.opened_time, now_s)
    return report


def _frame_ids(kept: Sequence[str], added: Sequence[str]) -> list[str]:
    ids = list(kept)
    for frame_id in (f.strip() for f in added):
        if frame_id and frame_id not in ids:
            ids.append(frame_id)
    return ids


def apply_update(
    report: search_pb2.SearchReport, request: search_pb2.UpdateReportRequest, now_s: float
) -> None:
    """Apply an update to an open report, or raise (ValueError, ReportStateError) and change nothing."""
    officer = _officer(request.officer)
    _require_open(report)
    if not (request.checks or request.HasField("findings") or request.add_goods or request.add_frame_ids):
        raise ValueError("the update changes nothing: give checks, findings, goods or frame ids")
    for goods in request.add_goods:
        _check_goods(goods)
    for check in request.checks:
        if not check.item.strip():
            raise ValueError("a checklist item needs its id")
    for check in request.checks:
        _apply_check(report, check, officer, now_s)
    if request.HasField("findings"):
        report.findings = request.findings
    for goods in request.add_goods:
        added = report.seized_goods.add()
        added.CopyFrom(goods)
        added.description = goods.description.strip()
        added.unit = goods.unit.strip()
        added.officer = officer
        _set_time(added.recorded_time, now_s)
    report.seized_duty_hkd = math.fsum(g.estimated_duty_hkd for g in report.seized_goods)
    report.frame_ids[:] = _frame_ids(report.frame_ids, request.add_frame_ids)


def _check_goods(goods: search_pb2.SeizedGoods) -> None:
    if not goods.description.strip():
        raise ValueError("seized goods need a description")
    if not (math.isfinite(goods.quantity) and goods.quantity > 0):
        raise ValueError(
            f"the quantity of {goods.description.strip()!r} must be positive, got {goods.quantity:g}"
        )
    if not goods.unit.strip():
        raise ValueError(
            f"the quantity of {goods.description.strip()!r} needs a unit (carton, bottle, kg ...)"
        )
    if not (math.isfinite(goods.estimated_duty_hkd) and goods.estimated_duty_hkd >= 0):
        raise ValueError(f"the estimated duty must be zero or more HKD, got {goods.estimated_duty_hkd:g}")


def _apply_check(
    report: search_pb2.SearchReport, check: search_pb2.ChecklistItem, officer: str, now_s: float
) -> None:
    item_id = check.item.strip()
    item = next((i for i in report.checklist if i.item == item_id), None)
    if item is None:
        item = report.checklist.add(item=item_id, label=check.label.strip() or item_id)
    item.checked = check.checked
    item.note = check.note
    item.officer = officer
    _set_time(item.checked_time, now_s)


def _require_open(report: search_pb2.SearchReport) -> None:
    if report.outcome != search_pb2.SEARCH_OUTCOME_UNSPECIFIED:
        raise ReportStateError(
            f"report {report.report_id} was closed ({outcome_name(report.outcome)} by {report.closed_by}):"
            " it cannot change"
        )


def apply_close(
    report: search_pb2.SearchReport, request: search_pb2.CloseReportRequest, now_s: float
) -> None:
    """Close an open report with an outcome its goods agree with, or raise and change nothing."""
    officer = _officer(request.officer)
    if request.outcome not in OUTCOMES.values():
        raise ValueError(f"the outcome must be one of {', '.join(OUTCOMES)}")
    _require_open(report)
    if request.outcome == search_pb2.SEARCH_OUTCOME_GOODS_SEIZED and not report.seized_goods:
        raise ReportStateError(
            f"report {report.report_id} lists no seized goods: add them before closing as goods_seized"
        )
    if request.outcome == search_pb2.SEARCH_OUTCOME_NOTHING_FOUND and report.seized_goods:
        raise ReportStateError(
            f"report {report.report_id} lists seized goods: it cannot close as nothing_found"
        )
    report.outcome = request.outcome
    report.closed_by = officer
    report.close_note = request.note
    _set_time(report.closed_time, now_s)


def risk_events(report: search_pb2.SearchReport) -> list[tuple[str, str, float, float]]:
    """What a closed report adds to the risk history: (state key, event id, at_s, value)."""
    closed_at_s = report.closed_time.ToNanoseconds() / 1e9
    events = [(searches_key(report.plate_hk), report.report_id, closed_at_s, 1.0)]
    if report.seized_goods:
        events.append((seizures_key(report.plate_hk), report.report_id, closed_at_s, report.seized_duty_hkd))
    return events


# ---------------------------------------------------------------- Redis


_OPEN = """
-- KEYS: crossing, report, then the indexes (recent, each plate); ARGV: report id, report, opened_at_s
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
for i = 3, #KEYS do redis.call('ZADD', KEYS[i], ARGV[3], ARGV[1]) end
return false
"""


class SearchDesk:
    """What both front doors do: open, update, close, read and list reports.

    ``risk_state`` is the vehicle_risk plugin's keyed state (synchronous: written from a thread).
    """

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str,
        risk_state: PluginState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.prefix = f"{redis_prefix(namespace)}search:"
        self.risk_state = risk_state
        self.clock = clock
        self._open = client.register_script(_OPEN)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def open(self, request: search_pb2.OpenReportRequest) -> search_pb2.SearchReport:
        """ValueError for a missing field; ReportExists if the crossing has a report."""
        now_s = self.clock()
        report = new_report(request, f"sr-{uuid.uuid4().hex[:12]}", now_s)
        plates = {report.plate_hk, report.plate_mainland} - {""}
        keys = [
            self.key("crossing", report.record_id),
            self.key("report", report.report_id),
            self.key("recent"),
        ]
        keys += [self.key("plate", plate) for plate in sorted(plates)]
        existing = await self._open(keys=keys, args=[report.report_id, report.SerializeToString(), now_s])
        if existing is not None:
            raise ReportExists(f"crossing {report.record_id} has search report {_text(existing)} already")
        return report

    async def get(self, report_id: str) -> search_pb2.SearchReport:
        raw = await self.client.get(self.key("report", report_id))
        if raw is None:
            raise ReportNotFound(f"no search report {report_id}")
        return search_pb2.SearchReport.FromString(_raw(raw))

    async def report_for_crossings(self, record_ids: Sequence[str]) -> list[str | None]:
        """The report id of each crossing, or None where it has none."""
        if not record_ids:
            return []
        raw = await self.client.mget([self.key("crossing", r) for r in record_ids])
        return [None if r is None else _text(r) for r in raw]

    async def reports(self, plate: str, limit: int) -> list[search_pb2.SearchReport]:
        """Reports of a plate (either plate), or of every plate if empty, newest first."""
        limit = min(limit or DEFAULT_LIMIT, MAX_LIMIT)
        index = self.key("plate", normalise_plate(plate)) if plate.strip() else self.key("recent")
        ids = await self.client.zrevrange(index, 0, limit - 1)
        if not ids:
            return []
        raw = await self.client.mget([self.key("report", _text(i)) for i in ids])
        return [search_pb2.SearchReport.FromString(_raw(r)) for r in raw if r is not None]

    async def update(self, request: search_pb2.UpdateReportRequest) -> search_pb2.SearchReport:
        now_s = self.clock()
        return await self._change(request.report_id, lambda report: apply_update(report, request, now_s))

    async def close(self, request: search_pb2.CloseReportRequest) -> search_pb2.SearchReport:
        """Close, then add the outcome to the risk history (RiskNotRecorded if that fails).

        Closing a report again whose outcome is not yet in the risk history (same outcome) retries it.
        """
        now_s = self.clock()
        try:
            report = await self._change(request.report_id, lambda report: apply_close(report, request, now_s))
        except ReportStateError:
            report = await self.get(request.report_id)
            if report.risk_recorded or report.outcome != request.outcome:
                raise
        return await self._record_risk(report)

    async def _record_risk(self, report: search_pb2.SearchReport) -> search_pb2.SearchReport:
        events = risk_events(report)
        try:
            await asyncio.to_thread(self._write_risk, events)
        except RedisError as error:
            log.warning("search report %s closed; risk history not written: %r", report.report_id, error)
            raise RiskNotRecorded(
                f"report {report.report_id} is closed, but its outcome is not in the risk history yet"
                f" ({error}): close it again with the same outcome to retry"
            ) from error

        def recorded(stored: search_pb2.SearchReport) -> None:
            stored.risk_recorded = True

        return await self._change(report.report_id, recorded)

    def _write_risk(self, events: Sequence[tuple[str, str, float, float]]) -> None:
        for key, event_id, at_s, value in events:
            self.risk_state.window_add(key, event_id, at_s, value, window_s=RISK_WINDOW_S)

    async def _change(
        self, report_id: str, change: Callable[[search_pb2.SearchReport], None]
    ) -> search_pb2.SearchReport:
        """Read, change and write one report atomically (optimistic: retried if it moved meanwhile)."""
        key = self.key("report", report_id)
        async with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        raise ReportNotFound(f"no search report {report_id}")
                    report = search_pb2.SearchReport.FromString(_raw(raw))
                    change(report)
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                    pipe.set(key, report.SerializeToString())
                    await pipe.execute()
                    return report
                except WatchError:
                    continue

    def close_state(self) -> None:
        self.risk_state.close()


def search_desk(redis_url: str, namespace: str, client: aioredis.Redis) -> SearchDesk:
    """The desk of a namespace, writing outcomes into the vehicle_risk plugin's state."""
    return SearchDesk(client, namespace, open_state(redis_url, plugin_state_prefix(namespace, RISK_PLUGIN)))


def _raw(reply: object) -> bytes:
    """A Redis reply as bytes (the gateway's client does not decode, so it is bytes already)."""
    return reply if isinstance(reply, bytes) else str(reply).encode()


def _text(reply: object) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


# ---------------------------------------------------------------- gRPC


async def _answer(context: grpc.aio.ServicerContext, error: Exception) -> None:
    """Abort the call with the status an error of the desk stands for."""
    codes: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
        (ReportNotFound, grpc.StatusCode.NOT_FOUND),
        (ReportExists, grpc.StatusCode.ALREADY_EXISTS),
        (ReportStateError, grpc.StatusCode.FAILED_PRECONDITION),
        (RiskNotRecorded, grpc.StatusCode.UNAVAILABLE),
        (ValueError, grpc.StatusCode.INVALID_ARGUMENT),
        (RedisError, grpc.StatusCode.UNAVAILABLE),
    )
    code = next(code for kind, code in codes if isinstance(error, kind))
    await context.abort(code, str(error))


DESK_ERRORS = (ReportNotFound, ReportExists, ReportStateError, RiskNotRecorded, ValueError, RedisError)


# The role every SearchService call takes with officer login on: the search page is a screener's too.
SEARCH_ROLE = "screener"
Acting = TypeVar(
    "Acting",
    search_pb2.OpenReportRequest,
    search_pb2.UpdateReportRequest,
    search_pb2.CloseReportRequest,
)


class SearchServicer(search_pb2_grpc.SearchServiceServicer):
    """``smartcustoms.v1.SearchService``.

    With a ``gate`` (``gateway.officer_auth`` on) every call needs a logged-in officer (UNAUTHENTICATED,
    PERMISSION_DENIED below ``role``), and the officer a change records (who opened, checked, seized,
    closed) is the caller's account, whatever the request's ``officer`` says. Without one, the request
    names the officer.
    """

    def __init__(self, desk: SearchDesk, gate: GrpcGate | None = None, role: str = SEARCH_ROLE) -> None:
        self.desk = desk
        self.gate = gate
        self.role = role

    async def _as_caller(self, request: Acting, context: grpc.aio.ServicerContext) -> Acting:
        """The request with its officer replaced by the caller's account (as it is without a gate)."""
        if self.gate is None:
            return request
        session = await self.gate.officer(context, self.role)
        acting = type(request)()
        acting.CopyFrom(request)
        acting.officer = session.name
        return acting

    async def _caller_may_read(self, context: grpc.aio.ServicerContext) -> None:
        if self.gate is not None:
            await self.gate.officer(context, self.role)

    async def OpenReport(
        self, request: search_pb2.OpenReportRequest, context: grpc.aio.ServicerContext
    ) -> search_pb2.SearchReport:
        try:
            return await self.desk.open(await self._as_caller(request, context))
        except DESK_ERRORS as error:
            await _answer(context, error)
        raise AssertionError("unreachable: abort raises")

    async def UpdateReport(
        self, request: search_pb2.UpdateReportRequest, context: grpc.aio.ServicerContext
    ) -> search_pb2.SearchReport:
        try:
            return await self.desk.update(await self._as_caller(request, context))
        except DESK_ERRORS as error:
            await _answer(context, error)
        raise AssertionError("unreachable: abort raises")

    async def CloseReport(
        self, request: search_pb2.CloseReportRequest, context: grpc.aio.ServicerContext
    ) -> search_pb2.SearchReport:
        try:
            return await self.desk.close(await self._as_caller(request, context))
        except DESK_ERRORS as error:
            await _answer(context, error)
        raise AssertionError("unreachable: abort raises")

    async def GetReport(
        self, request: search_pb2.GetReportRequest, context: grpc.aio.ServicerContext
    ) -> search_pb2.SearchReport:
        try:
            await self._caller_may_read(context)
            return await self.desk.get(request.report_id)
        except DESK_ERRORS as error:
            await _answer(context, error)
        raise AssertionError("unreachable: abort raises")

    async def ListReports(
        self, request: search_pb2.ListReportsRequest, context: grpc.aio.ServicerContext
    ) -> search_pb2.ListReportsResponse:
        try:
            await self._caller_may_read(context)
            return search_pb2.ListReportsResponse(
                reports=await self.desk.reports(request.plate, request.limit)
            )
        except DESK_ERRORS as error:
            await _answer(context, error)
        raise AssertionError("unreachable: abort raises")
