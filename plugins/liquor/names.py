"""Which bottle a label names: the brand, the product name and the Chinese name read anywhere on the frame.

The keypoint matcher finds a label whose reference view looks like the frame. A label printed in a layout
the library has no view of, a view made from a poor photo, or a label blurred past its corners gives it
little to hold. What the label says does not depend on how it is printed: every label names its brand
and product. So when the keypoints leave the bottle to an officer, the whole frame is read (the text
detector and recogniser of rapidocr-onnxruntime, about a third of a second on one core) and the texts are
compared with every product's names:

- ``similarity``: a name against one text read (or two neighbouring texts read as one: a brand printed
  on two lines), case, accents, spaces and punctuation folded; a name inside a longer text ("GLEN
  CORRACH DISTILLERY") counts whole, a text shorter than the name counts only what it holds of it;
- the products *named* are those of the brand read best, at ``NAME_SIMILARITY`` or better; when a
  product name (or Chinese name) of that brand is read that well, only the products whose names are read
  within ``NAME_MARGIN`` of the best stay (the sizes of one line, or two products whose names differ by a
  digit: "12 Year", "18 Year");
- how well the best other brand is read (``NameMatch.rival``), and the texts around the names
  (``NameMatch.near``), where the ABV and volume are read.

The recogniser (``LabelRecogniser.by_names``) decides whether an identification stands: the reading
chooses among the products named as for a keypoint match and must agree with the chosen entry, something
besides the brand must back it, and no other brand may be read nearly as well.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rapidfuzz import fuzz

from smartcustoms.plugins.liquor.library import LabelLibrary, Product

NAME_SIMILARITY = 0.85  # a name is read when a text is at least this like it
MIN_TEXT_SCORE = 0.5  # texts the recogniser is less sure of are not read
MIN_NAME_CHARS = 3  # a name of fewer folded characters says too little to identify a bottle
NAME_MARGIN = 0.05  # products whose names are read this much less well than the best are not named
NEAR_NAMES = 1.5  # texts within this many name-region sizes of the names belong to the label


@dataclass(frozen=True)
class TextRead:
    """One line of text found on the frame: its corners (x, y), what it says, the recogniser's score."""

    quad: np.ndarray  # float [4, 2]
    text: str
    score: float

    @property
    def centre(self) -> np.ndarray:
        return np.asarray(self.quad.mean(axis=0))


@dataclass(frozen=True)
class NameMatch:
    """The products a frame's texts name, surest first, and the texts read near those names."""

    named: tuple[tuple[Product, float, float], ...]  # (product, brand read, product name read), 0-1
    near: tuple[TextRead, ...]  # texts on the label around the names (ABV and volume are read there)
    rival: float  # how well the best other brand was read


def folded(text: str) -> str:
    """Upper case, accents taken off, only letters and digits (any script) kept, Chinese in Traditional
    characters (the recogniser reads some Traditional characters as their Simplified forms)."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed.upper() if c.isalnum() and not unicodedata.combining(c))
    return _traditional().convert(kept) if any(_is_cjk(c) for c in kept) else kept


@functools.cache
def _traditional() -> Any:
    from opencc import OpenCC  # type: ignore[import-untyped]  # ships no type hints

    return OpenCC("s2t")


def similarity(name: str, texts: Sequence[str]) -> tuple[float, int]:
    """How well ``name`` is read in ``texts`` (folded), 0-1, and the index of the text that reads it best:
    a text at least as long as the name holds it anywhere (partial ratio), a shorter one must be it."""
    target = folded(name)
    best, where = 0.0, -1
    if len(target) < MIN_NAME_CHARS and not any(_is_cjk(c) for c in target):
        return best, where
    for number, text in enumerate(texts):
        if not text:
            continue
        if len(text) >= len(target):
            score = fuzz.partial_ratio(target, text) / 100
        else:
            score = fuzz.ratio(target, text) / 100
        if score > best:
            best, where = score, number
    return best, where


def _is_cjk(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


def joined(reads: Sequence[TextRead]) -> list[tuple[str, tuple[int, ...]]]:
    """Each text read, folded, and each pair of neighbouring texts read as one (the second just below or
    just right of the first, of a like height): a name printed across two lines or cut in two by the
    detector."""
    folded_texts = [folded(r.text) for r in reads]
    out: list[tuple[str, tuple[int, ...]]] = [(text, (n,)) for n, text in enumerate(folded_texts)]
    heights = [_height(r.quad) for r in reads]
    for a, first in enumerate(reads):
        for b, second in enumerate(reads):
            if a == b or not 0.5 <= heights[a] / max(heights[b], 1e-6) <= 2.0:
                continue
            gap = second.centre - first.centre
            size = max(heights[a], heights[b])
            below = 0 < gap[1] <= 2.5 * size and abs(gap[0]) <= 0.6 * _width(first.quad) + size
            right = (
                abs(gap[1]) <= 0.6 * size
                and 0 < gap[0] <= (_width(first.quad) + _width(second.quad)) / 2 + 2 * size
            )
            if below or right:
                out.append((folded_texts[a] + folded_texts[b], (a, b)))
    return out


def _height(quad: np.ndarray) -> float:
    return float(np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2


def _width(quad: np.ndarray) -> float:
    return float(np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2


def name_match(library: LabelLibrary, reads: Sequence[TextRead]) -> NameMatch:
    """The products of the brand best read on the frame, surest first (those whose product name or
    Chinese name is read best lead; when none is read, every product of the brand is named alike), how
    well the best other brand is read, and the texts near the names; nothing named when no brand is read
    at ``NAME_SIMILARITY``."""
    reads = [r for r in reads if r.score >= MIN_TEXT_SCORE]
    candidates = joined(reads)
    texts = [text for text, _ in candidates]
    brands: dict[str, tuple[float, int]] = {}
    for product in library.products:
        key = folded(product.brand)
        if key not in brands:
            brands[key] = similarity(product.brand, texts)
    ranked = sorted(brands.items(), key=lambda item: (-item[1][0], item[0]))
    if not ranked or ranked[0][1][0] < NAME_SIMILARITY:
        return NameMatch((), (), 0.0)
    top, (brand_score, at_brand) = ranked[0]
    rival = ranked[1][1][0] if len(ranked) > 1 else 0.0
    used = set(candidates[at_brand][1])
    named: list[tuple[Product, float, float]] = []
    for product in library.products:
        if folded(product.brand) != top:
            continue
        name, at_name = similarity(product.product, texts)
        zh, at_zh = similarity(product.name_zh, texts) if product.name_zh else (0.0, -1)
        if max(name, zh) >= NAME_SIMILARITY:
            used |= set(candidates[at_name if name >= zh else at_zh][1])
        named.append((product, brand_score, max(name, zh)))
    best_name = max(score for _, _, score in named)
    if best_name >= NAME_SIMILARITY:  # the product names read choose among the brand's products
        named = [entry for entry in named if entry[2] >= best_name - NAME_MARGIN]
    named.sort(key=lambda entry: (-entry[2], entry[0].catalogue_id))
    near = _near(reads, [reads[n] for n in used])
    return NameMatch(tuple((p, round(b, 4), round(n, 4)) for p, b, n in named), near, round(rival, 4))


def _near(reads: Sequence[TextRead], names: Sequence[TextRead]) -> tuple[TextRead, ...]:
    """The texts whose centres lie within ``NEAR_NAMES`` times the names' extent of the names' box."""
    corners = np.concatenate([r.quad for r in names])
    low, high = corners.min(axis=0), corners.max(axis=0)
    reach = NEAR_NAMES * float(max(high - low))
    return tuple(r for r in reads if np.all(r.centre >= low - reach) and np.all(r.centre <= high + reach))
