"""Build the catalogue file of image signatures from the simulated rights holders' catalogue photos."""

from __future__ import annotations

import json
from pathlib import Path

from smartcustoms.core.listing_images import crop_grid_hashes, signature_of
from smartcustoms.hardware.sim.listings import BRANDS, PRODUCTS_PER_BRAND, catalogue_image


def build_catalogue(out: Path) -> int:
    """Write the catalogue JSON to ``out``; returns the number of products."""
    products = []
    for brand in BRANDS:
        for product in range(PRODUCTS_PER_BRAND):
            data = catalogue_image(brand, product)
            signature = signature_of(data)
            products.append(
                {
                    "brand": brand.key,
                    "product": f"{brand.key}-{product}",
                    "sha256": signature.sha256,
                    "phash": signature.phash,
                    "crops": crop_grid_hashes(data),
                }
            )
    document = {"source": "sim: hardware/sim/listings.py catalogue_image", "products": products}
    out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return len(products)
