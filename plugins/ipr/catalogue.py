"""The rights holders' catalogue as image signatures: each product photo's perceptual hash, and the
equalised hash of a grid of its crops (``smartcustoms.core.listing_images``).

A listing image whose perceptual hash is near a catalogue photo's is that photo (``as_published``);
one that is far from it but whose equalised hash is near one of the photo's crops is the photo cut,
recoloured or re-compressed (``doctored``): what a seller of copies does with the brand's photos. The
catalogue is a JSON file built offline (``smartcustoms library build ipr``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smartcustoms.core.listing_images import hashes_to_array

__all__ = ["Catalogue", "ImageMatch", "load_catalogue"]

DEFAULT_CATALOGUE = Path(__file__).with_name("catalogue.json")
AS_PUBLISHED_BITS = 10  # perceptual hash distance at or under which the image is the catalogue photo
DOCTORED_BITS = 14  # equalised crop hash distance at or under which it was cut out of one


@dataclass(frozen=True)
class ImageMatch:
    brand: str = ""
    product: str = ""
    phash_bits: int = 64
    crop_bits: int = 64

    @property
    def as_published(self) -> bool:
        return self.phash_bits <= AS_PUBLISHED_BITS

    @property
    def doctored(self) -> bool:
        return not self.as_published and self.crop_bits <= DOCTORED_BITS


class Catalogue:
    def __init__(
        self, products: list[dict[str, object]], content_hash: str = "", path: Path | None = None
    ) -> None:
        self.products = products
        self.content_hash = content_hash
        self.path = path or DEFAULT_CATALOGUE
        self._phash = hashes_to_array([str(p["phash"]) for p in products])
        grids = [[str(h) for h in p["crops"]] for p in products]  # type: ignore[attr-defined]  # JSON lists
        if len({len(g) for g in grids}) > 1:
            raise ValueError("catalogue: every product needs the same crop grid")
        self._crops = hashes_to_array([h for g in grids for h in g]).reshape(len(products), -1)

    def match(self, phash: str, ehash: str) -> ImageMatch:
        """The catalogue product nearest to a listing image, by either signature."""
        return self.match_many([(phash, ehash)])[0]

    def match_many(self, signatures: Sequence[tuple[str, str]]) -> list[ImageMatch]:
        """``match`` for many images at once (one array operation for a batch of listings)."""
        found = [ImageMatch()] * len(signatures)
        usable = [n for n, (p, e) in enumerate(signatures) if p and e]
        if not usable or not self.products:
            return found
        phashes = hashes_to_array([signatures[n][0] for n in usable])
        ehashes = hashes_to_array([signatures[n][1] for n in usable])
        by_phash = np.bitwise_count(phashes[:, None] ^ self._phash[None, :]).astype(np.int64)
        by_crop = (
            np.bitwise_count(ehashes[:, None, None] ^ self._crops[None, :, :]).min(axis=2).astype(np.int64)
        )
        best = np.argmin(np.minimum(by_phash, by_crop), axis=1)
        for row, (n, b) in enumerate(zip(usable, best.tolist(), strict=True)):
            product = self.products[b]
            found[n] = ImageMatch(
                str(product["brand"]), str(product["product"]), int(by_phash[row, b]), int(by_crop[row, b])
            )
        return found


def load_catalogue(path: Path | str = "") -> Catalogue:
    """The catalogue at ``path``, or the one built from the simulator's rights holders."""
    where = Path(path or DEFAULT_CATALOGUE)
    raw = where.read_bytes()
    data = json.loads(raw)
    return Catalogue(list(data["products"]), hashlib.sha256(raw).hexdigest(), where)
