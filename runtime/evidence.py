"""The evidence desk: what the service, the CLI and the page do with seized items, over Redis.

One ``EvidenceDesk`` per process: the registry and custody functions of ``plugins.evidence`` over
the ``evidence_locator`` plugin's state (the same keys the plugin locates tags in), with every custody
event appended to the product's audit trail. ``EvidenceServicer`` is the gRPC ``EvidenceService``,
hosted by the gateway; it keeps the generated method names and runs the desk in a thread. With officer
login on, it records the officer logged in (docs/security.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import date
from typing import Any, TypeVar

import grpc
import redis
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from smartcustoms.core.audit import AuditTrail
from smartcustoms.core.config import Config, PluginConfig
from smartcustoms.core.epc import EpcError, encode_sgtin96
from smartcustoms.core.keys import plugin_state_prefix
from smartcustoms.core.metrics import EVIDENCE_ALERTS, EVIDENCE_UNDECODABLE_READS
from smartcustoms.plugins.evidence.custody import (
    DEFAULT_ZONES,
    CustodyError,
    Order,
    Zones,
    apply_order,
    item_key,
    items_of,
    register_item,
)
from smartcustoms.plugins.evidence.plugin import ALERT_LABELS
from smartcustoms.plugins.evidence.stocktake import (
    DEFAULT_LAYOUT,
    Layout,
    StockLine,
    occupancy,
    stock_take,
    suggest_slot,
)
from smartcustoms.plugins.evidence.store import Json, RedisStore
from smartcustoms.runtime.officer_auth import GrpcGate
from smartcustoms.v1 import evidence_pb2, evidence_pb2_grpc

__all__ = [
    "EvidenceCollector",
    "EvidenceDesk",
    "EvidenceServicer",
    "add_evidence_service",
    "caller_first",
    "configure_demo",
    "demo_lines",
    "enrol_demo_stock",
    "evidence_desk",
]

STATE_OF = "evidence_locator"
# The role every EvidenceService call takes with officer login on: the evidence page is a screener's too.
EVIDENCE_ROLE = "screener"
T = TypeVar("T")


class EvidenceDesk:
    def __init__(
        self,
        client: redis.Redis,
        namespace: str,
        zones: Zones = DEFAULT_ZONES,
        layout: Layout = DEFAULT_LAYOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.store = RedisStore(client, plugin_state_prefix(namespace, STATE_OF))
        self.audit = AuditTrail(client, namespace)
        self.zones, self.layout, self.clock = zones, layout, clock

    def register(
        self,
        *,
        case: str,
        description: str,
        officer: str,
        epc_hex: str = "",
        company_prefix: str = "",
        item_reference: str = "",
        serial: int = 0,
        slot: str = "",
        size: int = 1,
        retrieval_due: str = "",
    ) -> Json:
        """Register an item; with no EPC, encode an SGTIN-96 from the GS1 fields for the tag writer."""
        if not epc_hex:
            if not company_prefix:
                raise CustodyError(
                    "give the tag's EPC, or the company prefix, item reference and serial to encode one"
                )
            try:
                epc_hex = encode_sgtin96(company_prefix, item_reference, serial)
            except (EpcError, ValueError) as error:
                raise CustodyError(f"cannot encode an SGTIN-96: {error}") from None
        if retrieval_due:
            _due(retrieval_due)
        if slot and slot not in self.layout.slots():
            raise CustodyError(f"unknown slot {slot!r} (slots look like {self.layout.slots()[0]})")
        return register_item(
            self.store,
            epc_hex,
            case=case,
            description=description,
            officer=officer,
            slot=slot,
            size=size,
            retrieval_due=retrieval_due,
            at_s=self.clock(),
            audit=self.audit,
        )

    def order(
        self,
        *,
        order_id: str,
        action: str,
        epc_hex: str,
        officers: list[str],
        reason: str = "",
        to_zone: str = "",
        purpose: str = "",
    ) -> Json:
        if not order_id.strip():
            order_id = f"WO-{int(self.clock() * 1000)}"
        if not reason.strip():
            raise CustodyError("a work order needs a reason")
        order = Order(order_id, action, epc_hex, tuple(officers), reason, to_zone, purpose, self.clock())
        return apply_order(self.store, order, self.zones, audit=self.audit)

    def locate(self, *, epc_hex: str = "", case: str = "", zone: str = "") -> list[Json]:
        """Items with where custody expects them and where the readers last held them."""
        if epc_hex:
            epcs = [epc_hex.strip().upper()]
        elif case:
            epcs = sorted(self.store.members(f"case:{case}"))
        elif zone:
            epcs = sorted(self.store.members(f"zone:{zone}") | self.store.members(f"seen:{zone}"))
        else:
            raise CustodyError("locate by EPC, case or zone")
        tracks = self.store.get_many([f"tag:{e}" for e in epcs])
        items = self.store.get_many([item_key(e) for e in epcs])
        found = []
        for epc, item, track in zip(epcs, items, tracks, strict=True):
            if item is None and track is None:
                continue
            shown = dict(
                item or {"epc": epc, "case": "", "description": "unregistered tag", "status": "unknown"}
            )
            shown["located_zone"] = track["z"] if track else ""
            shown["last_read_s"] = (track["seen"] or 0.0) if track else 0.0
            found.append(shown)
        if epc_hex and not found:
            raise CustodyError(f"no item or tag {epcs[0]}")
        return found

    def stock_take(self, *, zone: str = "", case: str = "") -> tuple[list[StockLine], int]:
        return stock_take(self.store, self.zones, zone=zone, case=case), self.store.counter(
            "count:undecodable"
        )

    def suggest(self, *, case: str, size: int, retrieval_due: str = "") -> tuple[str, str]:
        every = items_of(self.store, sorted(self.store.members("items")))
        used, cases = occupancy(every)
        due = _due(retrieval_due) if retrieval_due else None
        slot: tuple[str, str] = suggest_slot(
            self.layout, used, cases, case=case, size=size, due=due, today=date.today()
        )
        return slot

    def close(self) -> None:
        self.client.close()


def evidence_desk(redis_url: str, namespace: str) -> EvidenceDesk:
    return EvidenceDesk(redis.Redis.from_url(redis_url), namespace)


def _due(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CustodyError(f"retrieval date {text!r} is not an ISO date (2026-03-31)") from None


# ---------------------------------------------------------------- gRPC


def item_message(item: Json) -> evidence_pb2.EvidenceItem:
    return evidence_pb2.EvidenceItem(
        epc_hex=item["epc"],
        uri=item.get("uri", ""),
        case_number=item.get("case", ""),
        description=item.get("description", ""),
        seizing_officer=item.get("officer", ""),
        slot=item.get("slot", ""),
        size=int(item.get("size", 0)),
        retrieval_due=item.get("retrieval_due", ""),
        status=item.get("status", ""),
        expected_zone=item.get("zone", ""),
        located_zone=item.get("located_zone", ""),
        last_read_s=float(item.get("last_read_s", 0.0)),
        last_order=item.get("order", ""),
    )


def caller_first(caller: str, officers: Sequence[str]) -> list[str]:
    """A work order's officers with the logged-in caller first: a caller the order names moves to the
    front; one it does not takes the first officer's place (as on the evidence page, where the first
    officer is the one submitting). The caller is never absent; the others stay attested by the caller."""
    named = [o.strip() for o in officers if o.strip()]
    if caller in named:
        return [caller, *[o for o in named if o != caller]]
    return [caller, *named[1:]]


class EvidenceServicer(evidence_pb2_grpc.EvidenceServiceServicer):
    """``EvidenceService``: refusals are FAILED_PRECONDITION with the reason, Redis down UNAVAILABLE.

    With a ``gate`` (``gateway.officer_auth`` on) every call needs a logged-in officer (UNAUTHENTICATED,
    PERMISSION_DENIED below ``role``); the seizing officer of an item registered is the caller's
    account, and a work order's officers include it first (``caller_first``), whatever the request
    names. Without one, the request names the officers.
    """

    def __init__(self, desk: EvidenceDesk, gate: GrpcGate | None = None, role: str = EVIDENCE_ROLE) -> None:
        self.desk = desk
        self.gate = gate
        self.role = role

    async def RegisterItem(
        self, request: evidence_pb2.RegisterItemRequest, context: grpc.aio.ServicerContext
    ) -> evidence_pb2.EvidenceItem:
        caller = await self._caller(context)
        item = await self._call(
            context,
            self.desk.register,
            case=request.case_number,
            description=request.description,
            officer=request.seizing_officer if caller is None else caller,
            epc_hex=request.epc_hex,
            company_prefix=request.company_prefix,
            item_reference=request.item_reference,
            serial=request.serial,
            slot=request.slot,
            size=request.size or 1,
            retrieval_due=request.retrieval_due,
        )
        return item_message(item)

    async def SubmitOrder(
        self, request: evidence_pb2.WorkOrder, context: grpc.aio.ServicerContext
    ) -> evidence_pb2.EvidenceItem:
        caller = await self._caller(context)
        item = await self._call(
            context,
            self.desk.order,
            order_id=request.order_id,
            action=request.action,
            epc_hex=request.epc_hex,
            officers=list(request.officers) if caller is None else caller_first(caller, request.officers),
            reason=request.reason,
            to_zone=request.to_zone,
            purpose=request.purpose,
        )
        return item_message(item)

    async def Locate(
        self, request: evidence_pb2.LocateRequest, context: grpc.aio.ServicerContext
    ) -> evidence_pb2.LocateReply:
        await self._caller(context)
        by = request.WhichOneof("by") or "epc_hex"
        key = {"epc_hex": "epc_hex", "case_number": "case", "zone": "zone"}[by]
        items = await self._call(context, self.desk.locate, **{key: getattr(request, by)})
        return evidence_pb2.LocateReply(items=[item_message(i) for i in items])

    async def StockTake(
        self, request: evidence_pb2.StockTakeRequest, context: grpc.aio.ServicerContext
    ) -> evidence_pb2.StockTakeReport:
        await self._caller(context)
        lines, undecodable = await self._call(
            context, self.desk.stock_take, zone=request.zone, case=request.case_number
        )
        return evidence_pb2.StockTakeReport(
            zones=[evidence_pb2.StockTakeLine(**asdict(line)) for line in lines],
            undecodable_reads=undecodable,
        )

    async def SuggestSlot(
        self, request: evidence_pb2.SuggestSlotRequest, context: grpc.aio.ServicerContext
    ) -> evidence_pb2.SlotSuggestion:
        await self._caller(context)
        slot, reason = await self._call(
            context,
            self.desk.suggest,
            case=request.case_number,
            size=request.size or 1,
            retrieval_due=request.retrieval_due,
        )
        return evidence_pb2.SlotSuggestion(slot=slot, zone=slot.split("/")[0], reason=reason)

    async def _caller(self, context: grpc.aio.ServicerContext) -> str | None:
        """The logged-in caller's account name (None without a gate); aborts the call if there is none."""
        if self.gate is None:
            return None
        try:
            session = await self.gate.officer(context, self.role)
        except redis.RedisError as error:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"Redis: {error}")
            raise AssertionError("unreachable: abort raises") from error
        return session.name

    async def _call(self, context: grpc.aio.ServicerContext, function: Callable[..., T], **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(function, **kwargs)
        except CustodyError as error:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        except redis.RedisError as error:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"Redis: {error}")
        raise AssertionError("unreachable: abort raises")


def add_evidence_service(server: grpc.aio.Server, desk: EvidenceDesk, gate: GrpcGate | None = None) -> None:
    """Host ``EvidenceService`` on the gateway's server; ``gate`` is ``grpc_gate(config, client)``."""
    evidence_pb2_grpc.add_EvidenceServiceServicer_to_server(EvidenceServicer(desk, gate), server)  # type: ignore[no-untyped-call]  # generated, untyped


# ---------------------------------------------------------------- the demo

DEMO_SOURCES = [
    "evidence-store-*"
]  # the demo warehouse's readers; the demo's other RFID reader is another store
DEMO_MISSING_AFTER_S = 30.0  # a short demo: items silent for 30 simulated seconds are reported


def configure_demo(config: Config) -> None:
    """Route the demo warehouse's readers (only) to the locator, with a short not-read window."""
    locator = config.plugins.setdefault(STATE_OF, PluginConfig())
    locator.sources = locator.sources or list(DEMO_SOURCES)
    locator.settings.setdefault("missing_after_s", DEMO_MISSING_AFTER_S)


def enrol_demo_stock(config: Config, seed: int) -> int:
    """Enrol the demo warehouse's opening stock (the items on its shelves at tick 0); return how many."""
    from smartcustoms.hardware.sim import warehouse
    from smartcustoms.hardware.sim.devices import WAREHOUSE_HORIZON_TICKS
    from smartcustoms.hardware.sim.rfid import REPORT_EPOCH_S
    from smartcustoms.plugins.evidence.custody import enrol_stock
    from smartcustoms.plugins.evidence.tools.evaluate import case_of, opening_stock

    store = warehouse.EvidenceWarehouse(seed, horizon_ticks=WAREHOUSE_HORIZON_TICKS)
    desk = evidence_desk(config.redis.url, config.namespace)
    try:
        stock = opening_stock(store, item_count=len(store.zone_of_items(0)))
        for item, zone in stock:
            if desk.store.get(item_key(store.epcs[item])) is None:
                enrol_stock(
                    desk.store,
                    store.epcs[item],
                    case=case_of(seed, item),
                    description=store.evidence_kinds[item],
                    zone=zone,
                    at_s=float(REPORT_EPOCH_S),
                )
        return len(stock)
    finally:
        desk.close()


def demo_lines(config: Config) -> list[str]:
    """What the demo prints of the evidence store: items located, alerts by kind, the stock-take."""
    desk = evidence_desk(config.redis.url, config.namespace)
    try:
        lines, undecodable = desk.stock_take()
        located = {line.zone: len(desk.store.members(f"seen:{line.zone}")) for line in lines}
        alerts = {label: desk.store.counter(f"count:alert:{label}") for label in ALERT_LABELS}
    finally:
        desk.close()
    shown = ", ".join(f"{label} {n}" for label, n in alerts.items())
    tags = sum(located.values())
    out = [f"evidence store: tags located {tags}; alerts: {shown}; undecodable reads {undecodable}"]
    out.append(f"  stock-take  {'zone':<9} {'expected':>8} {'read':>6} {'missing':>8} {'unexpected':>10}")
    for line in lines:
        out.append(
            f"              {line.zone:<9} {line.expected:>8} {line.read:>6} {len(line.missing):>8} "
            f"{len(line.unexpected):>10}"
        )
    return out


# ---------------------------------------------------------------- metrics


class EvidenceCollector(Collector):
    """Exports the locator's counters from Redis at scrape time: undecodable reads, alerts by kind."""

    def __init__(self, redis_url: str, namespace: str) -> None:
        self._store = RedisStore(
            redis.Redis.from_url(redis_url, socket_timeout=2.0), plugin_state_prefix(namespace, STATE_OF)
        )

    def collect(self):  # type: ignore[no-untyped-def]  # prometheus_client's Collector is untyped
        undecodable = CounterMetricFamily(
            EVIDENCE_UNDECODABLE_READS.name, EVIDENCE_UNDECODABLE_READS.documentation
        )
        alerts = CounterMetricFamily(
            EVIDENCE_ALERTS.name, EVIDENCE_ALERTS.documentation, labels=list(EVIDENCE_ALERTS.labels)
        )
        undecodable.add_metric([], self._store.counter("count:undecodable"))  # Redis errors: RedisCollectors
        for label in ALERT_LABELS:
            alerts.add_metric([label], self._store.counter(f"count:alert:{label}"))
        yield undecodable
        yield alerts
