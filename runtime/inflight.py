"""Micro-batches decided while the next one is taken, stored in the order they were taken.

A frames agent hands each batch it takes to ``BatchesInFlight.submit`` and goes back to the stream,
so the next batch fills (Faust's ``take_events`` window) while this one is on Ray, instead of after it.
Three rules keep what the awaited loop guaranteed:

- **No offset moves on before its batch has finished.** ``take_events`` acks a batch's events when the
  agent asks for the next batch (or when the generator is closed); ``submit`` first, before anything
  else can run, holds each event's message one reference more (``Message.incref``), so Faust's final ack,
  and with it the committable offset, waits for the batch's work: decoding, deciding, storing the
  verdicts. Batches release their events in the order they were taken, each after the one before, so
  the agent's acks never run past a batch still held.
- **Verdicts are stored and published in the order the batches were taken.** A batch's work is given
  the batch before it and waits for it (``ordered``) before storing, so a source's verdicts reach the
  ledger and the verdicts topic in order; only the deciding (the Ray calls) overlaps.
- **Bounded.** ``submit`` returns once fewer than ``limit`` batches are in flight, so the agent takes
  the next batch while at most ``limit - 1`` are decided, and waits for the oldest beyond that: a slow
  plugin pushes back on the stream as before. ``limit = 1`` is the awaited loop (each batch finished
  before the next is taken); 2 takes the next batch while one is decided.

A batch whose work raised is logged and released all the same, as the awaited loop's ``take`` released
it: its frames are in the ledger without a verdict, and the reconciler publishes them again after
``reconciler.redeliver_after_s`` (then a fallback verdict after ``max_attempts``). The stream goes on.
A batch cancelled at the stop is not released, nor is any batch taken after it, even one that finished:
their frames are delivered again to whichever worker holds the partition next.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

log = logging.getLogger(__name__)

CANCEL_ROUNDS = 5  # at the stop, batches cancelled again up to this many times ...
CANCEL_WAIT_S = 1.0  # ... waiting this long each time


class Held(Protocol):
    """What a batch's element must offer: a Faust event (``incref`` on its message)."""

    message: Any


Work = Callable[["asyncio.Task[None] | None"], Awaitable[None]]
Ack = Callable[[Any], Awaitable[bool]]  # Faust's ``Stream.ack``: the reference given back, sensors told


async def ordered(before: asyncio.Task[None] | None) -> None:
    """Wait until the batch taken before has finished, however it ended: a batch is never stored ahead of
    one taken earlier (one that failed has its frames republished by the reconciler). Raises
    ``CancelledError`` when that batch was cancelled at the stop: it is held for delivery again, and so
    is every batch after it, stored or not."""
    if before is not None:
        await asyncio.wait((before,))  # not ``await before``: cancelling this wait must not cancel it
        if before.cancelled():
            raise asyncio.CancelledError


class StopDeadline:
    """One time budget for every agent's drain at the stop: Faust stops the agents one after another,
    and the worker's stop must end within ``worker.stop_timeout_s``. ``stopping`` tells whether the app
    is stopping; an agent that ends while it runs (its stream failed) gets a budget of its own."""

    def __init__(self, budget_s: float, stopping: Callable[[], bool] = lambda: True) -> None:
        self.budget_s = budget_s
        self.stopping = stopping
        self._at: float | None = None

    def until(self) -> float:
        """The ``time.monotonic()`` by which the drain asking must be done: at the stop, the first agent
        to ask starts the shared clock."""
        now = time.monotonic()
        if not self.stopping():
            return now + self.budget_s
        if self._at is None:
            self._at = now + self.budget_s
        return self._at


class BatchesInFlight:
    """The batches an agent has taken and not yet finished, oldest first."""

    def __init__(self, limit: int, ack: Ack, name: str = "") -> None:
        if limit < 1:
            raise ValueError(f"at least one batch in flight, not {limit}")
        self.limit = limit
        self.ack = ack
        self.name = name
        self.tasks: deque[asyncio.Task[None]] = deque()

    def __len__(self) -> int:
        return len(self.tasks)

    async def submit(self, events: Sequence[Held], work: Work) -> None:
        """Start ``work(before)`` for a batch, ``before`` the task of the batch taken before it (or None);
        return once fewer than ``limit`` batches are in flight. Call it first thing with a batch just
        taken: its events are held before this coroutine can be suspended."""
        for event in events:
            event.message.incref()  # held past take_events' ack until the work has finished
        before = self.tasks[-1] if self.tasks else None
        task = asyncio.get_running_loop().create_task(self._run(work, before, events))
        self.tasks.append(task)
        while self.tasks and (len(self.tasks) >= self.limit or self.tasks[0].done()):
            # asyncio.wait, not ``await``: cancelling the agent here must not cancel the batch
            await asyncio.wait((self.tasks[0],))
            self.tasks.popleft()

    async def drain(self, deadline: StopDeadline) -> None:
        """At the stop: let the batches in flight finish within what is left of ``deadline``, then cancel
        the rest, left held: their frames are delivered again after the restart.

        Faust ends every agent's stream at once, then stops (cancels) the agents one after another, so a
        drain is cancelled as soon as the agents before it have stopped: it goes on waiting all the same,
        until its batches finish or the shared deadline passes, and then lets the cancellation through.
        """
        if not self.tasks:
            return
        pending = list(self.tasks)
        self.tasks.clear()
        until = deadline.until()
        cancelled = False
        try:
            while (left_s := until - time.monotonic()) > 0 and not all(task.done() for task in pending):
                try:
                    await asyncio.shield(asyncio.wait(pending, timeout=left_s))
                except asyncio.CancelledError:
                    cancelled = True  # the agent's own stop: its batches keep the shared budget
        finally:  # also when cancelled past the deadline: no batch task is left running
            await self._cancel([task for task in pending if not task.done()])
        if cancelled:
            raise asyncio.CancelledError

    async def _cancel(self, unfinished: list[asyncio.Task[None]]) -> None:
        """Cancel the batches still in flight and wait for them, a few times over: a cancellation can be
        lost (``asyncio.wait_for`` drops one that meets its result in the same turn)."""
        if unfinished:
            log.warning(
                "%s: %d batches still in flight at the stop deadline; they are delivered again",
                self.name,
                len(unfinished),
            )
        for _ in range(CANCEL_ROUNDS):
            if not unfinished:
                return
            for task in unfinished:
                task.cancel()
            await asyncio.wait(unfinished, timeout=CANCEL_WAIT_S)
            unfinished = [task for task in unfinished if not task.done()]
        if unfinished:
            log.error(
                "%s: %d batches would not stop; the worker stops without them", self.name, len(unfinished)
            )

    async def _run(self, work: Work, before: asyncio.Task[None] | None, events: Sequence[Held]) -> None:
        try:
            await work(before)
        except Exception:  # not a cancellation: at the stop a batch stays held, delivered again
            log.exception(
                "%s: a batch of %d frames failed; the reconciler republishes them", self.name, len(events)
            )
        await ordered(before)  # released in the order taken (held after one cancelled at the stop)
        for event in events:
            await self.ack(event)  # the last reference: the offset may now be committed
