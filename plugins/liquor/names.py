"""Which bottle a label names: the brand, the product name and the Chinese name read anywhere on the frame.

The keypoint matcher finds a label whose reference view looks like the frame. A label printed in a layout
the library has no view of, a view made from a poor photo, or a label blurred past its corners gives it
little to hold. What the label says does not depend on how it is printed: every label names its brand
and product. So when the keypoints leave the bottle to an officer, the whole frame is read (the text
detector and recogniser of rapidocr-onnxruntime, about a third of a second on one core) and the texts are
compared with every product's names:

- ``similarity``: a name against one text read (or two neighbouring texts read as one: a brand printed
  on two lines), case, accents, spaces and punctuation folded; a name inside a longer text ("GLEN
  CORRACH DISTILLERY") counts whole; a shorter text is a piece of the name when it holds most of it
  (a label round a turned bottle shows part of a long name: "HUIHERITAGE"), else counts only what it
  holds of it;
- the products *named* are those of the brand read best, at ``NAME_SIMILARITY`` or better; when a
  product name (or Chinese name) of that brand is read that well, only the products whose names are read
  within ``NAME_MARGIN`` of the best stay (the sizes of one line, or two products whose names differ by a
  digit: "12 Year", "18 Year");
- when no brand is read that well, the products of one brand whose product name is read best
  (``NameMatch.brand_read`` False);
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
FRAGMENT_SHARE = 0.6  # a text holding this share of a name's characters may be a piece of it
MIN_FRAGMENT_CHARS = 5  # and at least this many: a label round a bottle shows only part of a long name


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
    rival: float  # how well the best other brand (or another brand's product name) was read
    lead: float = 0.0  # how well what names the products was read: their brand, else their product name
    brand_read: bool = True  # False: no brand was read, the product name alone names the products


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
    a text at least as long as the name holds it anywhere (partial ratio); a shorter one is a piece of
    it (partial ratio the other way) when it holds at least ``FRAGMENT_SHARE`` of the name's characters
    and ``MIN_FRAGMENT_CHARS``, and must otherwise be the name (ratio)."""
    target = folded(name)
    best, where = 0.0, -1
    if len(target) < MIN_NAME_CHARS and not any(_is_cjk(c) for c in target):
        return best, where
    fragment = max(MIN_FRAGMENT_CHARS, FRAGMENT_SHARE * len(target))
    for number, text in enumerate(texts):
        if not text:
            continue
        if len(text) >= len(target):
            score = fuzz.partial_ratio(target, text) / 100
        elif len(text) >= fragment:
            score = max(fuzz.ratio(target, text), fuzz.partial_ratio(text, target)) / 100
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
        return _by_product_names(library, reads, candidates)
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
    named_ = tuple((p, round(b, 4), round(n, 4)) for p, b, n in named)
    return NameMatch(named_, near, round(rival, 4), round(brand_score, 4))


def names_read(product: Product, reads: Sequence[TextRead]) -> tuple[float, float]:
    """How well ``product``'s brand and its product name (or Chinese name, the better of the two) are
    read among the frame's texts, each 0-1, as ``name_match`` reads them."""
    texts = [text for text, _ in joined([r for r in reads if r.score >= MIN_TEXT_SCORE])]
    name = max((similarity(n, texts)[0] for n in (product.product, product.name_zh) if n), default=0.0)
    return similarity(product.brand, texts)[0], name


def _by_product_names(
    library: LabelLibrary, reads: Sequence[TextRead], candidates: Sequence[tuple[str, tuple[int, ...]]]
) -> NameMatch:
    """When no brand is read (turned out of view, or printed small): the products whose product name
    (or Chinese name) is read best, when they are all of one brand and no other brand's product name is
    read within ``NAME_MARGIN`` of theirs; nothing named otherwise."""
    texts = [text for text, _ in candidates]
    read: dict[str, tuple[float, int]] = {}
    for product in library.products:
        for name in (product.product, product.name_zh):
            if name and folded(name) not in read:
                read[folded(name)] = similarity(name, texts)
    scored = [(p, max(read[folded(n)] for n in (p.product, p.name_zh) if n)) for p in library.products]
    best = max((score for _, (score, _) in scored), default=0.0)
    if best < NAME_SIMILARITY:
        return NameMatch((), (), 0.0)
    named = [(p, score, at) for p, (score, at) in scored if score >= best - NAME_MARGIN]
    brands = {folded(p.brand) for p, _, _ in named}
    if len(brands) > 1:
        return NameMatch((), (), 0.0)
    rival = max((score for p, (score, _) in scored if folded(p.brand) not in brands), default=0.0)
    named.sort(key=lambda entry: (-entry[1], entry[0].catalogue_id))
    used = {n for _, score, at in named if score == best for n in candidates[at][1]}
    near = _near(reads, [reads[n] for n in sorted(used)])
    named_ = tuple((p, 0.0, round(score, 4)) for p, score, _ in named)
    return NameMatch(named_, near, round(rival, 4), round(best, 4), brand_read=False)


def _near(reads: Sequence[TextRead], names: Sequence[TextRead]) -> tuple[TextRead, ...]:
    """The texts whose centres lie within ``NEAR_NAMES`` times the names' extent of the names' box."""
    corners = np.concatenate([r.quad for r in names])
    low, high = corners.min(axis=0), corners.max(axis=0)
    reach = NEAR_NAMES * float(max(high - low))
    return tuple(r for r in reads if np.all(r.centre >= low - reach) and np.all(r.centre <= high + reach))
