"""The suspicion score of one listing, with its reasons: text, price, image, then the seller's links.

Each signal adds its weight; the score is capped at 1 and a listing is flagged at ``FLAG_AT``. The
weights were set by hand on the tuning seeds of the listings simulator (``smartcustoms eval ipr``
reports held-out seeds and the independent generator).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .catalogue import ImageMatch
from .linking import Links
from .watchlist import TextMatch, Watchlist

__all__ = ["FLAG_AT", "Suspicion", "suspicion"]

FLAG_AT = 0.5
W_STRONG_WORD = 0.45
W_WEAK_WORD = 0.1
W_FUZZY_NAME = 0.2
W_PRICE_FAR_BELOW = 0.5  # under ``FAR_BELOW`` of the brand's lowest reference price
W_PRICE_BELOW = 0.2  # under ``BELOW`` of it
W_DOCTORED_IMAGE = 0.35
W_LINKED_TO_FLAGGED = 0.3  # linked to, or alike, accounts flagged before
W_IMAGE_SHARED = 0.15  # a photo of its own the seller shares with another account
FAR_BELOW = 0.3
BELOW = 0.6


@dataclass
class Suspicion:
    brand: str = ""  # the watched brand the listing is about, by its text or its image
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)
    price_ratio: float = 0.0  # price / the brand's lowest reference price (0 if unknown)

    @property
    def flagged(self) -> bool:
        return self.score >= FLAG_AT

    def add(self, weight: float, reason: str) -> None:
        self.score = min(1.0, self.score + weight)
        self.reasons.append(reason)


def suspicion(watchlist: Watchlist, text: TextMatch, image: ImageMatch, price_hkd: float) -> Suspicion:
    """The listing's suspicion before its seller's links are known."""
    brand = text.brand or (image.brand if image.as_published or image.doctored else "")
    found = Suspicion(brand=brand)
    if text.strong_words:
        found.add(W_STRONG_WORD, "copy words: " + ", ".join(text.strong_words))
    if text.weak_words:
        found.add(W_WEAK_WORD, "words of bulk or look-alike sellers: " + ", ".join(text.weak_words))
    if text.how == "fuzzy":
        found.add(W_FUZZY_NAME, f"brand {text.brand} written askew")
    if image.doctored:
        found.add(
            W_DOCTORED_IMAGE, f"catalogue photo {image.product} cut or recoloured ({image.crop_bits} bits)"
        )
    entry = watchlist.brands.get(brand)
    if entry is not None and price_hkd > 0:
        found.price_ratio = price_hkd / entry.price_low_hkd
        if found.price_ratio < FAR_BELOW:
            found.add(W_PRICE_FAR_BELOW, f"price {found.price_ratio:.0%} of {brand}'s lowest reference")
        elif found.price_ratio < BELOW:
            found.add(W_PRICE_BELOW, f"price {found.price_ratio:.0%} of {brand}'s lowest reference")
    if not brand and not text.strong_words:
        found.score = 0.0  # nothing watched: whatever else it is, not an IPR matter
    return found


def add_links(found: Suspicion, links: Links) -> None:
    """Raise the score for the seller's links, or its copyable content alike other accounts' (a copy
    seller's photo or text): to accounts flagged before, or sharing its own photos."""
    if not (found.brand or found.reasons):
        return
    if links.flagged:
        found.add(
            W_LINKED_TO_FLAGGED,
            f"seller linked to {len(links.accounts)} accounts flagged {links.flagged} times",
        )
    elif links.alike_flagged:
        found.add(
            W_LINKED_TO_FLAGGED,
            f"photo or text alike those of {len(links.alike)} accounts flagged {links.alike_flagged} times",
        )
    if any("image" in kinds for kinds in (*links.accounts.values(), *links.alike.values())):
        found.add(W_IMAGE_SHARED, "photo shared with another seller account")
