"""The stream worker's hop alone: ``runtime.worker``'s own Faust app, with dispatch replaced by a count.

Run as a script by ``benchkit.stream.worker_hop``. The app is built by ``runtime.worker.create_app``
itself (same settings, the same shortened fetch wait, the same frames agent with its
``stream.take_events(batch_max_frames, within=batch_window_ms)``, its ``Frame`` decoding and its batches
in flight), so what is timed is exactly the hop a frame record makes from its modality topic into the
worker's hands. Only the step after it (``_handle``: Ray, verdicts) is replaced by counting the decoded
frames. When ``--expected`` frames have been counted it writes the count and its timeline (time, count
so far, after each batch) to ``--result`` (atomically) and keeps running until it is stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from prometheus_client import CollectorRegistry

from smartcustoms.core import config as config_module
from smartcustoms.core.types import Modality
from smartcustoms.runtime import worker
from smartcustoms.v1 import frame_pb2

TIMELINE_MAX = 100_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--expected", type=int, required=True)
    parser.add_argument("--web-port", type=int, required=True)
    return parser.parse_args()


def counting_handle(expected: int, result_path: str) -> Any:
    state: dict[str, Any] = {"count": 0, "timeline": []}

    async def handle(
        runtime: Any,
        modality: Modality,
        frames: list[frame_pb2.Frame],
        verdicts: Any,
        sink: Any,
        before: Any = None,
    ) -> None:
        state["count"] += len(frames)
        if len(state["timeline"]) < TIMELINE_MAX or state["count"] >= expected:
            state["timeline"].append((time.time(), state["count"]))
        if state["count"] >= expected and "written" not in state:
            state["written"] = True
            write_result(result_path, state)

    return handle


def write_result(path: str, state: dict[str, Any]) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w") as out:
        json.dump({"count": state["count"], "timeline": state["timeline"]}, out)
    os.replace(temporary, path)


def main() -> None:
    args = parse_args()
    config = config_module.load(args.config, environ={})
    runtime = worker.WorkerRuntime(config, CollectorRegistry())  # plugins loaded, no Ray pool started
    worker._handle = counting_handle(args.expected, args.result)  # the one step replaced
    app = worker.create_app(config, runtime)
    app.conf.web_port = args.web_port  # never the default 6066 another worker may hold
    worker.quiet_worker(app).execute_from_commandline()


if __name__ == "__main__":
    main()
