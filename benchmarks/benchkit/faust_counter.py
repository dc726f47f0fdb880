"""A Faust worker whose one agent only counts: the floor under the stream worker's own agents.

Run as a script by ``benchkit.baselines.faust_count``. It is set up like ``runtime/worker.py``'s app
(same broker timings, raw serializers, ``stream_wait_empty=False``, no web server) and consumes with the
worker's ``stream.take(batch_max, within=batch_window)``. When ``expected`` messages have been counted it
writes the count and its timeline (time, count so far, after each batch) to ``--result`` (atomically)
and keeps running until it is stopped. With ``--ready`` it also writes that file once ``--ready-count``
messages have been counted: a topic filled while it runs can then be timed from a consuming agent.
With ``--stamp-frames`` the messages are ``Frame``s, and the result also holds, per frame id, the time
its batch reached the agent. With ``--fetch-max-wait-ms`` its consumer waits that long per fetch, as
the stream worker's does (``runtime.worker.shorten_fetch_wait``), instead of Faust's fixed 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import faust

from smartcustoms.v1 import frame_pb2

TIMELINE_MAX = 100_000  # (time, count so far) after each batch


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    for name in ("--bootstrap", "--topic", "--result", "--app-id", "--datadir"):
        parser.add_argument(name, required=True)
    for name in ("--expected", "--partitions", "--max-message-bytes", "--batch-max", "--web-port"):
        parser.add_argument(name, type=int, required=True)
    for name in ("--session-timeout-s", "--heartbeat-s", "--batch-window-ms"):
        parser.add_argument(name, type=float, required=True)
    parser.add_argument("--ready", help="a file written once --ready-count messages are counted")
    parser.add_argument("--ready-count", type=int, default=1)
    parser.add_argument("--stamp-frames", action="store_true", help="record when each frame id came")
    parser.add_argument("--fetch-max-wait-ms", type=int, help="the stream worker's fetch wait")
    return parser.parse_args()


def create_app(args: argparse.Namespace) -> faust.App:
    app = faust.App(
        args.app_id,
        broker=[f"kafka://{host}" for host in args.bootstrap.split(",")],
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=args.partitions,
        topic_disable_leader=True,
        stream_wait_empty=False,
        web_enabled=False,
        web_port=args.web_port,
        web_bind="127.0.0.1",
        store="memory://",
        broker_session_timeout=args.session_timeout_s,
        broker_heartbeat_interval=args.heartbeat_s,
        broker_commit_interval=1.0,
        producer_max_request_size=args.max_message_bytes * 4,
        consumer_max_fetch_size=args.max_message_bytes * 4,
        consumer_auto_offset_reset="earliest",
        autodiscover=False,
        datadir=args.datadir,
        producer_acks=1,
    )
    topic = app.topic(args.topic, value_type=bytes, internal=False)
    state: dict[str, Any] = {"count": 0, "timeline": [], "stamps": {}}

    async def count(stream: Any) -> AsyncIterator[None]:
        async for batch in stream.take(args.batch_max, within=args.batch_window_ms / 1000):
            if args.stamp_frames:
                came = time.time()
                for value in batch:
                    state["stamps"][frame_pb2.Frame.FromString(value).frame_id] = came
            state["count"] += len(batch)
            if args.ready and state["count"] >= args.ready_count and "ready" not in state:
                state["ready"] = True
                write_result(args.ready, {"count": state["count"]})
            if len(state["timeline"]) < TIMELINE_MAX or state["count"] >= args.expected:
                state["timeline"].append((time.time(), state["count"]))
            if state["count"] >= args.expected and "written" not in state:
                state["written"] = True
                write_result(args.result, state)
            yield None

    app.agent(topic, name="count")(count)
    return app


def write_result(path: str, state: dict[str, Any]) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w") as out:
        json.dump(state, out)
    os.replace(temporary, path)


def main() -> None:
    args = parse_args()
    if args.fetch_max_wait_ms is not None:
        from smartcustoms.runtime.worker import shorten_fetch_wait

        shorten_fetch_wait(args.fetch_max_wait_ms)
    app = create_app(args)
    from smartcustoms.runtime.worker import quiet_worker  # as the worker runs: no spinner, no debug records

    quiet_worker(app).execute_from_commandline()


if __name__ == "__main__":
    main()
