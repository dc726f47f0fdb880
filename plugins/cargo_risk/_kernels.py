"""Numba kernels of the cargo history: private, pure functions over arrays, no argument checks.

``features`` (``features.py``) walks a batch's declarations in time order with these, so that each sees
the history as of itself: what the state held before the batch plus what the declarations before it
in the batch added, summed in the same order as one at a time.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _running_sums(
    order: np.ndarray,
    codes: np.ndarray,
    amounts: np.ndarray,
    stored: np.ndarray,
    seen: np.ndarray,
    totals: np.ndarray,
    touched: np.ndarray,
) -> None:  # pragma: no cover
    """For rows i in ``order``: seen[i] = stored[codes[i]] plus the amounts of the rows before it of the
    same code; then its own amounts are added (NaN adds nothing). totals[c] and touched[c]: what the
    batch added to code c, from 0.0, and where it added anything."""
    running = stored.copy()
    for i in order:
        c = codes[i]
        for j in range(amounts.shape[1]):
            seen[i, j] = running[c, j]
            amount = amounts[i, j]
            if amount == amount:
                running[c, j] += amount
                totals[c, j] += amount
                touched[c, j] = True


@njit(cache=True, nogil=True)
def _running_minimums(
    order: np.ndarray, codes: np.ndarray, times: np.ndarray, lowest: np.ndarray, seen: np.ndarray
) -> np.ndarray:  # pragma: no cover
    """For rows i in ``order``: seen[i] = lowest[codes[i]] (NaN: none yet); then a time below it (not
    NaN) lowers it. ``lowest`` is updated in place; returns which codes the batch lowered."""
    lowered = np.zeros(lowest.shape[0], np.bool_)
    for i in order:
        c = codes[i]
        seen[i] = lowest[c]
        t = times[i]
        if t == t and not (lowest[c] <= t):
            lowest[c] = t
            lowered[c] = True
    return lowered
