"""A hash index over the label library's ORB descriptors: nearest neighbours in Hamming distance.

Brute force over every reference descriptor (tens of thousands) for every descriptor of a frame (about
1,500) costs more than the whole frame's budget, so the index hashes descriptors by bit sampling (LSH for
the Hamming distance): ``tables`` tables, each keyed by ``key_bits`` bits of the 256 at fixed random
positions. A frame's descriptor is compared only with the reference descriptors sharing a bucket with it
in some table. Two descriptors at Hamming distance d share a given table's key with probability
(1 - d/256) ** key_bits: about 0.22 at d = 30 for 12 bits, so 16 tables find such a neighbour 98 times in
100; unrelated descriptors (d near 128) almost never share a bucket.

Every reference descriptor belongs to a group (its product line): ``match`` returns, per query, the
nearest descriptor and the nearest one of another group, for a ratio test between lines rather than
between two views of one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.lazy import lazy

if TYPE_CHECKING:
    from smartcustoms.plugins.liquor import _kernels
else:
    _kernels = lazy("smartcustoms.plugins.liquor._kernels")

DESCRIPTOR_BYTES = 32  # ORB
NO_MATCH = 257  # a distance above any Hamming distance of 256 bits


@dataclass(frozen=True, eq=False)
class Matches:
    """Per query descriptor: nearest distance and index (-1 when none shared a bucket), and the distance
    to the nearest descriptor of another group (``NO_MATCH`` when none)."""

    distance: np.ndarray  # int32 [n]
    index: np.ndarray  # int32 [n]
    other_distance: np.ndarray  # int32 [n]


class DescriptorIndex:
    """Bit-sampling hash tables over uint8 [n, 32] descriptors with an int32 group per descriptor."""

    def __init__(
        self,
        descriptors: np.ndarray,
        groups: np.ndarray,
        *,
        tables: int = 16,
        key_bits: int = 12,
        seed: int = 0,
    ) -> None:
        _check(descriptors)
        if groups.shape != (descriptors.shape[0],):
            raise ValueError("one group per descriptor")
        if not 1 <= key_bits <= 24 or tables < 1:
            raise ValueError("key_bits must be 1-24 and tables at least 1")
        rng = np.random.default_rng(seed)
        self.bits = np.stack([rng.choice(256, key_bits, replace=False) for _ in range(tables)]).astype(
            np.int64
        )
        self.descriptors = np.ascontiguousarray(descriptors)
        self.words = self.descriptors.view(np.uint64)
        self.groups = np.ascontiguousarray(groups, dtype=np.int32)
        keys = _kernels._hash_keys(self.descriptors, self.bits)
        self.order = np.argsort(keys, axis=1, kind="stable").astype(np.int32)
        buckets = 1 << key_bits
        self.offsets = np.zeros((tables, buckets + 1), np.int64)
        for table in range(tables):
            self.offsets[table, 1:] = np.cumsum(np.bincount(keys[table], minlength=buckets))

    def __len__(self) -> int:
        return int(self.descriptors.shape[0])

    def match(self, query: np.ndarray) -> Matches:
        """The nearest reference descriptor of each query descriptor, and the nearest of another group."""
        _check(query)
        query = np.ascontiguousarray(query)
        count = query.shape[0]
        best = np.empty(count, np.int32)
        index = np.empty(count, np.int32)
        other = np.empty(count, np.int32)
        if count:
            _kernels._match(
                query, query.view(np.uint64), self.words, self.groups, self.bits, self.order, self.offsets,
                best, index, other,
            )  # fmt: skip
        return Matches(best, index, other)


def _check(descriptors: np.ndarray) -> None:
    if descriptors.dtype != np.uint8 or descriptors.ndim != 2 or descriptors.shape[1] != DESCRIPTOR_BYTES:
        raise ValueError(
            f"descriptors must be uint8 [n, {DESCRIPTOR_BYTES}], got {descriptors.dtype} {descriptors.shape}"
        )
