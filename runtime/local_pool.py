"""Plugins hosted in the stream worker's own process, for plugins too cheap for a Ray call.

A batch on a Ray actor costs a round trip of several milliseconds (serialisation, the scheduler, the
actor's event loop) whatever the plugin does; for a plugin that takes well under a millisecond a batch
(an EPC check, a rule on a record) that round trip is the whole cost. ``plugins.<name>.placement =
"worker"`` hosts such a plugin in the worker: the same ``PluginHost`` (built and warmed up before a
frame reaches it, its state and its blob store its own), called in a thread so the event loop goes on,
with the same deadline, the same failed results and the same retry frame by frame as on Ray.

What it gives up, and why it is for cheap, trusted plugins only: a plugin that crashes the process
takes the worker with it; a plugin past its deadline cannot be stopped (its frames go to an officer
and a fresh host replaces it, but its thread runs on until the call returns); and its CPU is the
worker's, at the worker's priority.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from smartcustoms.runtime.actor import BatchOutcome, PluginHost
from smartcustoms.runtime.dispatch import ActorPool, cancel_on_open_loops, one_line

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def _in_thread(name: str, call: Callable[..., _T], *args: Any) -> concurrent.futures.Future[_T]:
    """``call(*args)`` in a daemon thread of its own: a plugin stuck past its deadline never holds up
    the worker's exit (an executor's threads are joined when the interpreter exits)."""
    future: concurrent.futures.Future[_T] = concurrent.futures.Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(call(*args))
        except BaseException as error:
            future.set_exception(error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


class _LocalHost:
    """A plugin host being built (in a thread of its own), then in use."""

    def __init__(self, pool: LocalPool) -> None:
        self.building = _in_thread(f"build-{pool.name}", PluginHost, pool.actor_spec)
        self.current: concurrent.futures.Future[BatchOutcome] | None = None  # its last call

    def host(self, timeout_s: float | None = None) -> PluginHost:
        return self.building.result(timeout_s)


class LocalPool(ActorPool):
    """An ``ActorPool`` whose hosts live in this process."""

    UNIT = "host"
    REPLACEMENT_ERRORS = (Exception,)  # whatever the plugin raised while it was built

    def _spawn(self) -> _LocalHost:
        return _LocalHost(self)

    def start(self, timeout_s: float) -> None:
        if not self._launched:
            self.launch()
        hosts: list[_LocalHost] = list(self._launched)
        try:
            self.reports = [local.host(timeout_s).ready() for local in hosts]
            self._warm = hosts
        except Exception as error:  # the plugin raised while building or warming up, or took too long
            self.failure = one_line(error) or type(error).__name__
            log.error("plugin %s could not get ready: %s", self.name, self.failure)
            self.sensor.pool_ready(self.name, False)
            return
        finally:
            self._launched = []
            self._settled.set_result(None)
        slowest = max(report.build_s + report.warm_up_s for report in self.reports)
        self.sensor.pool_ready(self.name, True, slowest)

    async def _call(self, actor: Any, payload: list[bytes]) -> tuple[BatchOutcome, bool]:
        deadline_s = self.deadline_s(len(payload))
        try:
            host = actor.host(0)  # a replacement that could not be built raises here: replaced again
        except Exception as error:
            reason, detail = "error", one_line(error)
        else:
            call = actor.current = _in_thread(f"plugin-{self.name}", host.process, payload)
            try:
                return await asyncio.wait_for(asyncio.wrap_future(call), deadline_s), True
            except TimeoutError:
                reason, detail = "timeout", f"no answer within {deadline_s:g} s ({len(payload)} frames)"
        log.warning(
            "plugin %s failed a batch (%s): %s; replacing its %s", self.name, reason, detail, self.UNIT
        )
        return BatchOutcome((), 0.0, reason, detail), False

    async def _free(self, actor: Any) -> None:
        """Done once the host's last call, in its thread, has ended (however it ended), or was cancelled
        before its thread started it."""
        current = actor.current
        if current is None:
            return
        try:
            await asyncio.wrap_future(current)
        except asyncio.CancelledError:
            if not current.cancelled():
                raise  # this wait itself was cancelled: the pool is stopping
        except Exception:
            pass  # the call raised: it has ended all the same

    def _discard(self, actor: Any) -> None:
        """A host past its deadline cannot be stopped: it is left to finish in its thread."""

    def _warmed(self, replacement: Any) -> Awaitable[Any]:
        return asyncio.wrap_future(replacement.building)

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Run each idle host's shutdown hook (bounded)."""
        cancel_on_open_loops([*self._replacing, *self._freeing])
        hosts, self._warm = list(self._warm), []
        while not self.idle.empty():
            hosts.append(self.idle.get_nowait())
        hosts, self._busy = [*hosts, *self._busy], []
        built = [
            local.building.result()
            for local in hosts
            if local.building.done() and not local.building.exception()
        ]
        stopping = [_in_thread(f"stop-{self.name}", host.shutdown) for host in built]
        if stopping:
            calls = asyncio.gather(*map(asyncio.wrap_future, stopping), return_exceptions=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(calls, timeout_s)
