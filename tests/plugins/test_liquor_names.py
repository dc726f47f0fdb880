"""liquor_label identifies a bottle by the names read on its label when the keypoints leave it to an
officer: how names are compared, which products a frame's texts name, when an identification stands,
its confidence from the calibration's counts, and a frame whose label the library has no view of, read
by the real text detector and recogniser."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartcustoms.core import artefacts
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.types import Decision
from smartcustoms.plugins.liquor.calibration import Calibration, Evidence
from smartcustoms.plugins.liquor.library import LabelLibrary, load_library, write_library
from smartcustoms.plugins.liquor.names import NAME_SIMILARITY, TextRead, folded, name_match, similarity
from smartcustoms.plugins.liquor.plugin import SPEC, LiquorLabelPlugin, bottle_detection
from smartcustoms.plugins.liquor.reading import Reading
from smartcustoms.plugins.liquor.recogniser import Candidate, LabelRecogniser, Recognition
from smartcustoms.plugins.liquor.settings import LiquorSettings
from smartcustoms.plugins.liquor.tools import add, build, evaluate

PRODUCTS = ("LQ-0001", "LQ-0002", "LQ-0009", "LQ-0010", "LQ-0011")  # two Glen Corrach, two Nordvik sizes
SHAPE = (720, 960)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> LabelLibrary:
    out = tmp_path_factory.mktemp("liquor-names") / "liquor-labels"
    build.build(out, catalogue_ids=PRODUCTS, calibration_seeds=())
    return load_library(out)


def reads(*lines: str, height: float = 30.0) -> list[TextRead]:
    """Texts one under another, as a label prints them."""
    out = []
    for number, text in enumerate(lines):
        top = 100 + number * 2 * height
        quad = np.array([[100, top], [100 + 20 * len(text), top], [100 + 20 * len(text), top + height],
                         [100, top + height]], dtype=np.float64)  # fmt: skip
        out.append(TextRead(quad, text, 0.95))
    return out


def test_names_are_compared_folded_whole_inside_longer_texts_and_in_part_only_as_far_as_they_go() -> None:
    assert folded("Château  Lavergne!") == "CHATEAULAVERGNE"
    assert folded("格蘭科拉 12年") == "格蘭科拉12年"
    assert folded("樱雾 纯米") == folded("櫻霧 純米")  # Simplified as read, Traditional as printed
    assert similarity("Glen Corrach", [folded("GLEN CORRACH DISTILLERY")])[0] == 1.0
    assert similarity("Hartwell", [folded("HARTWEL")])[0] > 0.9  # a letter lost
    assert similarity("Barossa Ridge", [folded("BAR")])[0] < 0.5  # a fragment is not the name
    assert similarity("Nordvik", [folded("TOTAL 491.04"), folded("VISA 877")])[0] < 0.5
    # a label round a bottle turned away shows a piece of a long name: enough of it counts whole
    assert similarity("Chishui Heritage", [folded("HUIHERITAGE")])[0] == 1.0
    assert similarity("Harbour", [folded("RBOUR")])[0] == 1.0
    assert similarity("Chishui Heritage", [folded("HERITA")])[0] < NAME_SIMILARITY  # too small a piece
    assert similarity("Harbour", [folded("ARB")])[0] < NAME_SIMILARITY


def test_the_brand_and_product_read_name_the_product_and_the_reading_picks_among_close_ones(
    library: LabelLibrary,
) -> None:
    found = name_match(library, reads("GLEN CORRACH", "18 Year Single Malt Whisky", "43% vol", "70cl"))
    named = [p.catalogue_id for p, _, _ in found.named]
    assert named[0] == "LQ-0002" and set(named) <= {"LQ-0001", "LQ-0002"}
    assert {t.text for t in found.near} >= {"43% vol", "70cl"}
    nordvik = name_match(library, reads("NORDVIK", "VODKA"))
    assert {p.catalogue_id for p, _, _ in nordvik.named} == {"LQ-0009", "LQ-0010"}
    assert name_match(library, reads("TOTAL 491.04", "THANK YOU")).named == ()


def test_a_product_name_names_its_products_when_no_brand_is_read(library: LabelLibrary) -> None:
    found = name_match(library, reads("London Dry Gin", "43% vol"))
    assert [p.catalogue_id for p, _, _ in found.named] == ["LQ-0011"]
    assert not found.brand_read and found.lead == 1.0 and found.rival < 0.85
    whisky = name_match(library, reads("18 Year Single Malt Whisky", "43% vol"))
    assert whisky.named[0][0].catalogue_id == "LQ-0002"
    assert {p.brand for p, _, _ in whisky.named} == {"Glen Corrach"}
    assert name_match(library, reads("Single", "43% vol")).named == ()  # a word of a name: nothing


def test_a_brand_printed_over_two_lines_is_read_as_one(library: LabelLibrary) -> None:
    found = name_match(library, reads("GLEN", "CORRACH", "12 Year Single Malt"))
    assert found.named and found.named[0][0].catalogue_id == "LQ-0001"


def counted_copy(library: LabelLibrary, folder: Path, right: int) -> LabelLibrary:
    """A copy of ``library`` whose calibration counted ``right`` identifications by names, all right."""
    return calibrated_copy(library, folder, library.calibration.with_names(right, right), f"names-{right}")


def calibrated_copy(
    library: LabelLibrary, folder: Path, calibration: Calibration, version: str
) -> LabelLibrary:
    """A copy of ``library`` with another calibration."""
    views = add.existing_views(library)
    artefacts.build(
        folder, name="liquor-labels", version=version, source="test",
        write=lambda staging: write_library(staging, library.products, views, calibration),
    )  # fmt: skip
    return load_library(folder)


class TextsOfTheFrame:
    """A reader whose frame shows ``texts``: what the text detector and recogniser would give."""

    def __init__(self, texts: list[TextRead]) -> None:
        self.texts, self.calls = texts, 0

    def read_frame(
        self, rgb: np.ndarray, within: tuple[float, float, float, float] | None = None
    ) -> list[TextRead]:
        self.calls += 1
        if within is None:
            return self.texts
        x0, y0, x1, y1 = within  # the lines whose centre lies in the box, as the reader keeps them
        return [t for t in self.texts if x0 <= t.quad[:, 0].mean() <= x1 and y0 <= t.quad[:, 1].mean() <= y1]


def by_names(library: LabelLibrary, texts: list[TextRead]) -> Recognition | None:
    reader = TextsOfTheFrame(texts)
    recogniser = LabelRecogniser(library, LiquorSettings(), reader)  # type: ignore[arg-type]
    return recogniser.by_names(np.zeros((*SHAPE, 3), np.uint8))


def test_an_identification_by_names_stands_only_with_a_second_piece_of_evidence(
    library: LabelLibrary, tmp_path: Path
) -> None:
    counted = counted_copy(library, tmp_path / "counted", 40)
    clear = by_names(counted, reads("GLEN CORRACH", "18 Year Single Malt Whisky", "43% vol"))
    assert clear is not None and clear.by_names and not clear.needs_officer
    assert clear.best is not None and clear.best.product.catalogue_id == "LQ-0002"
    assert clear.best.confidence == pytest.approx(41 / 42, abs=1e-4)

    sizes = by_names(counted, reads("NORDVIK", "VODKA", "1.75 L"))
    assert sizes is not None and not sizes.needs_officer and sizes.best is not None
    assert sizes.best.product.catalogue_id == "LQ-0010"
    open_size = by_names(counted, reads("NORDVIK", "VODKA"))
    assert open_size is not None and open_size.needs_officer
    assert "nothing read on the label tells them apart" in open_size.reason
    assert open_size.referral == "names_ambiguous" and clear.referral == sizes.referral == ""
    assert open_size.best is not None and open_size.best.confidence == pytest.approx(41 / 84, abs=1e-4)

    brand_only = by_names(counted, reads("HARTWELL"))
    assert brand_only is not None and brand_only.needs_officer and "only the brand" in brand_only.reason
    assert brand_only.referral == "names_alone"
    backed = by_names(counted, reads("HARTWELL", "43% vol"))
    assert backed is not None and not backed.needs_officer

    contradicted = by_names(counted, reads("HARTWELL", "London Dry Gin", "47% vol"))
    assert contradicted is not None and contradicted.needs_officer
    assert "the label reads 47% vol" in contradicted.reason and contradicted.referral == "reading_disagrees"
    assert by_names(counted, reads("HARTWELL", "NORDVIK", "43% vol")) is None  # two brands read alike

    named_only = by_names(counted, reads("18 Year Single Malt Whisky", "43% vol"))
    assert named_only is not None and not named_only.needs_officer
    assert named_only.best is not None and named_only.best.product.catalogue_id == "LQ-0002"
    unbacked = by_names(counted, reads("London Dry Gin"))  # no brand, nothing read besides the name
    assert unbacked is not None and unbacked.needs_officer
    assert unbacked.reason == "only the name 'London Dry Gin' was read on the label"
    assert unbacked.referral == "names_alone"

    uncounted = by_names(library, reads("HARTWELL", "London Dry Gin"))
    assert (
        uncounted is not None and uncounted.needs_officer and uncounted.reason.startswith("confidence 0.50")
    )
    assert uncounted.referral == "low_confidence"


def test_an_unsure_misreading_of_the_named_products_figure_does_not_send_it_to_an_officer(
    library: LabelLibrary, tmp_path: Path
) -> None:
    counted = counted_copy(library, tmp_path / "counted", 40)
    gin = reads("HARTWELL", "London Dry Gin", "49% vol")  # Hartwell's gin prints 43%
    for score, sent in ((0.95, True), (0.8, False)):
        gin[2] = dataclasses.replace(gin[2], score=score)
        named = by_names(counted, gin)
        assert named is not None and named.best is not None
        assert named.best.product.catalogue_id == "LQ-0011" and named.needs_officer is sent
        assert named.referral == ("reading_disagrees" if sent else "")
    gin[2] = dataclasses.replace(gin[2], text="40% vol")  # one character off too, but Glen Corrach's 40%
    other = by_names(counted, gin)  # a figure another product prints is never taken for a misreading
    assert other is not None and other.needs_officer and other.referral == "reading_disagrees"


def test_the_calibration_keeps_its_name_counts_and_an_older_one_has_none() -> None:
    counted = Calibration.default().with_names(97, 100)
    assert Calibration.from_json(json.loads(json.dumps(counted.to_json()))) == counted
    assert counted.names_confidence == pytest.approx(98 / 102)
    older = {key: value for key, value in counted.to_json().items() if not key.startswith("names")}
    assert Calibration.from_json(older).names_confidence == 0.5
    with pytest.raises(ValueError):
        Calibration.default().with_names(3, 2)


def _printed_label(lines: list[str]) -> np.ndarray:
    """A counter frame with a plain label in a layout no reference view has: big type only."""
    frame = np.full((*SHAPE, 3), 70, np.uint8)
    cv2.rectangle(frame, (250, 180), (710, 560), (238, 232, 220), -1)
    for number, text in enumerate(lines):
        cv2.putText(frame, text, (280, 260 + number * 90), cv2.FONT_HERSHEY_DUPLEX, 1.4, (40, 30, 30), 3)
    return frame


def test_a_label_the_keypoints_are_unsure_of_is_identified_by_what_it_says(
    library: LabelLibrary, tmp_path: Path
) -> None:
    """Through the plugin with the real text detector: a plain label in big type, which the keypoints
    match to a few of the artwork's letters only. With name identifications counted right at calibration
    the bottle is cleared; with none counted, or names not read, it goes to an officer."""
    counted = counted_copy(library, tmp_path / "counted", 60).info.path
    image = _printed_label(["HARTWELL", "London Dry Gin", "43% vol 700ml"])
    for folder, cleared in ((counted, True), (library.info.path, False)):
        settings = {**SPEC.default_settings, "library_dir": str(folder)}
        plugin = LiquorLabelPlugin(settings, PluginContext(SPEC.name))
        assert plugin.recogniser.by_keypoints(image).needs_officer  # the keypoints alone are unsure
        [assessment] = plugin.smartcustoms_process_batch([evaluate.camera_view(image, 1)])
        [detection] = assessment.detections
        assert detection.attributes["catalogue_id"] == "LQ-0011"
        assert (assessment.decision == Decision.CLEAR) is cleared
        assert ("needs_officer" not in detection.attributes) is cleared
        if cleared:  # by the names, with the ABV and volume read beside them
            assert detection.attributes["identified_by"] == "names"
            assert (detection.attributes["ocr_abv_percent"], detection.attributes["ocr_volume_ml"]) == (
                "43",
                "700",
            )
    off = LiquorLabelPlugin(
        {**SPEC.default_settings, "library_dir": str(counted), "read_names": False}, PluginContext(SPEC.name)
    )
    [unread] = off.smartcustoms_process_batch([evaluate.camera_view(image, 1)])
    assert unread.decision == Decision.MANUAL_INSPECTION
    assert unread.detections[0].attributes["needs_officer"] == "1"


def test_a_bottle_cleared_less_surely_is_cross_checked_by_its_names(
    library: LabelLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keypoints clear Hartwell gin at 0.95: the names read on the frame say Nordvik, so an officer
    decides, Nordvik first (the library counted no identification by names: they do not stand alone);
    Hartwell read leaves it cleared; a surer match is not read at all."""
    gin = library.product("LQ-0011")
    for confidence, texts, referred in (
        (0.95, reads("NORDVIK", "VODKA", "750ml"), True),
        (0.95, reads("HARTWELL", "London Dry Gin"), False),
        (0.95, reads("TOTAL 491.04"), False),
        (0.995, reads("NORDVIK", "VODKA", "750ml"), False),
    ):
        reader = TextsOfTheFrame(texts)
        recogniser = LabelRecogniser(library, LiquorSettings(), reader)  # type: ignore[arg-type]
        cleared = Recognition((Candidate(gin, confidence, 40),), needs_officer=False)
        monkeypatch.setattr(recogniser, "by_keypoints", lambda rgb, cleared=cleared: cleared)
        recognition = recogniser.recognise(np.zeros((*SHAPE, 3), np.uint8))
        assert recognition.needs_officer is referred
        ids = [c.product.catalogue_id for c in recognition.candidates]
        assert ids[0] == ("LQ-0009" if referred else "LQ-0011") and "LQ-0011" in ids
        assert reader.calls == (confidence < 0.99)
        if referred:
            assert recognition.reason == (
                "the label reads the brand 'Nordvik'; its keypoints matched LQ-0011 (Hartwell London Dry Gin)"
            )
    with pytest.raises(ValueError, match="names_check_below"):
        LiquorSettings(names_check_below=1.5)


def test_a_referral_leads_with_the_names_identification_when_it_is_the_surer(
    library: LabelLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keypoints clear Hartwell gin at 0.95 and the names identify Nordvik 750 ml on their own at
    41/42 (its volume read, not its ABV): the officer gets both, the surer first; at 0.98 the
    keypoints' candidate stays first."""
    counted = counted_copy(library, tmp_path / "counted", 40)
    gin = counted.product("LQ-0011")
    for confidence, first in ((0.95, "LQ-0009"), (0.98, "LQ-0011")):
        reader = TextsOfTheFrame(reads("NORDVIK", "VODKA", "750ml"))
        recogniser = LabelRecogniser(counted, LiquorSettings(), reader)  # type: ignore[arg-type]
        cleared = Recognition((Candidate(gin, confidence, 40),), needs_officer=False)
        monkeypatch.setattr(recogniser, "by_keypoints", lambda rgb, cleared=cleared: cleared)
        recognition = recogniser.recognise(np.zeros((*SHAPE, 3), np.uint8))
        assert recognition.needs_officer
        assert recognition.reason.startswith("the label reads the brand 'Nordvik'")
        assert recognition.referral == "names_contradict"
        ids = [c.product.catalogue_id for c in recognition.candidates]
        assert ids[0] == first and set(ids[:2]) == {"LQ-0009", "LQ-0011"}


def test_everything_the_label_says_outvotes_the_keypoints_look(
    library: LabelLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keypoints clear Hartwell gin (43%, 700 ml) at 0.95; the label reads Nordvik Vodka, 40% vol and
    750 ml, which fit Nordvik 750 ml and not the gin: the names' identification stands. When the ABV
    and volume printed fit the keypoints' bottle as well (a look-alike of the same strength and size),
    the names stand only if their brand and product are both read and nothing of the keypoints' bottle
    is: its product name read as well sends the contradiction to an officer, and so does a brand read
    without its product name."""
    counted = counted_copy(library, tmp_path / "counted", 40)
    whisky_18 = ("GLEN CORRACH", "18 Year Single Malt Whisky", "43% vol", "700ml")
    for keypoints_saw, texts, stands in (
        ("LQ-0011", ("NORDVIK", "VODKA", "40% vol", "750ml"), True),
        ("LQ-0011", ("NORDVIK", "VODKA", "43% vol", "750ml"), False),  # the ABV read is not Nordvik's
        ("LQ-0001", whisky_18, True),
        ("LQ-0011", whisky_18, True),  # 43% and 700 ml as the gin, but nothing read names the gin
        ("LQ-0011", (*whisky_18, "London Dry Gin"), False),  # the gin's product name read too
        ("LQ-0011", ("GLEN CORRACH", "Single Malt", "43% vol", "700ml"), False),  # the brand alone
    ):
        reader = TextsOfTheFrame(reads(*texts))
        recogniser = LabelRecogniser(counted, LiquorSettings(), reader)  # type: ignore[arg-type]
        cleared = Recognition((Candidate(counted.product(keypoints_saw), 0.95, 40),), needs_officer=False)
        monkeypatch.setattr(recogniser, "by_keypoints", lambda rgb, cleared=cleared: cleared)
        recognition = recogniser.recognise(np.zeros((*SHAPE, 3), np.uint8))
        assert recognition.needs_officer is not stands, texts
        assert recognition.best is not None
        if stands:
            assert recognition.by_names and recognition.best.product.catalogue_id != keypoints_saw
        else:
            assert recognition.referral in {"names_contradict", "reading_disagrees"}


def test_the_abv_and_volume_printed_anywhere_on_the_frame_back_a_brand(
    library: LabelLibrary, tmp_path: Path
) -> None:
    """Hartwell read, and far below it (beyond the texts near the name) 43% vol and 700 ml: the gin's
    own facts back the brand; 40% and 700 ml, someone else's, do not."""
    counted = counted_copy(library, tmp_path / "counted", 40)

    def far_apart(abv: str, volume: str) -> list[TextRead]:
        name, *facts = reads("HARTWELL", abv, volume, height=20.0)
        return [name, *(TextRead(t.quad + np.array([0.0, 400.0]), t.text, t.score) for t in facts)]

    far = far_apart("43% vol", "700 ml")
    assert {t.text for t in name_match(counted, far).near} == {"HARTWELL"}  # the facts are not near it
    backed = by_names(counted, far)
    assert backed is not None and not backed.needs_officer
    assert backed.best is not None and backed.best.product.catalogue_id == "LQ-0011"
    other = by_names(counted, far_apart("40% vol", "700 ml"))
    assert other is not None and other.needs_officer and other.referral == "names_alone"


def test_a_referral_leads_with_the_brand_read_when_the_names_do_not_identify_one_product(
    library: LabelLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keypoints clear Hartwell gin at 0.95, and only the brand Nordvik is read (two sizes, nothing
    to tell them apart): the names identify no bottle, but the label names its brand, so Nordvik's
    products lead the officer's candidates and the keypoints' gin follows."""
    counted = counted_copy(library, tmp_path / "counted", 40)
    gin = counted.product("LQ-0011")
    reader = TextsOfTheFrame(reads("NORDVIK"))
    recogniser = LabelRecogniser(counted, LiquorSettings(), reader)  # type: ignore[arg-type]
    cleared = Recognition((Candidate(gin, 0.95, 40),), needs_officer=False)
    monkeypatch.setattr(recogniser, "by_keypoints", lambda rgb: cleared)
    named = recogniser.by_names(np.zeros((*SHAPE, 3), np.uint8), cleared)
    assert named is not None and named.needs_officer  # the names alone would not stand
    recognition = recogniser.recognise(np.zeros((*SHAPE, 3), np.uint8))
    assert recognition.needs_officer and recognition.referral == "names_contradict"
    ids = [c.product.catalogue_id for c in recognition.candidates]
    assert sorted(ids[:2]) == ["LQ-0009", "LQ-0010"] and ids[2] == "LQ-0011"
    # names that leave three products (as a brand of three would, Maison Delaurier in the full library;
    # the test's library has no such brand): two of them lead, the keypoints' gin keeps the last place
    three = tuple(Candidate(counted.product(i), 0.3, 0) for i in ("LQ-0001", "LQ-0002", "LQ-0009"))
    unsure = Recognition(three, needs_officer=True, reason="three fit", referral="names_ambiguous")
    monkeypatch.setattr(recogniser, "by_names", lambda rgb, keypoints, reads=None: unsure)
    recognition = recogniser.recognise(np.zeros((*SHAPE, 3), np.uint8))
    assert recognition.referral == "names_contradict"
    assert [c.product.catalogue_id for c in recognition.candidates] == ["LQ-0001", "LQ-0002", "LQ-0011"]


def test_a_sure_match_is_read_when_its_brand_has_other_products(library: LabelLibrary) -> None:
    """Glen Corrach 12 Year is alone in its line, but the brand's 18 Year label may share its design,
    so even a sure match is read (the ABV tells them apart); Hartwell gin, its brand's only product, is
    not read when sure."""
    recogniser = LabelRecogniser(library, LiquorSettings(), TextsOfTheFrame([]))  # type: ignore[arg-type]
    assert recogniser.shared_brands == {"GLENCORRACH"}  # Nordvik's two sizes are one line
    sure = (60, 0, 0.95)  # inliers of the best and the next line, dense score
    assert library.calibration.confidence(Evidence(*sure[:2], dense=sure[2])) >= 0.98
    assert not recogniser._should_read((library.product("LQ-0011"),), *sure)
    assert recogniser._should_read((library.product("LQ-0001"),), *sure)


# --------------------------------------------------------------------------- the printed facts


def facts_copy(library: LabelLibrary, folder: Path, right: int, frames: int) -> LabelLibrary:
    """A copy of ``library`` whose calibration counted ``right`` of ``frames`` fits by the facts read."""
    calibration = library.calibration.with_facts(right, frames)
    return calibrated_copy(library, folder, calibration, f"facts-{right}-{frames}")


def recognised_on_a_blank_frame(library: LabelLibrary, texts: list[TextRead]) -> Recognition:
    """What the recogniser makes of a frame whose label no view matches and whose texts are ``texts``."""
    reader = TextsOfTheFrame(texts)
    recogniser = LabelRecogniser(library, LiquorSettings(), reader)  # type: ignore[arg-type]
    return recogniser.recognise(np.zeros((*SHAPE, 3), np.uint8))


def test_the_abv_and_volume_printed_shortlist_a_bottle_no_label_or_name_identifies(
    library: LabelLibrary, tmp_path: Path
) -> None:
    counted = facts_copy(library, tmp_path / "facts", 46, 48)
    one = recognised_on_a_blank_frame(counted, reads("BATCH 7", "40% vol", "75 cl"))
    assert one.needs_officer and one.referral == "no_label" and one.by_facts and not one.by_names
    assert [c.product.catalogue_id for c in one.candidates] == ["LQ-0009"]  # 40 % and 750 ml: one product
    assert one.candidates[0].confidence == pytest.approx(47 / 50, abs=1e-4)
    assert "the label prints 40% vol 750 ml, as LQ-0009" in one.reason
    assert one.reading.abv_percent == 40.0 and one.reading.volume_ml == 750 and one.outline is not None
    two = recognised_on_a_blank_frame(counted, reads("43% vol", "700ml"))  # 18 Year and the gin
    assert {c.product.catalogue_id for c in two.candidates} == {"LQ-0002", "LQ-0011"}
    assert all(c.confidence == pytest.approx(47 / 50 / 2, abs=1e-4) for c in two.candidates)
    for unread in (reads("40% vol"), reads("750 ml"), reads("47% vol", "700 ml")):  # half, or no product
        nothing = recognised_on_a_blank_frame(counted, unread)
        assert nothing.candidates == () and not nothing.by_facts and nothing.referral == "no_label"
        assert nothing.reason == "no label of the database matched"


def test_the_printed_facts_lead_a_referral_only_when_they_are_the_surer(
    library: LabelLibrary, tmp_path: Path
) -> None:
    counted = facts_copy(library, tmp_path / "facts", 46, 48)
    recogniser = LabelRecogniser(counted, LiquorSettings(), TextsOfTheFrame([]))  # type: ignore[arg-type]
    products = {p.catalogue_id: p for p in counted.products}
    disagreed = Recognition(
        (Candidate(products["LQ-0001"], 0.54, 17),),
        reason="the label reads ...",
        referral="reading_disagrees",
    )
    shortlisted = recogniser.with_facts(disagreed, reads("40% vol", "1.75 L"))
    assert [c.product.catalogue_id for c in shortlisted.candidates] == ["LQ-0010", "LQ-0001"]
    assert shortlisted.needs_officer and shortlisted.referral == "reading_disagrees" and shortlisted.by_facts
    surer = dataclasses.replace(disagreed, candidates=(Candidate(products["LQ-0001"], 0.99, 40),))
    kept_first = recogniser.with_facts(surer, reads("40% vol", "1.75 L"))
    assert [c.product.catalogue_id for c in kept_first.candidates] == ["LQ-0001", "LQ-0010"]
    assert not kept_first.by_facts  # the keypoints' candidate still leads
    standing = Recognition((Candidate(products["LQ-0001"], 0.99, 40),), needs_officer=False)
    assert recogniser.with_facts(standing, reads("40% vol", "1.75 L")) is standing  # never a cleared bottle


def test_a_shortlist_by_the_printed_facts_is_named_on_the_detection(library: LabelLibrary) -> None:
    shortlist = recognised_on_a_blank_frame(library, reads("40% vol", "75 cl"))
    detection = bottle_detection(shortlist)
    assert detection.attributes["identified_by"] == "printed_facts"
    assert detection.attributes["needs_officer_referral"] == "no_label"
    assert detection.attributes["catalogue_id"] == "LQ-0009"
    assert detection.score == pytest.approx(0.5)  # nothing counted at calibration: Laplace's 1 / 2


def test_the_calibration_keeps_its_facts_counts_and_an_older_one_has_none() -> None:
    counted = Calibration.default().with_names(97, 100).with_facts(45, 46)
    assert Calibration.from_json(json.loads(json.dumps(counted.to_json()))) == counted
    assert counted.facts_confidence == pytest.approx(46 / 48)
    older = {key: value for key, value in counted.to_json().items() if not key.startswith("facts")}
    assert Calibration.from_json(older).facts_confidence == 0.5
    with pytest.raises(ValueError):
        Calibration.default().with_facts(3, 2)


def test_the_printed_facts_outvote_nothing_when_the_frame_says_two_things(
    library: LabelLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keypoints clear the gin (43%, 700 ml) at 0.95; the frame reads Nordvik Vodka 40% vol 750 ml,
    and also, less surely, 43% vol and 700 ml (a second bottle, a leaflet): the contradiction goes to an
    officer. So it does when the keypoints' own reading of their label is the gin's."""
    counted = counted_copy(library, tmp_path / "counted", 40)
    gin = counted.product("LQ-0011")
    vodka = reads("NORDVIK", "VODKA", "40% vol", "750ml")
    leaflet = [TextRead(t.quad + np.array([500.0, 0.0]), t.text, 0.9) for t in reads("43% vol", "700ml")]
    own_reading = Reading(43.0, 700, ("43% vol", "700ml"))
    for texts, reading in ((vodka + leaflet, Reading()), (vodka, own_reading)):
        recogniser = LabelRecogniser(counted, LiquorSettings(), TextsOfTheFrame(texts))  # type: ignore[arg-type]
        cleared = Recognition((Candidate(gin, 0.95, 40),), reading, needs_officer=False)
        monkeypatch.setattr(recogniser, "by_keypoints", lambda rgb, cleared=cleared: cleared)
        recognition = recogniser.recognise(np.zeros((*SHAPE, 3), np.uint8))
        assert recognition.needs_officer and recognition.referral == "names_contradict"
    recogniser = LabelRecogniser(counted, LiquorSettings(), TextsOfTheFrame(vodka))  # type: ignore[arg-type]
    cleared = Recognition((Candidate(gin, 0.95, 40),), needs_officer=False)
    monkeypatch.setattr(recogniser, "by_keypoints", lambda rgb: cleared)
    assert not recogniser.recognise(np.zeros((*SHAPE, 3), np.uint8)).needs_officer  # the same, unopposed


def test_a_keypoint_candidate_the_facts_also_fit_keeps_its_confidence_and_place(
    library: LabelLibrary, tmp_path: Path
) -> None:
    counted = facts_copy(library, tmp_path / "facts", 46, 48)  # 47/50 for one fit, halved for two
    recogniser = LabelRecogniser(counted, LiquorSettings(), TextsOfTheFrame([]))  # type: ignore[arg-type]
    gin = counted.product("LQ-0011")
    unsure = Recognition((Candidate(gin, 0.85, 30),), reason="confidence 0.85", referral="low_confidence")
    kept = recogniser.with_facts(unsure, reads("43% vol", "700ml"))  # the gin and the 18 Year fit
    assert [(c.product.catalogue_id, c.inliers) for c in kept.candidates] == [("LQ-0011", 30), ("LQ-0002", 0)]
    assert kept.candidates[0].confidence == 0.85 and not kept.by_facts
    weak = dataclasses.replace(unsure, candidates=(Candidate(gin, 0.2, 12),))
    raised = recogniser.with_facts(weak, reads("43% vol", "700ml"))
    assert [(c.product.catalogue_id, c.inliers) for c in raised.candidates] == [
        ("LQ-0011", 12),
        ("LQ-0002", 0),
    ]
    assert raised.candidates[0].confidence == raised.candidates[1].confidence == pytest.approx(0.47)
    assert raised.by_facts  # the facts' confidence put it first; among equals the keypoints' stays first


def test_a_shortlist_of_several_alike_names_no_entry_on_the_detection(library: LabelLibrary) -> None:
    tied = recognised_on_a_blank_frame(library, reads("43% vol", "700ml"))
    detection = bottle_detection(tied)
    assert detection.attributes["identified_by"] == "printed_facts"
    assert "catalogue_id" not in detection.attributes and "duty_hkd" not in detection.attributes
    listed = {c["catalogue_id"] for c in json.loads(detection.attributes["candidates"])}
    assert listed == {"LQ-0002", "LQ-0011"} and detection.attributes["needs_officer"] == "1"


def test_the_keypoints_own_reading_of_their_bottle_holds_a_clearance_by_another_size(
    library: LabelLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keypoints clear Nordvik 750 ml, reading 40% and 750 ml on its label; the frame reads Nordvik
    Vodka 40% vol 1.75 L. "750" is what is left of 1.75 l with digits lost, so it does not disagree with
    the 1.75 l bottle, but it is the 750 ml bottle's volume exactly: an officer decides. So with "750ml"
    on a leaflet beside it."""
    counted = counted_copy(library, tmp_path / "counted", 40)
    small = counted.product("LQ-0009")
    magnum = reads("NORDVIK", "VODKA", "40% vol", "1.75L")
    leaflet = [TextRead(t.quad + np.array([500.0, 0.0]), t.text, 0.9) for t in reads("750ml")]
    for texts, own in ((magnum, Reading(40.0, 750)), (magnum + leaflet, Reading())):
        recogniser = LabelRecogniser(counted, LiquorSettings(), TextsOfTheFrame(texts))  # type: ignore[arg-type]
        cleared = Recognition((Candidate(small, 0.95, 40),), own, needs_officer=False)
        monkeypatch.setattr(recogniser, "by_keypoints", lambda rgb, cleared=cleared: cleared)
        recognition = recogniser.recognise(np.zeros((*SHAPE, 3), np.uint8))
        assert recognition.needs_officer and recognition.referral == "names_contradict", texts


def test_the_evaluation_counts_no_tied_shortlist_as_recognised_first() -> None:
    shown = "LQ-0002"
    named = evaluate.Outcome(shown, ("LQ-0002", "LQ-0011"), True, False, 1.0, referral="no_label")
    tied = dataclasses.replace(named, named=False)  # the detection names no entry, only candidates
    figures = evaluate.figures([named, tied])
    assert figures["top1"] == 0.5 and figures["top3"] == 1.0
    assert figures["referrals"]["no_label"] == {"frames": 2, "first_right": 1, "listed": 2}


@pytest.fixture(scope="module")
def cognacs(tmp_path_factory: pytest.TempPathFactory) -> LabelLibrary:
    """Maison Delaurier VSOP and XO (both 40% and 700 ml: twins) and XO magnum (1.5 l, the XO's Chinese
    name), and Cayo Negro rum (40%, 700 ml), with identifications by names counted right at
    calibration."""
    out = tmp_path_factory.mktemp("liquor-twins")
    build.build(
        out / "plain", catalogue_ids=("LQ-0004", "LQ-0005", "LQ-0006", "LQ-0012"), calibration_seeds=()
    )
    return counted_copy(load_library(out / "plain"), out / "counted", 40)


def test_twins_are_the_products_of_a_brand_only_their_names_tell_apart() -> None:
    """Of the whole catalogue, the VSOP and the XO cognac: one brand, 40% and 700 ml each. The XO magnum
    (1.5 l), the two Glen Corrach whiskies (40% and 43%) and the two Nordvik sizes are told apart by the
    figures printed."""
    from smartcustoms.hardware.sim import liquor as liquor_sim
    from smartcustoms.plugins.liquor.recogniser import twins

    products = [build.product_of(item) for item in liquor_sim.CATALOGUE]
    assert twins(products) == {"LQ-0004", "LQ-0005"}


def test_a_twin_cleared_surely_is_still_cross_checked_by_its_names(
    cognacs: LabelLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keypoints clear the VSOP at 0.995, above ``names_check_below``: a brand's labels may share a
    design, so the names printed are read anyway. The XO named alone, with its figures: the XO stands.
    The VSOP named: it stays cleared. The brand read without the word that tells them apart: the sure
    clearance stands, and one at 0.95 goes to an officer with both twins, neither surer. The rum, which
    has no twin, is not read at 0.995; nor is anything with ``names_check_below`` 0."""
    vsop, rum = cognacs.product("LQ-0004"), cognacs.product("LQ-0012")
    frame = np.zeros((*SHAPE, 3), np.uint8)
    brand_alone = ("MAISON DELAURIER", "Cognac", "40% vol", "700ml")
    for confidence, texts, first, referral in (
        (0.995, ("MAISON DELAURIER", "XO Cognac", "40% vol", "700ml"), "LQ-0005", ""),
        (0.995, ("MAISON DELAURIER", "VSOP Cognac", "40% vol", "700ml"), "LQ-0004", ""),
        (0.995, brand_alone, "LQ-0004", ""),
        (0.95, brand_alone, "LQ-0004", "names_ambiguous"),
    ):
        reader = TextsOfTheFrame(reads(*texts))
        recogniser = LabelRecogniser(cognacs, LiquorSettings(), reader)  # type: ignore[arg-type]
        cleared = Recognition((Candidate(vsop, confidence, 40),), needs_officer=False)
        monkeypatch.setattr(recogniser, "by_keypoints", lambda rgb, cleared=cleared: cleared)
        recognition = recogniser.recognise(frame)
        assert reader.calls == 1
        assert recognition.referral == referral and recognition.needs_officer is bool(referral), texts
        ids = [c.product.catalogue_id for c in recognition.candidates]
        assert ids[0] == first
        if referral:
            assert ids[:2] == ["LQ-0004", "LQ-0005"]
            assert recognition.candidates[0].confidence == recognition.candidates[1].confidence
            assert "only the names printed tell them apart" in recognition.reason
    for product, settings in ((rum, LiquorSettings()), (vsop, LiquorSettings(names_check_below=0))):
        reader = TextsOfTheFrame(reads("MAISON DELAURIER", "XO Cognac", "40% vol", "700ml"))
        recogniser = LabelRecogniser(cognacs, settings, reader)  # type: ignore[arg-type]
        cleared = Recognition((Candidate(product, 0.995, 40),), needs_officer=False)
        monkeypatch.setattr(recogniser, "by_keypoints", lambda rgb, cleared=cleared: cleared)
        recognition = recogniser.recognise(frame)
        assert reader.calls == 0 and recognition is cleared


def test_a_sure_twin_is_overruled_only_by_names_of_its_own_brand(
    cognacs: LabelLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A twin cleared at 0.999 is read to tell it from its twin, nothing more: another brand read with
    figures that fit it too (40% and 700 ml fit many bottles) leaves the clearance as it was, where the
    same frame below ``names_check_below`` gives the other brand's bottle."""
    vsop = cognacs.product("LQ-0004")
    rum = ("CAYO NEGRO", "Anejo Rum", "40% vol", "700ml")
    for confidence, first, by_names in ((0.999, "LQ-0004", False), (0.95, "LQ-0012", True)):
        reader = TextsOfTheFrame(reads(*rum))
        recogniser = LabelRecogniser(cognacs, LiquorSettings(), reader)  # type: ignore[arg-type]
        cleared = Recognition((Candidate(vsop, confidence, 40),), needs_officer=False)
        monkeypatch.setattr(recogniser, "by_keypoints", lambda rgb, cleared=cleared: cleared)
        recognition = recogniser.recognise(np.zeros((*SHAPE, 3), np.uint8))
        assert reader.calls == 1 and not recognition.needs_officer
        assert recognition.best is not None and recognition.best.product.catalogue_id == first
        assert recognition.by_names is by_names


def test_names_of_one_brand_stand_for_a_twin_only_by_the_words_that_tell_them_apart(
    cognacs: LabelLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keypoints clear the VSOP at 0.995. "XO Cognac" read, "VSOP" nowhere: the XO. "XO Cognac" read
    and "VSOP" read too (a gift box, a second bottle): an officer decides, XO or VSOP. Names that fit
    the XO bottles and not the VSOP (the Chinese name the XO and the XO magnum share, the volume
    unread): an officer decides, whatever the keypoints' confidence, with both twins among the
    candidates."""
    vsop = cognacs.product("LQ-0004")
    frame = np.zeros((*SHAPE, 3), np.uint8)
    for texts, referral, first in (
        (("MAISON DELAURIER", "XO Cognac", "40% vol", "700ml"), "", "LQ-0005"),
        (("MAISON DELAURIER", "VSOP", "40% vol", "700ml", "XO Cognac"), "names_contradict", None),
        (("MAISON DELAURIER", cognacs.product("LQ-0005").name_zh, "40% vol"), "names_contradict", None),
    ):
        for confidence in (0.995, 0.95):
            reader = TextsOfTheFrame(reads(*texts))
            recogniser = LabelRecogniser(cognacs, LiquorSettings(), reader)  # type: ignore[arg-type]
            cleared = Recognition((Candidate(vsop, confidence, 40),), needs_officer=False)
            monkeypatch.setattr(recogniser, "by_keypoints", lambda rgb, cleared=cleared: cleared)
            recognition = recogniser.recognise(frame)
            assert recognition.referral == referral, (texts, confidence)
            ids = [c.product.catalogue_id for c in recognition.candidates]
            assert {"LQ-0004", "LQ-0005"} <= set(ids) or not referral
            if first is not None:
                assert ids[0] == first, (texts, confidence)


def test_a_twins_own_words_decide_and_figures_against_the_names_keep_the_look(
    cognacs: LabelLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "XO" and "Cognac" read on two lines fit both twins by their names, but only the XO's own word is
    read: the VSOP's clearance goes to an officer, the XO first, however sure. "VSOP Cognac" read
    beside "LUXOR" (a word that holds "XO"): the VSOP stands. The XO magnum's look with "XO Cognac" and
    1.5 l read: the magnum's word is cut off, but the figures are the magnum's, not the XO's, so the
    look stands."""
    frame = np.zeros((*SHAPE, 3), np.uint8)
    cases = (
        (
            "LQ-0004",
            0.995,
            ("MAISON DELAURIER", "XO", "Cognac", "40% vol", "700ml"),
            "names_contradict",
            "LQ-0005",
        ),
        (
            "LQ-0004",
            0.95,
            ("MAISON DELAURIER", "XO", "Cognac", "40% vol", "700ml"),
            "names_contradict",
            "LQ-0005",
        ),
        ("LQ-0005", 0.995, ("MAISON DELAURIER", "VSOP Cognac", "LUXOR", "40% vol", "700ml"), "", "LQ-0004"),
        ("LQ-0006", 0.95, ("MAISON DELAURIER", "XO Cognac", "40% vol", "1.5L"), "", "LQ-0006"),
    )
    for seen, confidence, texts, referral, first in cases:
        reader = TextsOfTheFrame(reads(*texts))
        recogniser = LabelRecogniser(cognacs, LiquorSettings(), reader)  # type: ignore[arg-type]
        cleared = Recognition((Candidate(cognacs.product(seen), confidence, 40),), needs_officer=False)
        monkeypatch.setattr(recogniser, "by_keypoints", lambda rgb, cleared=cleared: cleared)
        recognition = recogniser.recognise(frame)
        assert recognition.referral == referral, (seen, confidence, texts, recognition.reason)
        assert recognition.best is not None and recognition.best.product.catalogue_id == first, texts


def test_the_words_that_tell_two_names_apart_are_read_whole() -> None:
    """A word counts where it stands alone or joined to its neighbour at the start or end of a read,
    never inside another word; a number only whole."""
    from smartcustoms.plugins.liquor.recogniser import _word_read, distinct_words

    assert distinct_words("XO Cognac", "VSOP Cognac") == {"XO"}
    assert distinct_words("12 Year Single Malt Whisky", "18 Year Single Malt Whisky") == {"12"}
    assert distinct_words("Vodka", "Vodka") == set()
    assert _word_read("XO", "XO") and _word_read("XO", "XOCOGNAC") and _word_read("VSOP", "COGNACVSOP")
    assert not _word_read("XO", "LUXOR")
    assert _word_read("12", "12") and not _word_read("12", "2012") and not _word_read("12", "12YEAR")


def test_a_cross_check_reads_the_label_the_keypoints_found_not_the_rest_of_the_counter(
    library: LabelLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keypoints clear Hartwell gin at 0.95, its label at x 100-400, y 100-300 on the frame: another
    brand's names printed on it send the bottle to an officer; the same names two label-widths away
    (another bottle, a receipt on the counter) are not read for it."""
    gin = library.product("LQ-0011")
    outline = np.array([[100, 100], [400, 100], [400, 300], [100, 300]], dtype=np.float64)
    for shift, referred in ((0.0, True), (1000.0, False)):
        moved = np.array([shift, 0.0])
        texts = [TextRead(t.quad + moved, t.text, t.score) for t in reads("NORDVIK", "VODKA", "750ml")]
        reader = TextsOfTheFrame(texts)
        recogniser = LabelRecogniser(library, LiquorSettings(), reader)  # type: ignore[arg-type]
        cleared = Recognition((Candidate(gin, 0.95, 40),), outline=outline, needs_officer=False)
        monkeypatch.setattr(recogniser, "by_keypoints", lambda rgb, cleared=cleared: cleared)
        recognition = recogniser.recognise(np.zeros((*SHAPE, 3), np.uint8))
        assert recognition.needs_officer is referred
        assert recognition.candidates[0].product.catalogue_id == ("LQ-0009" if referred else "LQ-0011")
