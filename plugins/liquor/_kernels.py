"""Numba kernels of the label matcher: private, pure functions over arrays, no argument checks.

``index`` checks dtypes and shapes and carries the documentation. Descriptors are ORB's 256-bit binary
strings, as uint8 [n, 32] (bytes, for the hash keys) and the same memory as uint64 [n, 4] (for the
Hamming distance, four popcounts).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, types
from numba.extending import intrinsic


@intrinsic
def _popcount(typingctx: object, value: types.Integer) -> object:  # pragma: no cover
    """LLVM's ctpop: one POPCNT instruction where the CPU has it."""
    if not isinstance(value, types.Integer):
        return None
    signature = types.uint64(types.uint64)

    def codegen(context: object, builder: object, sig: object, args: list[object]) -> object:
        return builder.ctpop(args[0])  # type: ignore[attr-defined]  # llvmlite's IRBuilder

    return signature, codegen


_count: Any = _popcount  # what the kernels call (mypy reads the intrinsic's signature with typingctx)


@njit(cache=True, nogil=True)
def _hash_keys(descriptors: np.ndarray, bits: np.ndarray) -> np.ndarray:  # pragma: no cover
    """keys[t, i]: descriptor i's bits at positions bits[t, :], as an integer (table t's bucket)."""
    tables, key_bits = bits.shape
    count = descriptors.shape[0]
    keys = np.zeros((tables, count), np.int64)
    for table in range(tables):
        for i in range(count):
            key = 0
            for b in range(key_bits):
                position = bits[table, b]
                key = (key << 1) | ((descriptors[i, position >> 3] >> (position & 7)) & 1)
            keys[table, i] = key
    return keys


@njit(cache=True, nogil=True)
def _match(
    query_bytes: np.ndarray,
    query_words: np.ndarray,
    train_words: np.ndarray,
    train_group: np.ndarray,
    bits: np.ndarray,
    order: np.ndarray,
    offsets: np.ndarray,
    best: np.ndarray,
    best_index: np.ndarray,
    other: np.ndarray,
) -> None:  # pragma: no cover
    """For each query descriptor, over the train descriptors sharing a hash bucket with it in any table:
    the nearest (distance ``best``, index ``best_index``, -1 if none) and the nearest of another group
    than the nearest's (distance ``other``; 256 + 1 if none)."""
    keys = _hash_keys(query_bytes, bits)
    tables = bits.shape[0]
    for i in range(query_words.shape[0]):
        b, b_index, b_other = 257, -1, 257
        q0, q1, q2, q3 = query_words[i, 0], query_words[i, 1], query_words[i, 2], query_words[i, 3]
        for table in range(tables):
            key = keys[table, i]
            for slot in range(offsets[table, key], offsets[table, key + 1]):
                j = order[table, slot]
                d = int(
                    _count(q0 ^ train_words[j, 0])
                    + _count(q1 ^ train_words[j, 1])
                    + _count(q2 ^ train_words[j, 2])
                    + _count(q3 ^ train_words[j, 3])
                )
                if d >= b_other:
                    continue
                if d < b:
                    if b_index >= 0 and train_group[b_index] != train_group[j]:
                        b_other = b
                    b, b_index = d, j
                elif j != b_index and train_group[j] != train_group[b_index]:
                    b_other = d
        best[i], best_index[i], other[i] = b, b_index, b_other
