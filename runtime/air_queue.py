"""The air cargo clearance queue as a service: tickets, counters and predicted call times over Redis, in
the gateway process. The gRPC ``QueueService`` (``air_queue_service``) and the drivers' and officers'
pages (``air_queue_page``) are its front doors.

``QueueBook`` is the queue's state and its rules, plain Python: a driver takes a ticket (cargo type,
travel time estimate), cancels it, rejoins once after a no-show; an officer opens and closes counters,
calls the next ticket (or a named one), marks the driver arrived. A called driver who has not arrived
``grace_s`` after the call is a no-show, skipped by ``sweep`` (the counter calls the next ticket).
Each change yields events: records for the stream (``air_queue_event``), history for the occupancy model
(the day's occupancies by cargo type and counter, calls, arrivals), figures for the metrics, and audit
records for officers' actions.

``QueueDesk`` keeps the book in Redis and changes it in WATCH/MULTI transactions, so several gateways
may serve one terminal and a restart loses no ticket. Keys under ``sc:<namespace>:air_queue:``:
``book`` (JSON: terminal open, settings, counters, waiting order, numbering), ``ticket:<id>`` (JSON per
ticket, kept ``TICKET_TTL_S``), ``history:<day>`` (list of JSON facts the model learns from, one day),
``stats`` (hash of totals and histogram buckets for the metrics), ``events`` (list of records waiting to
be published), ``version`` (bumped on each change: live pages watch it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from smartcustoms.core.air_queue import (
    CARGO_TYPES,
    Counter,
    OccupancyModel,
    QueueError,
    QueueSettings,
    Waiting,
    naive_call_time,
    order_key,
    predict_call_times,
    set_off_at,
    settings_from,
)
from smartcustoms.core.audit import enqueue_event
from smartcustoms.core.keys import redis_prefix
from smartcustoms.core.metrics import AIR_QUEUE_EVENTS
from smartcustoms.plugins.air_queue import day_of

WAITING, CALLED, SERVING, DONE, CANCELLED, NO_SHOW = (
    "waiting",
    "called",
    "serving",
    "done",
    "cancelled",
    "no_show",
)
STATUSES = (WAITING, CALLED, SERVING, DONE, CANCELLED, NO_SHOW)
EVENT_KINDS = AIR_QUEUE_EVENTS
RECORD_KIND = "air_queue_event"
AUDIT_KIND = "air_queue"
FORECAST_REUSE_S = 2.0  # a forecast of an unchanged queue is reused this long
TICKET_TTL_S = 3 * 86400
HISTORY_TTL_S = 2 * 86400
MAX_DRIVER_CHARS = 64
MAX_COUNTER_CHARS = 16


class TicketNotFound(LookupError):
    """No ticket with this id."""


class TicketStateError(Exception):
    """The ticket is not in a state that allows this (a cancelled ticket called, a second rejoin...)."""


class TerminalClosed(Exception):
    """The terminal takes no tickets now."""


class CounterStateError(Exception):
    """The counter is closed, unknown, or has nothing to mark."""


DESK_ERRORS = (TicketNotFound, TicketStateError, TerminalClosed, CounterStateError, QueueError)


# --------------------------------------------------------------------------- the documents


@dataclass
class Ticket:
    ticket_id: str
    number: int
    cargo_type: str
    rank: int
    travel_s: float
    driver: str
    issued_at: float
    joined_seq: int
    status: str = WAITING
    counter_id: str = ""
    called_at: float = 0.0
    first_called_at: float = 0.0
    arrived_at: float = 0.0
    finished_at: float = 0.0
    rejoins: int = 0
    predicted_at_issue: float = 0.0  # predicted first call time when issued (0: none)
    naive_at_issue: float = 0.0
    set_off_sent: bool = False

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Ticket:
        return cls(**json.loads(raw))

    @property
    def label(self) -> str:
        return f"{self.cargo_type[:1].upper()}{self.number:03d}"


@dataclass
class CounterState:
    open: bool = False
    ticket_id: str = ""  # called or serving here, "" when idle


@dataclass
class Book:
    """The queue as a whole: one JSON document, changed atomically."""

    terminal_open: bool = True
    settings: dict[str, Any] = field(default_factory=dict)  # QueueSettings fields that differ from defaults
    counters: dict[str, CounterState] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)  # ticket ids in queue order
    numbers: int = 0
    seq: int = 0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> Book:
        if raw is None:
            return cls()
        value = json.loads(raw)
        value["counters"] = {k: CounterState(**v) for k, v in value["counters"].items()}
        return cls(**value)

    def queue_settings(self) -> QueueSettings:
        return settings_from(self.settings) if self.settings else QueueSettings()


@dataclass
class Change:
    """What one operation did, beyond the book: tickets written, facts for the model, records for the
    stream, figures for the metrics, audit records."""

    tickets: dict[str, Ticket] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, str]] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)
    audit: list[dict[str, Any]] = field(default_factory=list)

    def count(self, name: str, by: float = 1.0) -> None:
        self.stats[name] = self.stats.get(name, 0.0) + by


# --------------------------------------------------------------------------- the rules


class QueueBook:
    """The book and the tickets an operation touches, with the rules; ``change`` collects what it did."""

    def __init__(self, book: Book, tickets: Mapping[str, Ticket], now: float) -> None:
        self.book = book
        self.tickets = dict(tickets)
        self.now = now
        self.settings = book.queue_settings()
        self.change = Change()

    def ticket(self, ticket_id: str) -> Ticket:
        found = self.tickets.get(ticket_id)
        if found is None:
            raise TicketNotFound(f"no ticket {ticket_id!r}")
        return found

    def _write(self, ticket: Ticket) -> None:
        self.tickets[ticket.ticket_id] = ticket
        self.change.tickets[ticket.ticket_id] = ticket

    def _event(self, kind: str, ticket: Ticket | None = None, **fields: object) -> None:
        event = {"event": kind, "at": f"{self.now:.3f}"}
        if ticket is not None:
            event |= {
                "ticket_id": ticket.ticket_id,
                "ticket": ticket.label,
                "cargo_type": ticket.cargo_type,
                "status": ticket.status,
                "counter_id": ticket.counter_id,
            }
        event |= {k: str(v) for k, v in fields.items()}
        self.change.events.append(event)
        self.change.count(f"events:{kind}")

    def _audit(self, action: str, officer: str, **fields: object) -> None:
        self.change.audit.append({"action": action, "officer": officer, "at": self.now, **fields})

    def _join(self, ticket: Ticket) -> None:
        self.book.seq += 1
        ticket.joined_seq = self.book.seq
        ticket.status = WAITING
        ticket.counter_id = ""
        self.book.waiting.append(ticket.ticket_id)
        keys = {
            tid: order_key(self.tickets[tid].rank, self.tickets[tid].joined_seq) for tid in self.book.waiting
        }
        self.book.waiting.sort(key=keys.__getitem__)

    # ------------------------------------------------------------------ drivers

    def take(self, cargo_type: str, travel_s: float, driver: str) -> Ticket:
        if not self.book.terminal_open:
            raise TerminalClosed("the terminal is closed: it takes no tickets now")
        rank = self.settings.rank(cargo_type)
        travel = self.settings.check_travel(travel_s)
        if len(driver) > MAX_DRIVER_CHARS:
            raise QueueError(f"driver reference longer than {MAX_DRIVER_CHARS} characters")
        self.book.numbers += 1
        ticket = Ticket(
            uuid.uuid4().hex[:12], self.book.numbers, cargo_type, rank, travel, driver, self.now, 0
        )
        self.tickets[ticket.ticket_id] = ticket
        self._join(ticket)
        self._write(ticket)
        self.change.history.append(
            {"fact": "arrival", "at": self.now, "rank": rank, "cargo_type": cargo_type}
        )
        self.change.count("issued")
        self._event("issued", ticket, travel_s=f"{travel:.0f}")
        return ticket

    def cancel(self, ticket_id: str) -> Ticket:
        ticket = self.ticket(ticket_id)
        if ticket.status not in (WAITING, CALLED, NO_SHOW):
            raise TicketStateError(f"ticket {ticket.label} is {ticket.status}: it cannot be cancelled")
        if ticket.status == WAITING:
            self.book.waiting.remove(ticket_id)
        elif ticket.status == CALLED:
            self._free_counter(ticket.counter_id)
        ticket.status = CANCELLED
        self._write(ticket)
        self.change.count("cancelled")
        self._event("cancelled", ticket)
        return ticket

    def rejoin(self, ticket_id: str) -> Ticket:
        ticket = self.ticket(ticket_id)
        if ticket.status != NO_SHOW:
            raise TicketStateError(f"ticket {ticket.label} is {ticket.status}: only a no-show may rejoin")
        if ticket.rejoins >= self.settings.max_rejoins:
            raise TicketStateError(f"ticket {ticket.label} has rejoined once already")
        if not self.book.terminal_open:
            raise TerminalClosed("the terminal is closed: it takes no tickets now")
        ticket.rejoins += 1
        self._join(ticket)
        self._write(ticket)
        self.change.count("rejoined")
        self._event("rejoined", ticket)
        return ticket

    # ------------------------------------------------------------------ officers

    def set_terminal(self, is_open: bool, officer: str) -> None:
        if self.book.terminal_open != is_open:
            self.book.terminal_open = is_open
            self._event("terminal_opened" if is_open else "terminal_closed")
            self._audit("terminal_opened" if is_open else "terminal_closed", officer)

    def configure(self, changes: Mapping[str, Any], officer: str) -> QueueSettings:
        """Change the terminal's settings; waiting tickets take their cargo type's new rank."""
        merged = {**self.book.settings, **changes}
        settings = settings_from(merged)
        missing = {self.tickets[t].cargo_type for t in self.book.waiting} - set(settings.priorities)
        if missing:
            raise QueueError(f"tickets of {sorted(missing)} are waiting: keep a rank for their cargo types")
        self.book.settings, self.settings = merged, settings
        for ticket_id in self.book.waiting:
            ticket = self.tickets[ticket_id]
            if ticket.rank != settings.rank(ticket.cargo_type):
                ticket.rank = settings.rank(ticket.cargo_type)
                self._write(ticket)
        ranks = {t: order_key(self.tickets[t].rank, self.tickets[t].joined_seq) for t in self.book.waiting}
        self.book.waiting.sort(key=ranks.__getitem__)
        self._audit("settings_changed", officer, changes=dict(changes))
        return settings

    def open_counter(self, counter_id: str, officer: str) -> None:
        counter_id = _counter_name(counter_id)
        counter = self.book.counters.setdefault(counter_id, CounterState())
        if not counter.open:
            counter.open = True
            self._event("counter_opened", counter_id=counter_id)
            self._audit("counter_opened", officer, counter_id=counter_id)

    def close_counter(self, counter_id: str, officer: str) -> None:
        counter = self._counter(counter_id)
        if counter.ticket_id:
            self._finish(counter_id, no_show=self.ticket(counter.ticket_id).status == CALLED)
        if counter.open:
            counter.open = False
            self._event("counter_closed", counter_id=counter_id)
            self._audit("counter_closed", officer, counter_id=counter_id)

    def call_next(self, counter_id: str, officer: str, ticket_id: str = "") -> Ticket | None:
        """Finish the counter's ticket and call the next (or ``ticket_id``); None if nobody waits."""
        counter = self._counter(counter_id)
        if not counter.open:
            raise CounterStateError(f"counter {counter_id} is closed")
        if ticket_id:
            ticket = self.ticket(ticket_id)
            if ticket.status != WAITING:
                raise TicketStateError(
                    f"ticket {ticket.label} is {ticket.status}: only a waiting ticket is called"
                )
        if counter.ticket_id:
            self._finish(counter_id, no_show=self.ticket(counter.ticket_id).status == CALLED)
        called = self._call(counter_id, ticket_id)
        if called is not None:
            self._audit(
                "called", officer, counter_id=counter_id, ticket_id=called.ticket_id, ticket=called.label
            )
        return called

    def arrived(self, counter_id: str, officer: str) -> Ticket:
        counter = self._counter(counter_id)
        if not counter.ticket_id:
            raise CounterStateError(f"counter {counter_id} has called nobody")
        ticket = self.ticket(counter.ticket_id)
        if ticket.status != CALLED:
            raise TicketStateError(f"ticket {ticket.label} is {ticket.status}, not called")
        ticket.status, ticket.arrived_at = SERVING, self.now
        self._write(ticket)
        self._event("arrived", ticket)
        return ticket

    def sweep(self) -> None:
        """Skip called drivers past the grace time (the counter calls the next ticket); flag drivers who
        should set off now (once each)."""
        for counter_id, counter in sorted(self.book.counters.items()):
            if not counter.ticket_id:
                continue
            ticket = self.ticket(counter.ticket_id)
            if ticket.status == CALLED and self.now - ticket.called_at >= self.settings.grace_s:
                self._finish(counter_id, no_show=True)
                if counter.open:
                    self._call(counter_id, "")

    def sweep_and_mark(self, set_off: list[str]) -> None:
        self.sweep()
        self.mark_set_off(set_off)

    def mark_set_off(self, ticket_ids: list[str]) -> None:
        for ticket_id in ticket_ids:
            ticket = self.ticket(ticket_id)
            if ticket.status == WAITING and not ticket.set_off_sent:
                ticket.set_off_sent = True
                self._write(ticket)
                self._event("set_off", ticket)

    # ------------------------------------------------------------------ internals

    def _counter(self, counter_id: str) -> CounterState:
        counter = self.book.counters.get(counter_id)
        if counter is None:
            raise CounterStateError(f"no counter {counter_id!r}")
        return counter

    def _call(self, counter_id: str, ticket_id: str) -> Ticket | None:
        ticket_id = ticket_id or (self.book.waiting[0] if self.book.waiting else "")
        if not ticket_id:
            return None
        self.book.waiting.remove(ticket_id)
        ticket = self.ticket(ticket_id)
        ticket.status, ticket.counter_id, ticket.called_at = CALLED, counter_id, self.now
        if not ticket.first_called_at:
            ticket.first_called_at = self.now
            self._record_first_call(ticket)
        self.book.counters[counter_id].ticket_id = ticket_id
        self._write(ticket)
        self.change.count("called")
        self._event("called", ticket, wait_s=f"{self.now - ticket.issued_at:.0f}")
        return ticket

    def _record_first_call(self, ticket: Ticket) -> None:
        """The wait of a ticket's first call, beside what each predictor said at issue."""
        self.change.count("first_calls")
        self.change.count("wait_s", self.now - ticket.issued_at)
        for name, predicted in (("model", ticket.predicted_at_issue), ("naive", ticket.naive_at_issue)):
            if predicted:
                self.change.count(f"predicted:{name}")
                self.change.count(f"predicted_wait_s:{name}", predicted - ticket.issued_at)
                self.change.count(f"error_s:{name}", abs(predicted - self.now))

    def _finish(self, counter_id: str, no_show: bool) -> None:
        counter = self.book.counters[counter_id]
        ticket = self.ticket(counter.ticket_id)
        counter.ticket_id = ""
        ticket.finished_at = self.now
        ticket.status = NO_SHOW if no_show else DONE
        self._write(ticket)
        self.change.history.append({"fact": "call", "at": self.now, "no_show": no_show})
        if not no_show:
            occupancy = self.now - ticket.called_at
            self.change.history.append(
                {
                    "fact": "occupancy",
                    "at": self.now,
                    "cargo_type": ticket.cargo_type,
                    "counter_id": counter_id,
                    "occupancy_s": occupancy,
                }
            )
        self.change.count("no_show" if no_show else "served")
        self._event("no_show" if no_show else "served", ticket)

    def _free_counter(self, counter_id: str) -> None:
        counter = self.book.counters.get(counter_id)
        if counter is not None:
            counter.ticket_id = ""


def _counter_name(counter_id: str) -> str:
    name = counter_id.strip()
    if not name or len(name) > MAX_COUNTER_CHARS or not name.replace("-", "").replace("_", "").isalnum():
        raise QueueError(
            f"a counter id is 1-{MAX_COUNTER_CHARS} letters, digits, '-' or '_', got {counter_id!r}"
        )
    return name


# --------------------------------------------------------------------------- predictions


def model_from_history(facts: list[dict[str, Any]]) -> OccupancyModel:
    """The occupancy model of the day's facts, in the order they happened."""
    model = OccupancyModel()
    for fact in facts:
        kind = fact.get("fact")
        if kind == "occupancy":
            model.add_occupancy(str(fact["cargo_type"]), str(fact["counter_id"]), float(fact["occupancy_s"]))
        elif kind == "call":
            model.add_call(bool(fact["no_show"]))
        elif kind == "arrival":
            model.add_arrival(float(fact["at"]), int(fact["rank"]), str(fact["cargo_type"]))
    return model


@dataclass(frozen=True)
class Forecast:
    """Each waiting ticket's place and predicted call time (0: no counter open), by ticket id."""

    places: dict[str, int]
    calls: dict[str, float]
    naive: dict[str, float]


def forecast(book: Book, tickets: Mapping[str, Ticket], model: OccupancyModel, now: float) -> Forecast:
    settings = book.queue_settings()
    counters = []
    for counter_id, state in sorted(book.counters.items()):
        if state.open:
            busy = tickets.get(state.ticket_id)
            counters.append(
                Counter(counter_id, busy.cargo_type, busy.called_at) if busy else Counter(counter_id)
            )
    waiting = [Waiting(t, tickets[t].cargo_type, tickets[t].rank) for t in book.waiting if t in tickets]
    calls = predict_call_times(now, waiting, counters, model, grace_s=settings.grace_s, seed=book.seq)
    mean_s = model.mean_occupancy_s()
    places = {w.ticket_id: i + 1 for i, w in enumerate(waiting)}
    naive = {t: naive_call_time(now, p, mean_s, len(counters)) or 0.0 for t, p in places.items()}
    return Forecast(places, dict(zip(places, calls or [0.0] * len(places), strict=True)), naive)


def ticket_view(ticket: Ticket, forecast_: Forecast, settings: QueueSettings, now: float) -> dict[str, Any]:
    """What a driver's phone shows: status, place, predicted call time, when to set off."""
    view: dict[str, Any] = dataclasses.asdict(ticket) | {"label": ticket.label, "place": 0}
    view |= {"predicted_call_at": 0.0, "set_off_at": 0.0, "set_off_now": False, "message": ""}
    if ticket.status == WAITING:
        call = forecast_.calls.get(ticket.ticket_id, 0.0)
        view["place"] = forecast_.places.get(ticket.ticket_id, 0)
        if call:
            leave = set_off_at(call, ticket.travel_s, settings)
            view |= {"predicted_call_at": call, "set_off_at": leave, "set_off_now": leave <= now}
            view["message"] = "Set off now." if leave <= now else "Wait: we will tell you when to set off."
        else:
            view["message"] = "No counter is open yet: your place is kept."
    elif ticket.status == CALLED:
        view["message"] = (
            f"Called to counter {ticket.counter_id}: come within {settings.grace_s / 60:.0f} minutes."
        )
    elif ticket.status == NO_SHOW:
        can = ticket.rejoins < settings.max_rejoins
        view["message"] = "You missed your call." + (" You may rejoin the queue once." if can else "")
    else:
        view["message"] = {SERVING: "At the counter.", DONE: "Done.", CANCELLED: "Cancelled."}[ticket.status]
    return view


# --------------------------------------------------------------------------- over Redis


def queue_key(namespace: str, *parts: str) -> str:
    """A key of the queue of ``namespace``."""
    return f"{redis_prefix(namespace)}air_queue:" + ":".join(parts)


class QueueDesk:
    """The queue of one terminal in Redis (a namespace)."""

    def __init__(
        self, client: aioredis.Redis, namespace: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.clock = clock
        self._model: tuple[int, str, OccupancyModel] | None = None
        self._snapshot: tuple[tuple[int, int], tuple[Book, dict[str, Ticket], Forecast]] | None = None

    def key(self, *parts: str) -> str:
        return queue_key(self.namespace, *parts)

    def _history_key(self, now: float) -> str:
        return self.key("history", day_of(now))  # the day's history starts at the terminal's midnight

    # ------------------------------------------------------------------ reading

    async def book(self) -> Book:
        return Book.from_json(await self.client.get(self.key("book")))

    async def tickets(self, ticket_ids: list[str]) -> dict[str, Ticket]:
        if not ticket_ids:
            return {}
        raw = await self.client.mget([self.key("ticket", t) for t in ticket_ids])
        return {t: Ticket.from_json(r) for t, r in zip(ticket_ids, raw, strict=True) if r is not None}

    async def model(self, now: float) -> OccupancyModel:
        """The model of today's history, rebuilt only when the history grew."""
        key = self._history_key(now)
        length = int(await self.client.llen(key))
        if self._model is None or self._model[:2] != (length, key):
            facts = [json.loads(r) for r in await self.client.lrange(key, 0, -1)]
            self._model = (length, key, model_from_history(facts))
        return self._model[2]

    async def snapshot(self) -> tuple[Book, dict[str, Ticket], Forecast]:
        """The book, its waiting and busy tickets, and the forecast: computed again when the queue
        changed or ``FORECAST_REUSE_S`` passed (every live page of a gateway shares it)."""
        now = self.clock()
        reuse = (await self.version(), int(now // FORECAST_REUSE_S))
        if self._snapshot is not None and self._snapshot[0] == reuse:
            return self._snapshot[1]
        book = await self.book()
        busy = [c.ticket_id for c in book.counters.values() if c.ticket_id]
        tickets = await self.tickets(book.waiting + busy)
        found = book, tickets, forecast(book, tickets, await self.model(now), now)
        self._snapshot = (reuse, found)
        return found

    async def view(self, ticket_id: str) -> dict[str, Any]:
        raw = await self.client.get(self.key("ticket", ticket_id))
        if raw is None:
            raise TicketNotFound(f"no ticket {ticket_id!r}")
        ticket = Ticket.from_json(raw)
        if ticket.status == WAITING:
            book, _, predicted = await self.snapshot()
        else:
            book, predicted = await self.book(), Forecast({}, {}, {})
        return ticket_view(ticket, predicted, book.queue_settings(), self.clock())

    async def board(self) -> dict[str, Any]:
        """The whole queue, for officers and the dashboard-like page: counters, waiting tickets."""
        book, tickets, predicted = await self.snapshot()
        settings = book.queue_settings()
        now = self.clock()
        return {
            "terminal_open": book.terminal_open,
            "now": now,
            "cargo_types": {c: settings.priorities[c] for c in CARGO_TYPES if c in settings.priorities},
            "grace_s": settings.grace_s,
            "settings": dataclasses.asdict(settings),
            "counters": [
                {
                    "counter_id": cid,
                    "open": c.open,
                    "ticket": ticket_view(tickets[c.ticket_id], predicted, settings, now)
                    if c.ticket_id in tickets
                    else None,
                }
                for cid, c in sorted(book.counters.items())
            ],
            "waiting": [
                ticket_view(tickets[t], predicted, settings, now) for t in book.waiting if t in tickets
            ],
        }

    async def version(self) -> int:
        return int(await self.client.get(self.key("version")) or 0)

    # ------------------------------------------------------------------ changing

    async def take(self, cargo_type: str, travel_s: float, driver: str = "") -> dict[str, Any]:
        """A new ticket, with its predictions at issue kept for the error metrics."""

        async def issue(q: QueueBook) -> Ticket:
            ticket = q.take(cargo_type, travel_s, driver)
            model = await self.model(q.now)
            model.add_arrival(q.now, ticket.rank, ticket.cargo_type)  # a copy is rebuilt after the write
            predicted = forecast(q.book, q.tickets, model, q.now)
            ticket.predicted_at_issue = predicted.calls.get(ticket.ticket_id, 0.0)
            ticket.naive_at_issue = predicted.naive.get(ticket.ticket_id, 0.0)
            return ticket

        ticket = await self._change(issue, waiting=True)
        return await self.view(ticket.ticket_id)

    async def cancel(self, ticket_id: str) -> dict[str, Any]:
        await self._change(lambda q: q.cancel(ticket_id), ticket_ids=[ticket_id])
        return await self.view(ticket_id)

    async def rejoin(self, ticket_id: str) -> dict[str, Any]:
        await self._change(lambda q: q.rejoin(ticket_id), ticket_ids=[ticket_id], waiting=True)
        return await self.view(ticket_id)

    async def set_terminal(self, is_open: bool, officer: str) -> None:
        await self._change(lambda q: q.set_terminal(is_open, officer))

    async def configure(self, changes: Mapping[str, Any], officer: str) -> dict[str, Any]:
        """Change the terminal's settings (priorities, grace time...); return them all."""
        settings = await self._change(lambda q: q.configure(changes, officer), waiting=True)
        return dataclasses.asdict(settings)

    async def open_counter(self, counter_id: str, officer: str) -> None:
        await self._change(lambda q: q.open_counter(counter_id, officer))

    async def close_counter(self, counter_id: str, officer: str) -> None:
        await self._change(lambda q: q.close_counter(counter_id, officer), busy=True)

    async def call_next(self, counter_id: str, officer: str, ticket_id: str = "") -> dict[str, Any] | None:
        extra = [ticket_id] if ticket_id else []
        called = await self._change(
            lambda q: q.call_next(counter_id, officer, ticket_id), ticket_ids=extra, waiting=True, busy=True
        )
        return await self.view(called.ticket_id) if called is not None else None

    async def arrived(self, counter_id: str, officer: str) -> dict[str, Any]:
        ticket = await self._change(lambda q: q.arrived(counter_id, officer), busy=True)
        return await self.view(ticket.ticket_id)

    async def sweep(self) -> None:
        """No-shows past the grace time, and set-off notices (the gateway runs this every second)."""
        now = self.clock()
        book, tickets, predicted = await self.snapshot()
        settings = book.queue_settings()
        due = [
            t for t in book.waiting
            if t in tickets and not tickets[t].set_off_sent and predicted.calls.get(t)
            and set_off_at(predicted.calls[t], tickets[t].travel_s, settings) <= now
        ]  # fmt: skip
        overdue = any(
            c.ticket_id in tickets
            and tickets[c.ticket_id].status == CALLED
            and now - tickets[c.ticket_id].called_at >= settings.grace_s
            for c in book.counters.values()
        )
        if due or overdue:
            await self._change(lambda q: q.sweep_and_mark(due), ticket_ids=due, waiting=True, busy=True)

    async def take_events(self, limit: int = 500) -> list[dict[str, str]]:
        """Records waiting to be published (removed from Redis: the caller publishes them)."""
        key = self.key("events")
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.lrange(key, 0, limit - 1)
            pipe.ltrim(key, limit, -1)
            raw, _ = await pipe.execute()
        return [json.loads(r) for r in raw]

    async def stats(self) -> dict[str, float]:
        return {_text(k): float(v) for k, v in (await self.client.hgetall(self.key("stats"))).items()}

    async def _change(
        self,
        operation: Callable[[QueueBook], Any],
        *,
        ticket_ids: list[str] | None = None,
        waiting: bool = False,
        busy: bool = False,
    ) -> Any:
        """Apply ``operation`` to the book and the tickets it needs, atomically (retried on a race)."""
        book_key = self.key("book")
        while True:
            async with self.client.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(book_key)
                    now = self.clock()
                    book = Book.from_json(await pipe.get(book_key))
                    needed = set(ticket_ids or [])
                    if waiting:
                        needed |= set(book.waiting)
                    needed |= {
                        c.ticket_id for c in book.counters.values() if c.ticket_id
                    }  # sweep, close, call
                    raw = await pipe.mget([self.key("ticket", t) for t in sorted(needed)]) if needed else []
                    tickets = {
                        t: Ticket.from_json(r)
                        for t, r in zip(sorted(needed), raw, strict=True)
                        if r is not None
                    }
                    q = QueueBook(book, tickets, now)
                    result = operation(q)
                    if asyncio.iscoroutine(result):
                        result = await result
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                    self._write(pipe, q, now)
                    await pipe.execute()
                    return result
                except WatchError:
                    continue

    def _write(self, pipe: Any, q: QueueBook, now: float) -> None:
        pipe.set(self.key("book"), q.book.to_json())
        for ticket in q.change.tickets.values():
            pipe.set(self.key("ticket", ticket.ticket_id), ticket.to_json(), ex=TICKET_TTL_S)
        if q.change.history:
            history = self._history_key(now)
            pipe.rpush(history, *[json.dumps(f) for f in q.change.history])
            pipe.expire(history, HISTORY_TTL_S)
        if q.change.events:
            pipe.rpush(self.key("events"), *[json.dumps(e) for e in q.change.events])
        for name, value in q.change.stats.items():
            pipe.hincrbyfloat(self.key("stats"), name, value)
        for body in q.change.audit:
            enqueue_event(pipe, self.namespace, AUDIT_KIND, body)
        pipe.incr(self.key("version"))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
