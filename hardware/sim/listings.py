"""Online listings simulator for IPR monitoring: genuine and counterfeit goods of watched brands.

A seed draws a market: eight brands (``BRANDS``, the rights holders, each with a catalogue of four
products and a reference price range), platforms, and the sellers:

* authorised shops and resellers (genuine, new, catalogue photos, prices in the range or on sale; a
  shop may run an account on each of two platforms with the same phone and payment id; resellers often
  paste the brand's own product text);
* individuals selling second hand (genuine, their own photos, 35-80% of the lowest reference price);
* counterfeit operators, each running one to five accounts across platforms. The accounts of one
  operator share a phone number or a payment id often, not always; they post near-identical texts from
  the operator's template and reuse the operator's photos. Their prices are mostly a fraction of the
  reference, a few ask 40-70% ("premium" copies); their texts say "replica", "1:1", "高仿" about half the
  time, misspell or hide the brand, and their photos are either the operator's own, catalogue photos
  cropped, recoloured and re-compressed, or catalogue photos as they are;
* unrelated sellers of unbranded goods.

Texts are English or Chinese. ``truth_counterfeit`` ("0"/"1") and ``truth_owner`` (the person or shop
behind the account) are ground truth for evaluation, never for detectors. Images are small JPEGs
(``catalogue_image`` draws the rights holders' catalogue). Seeds below ``HELD_OUT_SEEDS_FROM`` are for
tuning; evaluation uses seeds at or above it. ``listings_alt`` is an independently written second
generator for a second figure.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

__all__ = [
    "BRANDS",
    "HELD_OUT_SEEDS_FROM",
    "Brand",
    "Listing",
    "ListingSimulator",
    "catalogue_image",
    "product_art",
]

HELD_OUT_SEEDS_FROM = 1000
LISTING_EPOCH_S = 1_767_225_600  # 2026-01-01T00:00:00Z
IMAGE_SIZE = 96
RECORD_KIND = "online_listing"


@dataclass(frozen=True)
class Brand:
    key: str
    en: str
    zh: str
    category: str  # product art and words: bag, watch, sneaker, perfume, jacket, earbuds, glasses, wallet
    price_range_hkd: tuple[float, float]  # a new product's reference price, the rights holder's
    colours: tuple[tuple[int, int, int], tuple[int, int, int]]


BRANDS = (
    Brand("aurelia", "Aurelia", "奥瑞莉亚", "bag", (9000, 32000), ((120, 40, 30), (210, 180, 90))),
    Brand("tempora", "Tempora", "天珀拉", "watch", (15000, 80000), ((30, 30, 40), (200, 200, 210))),
    Brand("velox", "Velox", "维洛斯", "sneaker", (900, 2200), ((230, 230, 235), (200, 30, 40))),
    Brand("maison_carel", "Maison Carel", "卡瑞尔", "perfume", (800, 2600), ((240, 200, 210), (60, 40, 70))),
    Brand("nordpeak", "Nordpeak", "诺峰", "jacket", (2500, 9000), ((20, 60, 120), (240, 120, 20))),
    Brand("sonique", "Sonique", "索尼可", "earbuds", (1200, 2800), ((245, 245, 245), (20, 140, 200))),
    Brand("kestrel", "Kestrel", "凯斯卓", "glasses", (1500, 4500), ((20, 20, 20), (180, 140, 60))),
    Brand("lunaro", "Lunaro", "露娜罗", "wallet", (3000, 9500), ((70, 30, 90), (230, 210, 160))),
)
PRODUCTS_PER_BRAND = 4
PRODUCT_WORDS = {
    "bag": ("handbag", "手提包"),
    "watch": ("watch", "手表"),
    "sneaker": ("sneakers", "运动鞋"),
    "perfume": ("perfume", "香水"),
    "jacket": ("down jacket", "羽绒服"),
    "earbuds": ("wireless earbuds", "无线耳机"),
    "glasses": ("sunglasses", "太阳镜"),
    "wallet": ("wallet", "钱包"),
}
PLATFORMS = ("hkbuy", "tradeloop", "shoppa", "weishop", "fleahk")
UNBRANDED = (
    ("rice cooker", "电饭煲", (200, 900)),
    ("phone case", "手机壳", (20, 120)),
    ("desk lamp", "台灯", (80, 400)),
    ("yoga mat", "瑜伽垫", (60, 300)),
    ("backpack", "背包", (150, 600)),
    ("kettle", "电水壶", (100, 400)),
)


@dataclass
class Listing:
    listing_id: str
    platform: str
    account: str
    phone: str
    payment_id: str
    title: str
    description: str
    price_hkd: float
    language: str
    posted_at_s: float
    image: bytes  # JPEG
    counterfeit: bool
    owner: str  # the person or shop behind the account: ground truth for linked accounts
    brand: str = ""  # ground truth: the brand the goods are of, or claim to be ("" unbranded)
    seller_kind: str = ""  # ground truth: shop, reseller, individual, operator, unbranded

    def item(self) -> dict[str, Any]:
        """The listing as a platform's JSON listings API would give it (the image is served apart)."""
        return {
            "id": self.listing_id,
            "platform": self.platform,
            "url": f"https://{self.platform}.example/item/{self.listing_id}",
            "account": self.account,
            "phone": self.phone,
            "payment_id": self.payment_id,
            "title": self.title,
            "description": self.description,
            "price": round(self.price_hkd, 2),
            "currency": "HKD",
            "language": self.language,
            "posted_at": self.posted_at_s,
            "image_url": f"/images/{self.listing_id}.jpg",
            "truth_counterfeit": "1" if self.counterfeit else "0",
            "truth_owner": self.owner,
            "truth_brand": self.brand,
        }


# ------------------------------------------------------------------------------------------ images


def _seed_of(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little")


def product_art(category: str, colours: tuple[tuple[int, int, int], ...], variant: int) -> Image.Image:
    """A product of ``category`` drawn in ``colours``; ``variant`` moves shapes and the pattern."""
    rng = np.random.default_rng(_seed_of(category, colours, variant))
    size = IMAGE_SIZE
    background = tuple(int(v) for v in rng.integers(225, 256, 3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    main, accent = colours[0], colours[1]
    j = rng.integers(-6, 7, 8)
    if category in ("bag", "wallet"):
        draw.polygon([(18 + j[0], 40), (78 + j[1], 40), (86, 84), (10, 84)], fill=main)
        draw.arc((30 + j[2], 14, 66 + j[3], 56), 180, 360, fill=accent, width=5)
    elif category == "watch":
        draw.rectangle((38, 4, 58, 92), fill=accent)
        draw.ellipse((22 + j[0], 26, 74 + j[0], 74), fill=main, outline=accent, width=4)
        draw.line((48 + j[0], 50, 48 + j[1], 34), fill=accent, width=3)
    elif category == "sneaker":
        draw.polygon([(8, 70), (20 + j[0], 40), (50, 46 + j[1]), (88, 64), (88, 80), (8, 80)], fill=main)
        draw.line((24, 60, 70 + j[2], 70), fill=accent, width=6)
    elif category == "perfume":
        draw.rectangle((28 + j[0], 36, 68 + j[0], 88), fill=main, outline=accent, width=3)
        draw.rectangle((40, 18 + j[1], 56, 36), fill=accent)
    elif category == "jacket":
        draw.polygon(
            [(20, 20), (76, 20), (90, 50 + j[0]), (76, 52), (74, 90), (22, 90), (20, 52), (6, 50)], fill=main
        )
        draw.line((48, 22, 48, 88), fill=accent, width=4)
    elif category == "earbuds":
        draw.ellipse((16 + j[0], 30, 42 + j[0], 56), fill=main, outline=accent, width=3)
        draw.ellipse((54 + j[1], 30, 80 + j[1], 56), fill=main, outline=accent, width=3)
        draw.rounded_rectangle((26, 62, 70, 86), 8, fill=accent)
    else:  # glasses, and anything unknown
        draw.ellipse((10, 34 + j[0], 44, 62), fill=main, outline=accent, width=4)
        draw.ellipse((52, 34 + j[0], 86, 62), fill=main, outline=accent, width=4)
        draw.line((44, 44, 52, 44), fill=accent, width=4)
    for _ in range(int(rng.integers(3, 9))):  # the product's own pattern of marks
        x, y = (int(v) for v in rng.integers(14, 82, 2))
        r = int(rng.integers(2, 6))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=accent if rng.random() < 0.5 else main)
    return image


def catalogue_image(brand: Brand, product: int) -> bytes:
    """The rights holder's catalogue photo of product ``product`` of ``brand`` (PNG)."""
    return _encode(product_art(brand.category, brand.colours, product), "PNG")


def _encode(image: Image.Image, fmt: str = "JPEG", quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, quality=quality) if fmt == "JPEG" else image.save(out, fmt)
    return out.getvalue()


def _reencode(data: bytes, quality: int) -> bytes:
    return _encode(Image.open(io.BytesIO(data)).convert("RGB"), quality=quality)


def _doctored(data: bytes, rng: np.random.Generator) -> bytes:
    """A catalogue photo cropped by 8-25%, recoloured and re-compressed, as counterfeiters reuse them."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    keep = 1.0 - float(rng.uniform(0.08, 0.25))
    w = h = round(IMAGE_SIZE * keep)
    x, y = (int(v) for v in rng.integers(0, IMAGE_SIZE - w + 1, 2))
    image = image.crop((x, y, x + w, y + h)).resize((IMAGE_SIZE, IMAGE_SIZE))
    image = ImageEnhance.Color(image).enhance(float(rng.uniform(0.4, 1.6)))
    image = ImageEnhance.Brightness(image).enhance(float(rng.uniform(0.8, 1.2)))
    return _encode(image, quality=int(rng.integers(25, 60)))


def _own_photo(category: str, rng: np.random.Generator, variant: int) -> bytes:
    """A seller's own photo of a product: other colours and details, taken at an angle, on a table."""
    colours = tuple(tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(2))
    product = product_art(category, colours, 1000 + variant)  # type: ignore[arg-type]  # two 3-tuples
    size = round(IMAGE_SIZE * float(rng.uniform(0.6, 0.9)))
    product = product.resize((size, size)).rotate(
        float(rng.uniform(-30, 30)), expand=False, fillcolor=(235, 235, 235)
    )
    table = tuple(int(v) for v in rng.integers(90, 200, 3))
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), table)
    x, y = (int(v) for v in rng.integers(0, IMAGE_SIZE - size + 1, 2))
    image.paste(product, (x, y))
    pixels = np.asarray(image, dtype=np.int16) + rng.integers(-12, 13, (IMAGE_SIZE, IMAGE_SIZE, 3))
    return _encode(
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), quality=int(rng.integers(60, 90))
    )


# ------------------------------------------------------------------------------------------ texts

_COUNTERFEIT_EN_FLAGGED = (
    "{brand} {product} 1:1 top quality, same as original",
    "{brand} {product} AAA replica, fast shipping",
    "Luxury {product} {brand} mirror quality, factory direct",
    "{brand} {product} high copy, looks real",
)
_COUNTERFEIT_EN_QUIET = (
    "{brand} {product} brand new, cheap price, wholesale welcome",
    "Designer {product} in {brand} style, many colours",
    "New {brand} {product}, no box, DM for more",
)
_COUNTERFEIT_ZH_FLAGGED = (
    "{brand}{product} 高仿 原单 一比一",
    "{brand}{product} 复刻版 支持验货",
    "顶级{brand}{product} A货 质量保证",
)
_COUNTERFEIT_ZH_QUIET = (
    "大牌同款{product} 工厂直销 批发",
    "{brand}{product} 全新 低价出 私聊",
    "新款{brand}{product} 包邮 多色可选",
)
_GENUINE_EN = (
    "{brand} {product}, authentic, with receipt and warranty",
    "Brand new {brand} {product} from the official store",
    "{brand} {product} on sale this week, genuine goods only",
    "100% authentic {brand} {product}, not a replica, no fakes",
)
_GENUINE_ZH = (
    "{brand}{product} 正品 专柜购入 附发票",
    "全新{brand}{product} 官方授权店",
    "{brand}{product} 正品保证 假一赔十",
)
_SECOND_HAND_EN = (
    "Used {brand} {product}, good condition, bought in Tokyo",
    "Pre-owned {brand} {product}, a few marks, original box",
)
_TAGLINES = (
    *("fast ship", "best price in HK", "trusted seller", "Instagram orders", "pay on delivery"),
    *("bulk discount", "ships from Shenzhen", "same day dispatch", "limited stock", "all sizes"),
    *("gift box free", "ask for photos", "支持面交", "满千包邮", "顺丰到付", "现货秒发", "可刷卡"),
    *("诚信经营", "欢迎批发", "实拍图"),
)
_SECOND_HAND_ZH = ("二手{brand}{product} 九成新", "自用{brand}{product} 低价转让 有购买记录")


def official_text(brand: Brand, product: int) -> str:
    """The rights holder's own product text, which resellers often paste."""
    en_word = PRODUCT_WORDS[brand.category][0]
    series = ("Classic", "Heritage", "Urban", "Studio")[product % 4]
    return (
        f"{brand.en} {series} {en_word}. Crafted with premium materials, designed in-house, "
        f"covered by the {brand.en} international warranty."
    )


def obfuscated_en(name: str, rng: np.random.Generator) -> str:
    """A brand name as counterfeiters write it: as it is, misspelt, spaced out, or with digits."""
    roll = rng.random()
    if roll < 0.4 or len(name) < 5:
        return name
    chars = list(name)
    i = int(rng.integers(1, len(chars) - 1))
    if roll < 0.55:
        chars.insert(i, chars[i])  # doubled letter
    elif roll < 0.7:
        chars[i] = {"o": "0", "l": "1", "e": "3", "a": "4", "i": "1"}.get(chars[i].lower(), chars[i])
    elif roll < 0.85:
        chars.insert(i, " ")
    else:
        del chars[i]
    return "".join(chars)


def obfuscated_zh(name: str, rng: np.random.Generator) -> str:
    """A Chinese brand name as written on listings: as it is, one character swapped, or spaced."""
    roll = rng.random()
    if roll < 0.5 or len(name) < 3:
        return name
    i = int(rng.integers(0, len(name)))
    if roll < 0.8:
        return name[:i] + "亞娅雅瑞睿"[int(rng.integers(0, 5))] + name[i + 1 :]
    return " ".join(name)


def _words(brand: Brand) -> tuple[str, str]:
    return PRODUCT_WORDS[brand.category]


# ------------------------------------------------------------------------------------------ sellers


@dataclass
class _Account:
    name: str
    platform: str
    phone: str
    payment_id: str


@dataclass
class _Seller:
    owner: str
    kind: str  # shop, reseller, individual, operator, unbranded
    accounts: list[_Account]
    brands: list[int]
    zh_share: float
    template_en: str = ""
    template_zh: str = ""
    tagline: str = ""  # the operator's own sign-off, on every listing
    flagged_words: bool = False
    premium: bool = False
    photos: list[bytes] = field(default_factory=list)


class ListingSimulator:
    """The listings of one simulated market; the same seed gives the same listings."""

    def __init__(self, seed: int, operators: int = 12, shops: int = 10, resellers: int = 20) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.catalogue = {
            (b, p): catalogue_image(brand, p)
            for b, brand in enumerate(BRANDS)
            for p in range(PRODUCTS_PER_BRAND)
        }
        self._numbers: set[str] = set()
        self.sellers = (
            [self._seller(f"shop{n}", "shop") for n in range(shops)]
            + [self._seller(f"res{n}", "reseller") for n in range(resellers)]
            + [self._seller(f"ind{n}", "individual") for n in range(30)]
            + [self._seller(f"op{n}", "operator") for n in range(operators)]
            + [self._seller(f"gen{n}", "unbranded") for n in range(15)]
        )
        # how often each kind posts: operators post the most
        weights = np.array(
            [{"operator": 4.0, "shop": 2.0, "reseller": 1.5}.get(s.kind, 0.6) for s in self.sellers]
        )
        self.weights = weights / weights.sum()

    def _phone(self) -> str:
        while True:
            number = f"+852 {int(self.rng.integers(5, 10))}{int(self.rng.integers(0, 10_000_000)):07d}"
            if number not in self._numbers:
                self._numbers.add(number)
                return number

    def _handle(self) -> str:
        """An account name that says nothing about who is behind it."""
        word = str(self.rng.choice(["shop", "deal", "lux", "style", "mall", "hk", "best", "trend", "mart"]))
        return f"{word}{int(self.rng.integers(0, 10**7)):07d}"

    def _payment(self) -> str:
        return f"pay-{int(self.rng.integers(0, 2**40)):010x}"

    def _seller(self, owner: str, kind: str) -> _Seller:
        rng = self.rng
        owner_id = f"s{self.seed}-{owner}"
        if kind == "operator":
            count = int(rng.integers(1, 6))
            phones = [self._phone() for _ in range(int(rng.integers(1, 3)))]
            payment = self._payment()
            accounts = []
            for n in range(count):
                phone = phones[n % len(phones)] if rng.random() < 0.7 else self._phone()
                pay = payment if rng.random() < 0.5 else self._payment()
                accounts.append(_Account(self._handle(), str(rng.choice(PLATFORMS)), phone, pay))
        elif kind == "shop":
            phone, pay = self._phone(), self._payment()
            platforms = rng.choice(PLATFORMS, int(rng.integers(1, 3)), replace=False)
            accounts = [_Account(self._handle(), str(p), phone, pay) for p in platforms]
        else:
            accounts = [_Account(self._handle(), str(rng.choice(PLATFORMS)), self._phone(), self._payment())]
        brands = list(rng.choice(len(BRANDS), int(rng.integers(1, 4)), replace=False))
        seller = _Seller(
            owner_id, kind, accounts, [int(b) for b in brands], float(rng.choice([0.0, 0.5, 1.0]))
        )
        if kind == "operator":
            seller.flagged_words = bool(rng.random() < 0.5)
            seller.premium = bool(rng.random() < 0.2)
            en = _COUNTERFEIT_EN_FLAGGED if seller.flagged_words else _COUNTERFEIT_EN_QUIET
            zh = _COUNTERFEIT_ZH_FLAGGED if seller.flagged_words else _COUNTERFEIT_ZH_QUIET
            seller.template_en = str(rng.choice(en))
            seller.template_zh = str(rng.choice(zh))
            words = rng.choice(len(_TAGLINES), 3, replace=False)
            sign = str(rng.choice(["", " ✨", " 💯", " ⭐"]))
            seller.tagline = " | ".join(_TAGLINES[int(i)] for i in words) + sign
            category = BRANDS[seller.brands[0]].category
            seller.photos = [_own_photo(category, rng, int(rng.integers(0, 10**6))) for _ in range(2)]
        return seller

    def listings(self, count: int) -> Iterator[Listing]:
        """``count`` listings in posting order."""
        at_s = LISTING_EPOCH_S + self.seed * 86400.0
        for n in range(count):
            at_s += float(self.rng.exponential(30.0))
            seller = self.sellers[int(self.rng.choice(len(self.sellers), p=self.weights))]
            yield self._listing(seller, f"L{self.seed}-{n:06d}", at_s)

    def _listing(self, seller: _Seller, listing_id: str, at_s: float) -> Listing:
        rng = self.rng
        account = seller.accounts[int(rng.integers(0, len(seller.accounts)))]
        zh = bool(rng.random() < seller.zh_share)
        if seller.kind == "unbranded":
            en_word, zh_word, (cheapest, dearest) = UNBRANDED[int(rng.integers(0, len(UNBRANDED)))]
            title = f"{zh_word} 全新 包邮" if zh else f"{en_word}, brand new, free delivery"
            image = _own_photo("perfume", rng, int(rng.integers(0, 10**6)))
            return self._make(
                listing_id,
                account,
                seller,
                title,
                "",
                float(rng.uniform(cheapest, dearest)),
                zh,
                at_s,
                image,
                False,
                "",
            )
        b = seller.brands[int(rng.integers(0, len(seller.brands)))]
        brand = BRANDS[b]
        product = int(rng.integers(0, PRODUCTS_PER_BRAND))
        en_word, zh_word = _words(brand)
        low = brand.price_range_hkd[0]
        description = ""
        if seller.kind == "operator":
            name = obfuscated_zh(brand.zh, rng) if zh else obfuscated_en(brand.en, rng)
            title = (seller.template_zh if zh else seller.template_en).format(
                brand=name, product=zh_word if zh else en_word
            )
            title += str(
                rng.choice(["", " !!", " 🔥", " (new stock)", " 限时", " #" + str(int(rng.integers(1, 99)))])
            )
            description = seller.tagline
            share = rng.uniform(0.4, 0.7) if seller.premium else rng.uniform(0.03, 0.25)
            price = float(low * share)
            roll = rng.random()
            if roll < 0.45:
                image = _doctored(self.catalogue[(b, product)], rng)
            elif roll < 0.85:
                image = _reencode(
                    seller.photos[int(rng.integers(0, len(seller.photos)))], int(rng.integers(40, 90))
                )
            else:
                image = _reencode(self.catalogue[(b, product)], int(rng.integers(70, 95)))
            return self._make(
                listing_id, account, seller, title, description, price, zh, at_s, image, True, brand.key
            )
        if seller.kind == "individual":
            template = str(rng.choice(_SECOND_HAND_ZH if zh else _SECOND_HAND_EN))
            price = float(low * rng.uniform(0.35, 0.8))
            image = _own_photo(brand.category, rng, int(rng.integers(0, 10**6)))
        else:
            template = str(rng.choice(_GENUINE_ZH if zh else _GENUINE_EN))
            high = brand.price_range_hkd[1]
            price = float(
                rng.uniform(low, high)
                * (rng.uniform(0.7, 0.85) if rng.random() < 0.2 else rng.uniform(0.95, 1.05))
            )
            image = _reencode(self.catalogue[(b, product)], int(rng.integers(75, 96)))
            if seller.kind == "reseller" and rng.random() < 0.6:
                description = official_text(brand, product)
        title = template.format(brand=brand.zh if zh else brand.en, product=zh_word if zh else en_word)
        return self._make(
            listing_id, account, seller, title, description, price, zh, at_s, image, False, brand.key
        )

    def _make(
        self,
        listing_id: str,
        account: _Account,
        seller: _Seller,
        title: str,
        description: str,
        price: float,
        zh: bool,
        at_s: float,
        image: bytes,
        counterfeit: bool,
        brand: str,
    ) -> Listing:
        return Listing(
            listing_id=listing_id,
            platform=account.platform,
            account=f"{account.platform}:{account.name}",
            phone=account.phone,
            payment_id=account.payment_id,
            title=title,
            description=description,
            price_hkd=round(price, 2),
            language="zh" if zh else "en",
            posted_at_s=at_s,
            image=image,
            counterfeit=counterfeit,
            owner=seller.owner,
            brand=brand,
            seller_kind=seller.kind,
        )
