"""Risk on records: a gradient-boosted model with its own reasons, and an inspection budget.

Risk plugins (cargo declarations, vehicle crossings) score each record with a ``GbmModel``, a LightGBM
booster trained offline on labelled inspection outcomes and shipped as a versioned artefact. The
reasons given for a score are the model's own per-feature contributions (LightGBM's ``pred_contrib``,
TreeSHAP values in log-odds), never a hand-written explanation.

An ``InspectionBudget`` turns scores into selections: a record is selected when its score is above the
running (1 - share) quantile of recent scores, so about ``share`` of the flow is inspected whatever the
scores' scale, plus a small exploration share of random picks so that outcomes keep arriving for records
the model would not pick (without them, retraining only ever learns from its own selections). The
random pick is a hash of the record id, so a redelivered record gets the same decision.

Scores come from ``CompiledTrees``, the booster's trees flattened into arrays and scored by a numba
kernel (``_risk_kernels``), about twenty times LightGBM's own single-threaded ``predict`` and equal to
it (the same leaves, summed in the same order). A booster the kernel cannot represent (categorical
splits, linear trees, objectives other than binary, more than 64 leaves a tree) is scored by LightGBM.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from smartcustoms.core.lazy import lazy

if TYPE_CHECKING:
    import lightgbm

    from smartcustoms.core import _risk_kernels as kernels
else:
    kernels = lazy("smartcustoms.core._risk_kernels")

MODEL_FILE = "model.txt"
FEATURES_FILE = "features.json"

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 1,
}
DEFAULT_ROUNDS = 300


class GbmModel:
    """A LightGBM binary classifier and the names of its features, in column order.

    ``trees`` is the booster compiled for ``score``; None (with ``not_compiled_because``) when the
    booster has something the compiled scorer does not handle, and LightGBM scores instead.
    """

    def __init__(self, booster: lightgbm.Booster, feature_names: Sequence[str]) -> None:
        if booster.num_feature() != len(feature_names):
            count = booster.num_feature()
            raise ValueError(f"the model has {count} features, {len(feature_names)} names given")
        self.booster = booster
        self.feature_names = tuple(feature_names)
        self.trees: CompiledTrees | None = None
        self.not_compiled_because = ""
        try:
            self.trees = CompiledTrees(booster)
        except NotCompiled as refusal:
            self.not_compiled_because = str(refusal)

    @classmethod
    def train(
        cls,
        features: np.ndarray,
        labels: np.ndarray,
        feature_names: Sequence[str],
        *,
        seed: int = 0,
        params: dict[str, Any] | None = None,
        rounds: int = DEFAULT_ROUNDS,
    ) -> GbmModel:
        """Fit on ``features`` (n x f, NaN where a value is missing) and 0/1 ``labels``."""
        import lightgbm

        x, y = _matrix(features, len(feature_names)), np.asarray(labels, dtype=np.float64)
        if len(x) != len(y):
            raise ValueError(f"{len(x)} rows of features but {len(y)} labels")
        if not ((y == 0) | (y == 1)).all() or len(np.unique(y)) < 2:
            raise ValueError("labels must be 0 or 1, with both present")
        chosen = DEFAULT_PARAMS | {"seed": seed, "deterministic": True} | (params or {})
        data = lightgbm.Dataset(x, label=y, feature_name=list(feature_names), free_raw_data=True)
        return cls(lightgbm.train(chosen, data, num_boost_round=rounds), feature_names)

    @classmethod
    def load(cls, folder: Path) -> GbmModel:
        import lightgbm

        names = json.loads((folder / FEATURES_FILE).read_text())["features"]
        return cls(lightgbm.Booster(model_file=str(folder / MODEL_FILE)), names)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / MODEL_FILE))
        names = {"features": list(self.feature_names)}
        (folder / FEATURES_FILE).write_text(json.dumps(names, indent=1) + "\n")

    def score(self, features: np.ndarray) -> np.ndarray:
        """Probability of the positive class for each row."""
        x = _matrix(features, len(self.feature_names))
        if self.trees is None:
            return np.asarray(self.booster.predict(x, num_threads=1), dtype=np.float64)
        return self.trees.probabilities(x)

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """Per-row, per-feature contributions to the log-odds (n x (f + 1)); the last column is the bias.

        LightGBM's ``pred_contrib`` (TreeSHAP), computed by the compiled trees when the booster is
        compiled (~40 times faster: LightGBM takes ~2 ms a row for 300 trees), else by LightGBM."""
        x = _matrix(features, len(self.feature_names))
        if self.trees is None:
            return np.asarray(self.booster.predict(x, pred_contrib=True, num_threads=1), dtype=np.float64)
        return self.trees.contributions(x)


def _matrix(features: np.ndarray, width: int) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != width:
        raise ValueError(f"features must be an (n, {width}) array, got shape {x.shape}")
    return x


@dataclass(frozen=True)
class Reason:
    """One feature's push on a score: its value and its contribution to the log-odds."""

    feature: str
    value: float
    contribution: float

    def __str__(self) -> str:
        value = "missing" if math.isnan(self.value) else f"{self.value:.4g}"
        return f"{self.feature}={value} ({self.contribution:+.2f})"


def top_reasons(
    contributions: np.ndarray, feature_names: Sequence[str], values: np.ndarray, k: int = 3
) -> list[Reason]:
    """The ``k`` features that raise this row's score most (positive contributions only), largest first."""
    row = np.asarray(contributions, dtype=np.float64)[: len(feature_names)]
    order = np.argsort(-row, kind="stable")[:k]
    return [Reason(feature_names[i], float(values[i]), float(row[i])) for i in order if row[i] > 0]


@dataclass(frozen=True)
class Selection:
    """Which records of a batch are selected for inspection, and why."""

    selected: np.ndarray  # bool: by score or by exploration
    explored: np.ndarray  # bool: picked at random (their score alone would not have selected them)
    threshold: float  # the score a record had to exceed


class InspectionBudget:
    """Selects about ``share`` of the flow by score, plus ``exploration_share`` at random.

    The threshold is the (1 - share) quantile of the live flow: the last ``memory`` scores seen and the
    batch being judged. The batch is in its own sample so that a site starting from nothing, or a flow
    whose scores sit lower than the model's validation set did (history not yet built up), still has
    its top share selected from its first large batch; it is one batch among ``memory`` scores later
    on, so it hardly moves the threshold. While the sample is smaller than ``min_sample``, it is padded
    with ``warm_scores`` (for example the scores of the model's validation set, spread evenly over
    their range), so a lone record at start-up is judged against something.
    """

    def __init__(
        self,
        share: float,
        exploration_share: float = 0.0,
        warm_scores: Iterable[float] = (),
        memory: int = 20_000,
        min_sample: int = 200,
    ) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError(f"inspection share must be in (0, 1], got {share}")
        if not 0.0 <= exploration_share < 1.0:
            raise ValueError(f"exploration share must be in [0, 1), got {exploration_share}")
        if memory < 1 or min_sample < 0:
            raise ValueError("memory must be at least one score, min_sample not negative")
        self.share, self.exploration_share, self.min_sample = share, exploration_share, min_sample
        self._recent = np.empty(memory)  # the last `memory` live scores, a ring: no copy per batch
        self._recent_count = self._recent_next = 0
        self.warm = np.sort(np.asarray(list(warm_scores), dtype=np.float64))

    @property
    def recent(self) -> np.ndarray:
        """The live scores the threshold is taken from (at most ``memory``, in no particular order)."""
        return self._recent[: self._recent_count]

    def _remember(self, scores: np.ndarray) -> None:
        memory = len(self._recent)
        kept = scores[-memory:]
        at = (self._recent_next + np.arange(len(kept))) % memory
        self._recent[at] = kept
        self._recent_next = (self._recent_next + len(kept)) % memory
        self._recent_count = min(memory, self._recent_count + len(kept))

    def threshold(self, batch: np.ndarray | None = None) -> float:
        """Scores above this are selected, for ``batch`` judged now; with nothing to judge against,
        every record is."""
        parts = [self.recent]
        if batch is not None:
            parts.append(np.asarray(batch, dtype=np.float64))
        sample = np.concatenate(parts)
        if (missing := self.min_sample - len(sample)) > 0 and len(self.warm):
            spread = self.warm[np.linspace(0, len(self.warm) - 1, missing).round().astype(np.int64)]
            sample = np.concatenate([sample, spread])
        if not len(sample):
            return -math.inf
        return float(np.quantile(sample, 1.0 - self.share))

    def select(self, scores: np.ndarray, record_ids: Sequence[str]) -> Selection:
        scores = np.asarray(scores, dtype=np.float64)
        if len(scores) != len(record_ids):
            raise ValueError(f"{len(scores)} scores for {len(record_ids)} records")
        threshold = self.threshold(scores)
        by_score = scores > threshold
        explored = ~by_score & (uniforms(record_ids) < self.exploration_share)
        self._remember(scores)
        return Selection(by_score | explored, explored, threshold)


_FNV_OFFSET, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)
_LONGEST_ID_BYTES = 64  # longer ids are hashed by their BLAKE2b digest: memory stays n x 64 bytes


def uniforms(record_ids: Sequence[str]) -> np.ndarray:
    """A number in [0, 1) fixed by each record id, the same in every process: FNV-1a (64 bits) over
    the id's UTF-8 bytes, mixed by SplitMix64's finaliser, computed byte column by byte column over
    the whole batch."""
    encoded = [rid.encode() for rid in record_ids]
    for i, raw in enumerate(encoded):
        if len(raw) > _LONGEST_ID_BYTES:
            encoded[i] = hashlib.blake2b(raw, digest_size=32).digest()
    if not encoded:
        return np.empty(0)
    lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
    width = max(1, int(lengths.max()))
    columns = np.frombuffer(b"".join(raw.ljust(width, b"\0") for raw in encoded), np.uint8)
    columns = columns.reshape(len(encoded), width)
    h = np.full(len(encoded), _FNV_OFFSET)
    for j in range(width):
        h = np.where(lengths > j, (h ^ columns[:, j]) * _FNV_PRIME, h)
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) / 2.0**53


# --------------------------------------------------------------------------------- compiled scoring


class NotCompiled(ValueError):
    """The booster has something the compiled scorer does not handle (the message says what)."""


_CATEGORICAL, _DEFAULT_LEFT = 1, 2  # bits of decision_type
# TreeSHAP: the leaves' contributions for every pattern of slots passed, computed when the model is read
# (leaves of at most _MOST_TABLED_SLOTS features, fewest first, within this many bytes)
PATTERN_TABLE_BYTES = 32 * 1024 * 1024
_MOST_TABLED_SLOTS = 16


class CompiledTrees:
    """A binary LightGBM booster's trees as flat arrays, scored by a compiled kernel on one core.

    Read from the booster's model text (``model_to_string``, what a saved model holds): every split's
    feature, threshold (a double, kept exactly: ``dump_model``'s JSON clamps an infinite one to 1e300),
    missing type and default side, every leaf's value. Scores equal ``booster.predict`` (the same leaf
    of every tree, summed in the same order; ``_risk_kernels`` has the method and the missing-value
    rules). ``NotCompiled`` for categorical splits, linear trees, objectives other than binary, more
    than 64 leaves in a tree or more than 32,766 distinct thresholds on a feature.
    """

    def __init__(self, booster: lightgbm.Booster, pattern_table_bytes: int = PATTERN_TABLE_BYTES) -> None:
        header, trees = _read_model(booster.model_to_string())
        self.sigmoid = _binary_sigmoid(header)
        self.feature_count = booster.num_feature()
        self.chunks = max([1, *(-(-len(tree.leaves) // kernels.CHUNK_LEAVES) for tree in trees)])
        by_feature = _sorted_thresholds(trees, self.feature_count)
        self.thresholds = np.concatenate([np.zeros(0), *by_feature])
        self.threshold_start = _starts([len(t) for t in by_feature])
        columns = sorted({_column(split, by_feature) for tree in trees for split in tree.splits})
        per_feature = Counter(feature for feature, _, _ in columns)
        self.column_start = _starts([per_feature[f] for f in range(self.feature_count)])
        self.column_kind = np.array([kind for _, kind, _ in columns], dtype=np.int8)
        self.column_special_bin = np.array([special for _, _, special in columns], dtype=np.int16)
        index = {column: i for i, column in enumerate(columns)}
        groups = [_group(tree, chunk, index, by_feature) for tree in trees for chunk in range(self.chunks)]
        self.split_column = np.array([c for group in groups for c, _, _ in group], dtype=np.int32)
        self.split_bin = np.array([b for group in groups for _, b, _ in group], dtype=np.int16)
        self.split_clears = np.array([m for group in groups for _, _, m in group], dtype=np.uint16)
        self.group_start = _starts([len(group) for group in groups])
        self.leaf_values = np.zeros((len(trees), 64))
        for t, tree in enumerate(trees):
            for leaf, value in enumerate(tree.leaves):
                self.leaf_values[t, ((1 << leaf) * kernels.DEBRUIJN64 % 2**64) >> 58] = value
        self.shap = _ShapTrees.read(booster.model_to_string(), pattern_table_bytes)

    def raw_scores(self, features: np.ndarray) -> np.ndarray:
        """The sum of the trees' leaf values (log-odds) for each row of an (n, features) float64 array."""
        x = np.ascontiguousarray(features)
        if x.dtype != np.float64 or x.ndim != 2 or x.shape[1] != self.feature_count:
            raise ValueError(
                f"features must be a float64 (n, {self.feature_count}) array, got {x.dtype} {x.shape}"
            )
        out = np.empty(x.shape[0])
        kernels._raw_scores(
            x, self.thresholds, self.threshold_start, self.column_start, self.column_kind,
            self.column_special_bin, self.split_column, self.split_bin, self.split_clears,
            self.group_start, self.chunks, self.leaf_values, out,
        )  # fmt: skip
        return out

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions to the log-odds of each feature and the bias (last column), as
        LightGBM's ``pred_contrib`` gives them, for each row of an (n, features) float64 array."""
        x = np.ascontiguousarray(features)
        if x.dtype != np.float64 or x.ndim != 2 or x.shape[1] != self.feature_count:
            raise ValueError(
                f"features must be a float64 (n, {self.feature_count}) array, got {x.dtype} {x.shape}"
            )
        out = np.zeros((x.shape[0], self.feature_count + 1))
        t = self.shap
        kernels._contributions(
            x, t.tree_start, t.tree_leaf_start, t.split_feature, t.threshold, t.missing_kind,
            t.default_left, t.path_start, t.path_node, t.path_left, t.path_slot, t.slot_start,
            t.slot_feature, t.slot_zero, t.leaf_value, t.quadrature_t, t.quadrature_w, t.expected_value,
            t.table_start, t.table, out,
        )  # fmt: skip
        return out

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """The positive class's probability for each row, as LightGBM's binary objective gives it."""
        return 1.0 / (1.0 + np.exp(-self.sigmoid * self.raw_scores(features)))


@dataclass(frozen=True)
class _Split:
    feature: int
    threshold: float
    kind: int  # the kernel's column kind, from the missing type
    default_left: bool
    left_leaves: range  # the leaves of its left subtree, numbered left to right


@dataclass(frozen=True)
class _Tree:
    splits: list[_Split]
    leaves: list[float]  # leaf values, left to right

    @classmethod
    def read(cls, fields: dict[str, str]) -> _Tree:
        """From one ``Tree=`` block of the model text."""
        name = f"tree {fields['Tree']}"
        if int(fields.get("num_cat", "0")) or fields.get("is_linear", "0") != "0":
            raise NotCompiled(f"{name} has categorical splits or linear leaves")
        values = [float(v) for v in fields["leaf_value"].split()]
        most = kernels.CHUNK_LEAVES * kernels.MAX_CHUNKS
        if len(values) > most:
            raise NotCompiled(f"{name} has {len(values)} leaves (at most {most})")
        if len(values) == 1:
            return cls([], values)
        arrays = ("split_feature", "threshold", "decision_type", "left_child", "right_child")
        feature, threshold, decision, left, right = ([float(v) for v in fields[a].split()] for a in arrays)
        splits: list[_Split] = []
        order: list[int] = []  # leaf indices, left to right
        # LightGBM's missing type (bits 2-3 of a split's decision_type: None, Zero, NaN) -> the kernel's kind
        kinds = {0: 0, 1: kernels.ZERO_SPECIAL, 2: kernels.NAN_SPECIAL}

        def walk(node: int) -> None:  # a leaf is ~its index
            if node < 0:
                order.append(~node)
                return
            bits = int(decision[node])
            if bits & _CATEGORICAL or (bits >> 2) & 3 not in kinds:
                raise NotCompiled(f"{name} has a split of decision type {bits}")
            first = len(order)
            walk(int(left[node]))
            under_left = range(first, len(order))
            walk(int(right[node]))
            kind = kinds[(bits >> 2) & 3]
            splits.append(
                _Split(int(feature[node]), threshold[node], kind, bool(bits & _DEFAULT_LEFT), under_left)
            )

        walk(0)
        return cls(splits, [values[i] for i in order])


@dataclass(frozen=True)
class _ShapTrees:
    """The trees' leaves as paths, for ``_risk_kernels._contributions`` (its docstring has the terms):
    each leaf's tests (node, direction, slot of its feature) and its features' shares of training rows
    (from the model text's ``internal_count`` and ``leaf_count``, as LightGBM's TreeSHAP takes them)."""

    tree_start: np.ndarray
    tree_leaf_start: np.ndarray
    split_feature: np.ndarray
    threshold: np.ndarray
    missing_kind: np.ndarray  # LightGBM's: 0 None, 1 Zero, 2 NaN
    default_left: np.ndarray
    path_start: np.ndarray
    path_node: np.ndarray
    path_left: np.ndarray
    path_slot: np.ndarray
    slot_start: np.ndarray
    slot_feature: np.ndarray
    slot_zero: np.ndarray
    leaf_value: np.ndarray
    quadrature_t: np.ndarray  # [u]: Gauss-Legendre points on [0, 1] for a path of u features
    quadrature_w: np.ndarray  # [u]: their weights
    expected_value: np.ndarray  # per tree: its leaves' values weighted by their training rows
    table_start: np.ndarray  # per leaf: where its contributions for every pattern start in table; -1: none
    table: np.ndarray

    @classmethod
    def read(cls, text: str, pattern_table_bytes: int = 0) -> _ShapTrees:
        blocks = [block.strip() for block in text.split("end of trees")[0].split("\n\n") if block.strip()]
        trees = [dict(line.partition("=")[::2] for line in b.splitlines()) for b in blocks]
        parts = _ShapParts()
        for tree in trees:
            if "Tree" in tree:
                parts.add(tree)
        return parts.build(pattern_table_bytes)


class _ShapParts:
    """``_ShapTrees``'s arrays as lists, tree by tree."""

    def __init__(self) -> None:
        self.tree_start, self.tree_leaf_start = [0], [0]
        self.nodes: dict[str, list[float]] = {"split_feature": [], "threshold": [], "decision_type": []}
        self.path_start, self.slot_start = [0], [0]
        self.path: list[tuple[int, bool, int]] = []  # node, goes left, slot of its feature
        self.slots: list[tuple[int, float]] = []  # feature, share of training rows
        self.leaf_value: list[float] = []
        self.expected_value: list[float] = []

    def add(self, tree: dict[str, str]) -> None:
        values = [float(v) for v in tree["leaf_value"].split()]
        base = len(self.nodes["split_feature"])
        if len(values) == 1:
            self.expected_value.append(values[0])
            self._leaf(values[0], [], {})
        else:
            for name, column in self.nodes.items():
                column += [float(v) for v in tree[name].split()]
            counts = [float(v) for v in tree["internal_count"].split()]
            leaf_counts = [float(v) for v in tree["leaf_count"].split()]
            self.expected_value.append(
                sum(c / counts[0] * v for c, v in zip(leaf_counts, values, strict=True))
            )
            left = [int(v) for v in tree["left_child"].split()]
            right = [int(v) for v in tree["right_child"].split()]
            features = [int(v) for v in tree["split_feature"].split()]

            def count(node: int) -> float:
                return counts[node] if node >= 0 else leaf_counts[~node]

            leaves: dict[int, tuple[list[tuple[int, bool, int]], dict[int, float]]] = {}
            pending: list[tuple[int, list[tuple[int, bool, int]], dict[int, float]]] = [(0, [], {})]
            while pending:
                node, path, zeros = pending.pop()
                if node < 0:
                    leaves[~node] = (path, zeros)
                    continue
                f = features[node]
                for child, is_left in ((left[node], True), (right[node], False)):
                    share = zeros.get(f, 1.0) * (count(child) / counts[node])
                    pending.append((child, [*path, (base + node, is_left, f)], {**zeros, f: share}))
            for leaf, value in enumerate(values):
                self._leaf(value, *leaves[leaf])
        self.tree_start.append(len(self.nodes["split_feature"]))
        self.tree_leaf_start.append(len(self.leaf_value))

    def _leaf(self, value: float, path: list[tuple[int, bool, int]], zeros: dict[int, float]) -> None:
        slot = {f: s for s, f in enumerate(zeros)}
        self.path += [(node, is_left, slot[f]) for node, is_left, f in path]
        self.slots += list(zeros.items())
        self.path_start.append(len(self.path))
        self.slot_start.append(len(self.slots))
        self.leaf_value.append(value)

    def build(self, pattern_table_bytes: int) -> _ShapTrees:
        decision = np.array(self.nodes["decision_type"], dtype=np.int64)
        most = max([1, *(b - a for a, b in zip(self.slot_start, self.slot_start[1:], strict=False))])
        points, weights = np.zeros((most + 1, (most + 1) // 2)), np.zeros((most + 1, (most + 1) // 2))
        for u in range(1, most + 1):
            nodes, node_weights = np.polynomial.legendre.leggauss((u + 1) // 2)
            points[u, : len(nodes)], weights[u, : len(nodes)] = (nodes + 1) / 2, node_weights / 2
        slot_start = np.array(self.slot_start, dtype=np.int64)
        slot_zero = np.array([z for _, z in self.slots], dtype=np.float64)
        leaf_value = np.array(self.leaf_value, dtype=np.float64)
        table_start, table = _pattern_table(
            slot_start, slot_zero, leaf_value, points, weights, pattern_table_bytes
        )
        return _ShapTrees(
            tree_start=np.array(self.tree_start, dtype=np.int64),
            tree_leaf_start=np.array(self.tree_leaf_start, dtype=np.int64),
            split_feature=np.array(self.nodes["split_feature"], dtype=np.int64),
            threshold=np.array(self.nodes["threshold"], dtype=np.float64),
            missing_kind=((decision >> 2) & 3).astype(np.int8),
            default_left=(decision & _DEFAULT_LEFT).astype(np.bool_),
            path_start=np.array(self.path_start, dtype=np.int64),
            path_node=np.array([n for n, _, _ in self.path], dtype=np.int64),
            path_left=np.array([is_left for _, is_left, _ in self.path], dtype=np.bool_),
            path_slot=np.array([s for _, _, s in self.path], dtype=np.int64),
            slot_start=slot_start,
            slot_feature=np.array([f for f, _ in self.slots], dtype=np.int64),
            slot_zero=slot_zero,
            leaf_value=leaf_value,
            quadrature_t=points,
            quadrature_w=weights,
            expected_value=np.array(self.expected_value, dtype=np.float64),
            table_start=table_start,
            table=table,
        )


def _pattern_table(
    slot_start: np.ndarray,
    slot_zero: np.ndarray,
    leaf_value: np.ndarray,
    points: np.ndarray,
    weights: np.ndarray,
    most_bytes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each leaf's contributions for every pattern of slots a row can pass (2^u of them, u each),
    for the leaves of fewest slots first while the table stays within ``most_bytes``: (where each
    leaf's entries start, -1 for a leaf left to be computed row by row; the entries)."""
    slots = np.diff(slot_start)
    # 2^u entries of u each; a path too long for the table never counts (no overflow past 2^63)
    sizes = np.left_shift(1, np.minimum(slots, _MOST_TABLED_SLOTS + 1)).astype(np.int64) * slots
    tabled = np.zeros(len(slots), dtype=bool)
    budget = most_bytes // 8
    for u in sorted(set(slots.tolist())):  # whole groups of leaves of u slots, fewest slots first
        group = slots == u
        if u > _MOST_TABLED_SLOTS or int(sizes[group].sum()) > budget:
            break
        tabled |= group
        budget -= int(sizes[group].sum())
    table_start = np.where(tabled, np.cumsum(np.where(tabled, sizes, 0)) - sizes, -1).astype(np.int64)
    table = np.empty(int(sizes[tabled].sum()))
    kernels._pattern_table(slot_start, slot_zero, leaf_value, points, weights, table_start, table)
    return table_start, table


def _read_model(text: str) -> tuple[dict[str, str], list[_Tree]]:
    """The header fields and the trees of a LightGBM model text (blocks of ``key=value`` lines)."""
    blocks = [block.strip() for block in text.split("end of trees")[0].split("\n\n") if block.strip()]
    fields = [dict(line.partition("=")[::2] for line in block.splitlines()) for block in blocks]
    return fields[0], [_Tree.read(block) for block in fields[1:] if "Tree" in block]


def _binary_sigmoid(header: dict[str, str]) -> float:
    """The sigmoid parameter of a binary objective ("binary sigmoid:1"); NotCompiled for any other."""
    objective = header.get("objective", "").split()
    if header.get("num_tree_per_iteration", "1") != "1" or not objective or objective[0] != "binary":
        raise NotCompiled(f"objective {' '.join(objective) or 'none'!r} (only binary is compiled)")
    if "average_output" in header:
        raise NotCompiled("averaged trees (random forest mode)")
    options = dict(part.split(":", 1) for part in objective[1:] if ":" in part)
    return float(options.get("sigmoid", 1.0))


def _sorted_thresholds(trees: Sequence[_Tree], feature_count: int) -> list[np.ndarray]:
    """Each feature's distinct split thresholds, ascending (a value's bin is its place among them)."""
    by_feature: list[set[float]] = [set() for _ in range(feature_count)]
    for tree in trees:
        for split in tree.splits:
            by_feature[split.feature].add(split.threshold)
    if max(map(len, by_feature), default=0) > kernels.MAX_BIN:
        raise NotCompiled(f"more than {kernels.MAX_BIN:,} distinct thresholds on a feature")
    return [np.array(sorted(values), dtype=np.float64) for values in by_feature]


def _column(split: _Split, thresholds: Sequence[np.ndarray]) -> tuple[int, int, int]:
    """(feature, kind, special bin): where NaN (and zero for kind Zero) goes for this split."""
    if split.kind == 0:
        return split.feature, 0, 0
    return split.feature, split.kind, 0 if split.default_left else len(thresholds[split.feature])


def _group(
    tree: _Tree, chunk: int, index: dict[tuple[int, int, int], int], thresholds: Sequence[np.ndarray]
) -> list[tuple[int, int, int]]:
    """(column, threshold bin, bits cleared) of the tree's splits whose left subtree has leaves in the
    chunk."""
    low, high = chunk * kernels.CHUNK_LEAVES, (chunk + 1) * kernels.CHUNK_LEAVES
    group = []
    for split in tree.splits:
        first, end = max(split.left_leaves.start, low), min(split.left_leaves.stop, high)
        if first < end:
            bits = ((1 << (end - first)) - 1) << (first - low)
            position = int(np.searchsorted(thresholds[split.feature], split.threshold))
            group.append((index[_column(split, thresholds)], position, bits))
    return group


def _starts(counts: Sequence[int]) -> np.ndarray:
    starts = np.zeros(len(counts) + 1, dtype=np.int64)
    starts[1:] = np.cumsum(counts)
    return starts
