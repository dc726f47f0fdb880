"""Stream hop: frame records from the modality topic into the worker's ``take()`` batches, against bare
aiokafka and a count-only Faust agent on the same topic of the same broker.

The framework path is the stream worker's own Faust app (``runtime.worker.create_app``: its settings,
its shortened fetch wait, its frames agent decoding each ``Frame``) with only the step after the hop
(Ray dispatch, verdicts) replaced by a count (``benchkit/worker_hop.py``). The topic is filled once by
the bare aiokafka producer (20,000 inline 4 KiB X-ray records, as the gateway publishes them), then read
by the bare consumer, by the worker's hop and by the count-only agent. Rates are steady rates (10 % to
90 % of the messages, see README.md); pytest-benchmark's time for the hop includes the worker's start
and its consumer group join (~5 s). Nothing asserts a time: every record must be counted.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from benchkit.baselines import bare_kafka, faust_count
from benchkit.checkpoints import ratio, record
from benchkit.stream import worker_hop, xray_records

from smartcustoms.core.types import Modality
from smartcustoms.runtime.services import EmbeddedBroker, EmbeddedRay, EmbeddedRedis
from smartcustoms.runtime.testing import config_on_services
from smartcustoms.runtime.topics import all_topics, ensure_topics, frames_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MESSAGES = 20_000
SHAPE = (1, 64, 64)  # 4 KiB of uint8 pixels, inline in the record


def test_stream_hop(
    benchmark: Any,
    broker: EmbeddedBroker,
    redis_service: EmbeddedRedis,
    ray_head: EmbeddedRay,
    session_dir: Path,
    shm_root: Path,
    tmp_path: Path,
    checkpoint_summary: list[dict[str, Any]],
) -> None:
    config = config_on_services(broker, redis_service, ray_head, session_dir / "hop-run", shm_root, "bhop")
    bootstrap, partitions = config.broker.bootstrap_servers, config.broker.partitions
    records = xray_records(MESSAGES, SHAPE, uuid.uuid4().hex[:6])
    asyncio.run(ensure_topics(bootstrap, all_topics(config.namespace), partitions))
    topic = frames_topic(config.namespace, Modality.XRAY)

    bare = asyncio.run(bare_kafka(bootstrap, topic, partitions, records))  # also fills the topic
    hop = benchmark.pedantic(
        lambda: worker_hop(config, len(records), tmp_path / "hop"), rounds=1, iterations=1
    )
    faust = faust_count(config, topic, len(records), tmp_path / "faust-counter")
    assert hop.messages == len(records), f"the worker's hop counted {hop.messages} of {len(records)}"
    assert faust.messages == len(records)

    message_bytes = round(sum(len(value) for _, value in records) / len(records))
    figures: dict[str, Any] = {
        "messages": len(records),
        "message_bytes": message_bytes,
        "batch_max_frames": config.worker.batch_max_frames,
        "batch_window_ms": config.worker.batch_window_ms,
        "frames_per_s": round(hop.per_s, 1),
        "mb_per_s": round(hop.per_s * message_bytes / 1e6, 2),
        "span_frames_per_s": round(hop.span_per_s, 1),
        "bare_frames_per_s": round(bare.consume_per_s, 1),
        "bare_mb_per_s": round(bare.consume_per_s * message_bytes / 1e6, 2),
        "bare_produce_per_s": round(bare.produce_per_s, 1),
        "bare_consume_span_per_s": round(bare.consume_span_per_s, 1),
        "bare_loop_per_s": round(bare.loop_per_s, 1),
        "faust_count_per_s": round(faust.per_s, 1),
        "faust_count_span_per_s": round(faust.span_per_s, 1),
    }
    figures |= {
        "framework_over_bare": ratio(figures["frames_per_s"], figures["bare_frames_per_s"]),
        "framework_over_faust": ratio(figures["frames_per_s"], figures["faust_count_per_s"]),
    }
    record(benchmark, checkpoint_summary, "stream", "xray-4KiB records", figures)
