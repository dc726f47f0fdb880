"""How long a simulator takes per item: ``python -m smartcustoms.hardware.sim.xray`` (or ct, vehicle)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def report_generation_time(generate: Callable[[int], object], what: str, count: int = 20) -> None:
    """Print median and max milliseconds of ``generate(index)`` over ``count`` items, after a warm-up
    call that compiles (or loads the cached) numba kernels."""
    generate(0)
    durations_ms = []
    for index in range(1, count + 1):
        start = time.perf_counter()
        generate(index)
        durations_ms.append((time.perf_counter() - start) * 1000)
    print(f"{what}: median {np.median(durations_ms):.1f} ms, max {max(durations_ms):.1f} ms over {count}")
