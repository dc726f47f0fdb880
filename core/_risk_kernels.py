"""Numba kernels of compiled tree scoring: private, pure functions over arrays, no argument checks.

``CompiledTrees`` (``risk.py``) flattens a LightGBM booster into these arrays, checks dtypes and shapes,
and carries the documentation. The method is QuickScorer's (Lucchese et al., SIGIR 2015), vectorised
across rows as in V-QuickScorer: rows are scored a block at a time, tree by tree. Every split of a tree
whose test is false for a row (the row goes right) clears the bits of the leaves in its left subtree
from the row's leaf mask; the row's exit leaf is then the lowest bit left. All splits of a tree are
tested for all rows of the block, without branches, in 16-bit lanes:

- a value is replaced by its bin, the number of the feature's distinct thresholds below it, so that
  ``value > threshold`` is ``bin > threshold's index`` exactly, in int16;
- a leaf mask is cut into chunks of 16 leaves; a split only touches the chunks its left subtree covers.

Missing values follow LightGBM's ``NumericalDecision``: a value with ``|v| <= 1e-35f`` is 0.0 (the
predictor drops such values from a row); NaN is 0.0 for a split of missing type None; NaN (and 0.0 for
missing type Zero) goes to the split's default side, which a column's ``special bin`` encodes (0: left
of every threshold, the feature's threshold count: right of all).
"""

from __future__ import annotations

import numpy as np
from numba import njit

BLOCK_ROWS = 512  # rows scored together: bins (columns x rows, int16; 31 KB for the cargo model) in L1
CHUNK_LEAVES = 16  # leaves per mask chunk: int16 lanes
MAX_CHUNKS = 4  # up to 64 leaves per tree (the exit leaf is found in one 64-bit word)
UNROLL = 4  # splits tested per pass over a block (the last few of a group one at a time)
MAX_BIN = 32766  # bins are int16: at most this many distinct thresholds on a feature
ZERO_THRESHOLD = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (1e-35f, as a double)
DEBRUIJN64 = 0x03F79D71B4CB0A89  # (lowest bit * this) >> 58 is a distinct index for each bit
NAN_SPECIAL, ZERO_SPECIAL = 1, 2  # what a value is, besides a number: missing (NaN) or zero


@njit(cache=True, nogil=True)
def _bins(
    x: np.ndarray,
    start: int,
    rows: int,
    width: int,
    thresholds: np.ndarray,
    threshold_start: np.ndarray,
    column_start: np.ndarray,
    column_kind: np.ndarray,
    column_special_bin: np.ndarray,
    values: np.ndarray,
    special: np.ndarray,
    position: np.ndarray,
    bins: np.ndarray,
) -> None:  # pragma: no cover
    """bins[column, k] for rows start .. start + rows - 1 of x (lanes rows .. width - 1 repeat the last).

    Feature f's sorted distinct thresholds are thresholds[threshold_start[f]:threshold_start[f + 1]];
    its columns are column_start[f] .. column_start[f + 1] - 1. A column of kind 0 sees NaN as 0.0;
    of kind 1 puts NaN at its special bin; of kind 2, NaN and zero.
    """
    for f in range(threshold_start.shape[0] - 1):
        if column_start[f] == column_start[f + 1]:
            continue  # no split tests this feature
        for k in range(width):
            v = x[start + min(k, rows - 1), f]
            s = 0
            if v != v:
                s, v = NAN_SPECIAL, 0.0
            elif abs(v) <= ZERO_THRESHOLD:
                s, v = ZERO_SPECIAL, 0.0
            values[k] = v
            special[k] = s
        low, count = threshold_start[f], threshold_start[f + 1] - threshold_start[f]
        position[:width] = low
        length = count
        while length > 1:  # branch-free lower bound, every lane in step
            half = length >> 1
            for k in range(width):
                p = position[k]
                position[k] = p + half if thresholds[p + half] < values[k] else p
            length -= half
        for k in range(width):
            p = position[k]
            position[k] = p - low + (1 if thresholds[p] < values[k] else 0)
        for column in range(column_start[f], column_start[f + 1]):
            kind, special_bin = column_kind[column], column_special_bin[column]
            for k in range(width):
                s = special[k]
                bins[column, k] = special_bin if s != 0 and s <= kind else position[k]


@njit(cache=True, nogil=True)
def _raw_scores(
    x: np.ndarray,
    thresholds: np.ndarray,
    threshold_start: np.ndarray,
    column_start: np.ndarray,
    column_kind: np.ndarray,
    column_special_bin: np.ndarray,
    split_column: np.ndarray,
    split_bin: np.ndarray,
    split_clears: np.ndarray,
    group_start: np.ndarray,
    chunks: int,
    leaf_values: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover
    """out[r] = the sum over trees, in tree order, of the value of the leaf row r of x reaches.

    Tree t's splits whose left subtree has leaves in chunk c (leaves 16c .. 16c + 15) are group
    g = t * chunks + c, at group_start[g] .. group_start[g + 1] - 1 of split_column, split_bin (the index
    of the split's threshold among its feature's) and split_clears (its left subtree's bits in the
    chunk). leaf_values[t, (b * DEBRUIJN64) >> 58] is the value of tree t's leaf of bit b.
    """
    n_rows, n_columns, n_trees = x.shape[0], column_kind.shape[0], leaf_values.shape[0]
    values = np.empty(BLOCK_ROWS)
    special = np.empty(BLOCK_ROWS, np.int8)
    position = np.empty(BLOCK_ROWS, np.int64)
    bins = np.empty((n_columns, BLOCK_ROWS), np.int16)
    mask = np.empty(BLOCK_ROWS, np.uint16)
    words = np.empty(BLOCK_ROWS, np.uint64)
    sums = np.empty(BLOCK_ROWS)
    for start in range(0, n_rows, BLOCK_ROWS):
        rows = min(BLOCK_ROWS, n_rows - start)
        width = min(BLOCK_ROWS, (rows + CHUNK_LEAVES - 1) // CHUNK_LEAVES * CHUNK_LEAVES)
        _bins(
            x, start, rows, width, thresholds, threshold_start, column_start, column_kind,
            column_special_bin, values, special, position, bins,
        )  # fmt: skip
        sums[:width] = 0.0
        for t in range(n_trees):
            words[:width] = 0
            for c in range(chunks):
                mask[:width] = 0xFFFF
                first, end = group_start[t * chunks + c], group_start[t * chunks + c + 1]
                _clear_leaves(bins, split_column, split_bin, split_clears, first, end, width, mask)
                offset = np.uint64(CHUNK_LEAVES * c)
                for k in range(width):
                    words[k] |= np.uint64(mask[k]) << offset
            _add_exit_leaves(words, leaf_values[t], width, sums)
        out[start : start + rows] = sums[:rows]


@njit(cache=True, nogil=True)
def _clear_leaves(
    bins: np.ndarray,
    split_column: np.ndarray,
    split_bin: np.ndarray,
    split_clears: np.ndarray,
    first: int,
    end: int,
    width: int,
    mask: np.ndarray,
) -> None:  # pragma: no cover
    """mask[k] &= ~split_clears[n] for each split n in first .. end - 1 that lane k fails (goes right)."""
    no_bits = np.uint16(0)
    tail = end - (end - first) % UNROLL
    for n in range(first, tail, UNROLL):
        c0, c1, c2, c3 = split_column[n], split_column[n + 1], split_column[n + 2], split_column[n + 3]
        b0, b1, b2, b3 = split_bin[n], split_bin[n + 1], split_bin[n + 2], split_bin[n + 3]
        m0, m1, m2, m3 = split_clears[n], split_clears[n + 1], split_clears[n + 2], split_clears[n + 3]
        for k in range(width):
            cleared = (
                (m0 if bins[c0, k] > b0 else no_bits)
                | (m1 if bins[c1, k] > b1 else no_bits)
                | (m2 if bins[c2, k] > b2 else no_bits)
                | (m3 if bins[c3, k] > b3 else no_bits)
            )
            mask[k] &= ~cleared
    for n in range(tail, end):
        c0, b0, m0 = split_column[n], split_bin[n], split_clears[n]
        for k in range(width):
            mask[k] &= ~(m0 if bins[c0, k] > b0 else no_bits)


@njit(cache=True, nogil=True)
def _add_exit_leaves(
    words: np.ndarray, leaf_values: np.ndarray, width: int, sums: np.ndarray
) -> None:  # pragma: no cover
    """sums[k] += the value of the leaf of the lowest bit set in words[k] (a tree's exit leaf)."""
    one, debruijn, shift = np.uint64(1), np.uint64(DEBRUIJN64), np.uint64(58)
    for k in range(width):
        lowest = words[k] & (~words[k] + one)
        sums[k] += leaf_values[(lowest * debruijn) >> shift]


# ------------------------------------------------------------------------ contributions (TreeSHAP)


@njit(cache=True, nogil=True)
def _contributions(
    x: np.ndarray,
    tree_start: np.ndarray,
    tree_leaf_start: np.ndarray,
    split_feature: np.ndarray,
    threshold: np.ndarray,
    missing_kind: np.ndarray,
    default_left: np.ndarray,
    path_start: np.ndarray,
    path_node: np.ndarray,
    path_left: np.ndarray,
    path_slot: np.ndarray,
    slot_start: np.ndarray,
    slot_feature: np.ndarray,
    slot_zero: np.ndarray,
    leaf_value: np.ndarray,
    quadrature_t: np.ndarray,
    quadrature_w: np.ndarray,
    expected_value: np.ndarray,
    table_start: np.ndarray,
    table: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover
    """out[r, f] += each tree's TreeSHAP contribution of feature f to row r; out[r, -1] += the tree's
    expected value: the path-dependent TreeSHAP of LightGBM's ``pred_contrib`` (Lundberg et al. 2018),
    leaf by leaf in closed form, as Linear TreeSHAP (Yu et al., NeurIPS 2022) does.

    A leaf's path tests u distinct features; slot s (slot_start[leaf] + s) is one of them, z_s =
    slot_zero the share of training rows that pass the path's tests of it (the product of their cover
    ratios), o_s = 1 if the row passes them all, else 0. Feature s gets

        value * (o_s - z_s) * sum over S of the other slots |S|! (u - |S| - 1)! / u! prod_S o prod_rest z
        = value * (o_s - z_s) * integral over [0, 1] of prod over j != s of (z_j (1 - t) + o_j t) dt,

    a polynomial of degree u - 1, integrated exactly by Gauss-Legendre at (u + 1) // 2 points
    (quadrature_t[u], quadrature_w[u]): all terms positive, no cancellation, no branch on o; the
    product over j != s as the factors before s times those after it, no division. Path
    entries path_start[leaf] ..: a node, whether the path goes left there, the slot of its feature.
    Nodes and leaves are numbered across trees (tree_start, tree_leaf_start).

    A leaf's contributions depend on the row only through which of its slots the row passes: for a leaf
    with table_start[leaf] >= 0 they were computed beforehand for every pattern (``_pattern_table``),
    and a row only finds its pattern and adds the leaf's entries for it.
    """
    n_trees, bias, rows = tree_start.shape[0] - 1, x.shape[1], x.shape[0]
    most_nodes = 1
    for t in range(n_trees):
        most_nodes = max(most_nodes, tree_start[t + 1] - tree_start[t])
    # Tree by tree, leaf by leaf, every row at once: a leaf's path is read once for all the rows, and
    # the innermost loops run along the rows (contiguous, vectorised).
    goes_left = np.empty((most_nodes, rows), np.bool_)
    most_slots = quadrature_t.shape[0]
    passes = np.empty((most_slots, rows))
    total = np.empty((most_slots, rows))
    before = np.empty((most_slots, rows))
    product = np.empty(rows)
    by_feature = np.zeros((bias, rows))  # out's columns, each row's beside the next
    code = np.empty(rows, np.int64)  # the slots a row passes, as bits
    for t in range(n_trees):
        base = tree_start[t]
        for r in range(rows):
            out[r, bias] += expected_value[t]
        for n in range(base, tree_start[t + 1]):
            f, at, kind, left = split_feature[n], threshold[n], missing_kind[n], default_left[n]
            for r in range(rows):
                goes_left[n - base, r] = _goes_left(x[r, f], at, kind, left)
        for leaf in range(tree_leaf_start[t], tree_leaf_start[t + 1]):
            first, u = slot_start[leaf], slot_start[leaf + 1] - slot_start[leaf]
            at = table_start[leaf]
            if at >= 0:
                for r in range(rows):
                    code[r] = (1 << u) - 1
                for e in range(path_start[leaf], path_start[leaf + 1]):
                    node, left, missed_bit = path_node[e] - base, path_left[e], ~(1 << path_slot[e])
                    for r in range(rows):
                        if goes_left[node, r] != left:
                            code[r] &= missed_bit
                for s in range(u):
                    f = slot_feature[first + s]
                    for r in range(rows):
                        by_feature[f, r] += table[at + code[r] * u + s]
                continue
            for s in range(u):
                for r in range(rows):
                    passes[s, r] = 1.0
                    total[s, r] = 0.0
            for e in range(path_start[leaf], path_start[leaf + 1]):
                node, left, slot = path_node[e] - base, path_left[e], path_slot[e]
                for r in range(rows):
                    passes[slot, r] *= goes_left[node, r] == left
            for i in range((u + 1) // 2):
                point, weight = quadrature_t[u, i], quadrature_w[u, i]
                for r in range(rows):
                    product[r] = weight
                for s in range(u):  # product[r] before slot s: the factors of the slots before it
                    missed = slot_zero[first + s] * (1.0 - point)
                    for r in range(rows):
                        before[s, r] = product[r]
                        product[r] *= missed + passes[s, r] * point
                for r in range(rows):
                    product[r] = 1.0
                for s in range(u - 1, -1, -1):  # times those after it: every factor but its own
                    missed = slot_zero[first + s] * (1.0 - point)
                    for r in range(rows):
                        total[s, r] += before[s, r] * product[r]
                        product[r] *= missed + passes[s, r] * point
            value = leaf_value[leaf]
            for s in range(u):
                f, zero = slot_feature[first + s], slot_zero[first + s]
                for r in range(rows):
                    by_feature[f, r] += value * (passes[s, r] - zero) * total[s, r]
    for f in range(bias):
        for r in range(rows):
            out[r, f] += by_feature[f, r]


@njit(cache=True, nogil=True)
def _pattern_table(
    slot_start: np.ndarray,
    slot_zero: np.ndarray,
    leaf_value: np.ndarray,
    quadrature_t: np.ndarray,
    quadrature_w: np.ndarray,
    table_start: np.ndarray,
    table: np.ndarray,
) -> None:  # pragma: no cover
    """For each leaf with table_start[leaf] >= 0 and its u slots: table[table_start[leaf] + code * u + s]
    = what the leaf adds to slot s's feature for a row that passes exactly the slots whose bits are set
    in code, computed as ``_contributions`` computes it for a row (the same operations in the same
    order)."""
    most = quadrature_t.shape[0]
    passes, total, before = np.empty(most), np.empty(most), np.empty(most)
    for leaf in range(table_start.shape[0]):
        at = table_start[leaf]
        if at < 0:
            continue
        first, u, value = slot_start[leaf], slot_start[leaf + 1] - slot_start[leaf], leaf_value[leaf]
        for code in range(1 << u):
            for s in range(u):
                passes[s] = 1.0 if (code >> s) & 1 else 0.0
                total[s] = 0.0
            for i in range((u + 1) // 2):
                point, weight = quadrature_t[u, i], quadrature_w[u, i]
                product = weight
                for s in range(u):
                    before[s] = product
                    product *= slot_zero[first + s] * (1.0 - point) + passes[s] * point
                product = 1.0
                for s in range(u - 1, -1, -1):
                    total[s] += before[s] * product
                    product *= slot_zero[first + s] * (1.0 - point) + passes[s] * point
            for s in range(u):
                table[at + code * u + s] = value * (passes[s] - slot_zero[first + s]) * total[s]


@njit(cache=True, nogil=True, inline="always")
def _goes_left(v: float, threshold: float, missing_kind: int, default_left: bool) -> bool:  # pragma: no cover
    """LightGBM's ``NumericalDecision`` on a row as its predictor holds it (no values under 1e-35f);
    missing_kind 0 None, 1 Zero, 2 NaN."""
    if abs(v) <= ZERO_THRESHOLD or (v != v and missing_kind != 2):
        v = 0.0
    if (missing_kind == 1 and v == 0.0) or (missing_kind == 2 and v != v):
        return default_left
    return v <= threshold
