"""ipr_monitor on small inputs: watchlist matching, catalogue images, linked accounts, evidence capture."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from smartcustoms.core.listing_images import LISTING_KIND, signature_of
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.state import MemoryState
from smartcustoms.core.types import Decision
from smartcustoms.hardware.feeds.items import record_from_item
from smartcustoms.hardware.sim import listings as sim
from smartcustoms.plugins.ipr import IprMonitorPlugin, ListingView
from smartcustoms.plugins.ipr.catalogue import load_catalogue
from smartcustoms.plugins.ipr.linking import (
    MAX_CARRIERS,
    AccountLinker,
    LinkQuery,
    account_number,
    image_bands,
    text_bands,
)
from smartcustoms.plugins.ipr.tools.evaluate import evaluate_market, market_views
from smartcustoms.plugins.ipr.watchlist import load_watchlist
from smartcustoms.v1 import frame_pb2


@pytest.fixture(scope="module")
def plugin_factory() -> Any:
    watchlist = load_watchlist()
    catalogue = load_catalogue()

    def make(state: MemoryState | None = None) -> IprMonitorPlugin:
        plugin = IprMonitorPlugin({}, PluginContext(name="ipr_monitor", state=state or MemoryState()))
        plugin.watchlist, plugin.catalogue = watchlist, catalogue  # jieba's dictionary loads once
        return plugin

    return make


@pytest.mark.parametrize(
    ("text", "brand", "how"),
    [
        ("Aurelia handbag, authentic", "aurelia", "exact"),
        ("Au relia handbag 1:1", "aurelia", "fuzzy"),
        ("Ve1ox sneakers", "velox", "fuzzy"),
        ("Nordpeek down jacket", "nordpeak", "fuzzy"),
        ("奥瑞莉亚手提包 正品", "aurelia", "exact"),
        ("维 洛 斯运动鞋 高仿", "velox", "exact"),
        ("奥瑞莉亞手提包", "aurelia", "fuzzy"),
        ("rice cooker, brand new", "", ""),
    ],
)
def test_watchlist_finds_brands_plainly_or_askew(text: str, brand: str, how: str) -> None:
    found = load_watchlist().match(text)
    assert (found.brand, found.how) == (brand, how)


def test_denied_copy_words_do_not_count_but_the_baseline_counts_them() -> None:
    watchlist = load_watchlist()
    denied = watchlist.match("100% authentic Velox sneakers, not a replica, no fakes")
    assert denied.strong_words == () and set(denied.negated_words) == {"replica", "fake"}
    assert watchlist.keyword_hit("100% authentic Velox sneakers, not a replica")
    assert watchlist.match("索尼可耳机 不是高仿").strong_words == ()
    assert watchlist.match("索尼可耳机 高仿 原单").strong_words == ("高仿", "原单")


def test_catalogue_tells_published_doctored_and_own_photos_apart() -> None:
    catalogue = load_catalogue()
    rng = np.random.default_rng(3)
    brand = sim.BRANDS[0]
    photo = sim.catalogue_image(brand, 1)
    published = signature_of(sim._reencode(photo, 80))
    match = catalogue.match(published.phash, published.ehash)
    assert match.as_published and match.product == "aurelia-1"
    doctored = [signature_of(sim._doctored(photo, rng)) for _ in range(10)]
    assert sum(catalogue.match(s.phash, s.ehash).doctored for s in doctored) >= 6
    own = [signature_of(sim._own_photo("bag", rng, n)) for n in range(10)]
    assert not any(catalogue.match(s.phash, s.ehash).as_published for s in own)
    assert sum(catalogue.match(s.phash, s.ehash).doctored for s in own) <= 2


def test_accounts_sharing_a_phone_link_to_the_earliest_whatever_the_order() -> None:
    for order in ((0, 1, 2), (2, 1, 0)):
        linker = AccountLinker(MemoryState())
        queries = [
            LinkQuery("hkbuy:a", 100.0, {"phone": ["91234567"]}),
            LinkQuery("shoppa:b", 200.0, {"phone": ["91234567"], "payment": ["p1"]}),
            LinkQuery("weishop:c", 300.0, {"payment": ["p1"]}),
        ]
        seen = {}
        for n in order:
            seen[n] = linker.link(f"t{n}", [queries[n]])[0]
        # the last one processed sees whoever came before it; the earliest account roots the network
        last = seen[order[-1]]
        assert last.accounts
        if order == (0, 1, 2):
            assert seen[1].accounts == {"hkbuy:a": {"phone"}} and seen[1].root == "hkbuy:a"
            assert seen[2].accounts == {"shoppa:b": {"payment"}}
    lone = AccountLinker(MemoryState()).link("t", [LinkQuery("x:y", 1.0, {"phone": ["1"]})])[0]
    assert lone.accounts == {} and lone.root == "x:y"


PHOTO = image_bands("9f3a0c71e2b45d86")  # one photo's four perceptual-hash bands
TEXT = text_bands("Aurelia handbag 1:1 top quality | fast ship | trusted seller")


def link_in_turn(queries: Sequence[LinkQuery]) -> list[Any]:
    """Each query in its own batch, in order, through one linker."""
    linker = AccountLinker(MemoryState())
    return [linker.link(f"t{n}", [q])[0] for n, q in enumerate(queries)]


def test_a_rare_phone_links_two_accounts_but_a_photo_alone_only_makes_them_alike() -> None:
    phone = link_in_turn(
        [LinkQuery("a:1", 1.0, {"phone": ["91234567"]}), LinkQuery("b:2", 2.0, {"phone": ["91234567"]})]
    )
    assert phone[1].accounts == {"a:1": {"phone"}} and phone[1].root == "a:1"
    photo = link_in_turn([LinkQuery("a:1", 1.0, {"image": PHOTO}), LinkQuery("b:2", 2.0, {"image": PHOTO})])
    assert photo[1].accounts == {} and photo[1].alike == {"a:1": {"image"}}
    assert photo[1].root == "b:2"  # no network: the case is the account's own
    both = link_in_turn(
        [
            LinkQuery("a:1", 1.0, {"image": PHOTO, "text": TEXT}),
            LinkQuery("b:2", 2.0, {"image": PHOTO, "text": TEXT}),
        ]
    )
    assert both[1].accounts == {"a:1": {"image", "text"}} and not both[1].alike


def test_a_photo_and_text_many_accounts_carry_link_nobody() -> None:
    queries = [
        LinkQuery(f"p:{n}", float(n + 1), {"image": PHOTO, "text": TEXT}) for n in range(MAX_CARRIERS + 3)
    ]
    seen = link_in_turn(queries)
    # the first carriers link to the first; once more accounts than one seller runs carry it, nobody
    assert all(s.accounts == {"p:0": {"image", "text"}} for s in seen[1:MAX_CARRIERS])
    assert all(s.accounts == {} and s.alike == {} for s in seen[MAX_CARRIERS:])
    again = link_in_turn([*queries, LinkQuery("p:1", 99.0, {"image": PHOTO, "text": TEXT})])[-1]
    assert again.accounts == {}  # an account that linked early does not any more


def test_a_stock_photo_does_not_stop_a_shared_phone_linking() -> None:
    queries = [
        LinkQuery(f"p:{n}", float(n + 1), {"image": PHOTO, "text": TEXT}) for n in range(MAX_CARRIERS + 1)
    ]
    queries.append(LinkQuery("q:1", 50.0, {"image": PHOTO, "text": TEXT, "phone": ["61112222"]}))
    queries.append(LinkQuery("q:2", 60.0, {"image": PHOTO, "text": TEXT, "phone": ["61112222"]}))
    last = link_in_turn(queries)[-1]
    assert last.accounts == {"q:1": {"phone"}}


def test_carriers_are_counted_once_per_account_and_batch_redelivery() -> None:
    state = MemoryState()
    linker = AccountLinker(state)
    first, second = (LinkQuery(a, t, {"image": PHOTO, "text": TEXT}) for a, t in (("a:1", 1.0), ("b:2", 2.0)))
    linker.link("t0", [first])
    for n in range(5):  # the same account posting the same photo and text again, redelivered or not
        linker.link(f"t{1 + n % 2}", [LinkQuery("b:2", 2.0 + n, second.identifiers)])
    AccountLinker(state).link("t1", [second])  # another process, the same batch again
    counts = state.get_many([f"carriers:id:image:{band}" for band in PHOTO])
    assert counts == ["1"] * len(PHOTO)  # b:2 once; a:1, the owner, is the first carrier


def test_near_identical_texts_share_a_band_and_unrelated_ones_do_not() -> None:
    a = "Aurelia handbag 1:1 top quality, same as original | fast ship | trusted seller"
    b = "Aurelia handbag 1:1 top quality, same as original !! | fast ship | trusted seller"
    c = "Rice cooker, brand new, free delivery to all districts"
    assert set(text_bands(a)) & set(text_bands(b))
    assert not set(text_bands(a)) & set(text_bands(c))


class ListLog:
    def __init__(self) -> None:
        self.entries: list[tuple[str, Mapping[str, Any]]] = []

    def append_many(self, entries: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        self.entries += entries


def test_plugin_flags_counterfeits_links_sellers_and_captures_evidence(plugin_factory: Any) -> None:
    plugin = plugin_factory()
    plugin.evidence = ListLog()
    views = list(market_views("sim", 7, 240))
    batches = [views[i : i + 40] for i in range(0, len(views), 40)]
    detections = []
    for n, chunk in enumerate(batches):
        batch = frame_pb2.RecordBatch(
            records=[
                frame_pb2.Record(record_id=v.record_id, kind=LISTING_KIND, fields=v.fields) for v in chunk
            ]
        )
        assessment = plugin.assess(f"frame-{n}", batch)
        detections += list(assessment.detections)
        assert assessment.decision == (Decision.ALARM if assessment.detections else Decision.CLEAR)
    truth = {v.record_id: v.get("truth_counterfeit") == "1" for v in views}
    flagged = [d.attributes["record_id"] for d in detections]
    assert flagged and sum(truth[r] for r in flagged) / len(flagged) > 0.8
    assert all(d.attributes["case"].startswith("IPR-") and d.attributes["reasons"] for d in detections)
    assert any(d.attributes.get("linked_accounts") for d in detections)
    kinds = {kind for kind, _ in plugin.evidence.entries}
    assert kinds == {"evidence_capture"} and len(plugin.evidence.entries) == len(detections)
    body = plugin.evidence.entries[0][1]
    assert body["case"] == detections[0].attributes["case"]
    assert body["fields"]["content_hash"] and body["fields"]["image_phash"]
    assert not any(k.startswith("truth_") for k in body["fields"])  # ground truth is not evidence


def test_a_redelivered_batch_counts_its_flags_once(plugin_factory: Any) -> None:
    state = MemoryState()
    plugin = plugin_factory(state)
    listing = sim.ListingSimulator(11)
    views = []
    for item in (x for x in listing.listings(80) if x.counterfeit):
        record = record_from_item(
            item.item(), source=item.platform, image=item.image, fetched_at_s=item.posted_at_s
        )
        views.append(ListingView(record.record_id, dict(record.fields)))
    first = plugin.assess_listings("same-frame", views)
    flagged_accounts = sorted({v.account for v, found, _ in first if found.flagged})
    keys = [f"flags:{account_number(a)}" for a in flagged_accounts]
    counts = state.get_many(keys)
    assert flagged_accounts and sum(float(c or 0) for c in counts) == sum(f.flagged for _, f, _ in first)
    plugin.assess_listings("same-frame", views)  # redelivered: the flags it counted stay as they were
    assert state.get_many(keys) == counts and not plugin.first_delivery


def test_small_market_beats_the_keyword_baseline(plugin_factory: Any) -> None:
    result = evaluate_market(market_views("sim", 3, 200), plugin_factory())
    assert result.plugin.recall > result.keywords.recall
    assert result.plugin.precision > 0.8
    assert result.links.recall >= result.phone_links.recall
