"""A second listings generator, written apart from ``listings`` and never tuned on: the same rights
holders (``listings.BRANDS`` and their catalogue photos, which a rights holder hands over), but other
sellers, other texts, other price distributions and other image edits.

Sellers are drawn per listing from a pool built lazily: a counterfeit ring has two to seven accounts
and a couple of contact numbers and wallets it rotates; a genuine trader, one or two accounts with one
number. Prices are log-normal around a per-seller factor (copies around a sixth of the reference price,
with a long tail up to the reference; genuine around the middle of the range, second-hand lower). Copy
photos are the catalogue photo mirrored, rotated, framed with a border, blurred or stamped with a
watermark, or a plain snapshot; the texts use homoglyphs (Cyrillic letters), pinyin and traditional
characters for brand names, and other words ("replika", "dupe", "OEM", "特价尾单", "厂货") some of which
the watchlist does not hold. Same ``Listing`` records and truth fields as ``listings``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from .listings import BRANDS, IMAGE_SIZE, LISTING_EPOCH_S, PLATFORMS, PRODUCT_WORDS, Listing, catalogue_image

__all__ = ["AltListingSimulator"]

_CYRILLIC = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "c": "\u0441", "p": "\u0440", "x": "\u0445"}
_PINYIN = {
    "aurelia": "aoruiliya",
    "tempora": "tianpola",
    "velox": "weiluosi",
    "maison_carel": "karuier",
    "nordpeak": "nuofeng",
    "sonique": "suonike",
    "kestrel": "kaisizhuo",
    "lunaro": "lunaluo",
}
_TRADITIONAL = str.maketrans(
    {"亚": "亞", "维": "維", "罗": "羅", "诺": "諾", "卓": "卓", "尔": "爾", "娜": "娜"}
)
_FAKE_EN = (
    "{b} {p} replika, grade A",
    "{b} {p} dupe, looks identical",
    "OEM {b} {p}, same factory",
    "{b} {p} unbranded version, ask me",
    "Super clone {b} {p}",
    "{p} like {b}, top grade",
)
_FAKE_ZH = ("{b}{p} 特价尾单 厂货", "{b}{p} 厂家直供 同厂", "{b}{p} 超A 正品级别", "{b}{p} 外贸原厂")
_REAL_EN = (
    "Genuine {b} {p}, invoice included",
    "{b} {p} - authorised dealer stock",
    "Selling my {b} {p}, hardly used",
)
_REAL_ZH = ("{b}{p} 行货 有单据", "{b}{p} 香港专门店购买", "闲置{b}{p} 几乎全新")


@dataclass
class _Trader:
    owner: str
    fake: bool
    second_hand: bool
    accounts: list[tuple[str, str]]  # (platform, handle)
    phones: list[str]
    wallets: list[str]
    brand: int
    price_factor: float
    zh: float


class AltListingSimulator:
    def __init__(self, seed: int, traders: int = 110) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed + 7_000_000)
        self.traders = [self._trader(n) for n in range(traders)]
        # rings post more often than honest traders
        w = np.array([3.0 if t.fake else 1.0 for t in self.traders])
        self.weights = w / w.sum()

    def _trader(self, n: int) -> _Trader:
        rng = self.rng
        fake = bool(rng.random() < 0.25)
        count = int(rng.integers(2, 8)) if fake else int(rng.integers(1, 3))
        accounts = [(str(rng.choice(PLATFORMS)), f"u{int(rng.integers(10**8, 10**9))}") for _ in range(count)]
        phones = [
            f"+86 1{int(rng.integers(3 * 10**9, 9 * 10**9))}"
            for _ in range(int(rng.integers(1, 3)) if fake else 1)
        ]
        wallets = [
            f"W{int(rng.integers(10**11, 10**12))}" for _ in range(int(rng.integers(1, 3)) if fake else count)
        ]
        factor = float(rng.lognormal(np.log(0.17), 0.6)) if fake else float(rng.uniform(0.8, 1.1))
        return _Trader(
            owner=f"alt{self.seed}-t{n}",
            fake=fake,
            second_hand=bool(not fake and rng.random() < 0.35),
            accounts=accounts,
            phones=phones,
            wallets=wallets,
            brand=int(rng.integers(0, len(BRANDS))),
            price_factor=min(factor, 1.1),
            zh=float(rng.uniform(0, 1)),
        )

    def listings(self, count: int) -> Iterator[Listing]:
        at_s = LISTING_EPOCH_S + 3600.0 * self.seed
        for n in range(count):
            at_s += float(self.rng.gamma(2.0, 20.0))
            trader = self.traders[int(self.rng.choice(len(self.traders), p=self.weights))]
            yield self._listing(trader, f"A{self.seed}-{n:06d}", at_s)

    def _listing(self, t: _Trader, listing_id: str, at_s: float) -> Listing:
        rng = self.rng
        brand = BRANDS[t.brand if rng.random() < 0.8 else int(rng.integers(0, len(BRANDS)))]
        product = int(rng.integers(0, 4))
        platform, handle = t.accounts[int(rng.integers(0, len(t.accounts)))]
        zh = bool(rng.random() < t.zh)
        en_word, zh_word = PRODUCT_WORDS[brand.category]
        if t.fake:
            name = self._zh_name(brand) if zh else self._en_name(brand)
            title = str(rng.choice(_FAKE_ZH if zh else _FAKE_EN)).format(b=name, p=zh_word if zh else en_word)
        else:
            pool = _REAL_ZH if zh else _REAL_EN
            title = str(pool[2] if t.second_hand else rng.choice(pool[:2])).format(
                b=brand.zh if zh else brand.en, p=zh_word if zh else en_word
            )
        low, high = brand.price_range_hkd
        middle = (low + high) / 2
        factor = t.price_factor * (0.55 if t.second_hand else 1.0)
        price = float(middle * factor * rng.lognormal(0.0, 0.25))
        image = self._image(brand, product, t, rng)
        return Listing(
            listing_id=listing_id,
            platform=platform,
            account=f"{platform}:{handle}",
            phone=str(rng.choice(t.phones)),
            payment_id=str(rng.choice(t.wallets)),
            title=title,
            description="",
            price_hkd=round(price, 1),
            language="zh" if zh else "en",
            posted_at_s=at_s,
            image=image,
            counterfeit=t.fake,
            owner=t.owner,
            brand=brand.key,
            seller_kind="ring" if t.fake else ("second_hand" if t.second_hand else "trader"),
        )

    def _en_name(self, brand: object) -> str:
        name: str = brand.en  # type: ignore[attr-defined]  # a listings.Brand
        roll = self.rng.random()
        if roll < 0.35:
            return name
        if roll < 0.65:
            return "".join(_CYRILLIC.get(ch, ch) if self.rng.random() < 0.5 else ch for ch in name)
        if roll < 0.85:
            return _PINYIN[brand.key]  # type: ignore[attr-defined]  # a listings.Brand
        return name.upper().replace("A", "4")

    def _zh_name(self, brand: object) -> str:
        name: str = brand.zh  # type: ignore[attr-defined]  # a listings.Brand
        return name.translate(_TRADITIONAL) if self.rng.random() < 0.5 else name

    def _image(self, brand: object, product: int, t: _Trader, rng: np.random.Generator) -> bytes:
        photo = Image.open(io.BytesIO(catalogue_image(brand, product))).convert("RGB")  # type: ignore[arg-type]
        if t.fake:
            edit = int(rng.integers(0, 5))
            if edit == 0:
                photo = ImageOps.mirror(photo)
            elif edit == 1:
                photo = photo.rotate(float(rng.uniform(-12, 12)), fillcolor=(255, 255, 255))
            elif edit == 2:
                photo = ImageOps.expand(photo.resize((IMAGE_SIZE - 16, IMAGE_SIZE - 16)), 8, fill=(200, 0, 0))
            elif edit == 3:
                photo = photo.filter(ImageFilter.GaussianBlur(1.2))
            else:
                ImageDraw.Draw(photo).text((4, IMAGE_SIZE - 14), "HOT SALE", fill=(255, 0, 0))
        elif t.second_hand:
            photo = photo.rotate(float(rng.uniform(-20, 20)), fillcolor=(120, 110, 100)).filter(
                ImageFilter.SMOOTH
            )
        out = io.BytesIO()
        photo.save(out, "JPEG", quality=int(rng.integers(35, 92)))
        return out.getvalue()
