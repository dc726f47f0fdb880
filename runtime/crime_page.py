"""The crime analytics page: ``/crime`` beside the alert review page, and its JSON API.

``CrimeDesk`` reads the crime_analytics plugin's store (``smartcustoms.plugins.crime.store``) and
builds the link graph from it, again only when records were added since (a few thousand records
resolve in about a second). It answers what links two cases, who else used a phone, which companies
share an address, which cases are alike, and the trend alerts with the cases behind them. Each
question an officer asks of the graph is appended to the audit trail (``crime_query``: the question,
what was asked, the officer when the page knows them, and the case) before it is answered. Redis down
is a 503 with one line of text.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from importlib import resources
from typing import Any, Protocol

import redis
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from smartcustoms.core.audit import AuditTrail
from smartcustoms.core.keys import plugin_state_prefix
from smartcustoms.core.metrics import CRIME_RECORDS, CRIME_TREND_ALERTS
from smartcustoms.plugins.crime.graph import LinkGraph, build_graph
from smartcustoms.plugins.crime.store import CaseStore, RedisCaseStore

__all__ = ["CrimeDesk", "add_crime_routes", "crime_desk", "crime_line"]

PLUGIN = "crime_analytics"
MAX_ALERTS = 200
QUERY_KIND = "crime_query"
DIRECTIONS = ("rise", "drop")


class AuditLog(Protocol):
    """Where the officers' questions go: ``smartcustoms.core.audit.AuditTrail``."""

    def append(self, kind: str, body: Mapping[str, Any]) -> object: ...


class CrimeDesk:
    """The questions of the crime page, over the plugin's store; each one audited when ``trail`` is set."""

    def __init__(self, store: CaseStore, trail: AuditLog | None = None) -> None:
        self.store = store
        self.trail = trail
        self._graph: LinkGraph | None = None
        self._built_on = -1
        self._lock = threading.Lock()

    def graph(self) -> LinkGraph:
        with self._lock:
            count = self.store.record_count()
            if self._graph is None or count != self._built_on:
                self._graph, self._built_on = build_graph(self.store.records()), count
            return self._graph

    def _audit(self, question: str, officer: str, case: str = "", **asked: str) -> None:
        if self.trail is not None:
            body = {"question": question, "officer": officer, **asked}
            self.trail.append(QUERY_KIND, {**body, "case": case} if case else body)

    def links(self, a: str, b: str, officer: str = "") -> dict[str, Any]:
        self._audit("links", officer, case=a, a=a, b=b)
        paths = self.graph().links(a.strip(), b.strip())
        return {
            "a": a,
            "b": b,
            "paths": [{"hops": p.hops, "nodes": list(p.nodes), "labels": list(p.labels)} for p in paths],
        }

    def phone(self, number: str, officer: str = "") -> dict[str, Any]:
        self._audit("phone", officer, phone=number)
        graph = self.graph()
        return {
            "phone": number,
            "holders": graph.holders_of_phone(number),
            "cases": graph.records_of_phone(number),
            "records": graph.records_of_phone(number, kind=""),
        }

    def address(self, text: str, officer: str = "") -> dict[str, Any]:
        self._audit("address", officer, address=text)
        return {"address": text, "companies": self.graph().companies_at(text)}

    def similar(self, case: str, top: int = 10, officer: str = "") -> dict[str, Any]:
        self._audit("similar", officer, case=case)
        return {"case": case, "similar": [asdict(s) for s in self.graph().similar_cases(case.strip(), top)]}

    def alerts(self) -> dict[str, Any]:
        alerts = sorted(self.store.alerts(), key=lambda a: (-a.week, a.series))[:MAX_ALERTS]
        return {"alerts": [asdict(a) for a in alerts]}


def crime_desk(redis_url: str, namespace: str) -> CrimeDesk:
    """The desk over the plugin's store in the runtime's Redis, auditing into the namespace's trail."""
    client = redis.Redis.from_url(redis_url)
    return CrimeDesk(
        RedisCaseStore(client, plugin_state_prefix(namespace, PLUGIN)), AuditTrail(client, namespace)
    )


class CrimeCollector(Collector):
    """Records held and trend alerts raised by crime analytics, read from its state at scrape time."""

    def __init__(self, redis_url: str, namespace: str) -> None:
        client = redis.Redis.from_url(redis_url, socket_timeout=2.0)
        self._store = RedisCaseStore(client, plugin_state_prefix(namespace, PLUGIN))

    def collect(self) -> Iterator[Metric]:
        records = CounterMetricFamily(CRIME_RECORDS.name, CRIME_RECORDS.documentation)
        records.add_metric([], self._store.record_count())
        yield records
        by_direction = Counter(a.direction for a in self._store.alerts())
        alerts = GaugeMetricFamily(
            CRIME_TREND_ALERTS.name, CRIME_TREND_ALERTS.documentation, labels=CRIME_TREND_ALERTS.labels
        )
        for direction in DIRECTIONS:
            alerts.add_metric([direction], by_direction[direction])
        yield alerts


def crime_line(redis_url: str, namespace: str) -> str:
    """The demo's line: ``crime: N records, M trend alerts; latest SERIES in the week of W (K cases)``."""
    client = redis.Redis.from_url(redis_url)
    try:
        store = RedisCaseStore(client, plugin_state_prefix(namespace, PLUGIN))
        records, alerts = store.record_count(), store.alerts()
    finally:
        client.close()
    line = f"crime: {records} records, {len(alerts)} trend alerts"
    if alerts:
        latest = max(alerts, key=lambda a: (a.week, a.series))
        line += (
            f"; latest {latest.series} ({latest.direction}) in the week of {latest.week_start} "
            f"({len(latest.cases)} cases)"
        )
    return line


def add_crime_routes(app: web.Application, desk: CrimeDesk) -> None:
    routes = web.RouteTableDef()
    page = resources.files("smartcustoms.runtime").joinpath("crime.html").read_text()

    @routes.get("/crime")
    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    @routes.get("/api/crime/links")
    async def links(request: web.Request) -> web.Response:
        a, b = _required(request, "a"), _required(request, "b")
        return await _answer(desk.links, a=a, b=b, officer=_officer(request))

    @routes.get("/api/crime/phone")
    async def phone(request: web.Request) -> web.Response:
        return await _answer(desk.phone, number=_required(request, "number"), officer=_officer(request))

    @routes.get("/api/crime/address")
    async def address(request: web.Request) -> web.Response:
        return await _answer(desk.address, text=_required(request, "text"), officer=_officer(request))

    @routes.get("/api/crime/similar")
    async def similar(request: web.Request) -> web.Response:
        return await _answer(desk.similar, case=_required(request, "case"), officer=_officer(request))

    @routes.get("/api/crime/alerts")
    async def alerts(request: web.Request) -> web.Response:
        return await _answer(desk.alerts)

    app.add_routes(routes)


def _officer(request: web.Request) -> str:
    """The logged-in officer's name, when officers log in on this app (``runtime.officer_auth``)."""
    try:
        from smartcustoms.runtime.officer_auth import SESSION_KEY
    except ImportError:  # a build without officer log-in: questions are audited without a name
        return ""
    session = request.get(SESSION_KEY)
    return str(getattr(session, "name", "")) if session is not None else ""


def _required(request: web.Request, name: str) -> str:
    value = request.query.get(name, "").strip()
    if not value:
        raise web.HTTPBadRequest(text=f"{name} is required")
    return value


async def _answer(function: Callable[..., Any], **kwargs: Any) -> web.Response:
    try:
        return web.json_response(await asyncio.to_thread(function, **kwargs))
    except redis.RedisError as error:
        raise web.HTTPServiceUnavailable(text=f"Redis: {error}") from None
