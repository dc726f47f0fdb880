"""A prototype of the stream worker that finalizes verdicts itself, for the stage benchmark only.

``runtime.worker.main`` as it is, with two things replaced in this process: the frames agent's step
after the Ray call (``_handle``) stores the batch's verdicts through ``VerdictSink`` (the same Lua
``finalize_many``, result hooks, blob release) before it publishes them to the verdict topic, and the
verdict agent's sink stores nothing (the verdicts are already stored; it still feeds the fusion stage).
So a frame's path loses the verdict publish's wait, the second Kafka hop and the verdict agent's batch
window. Run as ``python -m benchkit.finalize_worker --config PATH`` (``test_bench_stages.py`` with
``SMARTCUSTOMS_BENCH_FINALIZE_IN_WORKER=1``). Not the product: a measurement of what the design gains.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from smartcustoms.core import config as config_module
from smartcustoms.core.types import Modality
from smartcustoms.runtime import worker
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.sink import VerdictSink
from smartcustoms.v1 import frame_pb2, results_pb2


class _StoredAlready(VerdictSink):
    """The verdict agent's sink: the frames agent stored these verdicts already."""

    async def store_batch_waiting(self, messages: Sequence[bytes], max_delay_s: float = 2.0) -> list[bytes]:
        return []


def install() -> None:
    sinks: dict[str, VerdictSink] = {}

    def sink_of(runtime: worker.WorkerRuntime) -> VerdictSink:
        if "sink" not in sinks:
            ledger = ledger_for(runtime.config, aioredis.Redis.from_url(runtime.config.redis.url))
            sinks["sink"] = VerdictSink(
                ledger, runtime.store, runtime.pm, runtime.sensor, shadow_compare=runtime.shadow_compare
            )
        return sinks["sink"]

    async def handle(
        runtime: worker.WorkerRuntime, modality: Modality, frames: list[frame_pb2.Frame], verdicts: Any
    ) -> None:
        if not frames:
            return
        now = time.time()
        runtime.sensor.batch_consumed(modality.value, len(frames))
        for frame in frames:
            runtime.sensor.stream_delay(modality.value, now - frame.accepted_time.ToNanoseconds() / 1e9)
        decided = await runtime.dispatcher.decide(frames)
        batch = results_pb2.VerdictBatch(verdicts=decided).SerializeToString()
        bad = await sink_of(runtime).store_batch_waiting([batch])  # stored before the offset moves on
        assert not bad, "the dispatcher's own verdicts must parse"
        await (await verdicts.send(key=frames[0].source_id.encode(), value=batch))  # for fusion
        runtime.sensor.verdicts_published(modality.value, len(decided))

    worker._handle = handle
    worker.VerdictSink = _StoredAlready  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    install()
    worker.main(config_module.load(parser.parse_args().config))


if __name__ == "__main__":
    main()
