"""The listings simulators: reproducible markets, counterfeit networks that share identifiers."""

from __future__ import annotations

from collections import defaultdict

from smartcustoms.hardware.sim.listings import BRANDS, HELD_OUT_SEEDS_FROM, ListingSimulator
from smartcustoms.hardware.sim.listings_alt import AltListingSimulator


def test_a_seed_gives_the_same_market_and_another_seed_another() -> None:
    first = [x.item() for x in ListingSimulator(5).listings(40)]
    again = [x.item() for x in ListingSimulator(5).listings(40)]
    other = [x.item() for x in ListingSimulator(6).listings(40)]
    assert first == again and first != other
    assert HELD_OUT_SEEDS_FROM == 1000


def test_operators_run_accounts_that_share_identifiers_and_sell_cheap() -> None:
    listings = list(ListingSimulator(8).listings(300))
    fakes = [x for x in listings if x.counterfeit]
    assert 0.15 < len(fakes) / len(listings) < 0.6
    accounts_of: dict[str, set[str]] = defaultdict(set)
    phones_of: dict[str, set[str]] = defaultdict(set)
    for x in fakes:
        accounts_of[x.owner].add(x.account)
        phones_of[x.owner].add(x.phone)
    assert any(len(a) > len(phones_of[o]) for o, a in accounts_of.items())  # accounts share a phone
    low = {b.key: b.price_range_hkd[0] for b in BRANDS}
    cheap = sum(x.price_hkd < 0.3 * low[x.brand] for x in fakes)
    assert cheap > 0.4 * len(fakes)  # premium copies ask 40-70%
    assert all(x.image[:2] == b"\xff\xd8" for x in listings[:20])  # JPEG
    assert {x.language for x in listings} == {"en", "zh"}
    assert not any(x.owner in x.account for x in listings)  # account names do not give the owner away


def test_the_alternative_generator_has_its_own_market() -> None:
    listings = list(AltListingSimulator(3).listings(120))
    assert {x.seller_kind for x in listings} >= {"ring", "trader"}
    assert any(x.counterfeit for x in listings) and not all(x.counterfeit for x in listings)
    item = listings[0].item()
    assert {"truth_counterfeit", "truth_owner", "image_url", "account"} <= set(item)
