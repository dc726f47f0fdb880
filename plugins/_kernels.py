"""Numba kernels of the built-in plugins: private, pure functions over arrays."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def dense_tile_counts(channel: np.ndarray, threshold: int, tile: int) -> np.ndarray:  # pragma: no cover
    """Per tile x tile block, how many pixels transmit less than ``threshold``."""
    height, width = channel.shape
    rows = (height + tile - 1) // tile
    cols = (width + tile - 1) // tile
    counts = np.zeros((rows, cols), dtype=np.int32)
    for y in range(height):
        row = y // tile
        for x in range(width):
            if channel[y, x] < threshold:
                counts[row, x // tile] += 1
    return counts
