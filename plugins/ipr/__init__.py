"""ipr_monitor: online listings against the rights holders' watchlists and catalogues (system 9).

Each ``online_listing`` record (from the feed connectors, ``smartcustoms.hardware.feeds``) is read
for the watched brand it names and the copy words it uses (``watchlist``: English and Chinese, fuzzy
and segmented), its price against the brand's reference range, its image against the catalogue
(``catalogue``: perceptual hash, and an equalised hash over crops for cut or recoloured photos), and
its seller against other accounts (``linking``: shared phone, payment id, reused photos, near-identical
texts, in keyed state). ``scoring`` adds these up into a suspicion score with its reasons; a batch with
a flagged listing is an ALARM with one detection per flagged listing, under the IPR case of the
seller's network. Each flagged listing is frozen into the audit trail (``evidence_capture``): its
text, price, URL, time fetched, content hash and image hashes, so the case file shows what was online
and when.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.listing_images import LISTING_KIND
from smartcustoms.core.plugin import Plugin, PluginContext
from smartcustoms.core.state import MemoryState
from smartcustoms.core.types import Assessment, Decision, Detection, Modality, PluginSpec
from smartcustoms.v1 import frame_pb2

from .catalogue import Catalogue, ImageMatch, load_catalogue
from .linking import AccountLinker, LinkQuery, Links, image_bands, normal_phone, text_bands_many
from .scoring import Suspicion, add_links, suspicion
from .watchlist import Watchlist, load_watchlist

__all__ = ["LABEL", "EvidenceLog", "IprMonitorPlugin", "ListingView", "case_of"]

LABEL = "ipr_suspect"
EVIDENCE_KIND = "evidence_capture"
TEXT_LINK_FROM = 0.3  # texts are banded for links only from this suspicion on (boilerplate is shared)
log = logging.getLogger(__name__)


class EvidenceLog(Protocol):
    """Where evidence goes: ``smartcustoms.core.audit.AuditTrail`` (a list in tools and tests)."""

    def append_many(self, entries: Sequence[tuple[str, Mapping[str, Any]]]) -> object: ...


@dataclass(frozen=True)
class ListingView:
    """The fields of an ``online_listing`` record the plugin reads."""

    record_id: str
    fields: Mapping[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name, "")

    @functools.cached_property
    def text(self) -> str:
        return f"{self.get('title')}\n{self.get('description')}".strip()

    @property
    def price_hkd(self) -> float:
        try:
            return float(self.get("price") or 0) if self.get("currency") in ("", "HKD") else 0.0
        except ValueError:
            return 0.0

    @property
    def posted_s(self) -> float:
        for name in ("posted_at", "fetched_at"):
            try:
                return float(self.get(name))
            except ValueError:
                continue
        return 0.0

    @property
    def account(self) -> str:
        return self.get("account") or f"{self.get('platform')}:{self.record_id}"


def reference_data(name: str, path: Path, content_hash: str) -> ArtefactInfo:
    """The catalogue file as reference data: its hash goes with every result of the plugin."""
    return ArtefactInfo(name=name, version="file", content_hash=content_hash, source=str(path), path=path)


def case_of(root_account: str) -> str:
    """The IPR case of a seller network, named after its earliest account."""
    return "IPR-" + hashlib.blake2b(root_account.encode(), digest_size=5).hexdigest().upper()


class IprMonitorPlugin(Plugin):
    spec = PluginSpec(
        name="ipr_monitor",
        version="1.0.0",
        consumes=frozenset({Modality.RECORD}),
        record_kinds=frozenset({LISTING_KIND}),
        description="online listings against brand watchlists, prices, catalogue images and linked sellers",
        default_settings={"watchlist": "", "catalogue": "", "evidence": True},
    )

    def __init__(self, settings: Mapping[str, Any], context: PluginContext) -> None:
        self.watchlist: Watchlist = load_watchlist(str(settings.get("watchlist", "")))
        self.catalogue: Catalogue = load_catalogue(str(settings.get("catalogue", "")))
        self.artefacts = (reference_data("ipr-catalogue", self.catalogue.path, self.catalogue.content_hash),)
        self.linker = AccountLinker(context.state if context.state is not None else MemoryState())
        self.evidence: EvidenceLog | None = None
        self.first_delivery = True  # of the batch last assessed (``AccountLinker.flag``)
        client = getattr(context.state, "client", None)
        if client is not None and settings.get("evidence", True):
            from smartcustoms.core.audit import AuditTrail

            self.evidence = AuditTrail(client, context.namespace)

    @hookimpl
    def smartcustoms_warm_up(self) -> None:
        """Score one made-up listing (fills the matchers' caches), touching no state."""
        self._suspicion(
            ListingView("warm-up", {"title": "Aurelia handbag 高仿", "price": "100"}), ImageMatch()
        )

    @hookimpl
    def smartcustoms_process_batch(self, frames: Sequence[FrameView]) -> list[Assessment]:
        return [self.assess(frame.frame_id, frame.records()) for frame in frames]

    def assess(self, frame_id: str, batch: frame_pb2.RecordBatch) -> Assessment:
        """Score one batch of listings; flagged ones become detections and evidence."""
        listings = [ListingView(r.record_id, dict(r.fields)) for r in batch.records if r.kind == LISTING_KIND]
        if not listings:
            return Assessment.clear()
        results = self.assess_listings(frame_id, listings)
        flagged = [(v, found, links) for v, found, links in results if found.flagged]
        detections = tuple(self._detection(v, found, links) for v, found, links in flagged)
        if flagged and self.evidence is not None and self.first_delivery:
            self._capture(self.evidence, flagged)
        top = max(found.score for _, found, _ in results)
        return Assessment(Decision.ALARM if detections else Decision.CLEAR, detections, risk_score=top)

    def assess_listings(
        self, token: str, listings: Sequence[ListingView]
    ) -> list[tuple[ListingView, Suspicion, Links]]:
        """Each listing's suspicion and its seller's links; flags are counted once per ``token``."""
        images = self.catalogue.match_many([(v.get("image_phash"), v.get("image_ehash")) for v in listings])
        scored = [(self._suspicion(v, image), image) for v, image in zip(listings, images, strict=True)]
        queries = [self._query(v, found, image) for v, (found, image) in zip(listings, scored, strict=True)]
        texts = [
            n
            for n, (v, (found, _)) in enumerate(zip(listings, scored, strict=True))
            if self._bands_text(v, found)
        ]
        for n, bands in zip(texts, text_bands_many([listings[n].text for n in texts]), strict=True):
            queries[n].identifiers["text"] = bands
        links = self.linker.link(token, queries)
        for (found, _), linked in zip(scored, links, strict=True):
            add_links(found, linked)
        # a redelivered batch counts no flag twice, and captures no evidence twice
        self.first_delivery = self.linker.flag(
            token, [v.account for v, (found, _) in zip(listings, scored, strict=True) if found.flagged]
        )
        return [(v, found, linked) for v, (found, _), linked in zip(listings, scored, links, strict=True)]

    def _suspicion(self, listing: ListingView, image: ImageMatch) -> Suspicion:
        return suspicion(self.watchlist, self.watchlist.match(listing.text), image, listing.price_hkd)

    def _query(self, listing: ListingView, found: Suspicion, image: ImageMatch) -> LinkQuery:
        identifiers: dict[str, list[str]] = {}
        if phone := normal_phone(listing.get("phone")):
            identifiers["phone"] = [phone]
        if payment := listing.get("payment_id").strip():
            identifiers["payment"] = [payment]
        if not (image.as_published or image.doctored):  # the brand's photos, even cut, are not the seller's
            identifiers["image"] = image_bands(listing.get("image_phash"))
        return LinkQuery(listing.account, listing.posted_s, identifiers)

    def _bands_text(self, listing: ListingView, found: Suspicion) -> bool:
        """Texts are banded for links only once a listing looks like a copy: boilerplate is shared."""
        return found.score >= TEXT_LINK_FROM and len(listing.text) >= 12

    def _detection(self, listing: ListingView, found: Suspicion, links: Links) -> Detection:
        case = case_of(links.root)
        reasons = "; ".join(found.reasons)
        linked = sorted(links.accounts)
        attributes = {
            "record_id": listing.record_id,
            "case": case,
            "account": listing.account,
            "platform": listing.get("platform"),
            "url": listing.get("url"),
            "brand": found.brand,
            "reasons": reasons,
            "linked_accounts": ",".join(linked[:20]),
            "link_kinds": ",".join(sorted({k for kinds in links.accounts.values() for k in kinds})),
        }
        return Detection(
            label=LABEL,
            score=found.score,
            explanation=f"{listing.record_id} ({listing.account}): {reasons}",
            attributes={k: v for k, v in attributes.items() if v},
        )

    def _capture(
        self, evidence: EvidenceLog, flagged: Sequence[tuple[ListingView, Suspicion, Links]]
    ) -> None:
        """Freeze the flagged listings as they were online into the audit trail, one record each, in one
        append (a failure is logged: evidence must not stop detection)."""
        entries = [
            (
                EVIDENCE_KIND,
                {
                    "case": case_of(links.root),
                    "listing": listing.record_id,
                    "fields": {k: v for k, v in listing.fields.items() if not k.startswith("truth_")},
                    "score": round(found.score, 3),
                    "reasons": found.reasons,
                    "linked_accounts": sorted(links.accounts)[:50],
                },
            )
            for listing, found, links in flagged
        ]
        try:
            evidence.append_many(entries)
        except Exception:  # a Redis hiccup or a full trail: logged, the alerts still go out
            log.exception("ipr_monitor: evidence of %d listings not captured", len(entries))
