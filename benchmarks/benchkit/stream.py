"""Stream hop checkpoint: frame records from their modality topic into the stream worker's hands.

``worker_hop`` starts ``benchkit/worker_hop.py`` (the runtime's own Faust app, dispatch replaced by a
count) on a pre-filled topic and waits for its count; the floors are ``benchkit.baselines``' bare
aiokafka loop and count-only Faust agent, on the same topic.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from smartcustoms.core.config import Config
from smartcustoms.runtime.process import ManagedProcess, free_port
from smartcustoms.v1 import frame_pb2

from .baselines import FaustCount, Message

HOP_SCRIPT = Path(__file__).with_name("worker_hop.py")
BENCH_DIR = Path(__file__).parent.parent


def xray_records(count: int, shape: tuple[int, ...], run_id: str, sources: int = 4) -> list[Message]:
    """(key, value) records as the gateway publishes them: inline uint8 X-ray frames, keyed by source."""
    payload = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8).tobytes()
    records = []
    for index in range(count):
        frame = frame_pb2.Frame(
            frame_id=f"hop-{run_id}-{index:06d}",
            source_id=f"bench-hop-{run_id}-lane{index % sources}",
            sequence=index // sources + 1,
            modality=frame_pb2.MODALITY_XRAY,
            shape=list(shape),
            dtype=frame_pb2.DTYPE_UINT8,
            encoding="raw",
            payload=payload,
            payload_bytes=len(payload),
        )
        frame.capture_time.GetCurrentTime()
        frame.accepted_time.GetCurrentTime()
        records.append((frame.source_id.encode(), frame.SerializeToString()))
    return records


def worker_hop(config: Config, expected: int, work_dir: Path, deadline_s: float = 90.0) -> FaustCount:
    """Start the worker's hop on the namespace's pre-filled topics, wait for its count, stop it."""
    work_dir.mkdir(parents=True, exist_ok=True)
    Path(config.run_dir).mkdir(parents=True, exist_ok=True)  # Faust's datadir lives under it
    config_path = work_dir / "config.json"
    config_path.write_text(config.to_json())
    result_path = work_dir / "result.json"
    argv = [
        sys.executable, str(HOP_SCRIPT),
        "--config", str(config_path),
        "--result", str(result_path),
        "--expected", str(expected),
        "--web-port", str(free_port()),
    ]  # fmt: skip
    process = ManagedProcess(
        "worker-hop", argv, cwd=str(BENCH_DIR), log_path=work_dir / "hop.log", stop_timeout_s=10.0
    )
    with process:
        process.wait_ready(result_path.exists, deadline_s)  # written by an atomic rename
        result = json.loads(result_path.read_text())
    return FaustCount(result["count"], [tuple(point) for point in result["timeline"]])
