"""A call tried again, with backoff, while the service it needs does not answer.

The stream worker's verdict stage holds its verdicts through an outage instead of dropping them: the
sink waits for Redis to store them (``sink.VerdictSink``), the frames agent for the broker to take their
publish (``worker._publish_waiting``). Both wait the same way: 0.1 s, doubling to a ceiling, one log line
when the service stops answering and one when it answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

_T = TypeVar("_T")

FIRST_DELAY_S = 0.1


async def waiting_out(
    call: Callable[[], Awaitable[_T]],
    away: Callable[[Exception], bool],
    log: logging.Logger,
    waiting: str,
    answered: str,
    max_delay_s: float = 2.0,
    on_failure: Callable[[], None] | None = None,
) -> _T:
    """``call()``'s result, the call made again while it raises an error ``away`` says is the service's
    absence (any other is raised). ``waiting`` is logged at the first such error (``%s``: the error),
    ``answered`` once the call succeeds after one (``%.1f``: the seconds waited); ``on_failure`` runs
    at each. A cancellation (the worker's stop) ends the wait."""
    delay_s = FIRST_DELAY_S
    failing_since: float | None = None
    while True:
        try:
            result = await call()
        except Exception as error:
            if not away(error):
                raise
            if on_failure is not None:
                on_failure()
            if failing_since is None:
                failing_since = time.monotonic()
                log.warning(waiting, error)
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, max_delay_s)
            continue
        if failing_since is not None:
            log.warning(answered, time.monotonic() - failing_since)
        return result
