"""Micro-batches decided while the next one is taken, stored in the order they were taken.

A frames agent hands each batch it takes to ``BatchesInFlight.submit`` and goes back to the stream at
once, so the next batch fills (Faust's ``take`` window) while this one is on Ray, instead of after it.
Three rules keep what the awaited loop guaranteed:

- **No offset moves on before its verdict is stored.** ``take`` acks a batch's events when the agent
  asks for the next one; each event's message is held one reference more (``Message.incref``) until its
  batch's work has finished, so Faust's final ack, and with it the committable offset, waits for the
  store. Faust commits only the run of acked offsets without a gap, so a later batch finishing first
  commits nothing past an earlier one still in flight.
- **Verdicts are stored and published in the order the batches were taken.** A batch's work is given
  the batch before it and waits for it before storing (``ordered``), so a source's verdicts reach the
  ledger and the verdicts topic in order; only the deciding (the Ray calls) overlaps.
- **Bounded.** ``submit`` returns once fewer than ``limit`` batches are in flight, so the agent takes
  the next batch while at most ``limit - 1`` are decided, and waits for the oldest beyond that: a slow
  plugin pushes back on the stream as before. ``limit = 1`` is the awaited loop (each batch finished
  before the next is taken); 2 takes the next batch while one is decided.

A batch whose work raised is not acked: the agent raises its error at the next batch or at the stop,
and its frames are delivered again (or republished by the reconciler).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Held(Protocol):
    """What a batch's element must offer: a Faust event (``incref`` on its message, ``ack``)."""

    message: Any

    def ack(self) -> bool: ...


Work = Callable[[asyncio.Task[None] | None], Awaitable[None]]


async def ordered(before: asyncio.Task[None] | None) -> None:
    """Wait until the batch taken before has finished: raises its error (or cancellation) if it failed,
    so a batch is never stored ahead of one that was not."""
    if before is not None:
        await before


class BatchesInFlight:
    """The batches an agent has taken and not yet finished, oldest first."""

    def __init__(self, limit: int, name: str = "") -> None:
        if limit < 1:
            raise ValueError(f"at least one batch in flight, not {limit}")
        self.limit = limit
        self.name = name
        self.tasks: deque[asyncio.Task[None]] = deque()

    def __len__(self) -> int:
        return len(self.tasks)

    async def submit(self, events: Sequence[Held], work: Work) -> None:
        """Start ``work(before)`` for a batch, ``before`` the task of the batch taken before it (or None);
        return once fewer than ``limit`` batches are in flight. Raises the error of a batch that failed
        (the oldest ones are looked at here, so an error surfaces at the latest with the next batch)."""
        for event in events:
            event.message.incref()  # held past take()'s ack until the work has finished
        before = self.tasks[-1] if self.tasks else None
        task = asyncio.get_running_loop().create_task(self._run(work, before, events))
        task.add_done_callback(self._log_failure)
        self.tasks.append(task)
        while self.tasks and (len(self.tasks) >= self.limit or self.tasks[0].done()):
            oldest = self.tasks[0]
            await asyncio.wait((oldest,))  # not ``await oldest``: the agent's cancellation stays its own
            self.tasks.popleft()
            oldest.result()  # the batch's error, raised in the agent, which stops as the awaited loop did

    async def drain(self, timeout_s: float) -> None:
        """At the stop: let the batches in flight finish (up to ``timeout_s``), then cancel the rest; their
        events stay unacked and their frames are delivered again. Raises the first batch's error."""
        if not self.tasks:
            return
        pending = list(self.tasks)
        self.tasks.clear()
        _done, late = await asyncio.wait(pending, timeout=timeout_s)
        for task in late:
            task.cancel()
        if late:
            log.warning(
                "%s: %d batches still in flight after %.0f s at the stop; their frames are delivered again",
                self.name,
                len(late),
                timeout_s,
            )
            await asyncio.wait(late)
        for task in pending:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]  # checked just above

    @staticmethod
    async def _run(work: Work, before: asyncio.Task[None] | None, events: Sequence[Held]) -> None:
        await work(before)
        for event in events:
            event.ack()  # the last reference: the offset may now be committed

    def _log_failure(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: a batch failed; its frames stay unacked", self.name, exc_info=task.exception())
