"""Numba kernels of the cargo history: private, pure functions over arrays, no argument checks.

``features`` (``features.py``) walks a batch's declarations in time order with these, so that each sees
the history as of itself: what the state held before the batch plus what the declarations before it
in the batch added. The walk needs nothing from the state: what the batch adds is known before the
state is read, so the read and the write are one call.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _running_sums(
    order: np.ndarray, codes: np.ndarray, amounts: np.ndarray, seen: np.ndarray, totals: np.ndarray
) -> np.ndarray:  # pragma: no cover
    """For rows i in ``order``: seen[i] = the amounts of the rows before it of the same code, summed
    in that order (NaN adds nothing). totals[c]: what the batch adds to code c, from 0.0; returns
    where it adds anything."""
    touched = np.zeros(totals.shape, np.bool_)
    for i in order:
        c = codes[i]
        for j in range(amounts.shape[1]):
            seen[i, j] = totals[c, j]
            amount = amounts[i, j]
            if amount == amount:
                totals[c, j] += amount
                touched[c, j] = True
    return touched


@njit(cache=True, nogil=True)
def _running_minimums(
    order: np.ndarray, codes: np.ndarray, times: np.ndarray, lowest: np.ndarray, seen: np.ndarray
) -> None:  # pragma: no cover
    """For rows i in ``order``: seen[i] = the lowest time of the rows before it of the same code (NaN:
    none); lowest[c], NaN to start with, ends as the batch's lowest time of code c (NaN: none)."""
    for i in order:
        c = codes[i]
        seen[i] = lowest[c]
        t = times[i]
        if t == t and not (lowest[c] <= t):
            lowest[c] = t
