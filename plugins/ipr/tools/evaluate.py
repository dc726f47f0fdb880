"""Replay simulated markets through the ipr_monitor plugin and score it against the simulator's truth.

Listings go the way the connectors send them (``record_from_item``, image signatures included), in
batches of ``BATCH`` through ``IprMonitorPlugin.assess_listings`` with in-memory state, one market per
seed. Counterfeit listings: precision and recall of the flagged listings, beside the keyword baseline
(a listing is flagged when its text holds any of the watchlist's copy words, denied or not). Linked
accounts: pairwise precision and recall of "these two accounts have one owner" over every pair of
accounts seen, from the plugin's links joined transitively, beside a shared-phone-only baseline.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from smartcustoms.core.evaluation import Tally
from smartcustoms.core.plugin import PluginContext
from smartcustoms.hardware.feeds.items import record_from_item
from smartcustoms.plugins.ipr import IprMonitorPlugin, ListingView

BATCH = 50


Counts = Tally  # listings or account pairs: predicted against true


@dataclass
class MarketResult:
    listings: int = 0
    counterfeit: int = 0
    plugin: Counts = field(default_factory=Counts)
    keywords: Counts = field(default_factory=Counts)
    links: Counts = field(default_factory=Counts)
    phone_links: Counts = field(default_factory=Counts)
    accounts: int = 0

    def merge(self, other: MarketResult) -> None:
        self.listings += other.listings
        self.counterfeit += other.counterfeit
        self.accounts += other.accounts
        for mine, theirs in (
            (self.plugin, other.plugin),
            (self.keywords, other.keywords),
            (self.links, other.links),
            (self.phone_links, other.phone_links),
        ):
            mine.merge(theirs)


class _Groups:
    """Union-find over account names."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, a: str) -> str:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def join(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def simulator(generator: str, seed: int) -> Any:
    """The listings generator: "sim" (the one tuned on) or "alt" (the independent one)."""
    if generator == "alt":
        from smartcustoms.hardware.sim.listings_alt import AltListingSimulator

        return AltListingSimulator(seed)
    if generator != "sim":
        raise ValueError(f"unknown generator {generator!r}: 'sim' or 'alt'")
    from smartcustoms.hardware.sim.listings import ListingSimulator

    return ListingSimulator(seed)


def market_views(generator: str, seed: int, count: int) -> Iterator[ListingView]:
    """The listings of one market as the plugin sees them (truth fields ride along)."""
    for listing in simulator(generator, seed).listings(count):
        record = record_from_item(
            listing.item(), source=listing.platform, image=listing.image, fetched_at_s=listing.posted_at_s
        )
        yield ListingView(record.record_id, dict(record.fields))


def evaluate_market(views: Iterable[ListingView], plugin: IprMonitorPlugin | None = None) -> MarketResult:
    plugin = plugin or IprMonitorPlugin({}, PluginContext(name="ipr_monitor"))
    result = MarketResult()
    groups, phones = _Groups(), _Groups()
    owner_of: dict[str, str] = {}
    first_with_phone: dict[str, str] = {}
    batch: list[ListingView] = []

    def run(chunk: list[ListingView]) -> None:
        for view, found, links in plugin.assess_listings(f"eval-{result.listings}", chunk):
            actual = view.get("truth_counterfeit") == "1"
            result.listings += 1
            result.counterfeit += actual
            result.plugin.add(found.flagged, actual)
            result.keywords.add(plugin.watchlist.keyword_hit(view.text), actual)
            owner_of[view.account] = view.get("truth_owner")
            groups.find(view.account)
            for other in links.accounts:
                groups.join(view.account, other)
            phone = view.get("phone")
            phones.join(view.account, first_with_phone.setdefault(phone, view.account))

    for view in views:
        batch.append(view)
        if len(batch) == BATCH:
            run(batch)
            batch = []
    if batch:
        run(batch)
    accounts = sorted(owner_of)
    result.accounts = len(accounts)
    for a, b in combinations(accounts, 2):
        actual = owner_of[a] == owner_of[b]
        result.links.add(groups.find(a) == groups.find(b), actual)
        result.phone_links.add(phones.find(a) == phones.find(b), actual)
    return result


def evaluate(generator: str, seeds: Iterable[int], count: int) -> MarketResult:
    total = MarketResult()
    for seed in seeds:
        total.merge(evaluate_market(market_views(generator, seed, count)))
    return total
