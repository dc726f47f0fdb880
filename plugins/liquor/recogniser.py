"""From a camera frame to a recognised bottle: the line's label (``matcher``), the bottle of the line the
printed volume and ABV point to (``reading``), a calibrated confidence (``calibration``), and whether an
officer must decide.

The bottle goes to an officer, with the candidates, when

- no line's label matched well enough (fewer than ``min_inliers`` consistent keypoints);
- the label warped back through the match's homography correlates with the view less than ``min_dense``
  (``verify``): a few keypoints agreed, the label as a whole does not;
- the confidence is below ``min_confidence``;
- what was read on the label disagrees with the chosen bottle's database entry (a different ABV or
  volume: a wrong entry, a look-alike, or a misreading the officer settles; a figure read unsurely,
  the entry's with one character replaced, printed by no product of the database and leaving the
  bottle's own duty as it was, is taken for a misreading and does not count, ``agreement``);
- the line has bottles of several sizes and the printed volume could not be read to choose.

When the keypoints leave the bottle to an officer and ``read_names`` is on, the whole frame is read and
the bottle identified by the brand and product names printed on it (``names``): the identification stands
when one product of the brand best read is left, nothing read near the names contradicts its entry, a
second piece of evidence backs the brand (the product or Chinese name read, the ABV or volume read and
agreeing, both of them read anywhere on the frame and agreeing, or the keypoints' own best candidate), no
other brand is read nearly as well, and its confidence (how often name identifications were right on the
calibration frames) reaches ``min_confidence``. When no brand is read, a product name read of one brand's
products only may name them, backed by the ABV or volume read or the keypoints. Otherwise the referral
whose best candidate is the surer stands (the keypoints', or the names' with the products they name as
candidates). A bottle the keypoints clear with a confidence below ``names_check_below`` is read whole
too, as a cross-check, and so is a twin whatever its confidence (``twins``: a product of a brand with
another of the same ABV and volume, which only the names printed tell apart; above ``names_check_below``
only names of its own brand count): when the names read are another brand's, or identify another product
of the brand, it goes to an officer, the surer of the two identifications first (and so when the names
fit other products of the brand, not the keypoints' bottle), unless the names' identification stands on
its own and the ABV and volume printed on the frame are both its entry's, and either not the keypoints'
bottle's or nothing read names that bottle (``says_only``; then it stands: everything the label says
outvotes a look); when the names fit a twin and its twin alike, the words that tell them apart decide,
and when neither's is read a clearance below ``names_check_below`` goes to an officer; when they read
another brand without identifying one of its products, that brand's products come first (the label names
its brand; the keypoints matched a look-alike), the keypoints' candidate after them.

When neither the keypoints nor the names identify the bottle, the ABV and volume printed anywhere on the
frame (read whole) still narrow the database: the products whose entries have both (``with_facts``) join
the candidates, surest first, their confidence how often such a fit was the bottle on the calibration
frames, divided among the products it fits. They never clear a bottle (many products share 40% vol and
700 ml): the referral stands, with a shortlist for the officer instead of none.

Every referral names its kind (``Recognition.referral``, one of ``REFERRALS``), so the evaluation and a
site can count why bottles go to officers.

The label is read (``read_labels``) always, never, or when needed: when the line has several bottles
(only the printed volume tells them apart), when the brand has other lines (a brand's labels may share
a design: the printed ABV and volume tell its products apart), or the match alone is not sure (below
``read_above_confidence``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from smartcustoms.core.duty import DUTIABLE_ABV_PERCENT, ML_PER_LITRE
from smartcustoms.plugins.liquor.calibration import Evidence
from smartcustoms.plugins.liquor.library import LabelLibrary, Product, View
from smartcustoms.plugins.liquor.matcher import LabelMatcher, LineMatch
from smartcustoms.plugins.liquor.names import MIN_TEXT_SCORE as NAME_TEXT_SCORE
from smartcustoms.plugins.liquor.names import (
    NAME_SIMILARITY,
    TextRead,
    folded,
    name_match,
    names_read,
)
from smartcustoms.plugins.liquor.reading import Box, LabelReader, Reading, reading_of
from smartcustoms.plugins.liquor.settings import LiquorSettings
from smartcustoms.plugins.liquor.verify import DenseCheck, frame_grey

MAX_CANDIDATES = 3
LINES_CHECKED = 3  # lines with the most inliers given the dense check; the surest of them is chosen
ABV_TOLERANCE_PERCENT = 0.05
RIVAL_MARGIN = 0.1  # names are not read when another brand is read within this of the best
READ_VIEW_SHARE = 0.4  # another view of the matched line is read through with this share of the inliers
# a cross-check of a label the keypoints found reads the lines of text within its outline widened by
# this share of its size each way (the label wraps beyond the view its keypoints matched; a receipt or
# another bottle on the counter lies farther, and each line read costs tens of milliseconds)
CHECK_READ_MARGIN = 1.0
DUTIABLE_ABV = float(DUTIABLE_ABV_PERCENT)  # liquor above pays duty
ONE_LITRE_ML = int(ML_PER_LITRE)  # a bottle above is assessed per litre
REFERRALS = {  # why a bottle goes to an officer: kind -> what it means
    "no_label": "no label of the database matched, and no name was read that identifies the bottle",
    "reading_disagrees": "the ABV or volume read disagrees with the chosen bottle's entry",
    "partial_label": "the label correlates with its reference view only in part (dense check)",
    "low_confidence": "the confidence is below min_confidence",
    "volume_unread": "the line has several sizes and the printed volume was not read",
    "names_ambiguous": "the names read fit several products that nothing read tells apart",
    "names_alone": "only the brand or a product name was read, nothing backs it",
    "names_contradict": "the names read are another brand's or product's than the keypoints matched",
}


@dataclass(frozen=True)
class Candidate:
    product: Product
    confidence: float
    inliers: int


@dataclass(frozen=True, eq=False)
class Recognition:
    """What the recogniser concluded about one frame."""

    candidates: tuple[Candidate, ...]  # best first, at most MAX_CANDIDATES
    reading: Reading = field(default_factory=Reading)
    evidence: Evidence | None = None
    outline: np.ndarray | None = None  # the label's corners on the frame, float [4, 2]
    needs_officer: bool = True
    reason: str = ""
    by_names: bool = False  # identified by the names read on the label, not by its keypoints
    referral: str = ""  # the reason's kind, one of REFERRALS ("" when the recognition stands)
    by_facts: bool = False  # its first candidate is one the ABV and volume read fit (``with_facts``)

    def __post_init__(self) -> None:
        if self.needs_officer and self.referral not in REFERRALS:
            raise ValueError(f"a referral needs its kind, one of {', '.join(REFERRALS)}: {self.referral!r}")

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


def same_abv(read: float, entry: float) -> bool:
    """Whether an ABV read is the entry's: equal, or equal but for a decimal point the reader lost
    (4.7 read as 47: no label of 4.7% prints 47%)."""
    if math.isclose(read, entry, abs_tol=ABV_TOLERANCE_PERCENT):
        return True
    return f"{read:g}".replace(".", "") == f"{entry:g}".replace(".", "")


@dataclass(frozen=True)
class Figures:
    """The ABVs and volumes the database's products print: a figure read that is one of them is never
    taken for a misreading."""

    abvs: tuple[float, ...] = ()
    volumes: frozenset[int] = frozenset()

    @classmethod
    def of(cls, products: Sequence[Product]) -> Figures:
        return cls(tuple(sorted({p.abv_percent for p in products})), frozenset(p.volume_ml for p in products))

    def has_abv(self, value: float) -> bool:
        return any(same_abv(value, abv) for abv in self.abvs)


def agreement(product: Product, reading: Reading, figures: Figures | None = None) -> tuple[int, int]:
    """(fields read that agree with the product's entry, fields read that disagree). A field read short
    of the entry's digits (digits lost, the rest in order: "8% vol" for 38%, "75 m" for 750 ml) is
    neither: the text recogniser drops a digit at a squeezed or cut edge of the box far more often
    than a label prints another bottle's figure, and the lost digit says nothing either way.

    With the database's ``figures``, a field is neither when it is a likely misreading too: read from a
    line the recogniser was not sure of (below ``SURE_TEXT_SCORE``), the entry's figure with one
    character replaced ("780 ml" for 750, "49%" for 40%) that leaves the bottle's own duty at its
    reference price as it was (an ABV on the same side of 30%; a volume of the same leading digit, both
    a litre or less), and a figure no product of the database prints. A figure some product prints
    (700 ml for a 750 ml entry), a digit more or less ("7500 ml"), a figure that would change that duty
    ("48%" for a 28% liqueur, "1780 ml" for 1.75 l: above a litre the duty is by the litre), or a line
    read surely still disagrees. (The traveller's allowance is counted in litres: on several bottles it
    takes the entry's volume.)"""
    agree = disagree = 0
    if reading.abv_percent is not None:
        read, entry = reading.abv_percent, product.abv_percent
        same = same_abv(read, entry)
        misread = (
            figures is not None
            and not reading.abv_sure
            and not figures.has_abv(read)
            and _one_replaced(f"{read:g}", f"{entry:g}")
            and (read > DUTIABLE_ABV) == (entry > DUTIABLE_ABV)
        )
        if same or not (_short_of(f"{read:g}", {f"{entry:g}"}) or misread):
            agree, disagree = agree + same, disagree + (not same)
    if reading.volume_ml is not None:
        volume, entry_ml = reading.volume_ml, product.volume_ml
        same = volume == entry_ml
        misread = (
            figures is not None
            and not reading.volume_sure
            and volume not in figures.volumes
            and _one_replaced(str(volume), str(entry_ml))
            and str(volume)[0] == str(entry_ml)[0]
            and max(volume, entry_ml) <= ONE_LITRE_ML  # above a litre, the duty is by the litre
        )
        if same or not (_short_of(str(volume), printed_volumes(entry_ml)) or misread):
            agree, disagree = agree + same, disagree + (not same)
    return agree, disagree


def _one_replaced(read: str, printed: str) -> bool:
    """Whether ``read`` is ``printed`` with exactly one character replaced."""
    return len(read) == len(printed) and sum(a != b for a, b in zip(read, printed, strict=True)) == 1


def printed_fits(
    product: Product, reads: Sequence[TextRead], rival: Product | None = None, figures: Figures | None = None
) -> bool:
    """Whether the ABV and the volume read on the frame (the surest line of each) are both the
    product's, and no line read says otherwise (a second bottle or a leaflet in the frame): no line
    disagrees with it, nor gives ``rival``'s ABV or volume where the product's differs (a figure
    read short of the product's digits, "750" for 1.75 l, is no disagreement, but is the rival's)."""
    if agreement(product, reading_of([(read.text, read.score) for read in reads]), figures) != (2, 0):
        return False
    lines = [reading_of([(read.text, read.score)]) for read in reads]
    return not any(agreement(product, line, figures)[1] or says_rival(line, product, rival) for line in lines)


def says_rival(reading: Reading, product: Product, rival: Product | None) -> bool:
    """Whether ``reading`` gives ``rival``'s ABV or volume where ``product``'s differs."""
    if rival is None:
        return False
    abv = reading.abv_percent
    if abv is not None and same_abv(abv, rival.abv_percent) and not same_abv(abv, product.abv_percent):
        return True
    volume = reading.volume_ml
    return volume is not None and volume == rival.volume_ml != product.volume_ml


def around(outline: np.ndarray | None, margin: float) -> Box | None:
    """The box of ``outline`` (corners on the frame) widened by ``margin`` of its size each way; None
    (the whole frame) without an outline."""
    if outline is None:
        return None
    low, high = outline.min(axis=0), outline.max(axis=0)
    x0, y0 = low - margin * (high - low)
    x1, y1 = high + margin * (high - low)
    return float(x0), float(y0), float(x1), float(y1)


def says_only(named: Product, seen: Product, reads: Sequence[TextRead]) -> bool:
    """Whether the frame's texts name ``named`` and not ``seen``: ``named``'s brand and product name
    both read (``NAME_SIMILARITY``); of another brand's ``seen``, neither its brand nor its product or
    Chinese name read; of the same brand's, what tells the two product names apart read for ``named``
    and not for ``seen`` (``distinct_words``: "XO" read and "VSOP" nowhere, "12" read and "18"
    nowhere), since the rest of the two names is alike ("VSOP Cognac" holds most of "XO Cognac")."""
    brand, name = names_read(named, reads)
    if min(brand, name) < NAME_SIMILARITY:
        return False
    if folded(seen.brand) != folded(named.brand):
        return max(names_read(seen, reads)) < NAME_SIMILARITY
    own, others = distinct_words(named.product, seen.product), distinct_words(seen.product, named.product)
    tokens = [token for r in reads if r.score >= NAME_TEXT_SCORE for token in _words(r.text)]
    return (
        bool(own)
        and all(any(_word_read(word, token) for token in tokens) for word in own)
        and not any(_word_read(word, token) for word in others for token in tokens)
    )


def distinct_words(name: str, other: str) -> set[str]:
    """The words of ``name`` (folded) that ``other`` does not print."""
    return set(_words(name)) - set(_words(other))


def _words(text: str) -> list[str]:
    """The words of a text, folded: split where it has neither a letter nor a digit."""
    return [word for word in (folded(part) for part in re.split(r"[\W_]+", text)) if word]


def _word_read(word: str, token: str) -> bool:
    """Whether ``word`` is read as the word ``token``: the same, or (not a number) at its start or end,
    where the recogniser joined it to its neighbour ("XOCOGNAC"); never inside a word ("LUXOR" holds no
    "XO") nor a number inside another ("2012" holds no "12")."""
    if word.isdigit() or token.isdigit():
        return word == token
    return token == word or token.startswith(word) or token.endswith(word)


def _halved(
    recognition: Recognition, twin: Product, reason: str, referral: str, twin_first: bool
) -> Recognition:
    """``recognition`` sent to an officer with its first candidate and ``twin`` at half its confidence
    each (``twin`` first or second), then its other candidates."""
    seen = recognition.candidates[0]
    share = round(seen.confidence / 2, 4)
    pair = (Candidate(twin, share, 0), dataclasses.replace(seen, confidence=share))
    rest = [c for c in recognition.candidates[1:] if c.product.catalogue_id != twin.catalogue_id]
    candidates = (*(pair if twin_first else pair[::-1]), *rest[: MAX_CANDIDATES - 2])
    return dataclasses.replace(
        recognition, candidates=candidates, needs_officer=True, reason=reason, referral=referral
    )


def twins(products: Sequence[Product]) -> frozenset[str]:
    """The products whose brand has another product of the same ABV and volume: only the names printed
    tell them apart (a brand's labels may share one design), never the figures read."""
    kinds: dict[tuple[str, float, int], list[str]] = {}
    for product in products:
        kinds.setdefault(_twin_key(product), []).append(product.catalogue_id)
    return frozenset(i for ids in kinds.values() if len(set(ids)) > 1 for i in ids)


def are_twins(first: Product, second: Product) -> bool:
    """Of one brand, with the same ABV and volume."""
    return _twin_key(first) == _twin_key(second)


def _twin_key(product: Product) -> tuple[str, float, int]:
    return folded(product.brand), round(product.abv_percent, 1), product.volume_ml


def _short_of(read: str, printed: set[str]) -> bool:
    """Whether the digits read are what is left of one of the printed forms with digits lost (or are
    that form under another unit: "75 ml" read for 75 cl)."""
    digits = read.replace(".", "")
    for form in printed:
        whole = form.replace(".", "")
        rest = iter(whole)
        if digits and all(d in rest for d in digits):
            return True
    return False


def printed_volumes(volume_ml: int) -> set[str]:
    """The digits a label may print for a volume: 700 -> 700 (ml), 70 (cl), 07 (0.7 l)."""
    forms = {str(volume_ml), f"{volume_ml / 1000:g}".replace(".", "")}
    if volume_ml % 10 == 0:
        forms.add(str(volume_ml // 10))
    return forms


def _edits(first: str, second: str) -> int:
    previous = list(range(len(second) + 1))
    for i, a in enumerate(first, 1):
        current = [i]
        for j, b in enumerate(second, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b)))
        previous = current
    return previous[-1]


def closest_volume(products: Sequence[Product], texts: Sequence[str]) -> tuple[Product, int] | None:
    """The product whose printed volume is nearest (one edit at most) to a run of digits read, when
    it is nearer than every other's, and the edits: "173L" is the 1.75 l bottle (1), not the 75 cl one."""
    runs = [run for text in texts for run in re.findall(r"\d+", re.sub(r"(?<=\d)[.,](?=\d)", "", text))]
    if not runs:
        return None
    distance = {
        p.catalogue_id: min(_edits(run, form) for run in runs for form in printed_volumes(p.volume_ml))
        for p in products
    }
    ranked = sorted(products, key=lambda p: distance[p.catalogue_id])
    first, second = ranked[0], ranked[1] if len(ranked) > 1 else None
    if distance[first.catalogue_id] > 1:
        return None
    if second is not None and distance[second.catalogue_id] <= distance[first.catalogue_id]:
        return None
    return first, distance[first.catalogue_id]


class LabelRecogniser:
    """Matcher, reader and calibration over one loaded library."""

    def __init__(self, library: LabelLibrary, settings: LiquorSettings, reader: LabelReader | None) -> None:
        if reader is None and settings.read_labels != "never":
            raise ValueError("liquor_label: a reader is needed unless read_labels is never")
        self.library, self.settings, self.reader = library, settings, reader
        self.matcher = LabelMatcher(library)
        self.dense = DenseCheck(library)
        lines_of: dict[str, set[str]] = {}
        for view in library.views:
            lines_of.setdefault(folded(library.product(view.product).brand), set()).add(view.line)
        self.shared_brands = frozenset(brand for brand, lines in lines_of.items() if len(lines) > 1)
        self.figures = Figures.of(library.products)
        self.twins = twins(library.products)

    def recognise(self, rgb: np.ndarray) -> Recognition:
        recognition = self.by_keypoints(rgb)
        if not self.settings.read_names or self.reader is None:
            return recognition
        if recognition.needs_officer:  # the names' identification, when it stands or is the surer
            reads = self.reader.read_frame(rgb)
            named = self.by_names(rgb, recognition, reads)
            if named is None or named.best is None:
                return self.with_facts(recognition, reads)
            if not named.needs_officer or recognition.best is None:
                return named
            return named if named.best.confidence > recognition.best.confidence else recognition
        best = recognition.best
        if best is None or self.settings.names_check_below <= 0:
            return recognition
        if best.confidence < self.settings.names_check_below or best.product.catalogue_id in self.twins:
            return self._checked_by_names(rgb, recognition, best.product)
        return recognition

    def _checked_by_names(self, rgb: np.ndarray, recognition: Recognition, seen: Product) -> Recognition:
        """The keypoints' recognition, or its referral when the names read on the frame say otherwise:
        another brand read, another product of the brand identified by its names, or names that fit
        other products of the brand and not this one. The names' identification stands instead when the
        ABV and volume printed on the frame agree with it, and either not with the keypoints' bottle or
        nothing read names that bottle (``says_only``): everything the label says outvotes a look. A
        clearance at ``names_check_below`` or above (a twin's) gives way to names of its brand only."""
        assert self.reader is not None
        reads = self.reader.read_frame(rgb, around(recognition.outline, CHECK_READ_MARGIN))
        named = self.by_names(rgb, recognition, reads)
        if named is None or named.best is None:
            return recognition
        identified = named.best
        read = identified.product
        other_brand = folded(read.brand) != folded(seen.brand)
        sure = recognition.best is not None and recognition.best.confidence >= self.settings.names_check_below
        # the names fit other products of its brand, not this one (all the products named, not only the
        # candidates kept), and the figures printed are no more against them than against this one
        printed = self.facts_fit(reads)[0]
        against_seen = agreement(seen, printed, self.figures)[1]
        products = [p for p, _, _ in name_match(self.library, reads).named]
        excluded = (
            not other_brand
            and seen.catalogue_id not in {p.catalogue_id for p in products}
            and all(agreement(p, printed, self.figures)[1] <= against_seen for p in products)
        )
        if seen.catalogue_id in self.twins and not other_brand and named.needs_officer and not excluded:
            return self._twin_checked(recognition, named, seen, reads, sure)
        if sure and not excluded:  # a twin read only to tell it from the others of its brand: nothing else
            return recognition  # overrides a sure look (40% and 700 ml fit many bottles)
        if (
            not other_brand
            and not excluded
            and (named.needs_officer or read.catalogue_id == seen.catalogue_id)
        ):
            return recognition
        own = recognition.reading  # the keypoints' own reading of their label
        own_fits = not (agreement(read, own, self.figures)[1] or says_rival(own, read, seen))
        outvoted = bool(against_seen)  # the figures printed are not its own
        stands = not named.needs_officer and own_fits and printed_fits(read, reads, seen, self.figures)
        if stands and (outvoted or says_only(read, seen, reads)):
            return named
        what = f"the brand {read.brand!r}" if other_brand else f"{read.catalogue_id} ({read.product})"
        reason = (
            f"the label reads {what}; its keypoints matched {seen.catalogue_id} ({seen.brand} {seen.product})"
        )
        candidates = recognition.candidates
        if not named.needs_officer:  # the names identify the bottle on their own: the surer candidate leads
            lead = sorted((identified, recognition.candidates[0]), key=lambda c: -c.confidence)
            rest = [c for c in recognition.candidates[1:] if c.product.catalogue_id != read.catalogue_id]
            candidates = tuple([*lead, *rest][:MAX_CANDIDATES])
        elif other_brand or excluded:  # the label prints another brand's name (or names of the brand's
            # other products): those products lead, and the keypoints' match keeps a place (a brand of
            # three products would fill the list)
            brand = named.candidates[: MAX_CANDIDATES - 1]
            named_ids = {c.product.catalogue_id for c in brand}
            rest = [c for c in recognition.candidates if c.product.catalogue_id not in named_ids]
            candidates = tuple([*brand, *rest][:MAX_CANDIDATES])
        return dataclasses.replace(
            recognition, candidates=candidates, needs_officer=True, reason=reason, referral="names_contradict"
        )

    def _twin_checked(
        self,
        recognition: Recognition,
        named: Recognition,
        seen: Product,
        reads: Sequence[TextRead],
        sure: bool,
    ) -> Recognition:
        """A twin's clearance when the names read leave several products of its brand, itself among them
        (the names' own words, "COGNAC", fit both twins): the words that tell the twins apart decide
        (``says_only``: the twin's read and its own nowhere sends it to an officer, the twin first; its
        own read and the twin's nowhere confirms the look). When neither is read, a clearance below
        ``names_check_below`` goes to an officer, the two first at half its confidence each (the keypoints
        cannot tell twins apart), and a surer one stands: the names add nothing either way."""
        fit = [c.product for c in named.candidates]
        twins_named = [p for p in fit if p.catalogue_id != seen.catalogue_id and are_twins(p, seen)]
        for twin in twins_named:
            if says_only(twin, seen, reads):
                reason = (
                    f"the label reads {twin.catalogue_id} ({twin.product}); its keypoints matched "
                    f"{seen.catalogue_id} ({seen.brand} {seen.product})"
                )
                return _halved(recognition, twin, reason, "names_contradict", twin_first=True)
        if (
            not twins_named
            or sure
            or named.referral != "names_ambiguous"
            or seen.catalogue_id not in {p.catalogue_id for p in fit}
            or says_only(seen, twins_named[0], reads)
        ):
            return recognition
        twin = twins_named[0]
        reason = (
            f"the names read fit {seen.catalogue_id} and {twin.catalogue_id}; only the names printed tell "
            "them apart"
        )
        return _halved(recognition, twin, reason, "names_ambiguous", twin_first=False)

    def by_names(
        self, rgb: np.ndarray, keypoints: Recognition | None = None, reads: Sequence[TextRead] | None = None
    ) -> Recognition | None:
        """The bottle the names read on the frame identify (``names``), or None when no brand is read, or
        another brand is read nearly as well. The recognition goes to an officer when the reading leaves
        the bottle open, contradicts it, or nothing backs the brand, or its confidence is too low.
        ``reads``: the frame's texts when they have been read already."""
        assert self.reader is not None
        texts = self.reader.read_frame(rgb) if reads is None else reads
        found = name_match(self.library, texts)
        if not found.named or found.rival >= found.lead - RIVAL_MARGIN:
            return None
        products = tuple(product for product, _, _ in found.named)
        reading = reading_of([(text.text, text.score) for text in found.near])
        chosen, ambiguous = self._choose(products, reading, products[0].catalogue_id)
        agree, disagree = agreement(chosen, reading, self.figures)
        seen = keypoints.best.product.catalogue_id if keypoints and keypoints.best else ""
        rival = keypoints.best.product if keypoints and keypoints.best else None
        backed = agree > 0 or seen == chosen.catalogue_id or printed_fits(chosen, texts, rival, self.figures)
        backed = backed or (found.brand_read and found.named[0][2] >= NAME_SIMILARITY)
        confidence = self.library.calibration.names_confidence
        referral, reason = self._referral(chosen, confidence, reading, disagree, dense=1.0)  # no view
        if not reason and ambiguous:
            fits = ", ".join(p.catalogue_id for p in products)
            referral = "names_ambiguous"
            reason = f"the names read fit {fits}; nothing read on the label tells them apart"
        if not reason and not backed:
            what = f"the brand {chosen.brand!r}" if found.brand_read else f"the name {chosen.product!r}"
            referral, reason = "names_alone", f"only {what} was read on the label"
        if ambiguous:  # a guess among the products nothing read rules out
            confidence /= max(1, sum(not agreement(p, reading, self.figures)[1] for p in products))
        rest = [p for p in products if p is not chosen][: MAX_CANDIDATES - 1]
        share = (1 - confidence) / len(rest) if rest else 0.0
        candidates = (
            Candidate(chosen, round(confidence, 4), 0),
            *(Candidate(p, round(share, 4), 0) for p in rest),
        )
        corners = np.concatenate([text.quad for text in found.near])
        low, high = corners.min(axis=0), corners.max(axis=0)
        outline = np.array([low, [high[0], low[1]], high, [low[0], high[1]]], dtype=np.float64)
        return Recognition(candidates, reading, None, outline, bool(reason), reason, True, referral)

    def facts_fit(self, reads: Sequence[TextRead]) -> tuple[Reading, tuple[Product, ...]]:
        """The ABV and volume read anywhere on the frame, and the products whose entries have both (none
        unless both were read)."""
        reading = reading_of([(read.text, read.score) for read in reads])
        if reading.abv_percent is None or reading.volume_ml is None:
            return reading, ()
        fits = tuple(
            p
            for p in self.library.products
            if same_abv(reading.abv_percent, p.abv_percent) and p.volume_ml == reading.volume_ml
        )
        return reading, fits

    def with_facts(self, recognition: Recognition, reads: Sequence[TextRead]) -> Recognition:
        """A referral with the products the ABV and volume printed on the frame fit among its candidates
        (``by_facts`` when the first is one of them); the referral as it was when they fit none."""
        reading, fits = self.facts_fit(reads)
        if not recognition.needs_officer or not fits:
            return recognition
        share = round(self.library.calibration.facts_confidence / len(fits), 4)
        merged = {c.product.catalogue_id: c for c in recognition.candidates}  # the referral's order first
        raised: set[str] = set()  # candidates whose confidence is the printed facts'
        for product in fits:
            before = merged.get(product.catalogue_id)
            if before is None or share > before.confidence:  # the surer of the two, its inliers kept
                merged[product.catalogue_id] = Candidate(product, share, before.inliers if before else 0)
                raised.add(product.catalogue_id)
        candidates = tuple(sorted(merged.values(), key=lambda c: -c.confidence)[:MAX_CANDIDATES])
        named = ", ".join(p.catalogue_id for p in fits[:MAX_CANDIDATES])
        more = f" and {len(fits) - MAX_CANDIDATES} more" if len(fits) > MAX_CANDIDATES else ""
        reason = (
            f"{recognition.reason}; the label prints {reading.abv_percent:g}% vol {reading.volume_ml} ml, "
            f"as {named}{more}"
        )
        outline = recognition.outline
        if outline is None:
            corners = np.concatenate([read.quad for read in reads])
            low, high = corners.min(axis=0), corners.max(axis=0)
            outline = np.array([low, [high[0], low[1]], high, [low[0], high[1]]], dtype=np.float64)
        first_fits = candidates[0].product.catalogue_id in raised
        return dataclasses.replace(
            recognition,
            candidates=candidates,
            reading=reading if not recognition.reading.read_anything else recognition.reading,
            outline=outline,
            reason=reason,
            by_facts=first_fits,
            by_names=recognition.by_names and not first_fits,
        )

    def by_keypoints(self, rgb: np.ndarray) -> Recognition:
        """The recognition by the label's keypoints (``matcher``), dense check and reading."""
        matches = self.matcher.match(rgb)
        if not matches or matches[0].inliers < self.settings.min_inliers:
            return Recognition((), reason="no label of the database matched", referral="no_label")
        matches, dense, second = self._ranked(rgb, matches)
        top = matches[0]
        siblings = self.library.line_products(self.library.lines[top.line])
        reading = Reading()
        if self._should_read(siblings, top.inliers, second, dense):
            assert self.reader is not None  # checked in __init__
            reading = self.reader.read_views(rgb, self._reading_views(top))
        chosen, ambiguous = self._choose(siblings, reading, self.library.views[top.view].product)
        agree, disagree = agreement(chosen, reading, self.figures)
        evidence = Evidence(top.inliers, second, agree, disagree, ambiguous, dense)
        confidence = self.library.calibration.confidence(evidence)
        candidates = self._candidates(chosen, confidence, matches, reading)
        outline = top.outline(self.library.views[top.view].shape)
        referral, reason = self._referral(chosen, confidence, reading, disagree, dense)
        if ambiguous and not reason:
            sizes = ", ".join(f"{p.catalogue_id} ({p.volume_ml} ml)" for p in siblings)
            referral, reason = "volume_unread", f"the volume on the label was not read: one of {sizes}"
        return Recognition(candidates, reading, evidence, outline, bool(reason), reason, referral=referral)

    def _ranked(self, rgb: np.ndarray, matches: list[LineMatch]) -> tuple[list[LineMatch], float, int]:
        """The matches with the surest of the first ``LINES_CHECKED`` lines first (the confidence of
        its inliers against the best other line's and of its dense check; lines with fewer than
        ``min_inliers`` are not candidates), its dense score, and the best other line's inliers."""
        grey = frame_grey(rgb)
        scored = []
        for number, match in enumerate(matches[:LINES_CHECKED]):
            if number and match.inliers < self.settings.min_inliers:
                break
            dense = self.dense.score(grey, match.view, match.homography)
            rival = max((m.inliers for m in matches if m is not match), default=0)
            visual = self.library.calibration.confidence(Evidence(match.inliers, rival, dense=dense))
            scored.append((visual, -number, dense, rival, match))
        _, number, dense, rival, chosen = max(scored, key=lambda entry: entry[:2])
        return [chosen, *(m for m in matches if m is not chosen)], dense, rival

    def _reading_views(self, match: LineMatch) -> list[tuple[View, np.ndarray]]:
        """The verified views of the matched line the label may be read through: the best one, and
        those with at least ``READ_VIEW_SHARE`` of its inliers (and ``min_inliers``)."""
        floor = max(self.settings.min_inliers, READ_VIEW_SHARE * match.inliers)
        found = match.views or ((match.view, match.inliers, match.homography),)
        chosen = [(view, homography) for view, inliers, homography in found if inliers >= floor]
        if not chosen or chosen[0][0] != match.view:
            chosen.insert(0, (match.view, match.homography))
        return [(self.library.views[view], homography) for view, homography in chosen]

    def _should_read(self, siblings: tuple[Product, ...], top: int, second: int, dense: float) -> bool:
        mode = self.settings.read_labels
        if mode != "when_needed":
            return mode == "always"
        if len(siblings) > 1 or folded(siblings[0].brand) in self.shared_brands:
            return True  # the sizes of a line, or a brand's other products, may share the label's design
        visual = self.library.calibration.confidence(Evidence(top, second, dense=dense))
        return visual < self.settings.read_above_confidence

    def _choose(self, siblings: tuple[Product, ...], reading: Reading, viewed: str) -> tuple[Product, bool]:
        """The line's bottle the reading fits best (fewest disagreements, then most agreements); among
        bottles it fits equally, the one whose printed volume the digits read come closest to, else the
        bottle the matched view shows. Ambiguous unless the reading, or digits read exactly as this
        bottle prints its volume and no other does ("75c": the 75 cl bottle), settle it."""
        scored = [(agreement(p, reading, self.figures), p) for p in siblings]
        best_key = max((a - 2 * d, a) for (a, d), _ in scored)
        fitting = [p for (a, d), p in scored if (a - 2 * d, a) == best_key]
        if len(fitting) == 1:
            chosen, volume = fitting[0], reading.volume_ml
            # a volume taken for a misreading of this bottle's that is as near another size of the line
            # ("550ml" between 500 and 750 ml) settles nothing
            near_another = (
                volume is not None
                and volume != chosen.volume_ml
                and any(_edits(str(volume), str(p.volume_ml)) <= 1 for p in siblings if p is not chosen)
            )
            return chosen, near_another
        closest = closest_volume(fitting, reading.texts)
        if closest is None:
            return next((p for p in fitting if p.catalogue_id == viewed), fitting[0]), True
        product, edits = closest
        return product, edits > 0

    def _candidates(
        self, chosen: Product, confidence: float, matches: list[LineMatch], reading: Reading
    ) -> tuple[Candidate, ...]:
        """The chosen bottle, then the others of its line and of the next lines: the confidence left
        over is shared in proportion to inliers, a tenth for a bottle the reading contradicts."""
        top_inliers = matches[0].inliers
        others: list[tuple[Product, int, float]] = []
        for match in matches[:MAX_CANDIDATES]:
            for product in self.library.line_products(self.library.lines[match.line]):
                if product.catalogue_id == chosen.catalogue_id:
                    continue
                weight = match.inliers * (0.1 if agreement(product, reading, self.figures)[1] else 1.0)
                others.append((product, match.inliers, weight))
        others.sort(key=lambda entry: -entry[2])
        others = others[: MAX_CANDIDATES - 1]
        total = sum(weight for _, _, weight in others) or 1.0
        rest = tuple(
            Candidate(product, round((1 - confidence) * weight / total, 4), inliers)
            for product, inliers, weight in others
        )
        return (Candidate(chosen, round(confidence, 4), top_inliers), *rest)

    def _referral(
        self, chosen: Product, confidence: float, reading: Reading, disagree: int, dense: float
    ) -> tuple[str, str]:
        """Why an officer must decide, its kind first, or ("", "") when the recognition stands."""
        if disagree:
            read = [f"{reading.abv_percent:g}% vol" if reading.abv_percent is not None else "",
                    f"{reading.volume_ml} ml" if reading.volume_ml is not None else ""]  # fmt: skip
            return "reading_disagrees", (
                f"the label reads {' '.join(r for r in read if r)}; the database has "
                f"{chosen.abv_percent:g}% vol {chosen.volume_ml} ml for {chosen.catalogue_id}"
            )
        if dense < self.settings.min_dense:
            return "partial_label", (
                f"the label looks like {chosen.catalogue_id}'s reference view only in part "
                f"(dense check {dense:.2f} below {self.settings.min_dense:.2f})"
            )
        if confidence < self.settings.min_confidence:
            return "low_confidence", f"confidence {confidence:.2f} below {self.settings.min_confidence:.2f}"
        return "", ""
