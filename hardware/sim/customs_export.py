"""Synthetic import declarations shaped like the WCO BACUDA data (DATE, KDD 2020), with ground truth.

An independent generator: written from public accounts of customs fraud, never tuned on a risk model,
so that a model can be validated on data its authors did not shape. Deterministic per seed, numpy only.

What it models
--------------
A fictional coastal West African customs administration over calendar year 2024 (one date per
declaration, 2024-01-01 to 2024-12-31) with six offices: seaports SEA01 and SEA02, the inland
container depot ICD01, the airport AIR01 and the land borders LND01 (west) and LND02 (east). Money is
in West African CFA francs (XOF, no minor unit); ``XOF_TO_HKD`` = 0.013 converts to Hong Kong dollars
(the euro is pegged at 655.957 XOF and was worth about 8.5 HKD in 2024).

* Goods: ``HEADINGS``, 64 ten-digit tariff lines in ten families, each with a duty band of the ECOWAS
  common external tariff (0, 5, 10, 20, 35 %), a unit (kg, l, u, pair, 1000u, m2), an honest median FOB
  price per unit and a weight per unit.
* Taxes: TOTAL.TAXES = customs duty + VAT. Duty = rate x CIF, waived for goods of regional origin (GH,
  CI, TG, NG: trade-liberalisation preference) and for consignments with CIF at most ``DE_MINIMIS_XOF``
  (low-value relief); VAT = 18 % of CIF + duty.
* Volume: seasonal (a late-October peak ahead of year-end trade, a January lull), weekly (light
  Saturdays, near-empty Sundays and public holidays), growing ~8 % over the year.
* Values are heavy-tailed: lognormal quantities with a Pareto tail, lognormal prices per importer and row.
* Parties: importers with Pareto-distributed activity, one or two commodity families and a home
  supplier country per family; a fifth register during the year (newly registered). Declarants
  (customs brokers) have Pareto sizes; each importer mostly uses one main broker.
* Offenders: about 5 % of established and 15 % of newly registered importers are repeat offenders
  with a favourite scheme; about 12 % of brokers are complicit (offenders seek them out; most of their
  clients are honest). Honest importers cheat occasionally, newcomers a little more.
* Honest lookalikes: low-price traders (seconds, used goods) whose unit values sit at 45-70 % of the
  median, small consignments under the relief threshold, overseas goods honestly transiting a
  neighbour's port (GHTEM, TGLFW) to a land border, and goods genuinely of regional origin.

Fraud typologies (column FRAUD.TYPE)
------------------------------------
* ``undervaluation``: FOB and CIF declared at 20-55 % of the price paid; quantity and weight true.
* ``misclassification``: goods declared under a lower-duty lookalike heading, ``DECOYS`` (motorcycles
  as parts, smartphones as phone parts, cosmetics as medicaments, chicken as fish, refined sugar as
  raw); value true, quantity restated in the declared heading's unit.
* ``false_origin``: overseas goods declared of regional origin for the duty waiver, shipped through a
  neighbour's port to a land border, the first leg shown or hidden in ROUTE.
* ``quantity``: quantity and value under-declared together (unit value looks normal) to 45-80 %;
  the weight only partly, since the truck or container is weighed, so kg per unit runs high.
* ``split``: one consignment declared as 2-4 declarations over a few days, each just under the
  relief threshold, by the same importer, broker and office; each part is true in itself.

Drift: from ``DRIFT_DAY`` (2024-08-01) the ``split`` scheme appears, and most false-origin traffic moves
from Ghana (GHTEM > LND01) to a new route through Lome (origin TG, TGLFW > LND02).

Ground truth
------------
* ``illicit``: 1 for a fraudulent declaration, else 0; ``FRAUD.TYPE`` names its scheme ("" if honest).
* ``RAISED_TAX_AMOUNT``: XOF an inspection recovers, i.e. TOTAL.TAXES on the truth (true heading,
  origin, value and quantity; for a split part, without the relief its consignment never qualified
  for) minus the TOTAL.TAXES declared. 0 when honest, > 0 on every illicit row (each scheme evades
  duty, VAT or both).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

XOF_TO_HKD = 0.013  # HKD per XOF
DEFAULT_ILLICIT_RATE = 0.05
MAX_ILLICIT_RATE = 0.5
FIRST_DAY = np.datetime64("2024-01-01")  # a Monday
DAYS = 366  # 2024 is a leap year
DRIFT_DAY = 213  # 2024-08-01: the split scheme and the Lome route appear
HOLIDAYS = (0, 121, 359)  # 1 January, 1 May, 25 December
DE_MINIMIS_XOF = 300_000.0  # low-value relief: no duty at or below this CIF
VAT_RATE = 0.18
COLUMNS = (
    "SGD.NUMBER", "SGD.DATE", "IMPORTER.TIN", "DECLARANT.CODE", "OFFICE", "ROUTE", "TARIFF.CODE",
    "ORIGIN.CODE", "QUANTITY", "QUANTITY.UNIT", "GROSS.WEIGHT", "FOB.VALUE", "CIF.VALUE", "TOTAL.TAXES",
    "illicit", "FRAUD.TYPE", "RAISED_TAX_AMOUNT",
)  # fmt: skip
SCHEMES = ("undervaluation", "misclassification", "false_origin", "quantity", "split")
UNDER, MISCLASS, FALSE_ORIGIN, QUANTITY, SPLIT = range(len(SCHEMES))
_SCHEME_WEIGHTS = np.array([0.35, 0.30, 0.15, 0.18, 0.10])  # how often each eligible scheme is chosen
_FAVOURITE_WEIGHTS = np.array([0.30, 0.25, 0.15, 0.15, 0.15])  # offenders' favourite schemes
OFFICES = ("SEA01", "SEA02", "ICD01", "AIR01", "LND01", "LND02")
SEA_OFFICE_SHARES = np.array([0.65, 0.20, 0.15])
TRANSHIPMENT_HUBS = ("MAPTM", "ESALG", "TGLFW")


@dataclass(frozen=True)
class Heading:
    code: str  # 10-digit national tariff line
    family: str
    unit: str
    duty_rate: float
    fob_per_unit_xof: float  # honest median price
    kg_per_unit: float  # net weight of one unit
    typical_quantity: float  # median quantity of a sea consignment
    description: str


HEADINGS = (
    Heading("6109100000", "apparel", "u", 0.35, 1_200, 0.18, 3_000, "T-shirts of cotton, knitted"),
    Heading("6203420000", "apparel", "u", 0.35, 3_500, 0.60, 1_500, "men's trousers of cotton"),
    Heading("6204430000", "apparel", "u", 0.35, 4_000, 0.40, 1_000, "women's dresses of synthetic fibres"),
    Heading("6302310000", "apparel", "u", 0.20, 5_000, 0.90, 800, "bed linen of cotton"),
    Heading("6309000000", "apparel", "kg", 0.20, 600, 1.0, 20_000, "worn clothing"),
    Heading("5208520000", "apparel", "kg", 0.20, 3_000, 1.0, 5_000, "printed plain-weave cotton fabric"),
    Heading("5407610000", "apparel", "kg", 0.10, 2_200, 1.0, 6_000, "woven fabric of polyester filament"),
    Heading("6402990000", "footwear", "pair", 0.35, 1_800, 0.50, 3_000, "footwear of rubber or plastics"),
    Heading("6403990000", "footwear", "pair", 0.20, 9_000, 0.90, 800, "footwear with leather uppers"),
    Heading("6406900000", "footwear", "kg", 0.10, 1_500, 1.0, 2_000, "parts of footwear"),
    Heading("8703231900", "vehicles", "u", 0.20, 4_500_000, 1_300, 3, "used cars, 1500-3000 cc"),
    Heading("8704211000", "vehicles", "u", 0.10, 7_000_000, 1_900, 2, "pick-up trucks, diesel, up to 5 t"),
    Heading("8711200000", "vehicles", "u", 0.20, 450_000, 110, 60, "motorcycles, 50-250 cc"),
    Heading("8714109000", "vehicles", "kg", 0.10, 2_500, 1.0, 3_000, "parts of motorcycles"),
    Heading("8708999000", "vehicles", "kg", 0.10, 3_000, 1.0, 2_000, "parts of motor vehicles"),
    Heading("4011100000", "vehicles", "u", 0.20, 28_000, 9.0, 400, "new pneumatic tyres for cars"),
    Heading("4012200000", "vehicles", "u", 0.10, 6_000, 9.0, 600, "used pneumatic tyres"),
    Heading("8517130000", "electronics", "u", 0.20, 65_000, 0.35, 400, "smartphones"),
    Heading("8517790000", "electronics", "kg", 0.05, 20_000, 1.0, 50, "parts of telephone sets"),
    Heading("8528720000", "electronics", "u", 0.20, 110_000, 12, 150, "colour television receivers"),
    Heading(
        "8528520000", "electronics", "u", 0.05, 90_000, 6.0, 100, "monitors for data-processing machines"
    ),
    Heading("8471300000", "electronics", "u", 0.05, 250_000, 2.5, 80, "portable computers"),
    Heading("8415100000", "electronics", "u", 0.20, 180_000, 40, 100, "split air conditioners"),
    Heading("8418210000", "electronics", "u", 0.20, 160_000, 55, 80, "household refrigerators"),
    Heading("8504403000", "electronics", "u", 0.10, 2_500, 0.15, 3_000, "chargers and power supplies"),
    Heading("8544490000", "electronics", "kg", 0.20, 2_500, 1.0, 3_000, "insulated electric conductors"),
    Heading("8541430000", "electronics", "u", 0.0, 60_000, 20, 150, "photovoltaic modules"),
    Heading("1006300000", "food", "kg", 0.10, 330, 1.0, 50_000, "semi- or wholly milled rice"),
    Heading("1006400000", "food", "kg", 0.05, 260, 1.0, 50_000, "broken rice"),
    Heading("0207140000", "food", "kg", 0.35, 950, 1.0, 25_000, "frozen chicken cuts"),
    Heading("0303540000", "food", "kg", 0.10, 700, 1.0, 27_000, "frozen mackerel"),
    Heading("1701990000", "food", "kg", 0.20, 420, 1.0, 30_000, "refined cane or beet sugar"),
    Heading("1701140000", "food", "kg", 0.05, 330, 1.0, 30_000, "raw cane sugar"),
    Heading("1511900000", "food", "kg", 0.20, 800, 1.0, 20_000, "refined palm oil"),
    Heading("1511100000", "food", "kg", 0.05, 650, 1.0, 25_000, "crude palm oil"),
    Heading("0402210000", "food", "kg", 0.05, 2_800, 1.0, 10_000, "milk powder"),
    Heading("1901909000", "food", "kg", 0.20, 2_600, 1.0, 8_000, "milk-based food preparations"),
    Heading("1905310000", "food", "kg", 0.20, 1_300, 1.0, 8_000, "sweet biscuits"),
    Heading("1101000000", "food", "kg", 0.20, 330, 1.0, 40_000, "wheat flour"),
    Heading("1001990000", "food", "kg", 0.05, 220, 1.0, 100_000, "wheat"),
    Heading("2203000000", "beverages", "l", 0.20, 550, 1.3, 10_000, "beer made from malt"),
    Heading("2208300000", "beverages", "l", 0.20, 5_000, 1.5, 2_000, "whiskies"),
    Heading("2204210000", "beverages", "l", 0.20, 2_600, 1.4, 3_000, "wine in containers up to 2 l"),
    Heading("2402200000", "beverages", "1000u", 0.20, 9_000, 1.1, 500, "cigarettes containing tobacco"),
    Heading("2403199000", "beverages", "kg", 0.10, 4_000, 1.0, 500, "smoking tobacco"),
    Heading("2523290000", "building", "kg", 0.20, 65, 1.0, 300_000, "Portland cement"),
    Heading("2523100000", "building", "kg", 0.05, 45, 1.0, 500_000, "cement clinker"),
    Heading("7214200000", "building", "kg", 0.10, 450, 1.0, 50_000, "concrete reinforcing bars"),
    Heading("7210490000", "building", "kg", 0.20, 600, 1.0, 25_000, "galvanised flat-rolled steel"),
    Heading("7208390000", "building", "kg", 0.05, 420, 1.0, 50_000, "hot-rolled steel coils"),
    Heading("6907210000", "building", "m2", 0.20, 3_500, 18, 3_000, "ceramic tiles"),
    Heading("3304990000", "chemicals", "kg", 0.20, 4_500, 1.0, 2_000, "beauty and skin-care preparations"),
    Heading("3004900000", "chemicals", "kg", 0.05, 15_000, 1.0, 800, "medicaments in doses"),
    Heading("3401110000", "chemicals", "kg", 0.20, 900, 1.0, 10_000, "toilet soap"),
    Heading("3402500000", "chemicals", "kg", 0.20, 800, 1.0, 15_000, "washing preparations"),
    Heading("3808910000", "chemicals", "kg", 0.05, 2_500, 1.0, 5_000, "insecticides"),
    Heading("3102100000", "chemicals", "kg", 0.0, 280, 1.0, 100_000, "urea"),
    Heading("9403600000", "household", "u", 0.35, 45_000, 25, 120, "wooden furniture"),
    Heading("9403900000", "household", "kg", 0.10, 1_200, 1.0, 3_000, "parts of furniture"),
    Heading("3924100000", "household", "kg", 0.20, 1_400, 1.0, 5_000, "plastic tableware and kitchenware"),
    Heading("3920100000", "household", "kg", 0.05, 950, 1.0, 10_000, "polyethylene sheets and film"),
    Heading("8502110000", "machinery", "u", 0.10, 400_000, 150, 20, "generating sets up to 75 kVA"),
    Heading("8501520000", "machinery", "u", 0.05, 150_000, 40, 30, "AC motors, 750 W to 75 kW"),
    Heading("8429520000", "machinery", "u", 0.05, 45_000_000, 20_000, 1, "excavators"),
)


@dataclass(frozen=True)
class Origin:
    code: str  # ISO 3166 alpha-2
    ports: tuple[str, ...]  # UN/LOCODEs of loading; for a regional origin, its road hub
    airport: str
    freight_ratio: float  # freight and insurance as a share of FOB
    border: str = ""  # the land office for a regional (duty-free) origin; "" overseas


ORIGINS = (
    Origin("CN", ("CNSHA", "CNNGB", "CNSZX"), "CNCAN", 0.10),
    Origin("IN", ("INNSA", "INMUN"), "INBOM", 0.08),
    Origin("VN", ("VNHPH", "VNSGN"), "VNSGN", 0.10),
    Origin("TH", ("THLCH",), "THBKK", 0.10),
    Origin("TR", ("TRMER", "TRAMB"), "TRIST", 0.07),
    Origin("AE", ("AEJEA",), "AEDXB", 0.06),
    Origin("DE", ("DEHAM",), "DEFRA", 0.06),
    Origin("FR", ("FRLEH", "FRMRS"), "FRCDG", 0.06),
    Origin("NL", ("NLRTM",), "NLAMS", 0.06),
    Origin("BE", ("BEANR",), "BEBRU", 0.06),
    Origin("US", ("USNYC", "USSAV"), "USJFK", 0.08),
    Origin("BR", ("BRSSZ",), "BRGRU", 0.07),
    Origin("JP", ("JPYOK",), "JPNRT", 0.11),
    Origin("KR", ("KRPUS",), "KRICN", 0.11),
    Origin("MA", ("MACAS",), "MACMN", 0.04),
    Origin("GH", ("GHACC",), "GHACC", 0.02, "LND01"),
    Origin("CI", ("CIABJ",), "CIABJ", 0.02, "LND01"),
    Origin("TG", ("TGLFW",), "TGLFW", 0.02, "LND02"),
    Origin("NG", ("NGLOS",), "NGLOS", 0.03, "LND02"),
)
FAMILY_SHARES = {  # share of importers specialising in each family, and where the family comes from
    "apparel": (0.12, {"CN": 50, "TR": 10, "IN": 10, "VN": 8, "AE": 6, "BE": 6, "US": 4, "NG": 3, "GH": 3}),
    "footwear": (0.05, {"CN": 60, "VN": 15, "TR": 8, "IN": 5, "NG": 5, "GH": 3}),
    "vehicles": (0.12, {"CN": 25, "JP": 15, "US": 15, "BE": 10, "DE": 10, "KR": 10, "IN": 10, "AE": 5}),
    "electronics": (0.15, {"CN": 60, "AE": 10, "KR": 8, "VN": 6, "JP": 4, "TR": 3, "DE": 3, "US": 3}),
    "food": (0.20, {"TH": 15, "IN": 15, "BR": 15, "VN": 8, "NL": 8, "FR": 8, "US": 6, "CN": 4, "CI": 6,
                    "GH": 5, "NG": 3, "MA": 4}),
    "beverages": (0.05, {"FR": 25, "NL": 15, "DE": 10, "CI": 10, "GH": 8, "NG": 10, "AE": 10, "CN": 4,
                         "US": 5, "BR": 3}),
    "building": (0.10, {"CN": 35, "TR": 20, "IN": 10, "MA": 10, "TG": 8, "NG": 8, "GH": 5, "VN": 4}),
    "chemicals": (0.10, {"FR": 20, "IN": 20, "CN": 20, "CI": 10, "NG": 8, "GH": 8, "AE": 6, "DE": 5,
                         "MA": 3}),
    "household": (0.08, {"CN": 55, "TR": 10, "VN": 8, "AE": 8, "IN": 7, "NG": 6, "GH": 6}),
    "machinery": (0.03, {"CN": 45, "DE": 10, "US": 10, "JP": 10, "IN": 10, "TR": 8, "KR": 7}),
}  # fmt: skip

# Column views of the tables, indexed by heading, origin and family number.
FAMILIES = tuple(FAMILY_SHARES)
DECOYS = {  # heading -> lower-duty headings it is misdeclared as
    "6109100000": ("6309000000",), "6203420000": ("6309000000",), "6204430000": ("6309000000", "5407610000"),
    "6402990000": ("6406900000",), "6403990000": ("6406900000",), "8703231900": ("8704211000",),
    "8711200000": ("8714109000",), "4011100000": ("4012200000",), "8517130000": ("8517790000",),
    "8528720000": ("8528520000",), "0207140000": ("0303540000",), "1006300000": ("1006400000",),
    "1701990000": ("1701140000",), "1511900000": ("1511100000",), "1901909000": ("0402210000",),
    "2402200000": ("2403199000",), "2523290000": ("2523100000",), "7210490000": ("7208390000",),
    "3304990000": ("3004900000",), "9403600000": ("9403900000",), "3924100000": ("3920100000",),
    "8502110000": ("8501520000",),
}  # fmt: skip
_FAMILY_OF = np.array([FAMILIES.index(h.family) for h in HEADINGS])
_DUTY = np.array([h.duty_rate for h in HEADINGS])
_PRICE = np.array([h.fob_per_unit_xof for h in HEADINGS])
_KG_PER_UNIT = np.array([h.kg_per_unit for h in HEADINGS])
_TYPICAL_QTY = np.array([h.typical_quantity for h in HEADINGS])
_UNIT = np.array([h.unit for h in HEADINGS])
_WHOLE_UNITS = np.isin(_UNIT, ("u", "pair"))  # counted, never fractional
_PRICE_SD = np.where(np.isin(_UNIT, ("kg", "l")), 0.25, 0.40)  # bulk goods vary less in price
_AIR_SHARE = np.where(_PRICE / _KG_PER_UNIT > 10_000, 0.35, 0.0)  # dense value flies
_CODES = np.array([h.code for h in HEADINGS])
_CHEAPER = [np.flatnonzero(np.isin(_CODES, DECOYS.get(h.code, ()))) for h in HEADINGS]
_HAS_CHEAPER = np.array([len(c) > 0 for c in _CHEAPER])
_ORIGIN_CODES = np.array([o.code for o in ORIGINS])
_REGIONAL = np.array([bool(o.border) for o in ORIGINS])
_FREIGHT = np.array([o.freight_ratio for o in ORIGINS])
_ORIGIN = {o.code: i for i, o in enumerate(ORIGINS)}
_PORT_COUNT = np.array([len(o.ports) for o in ORIGINS])
_PORTS = np.array([[o.ports[i % len(o.ports)] for i in range(3)] for o in ORIGINS], dtype=object)
_FAMILY_ORIGIN_P = np.array(
    [[shares[1].get(o.code, 0) for o in ORIGINS] for shares in FAMILY_SHARES.values()]
)
_FAMILY_ORIGIN_P = _FAMILY_ORIGIN_P / _FAMILY_ORIGIN_P.sum(axis=1, keepdims=True)
_FAMILY_P = np.array([shares[0] for shares in FAMILY_SHARES.values()])


@dataclass(frozen=True)
class _Parties:
    tin: np.ndarray  # importer TINs
    registered_day: np.ndarray  # -1: before the period
    activity: np.ndarray  # relative declarations per day once registered
    offender: np.ndarray
    favourite: np.ndarray  # an offender's preferred scheme
    price_factor: np.ndarray
    size_factor: np.ndarray
    families: np.ndarray  # (importers, 2): main and side family
    home_origin: np.ndarray  # (importers, 2): usual supplier country for each family
    main_broker: np.ndarray
    broker_code: np.ndarray
    broker_size: np.ndarray
    complicit: np.ndarray


def export_declarations(
    path: Path | str, rows: int, seed: int, illicit_rate: float = DEFAULT_ILLICIT_RATE
) -> int:
    """Write ``rows`` declarations to the CSV ``path`` (columns ``COLUMNS``); the number of illicit rows."""
    table = generate_declarations(rows, seed, illicit_rate)
    with Path(path).open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(zip(*(table[c] for c in COLUMNS), strict=True))
    return int((table["illicit"] == "1").sum())


def generate_declarations(
    rows: int, seed: int, illicit_rate: float = DEFAULT_ILLICIT_RATE
) -> dict[str, np.ndarray]:
    """The declarations as string columns keyed by CSV column name, in date order."""
    if rows < 0 or seed < 0:
        raise ValueError("rows and seed must be non-negative")
    if not 0.0 <= illicit_rate <= MAX_ILLICIT_RATE:
        raise ValueError(f"illicit rate must be between 0 and {MAX_ILLICIT_RATE}, got {illicit_rate}")
    rng = np.random.default_rng(seed)
    parties = _parties(rng, rows)
    t = _consignments(rng, parties, rows)
    scheme = _select_fraud(rng, parties, t, illicit_rate)
    t = _expand_splits(rng, t, scheme)
    _declare(rng, t)
    return _columns(rng, parties, t)


# --------------------------------------------------------------------------- parties and consignments


def _parties(rng: np.random.Generator, rows: int) -> _Parties:
    importers, brokers = int(np.clip(rows // 50, 60, 4000)), int(np.clip(rows // 1200, 12, 200))
    new = rng.random(importers) < 0.2
    new[0] = False  # someone is registered on day 0
    registered = np.where(new, rng.integers(0, DAYS - 30, importers), -1)
    offender = rng.random(importers) < np.where(new, 0.15, 0.05)
    low_price = ~offender & (rng.random(importers) < 0.10)  # honest lookalikes of undervaluation
    families = rng.choice(len(FAMILIES), (importers, 2), p=_FAMILY_P)
    home = np.array([[rng.choice(len(ORIGINS), p=_FAMILY_ORIGIN_P[f]) for f in pair] for pair in families])
    complicit = rng.random(brokers) < 0.12
    complicit[rng.integers(brokers)] = True  # at least one
    broker_size = (rng.pareto(1.3, brokers) + 1.0) * np.where(complicit, 2.0, 1.0)  # busy, mostly honest
    by_size = rng.choice(brokers, importers, p=broker_size / broker_size.sum())
    crooked = np.flatnonzero(complicit)
    to_crook = offender & (rng.random(importers) < 0.5)
    by_size[to_crook] = rng.choice(crooked, int(to_crook.sum()))
    return _Parties(
        tin=_unique_codes(rng, importers, 10**8, 10**9, "TIN"),
        registered_day=registered,
        activity=np.minimum(rng.pareto(1.2, importers) + 1.0, np.where(offender, 15.0, 150.0))
        * np.where(new, 2.0, 1.0),
        offender=offender,
        favourite=rng.choice(len(SCHEMES), importers, p=_FAVOURITE_WEIGHTS),
        price_factor=rng.lognormal(0.0, 0.15, importers) * np.where(low_price, rng.uniform(0.45, 0.7), 1.0),
        size_factor=rng.lognormal(0.0, 0.5, importers),
        families=families,
        home_origin=home,
        main_broker=by_size,
        broker_code=_unique_codes(rng, brokers, 1000, 10_000, "DCL"),
        broker_size=broker_size,
        complicit=complicit,
    )


def _unique_codes(rng: np.random.Generator, count: int, low: int, high: int, prefix: str) -> np.ndarray:
    draws = rng.integers(low, high, 3 * count + 10)
    _, first = np.unique(draws, return_index=True)
    return np.array([f"{prefix}{code}" for code in draws[np.sort(first)[:count]]])


def _day_weights() -> np.ndarray:
    day = np.arange(DAYS)
    season = 1.0 + 0.25 * np.cos(2 * np.pi * (day - 300) / DAYS) - 0.25 * np.exp(-(((day - 10) / 12) ** 2))
    weekly = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.45, 0.1])[day % 7]
    weekly[list(HOLIDAYS)] = 0.1
    weights: np.ndarray = season * weekly * (1.0 + 0.08 * day / DAYS)
    return weights / float(weights.sum())


def _consignments(rng: np.random.Generator, p: _Parties, n: int) -> dict[str, np.ndarray]:
    """The true goods of ``n`` declarations: who, when, what, from where, how much, by which route."""
    day = rng.choice(DAYS, n, p=_day_weights())
    by_registration = np.argsort(p.registered_day, kind="stable")  # importers active on a day: a prefix
    cumulative = np.cumsum(p.activity[by_registration])
    active = np.searchsorted(p.registered_day[by_registration], day, side="right")
    importer = by_registration[
        np.searchsorted(cumulative, rng.random(n) * cumulative[active - 1], side="right")
    ]
    slot = (rng.random(n) > 0.7).astype(int)
    family = p.families[importer, slot]
    general = rng.random(n) < 0.08  # occasional goods outside the importer's trade
    family[general] = rng.choice(len(FAMILIES), int(general.sum()), p=_FAMILY_P)
    heading = np.empty(n, dtype=int)
    origin = np.empty(n, dtype=int)
    for f in range(len(FAMILIES)):
        rows = np.flatnonzero(family == f)
        heading[rows] = rng.choice(np.flatnonzero(f == _FAMILY_OF), rows.size)
        origin[rows] = rng.choice(len(ORIGINS), rows.size, p=_FAMILY_ORIGIN_P[f])
    usual = ~general & (rng.random(n) < 0.75)
    origin[usual] = p.home_origin[importer[usual], slot[usual]]
    air = ~_REGIONAL[origin] & (rng.random(n) < _AIR_SHARE[heading])
    price = _PRICE[heading] * p.price_factor[importer] * rng.lognormal(0.0, _PRICE_SD[heading])
    tail = np.where(rng.random(n) < 0.02, np.minimum(rng.pareto(1.5, n) + 1.0, 50.0), 1.0)
    quantity = _TYPICAL_QTY[heading] * p.size_factor[importer] * rng.lognormal(0.0, 0.9, n) * tail
    quantity *= np.where(air, 0.25, 1.0)
    cif_ratio = 1.0 + _FREIGHT[origin] * rng.uniform(0.7, 1.3, n)
    small = rng.random(n) < 0.05  # small consignments under the relief threshold
    quantity[small] = rng.uniform(0.1, 0.95, int(small.sum())) * DE_MINIMIS_XOF / (price * cif_ratio)[small]
    quantity = np.where(_WHOLE_UNITS[heading], np.maximum(np.floor(quantity), 1.0), np.round(quantity, 1))
    quantity = np.maximum(quantity, 0.1)
    any_broker = rng.choice(len(p.broker_size), n, p=p.broker_size / p.broker_size.sum())
    declarant = np.where(rng.random(n) < 0.85, p.main_broker[importer], any_broker)
    packed = rng.lognormal(0.03, np.where(_WHOLE_UNITS[heading], 0.1, 0.02))  # gross over net weight
    t = {
        "day": day, "importer": importer, "declarant": declarant,
        "heading": heading, "origin": origin, "quantity": quantity, "price": price, "cif_ratio": cif_ratio,
        "weight": quantity * _KG_PER_UNIT[heading] * packed,
    }  # fmt: skip
    t.update(_routes(rng, origin, air))
    return t


def _routes(rng: np.random.Generator, origin: np.ndarray, air: np.ndarray) -> dict[str, np.ndarray]:
    """Loading place, transit port ("" if direct) and office of each consignment."""
    n = origin.size
    loading = _PORTS[origin, (rng.random(n) * _PORT_COUNT[origin]).astype(int)]
    transit = np.where(
        rng.random(n) < 0.35, np.array(TRANSHIPMENT_HUBS, dtype=object)[rng.integers(0, 3, n)], ""
    )
    office = rng.choice(3, n, p=SEA_OFFICE_SHARES)
    overland = ~air & (rng.random(n) < 0.10)  # honest transit through a neighbour's port to a land border
    east = rng.random(n) < 0.5
    transit[overland] = np.where(east, "TGLFW", "GHTEM")[overland]
    office[overland] = np.where(east, OFFICES.index("LND02"), OFFICES.index("LND01"))[overland]
    loading[air] = [ORIGINS[o].airport for o in origin[air]]
    transit[air] = ""
    office[air] = OFFICES.index("AIR01")
    regional = _REGIONAL[origin]
    transit[regional] = ""
    office[regional] = [OFFICES.index(ORIGINS[o].border) for o in origin[regional]]
    return {"loading": loading, "transit": transit, "office": office}


# --------------------------------------------------------------------------- fraud


def _select_fraud(rng: np.random.Generator, p: _Parties, t: dict[str, np.ndarray], rate: float) -> np.ndarray:
    """Each consignment's scheme, -1 when honest: offenders, complicit brokers and high duty cheat more."""
    importer, heading, day = t["importer"], t["heading"], t["day"]
    propensity = (
        np.where(p.offender[importer], 25.0, np.where(p.registered_day[importer] >= 0, 2.0, 1.0))
        * np.where(p.complicit[t["declarant"]], 1.5, 1.0)
        * (0.4 + 3.0 * _DUTY[heading])
        * np.where(day >= DRIFT_DAY, 1.2, 1.0)
    )
    illicit = rng.random(day.size) < _calibrated(propensity, rate)
    unit_cif = t["price"] * t["cif_ratio"]
    dutiable = (_DUTY[heading] > 0) & (t["quantity"] * unit_cif > DE_MINIMIS_XOF)
    overseas = ~_REGIONAL[t["origin"]]  # regional goods pay no duty: nothing to gain
    eligible = np.stack(
        [
            np.ones(day.size, dtype=bool),
            _HAS_CHEAPER[heading] & overseas & dutiable,
            overseas & dutiable,
            t["quantity"] >= 4,
            (day >= DRIFT_DAY) & overseas & (_DUTY[heading] > 0) & (unit_cif < 0.3 * DE_MINIMIS_XOF),
        ],
        axis=1,
    )
    weights = eligible * _SCHEME_WEIGHTS
    favourite = p.offender[importer]
    weights[favourite, p.favourite[importer[favourite]]] *= 6.0  # a scheme the offender knows
    cumulative = np.cumsum(weights, axis=1)
    chosen = (cumulative < (rng.random(day.size) * cumulative[:, -1])[:, None]).sum(axis=1)
    return np.where(illicit, chosen, -1)


def _calibrated(propensity: np.ndarray, rate: float, cap: float = 0.9) -> np.ndarray:
    """Probabilities proportional to ``propensity`` (at most ``cap``) whose mean is ``rate``."""
    if rate <= 0 or propensity.size == 0:
        return np.zeros_like(propensity)
    low, high = 0.0, cap / max(float(propensity.min(initial=1.0)), 1e-9)
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if np.minimum(cap, middle * propensity).mean() < rate else (low, middle)
    return np.minimum(cap, high * propensity)


def _expand_splits(
    rng: np.random.Generator, t: dict[str, np.ndarray], scheme: np.ndarray
) -> dict[str, np.ndarray]:
    """Split each ``split`` consignment into 2-4 parts, dropping as many other late illicit rows."""
    n = scheme.size
    copies = np.ones(n, dtype=int)
    anchors = np.flatnonzero(scheme == SPLIT)
    copies[anchors] = rng.integers(2, 5, anchors.size)
    extra = int((copies - 1).sum())
    late = t["day"] >= DRIFT_DAY  # splits appear after the drift; keep the illicit share there
    others = np.flatnonzero(late & (scheme >= 0) & (scheme != SPLIT))
    honest = np.flatnonzero(late & (scheme < 0))
    victims = rng.permutation(others)[:extra]
    victims = np.concatenate([victims, rng.permutation(honest)[: extra - victims.size]])
    copies[victims] = 0
    rows = np.repeat(np.arange(n), copies)
    out = {key: value[rows] for key, value in t.items()}
    out["scheme"] = scheme[rows]
    first = np.repeat(np.cumsum(copies) - copies, copies)  # where each row's group starts in ``out``
    out["part"] = np.arange(rows.size) - first
    step = np.where(out["part"] > 0, rng.integers(0, 3, rows.size), 0)
    out["day"] = np.minimum(out["day"] + np.cumsum(step) - np.cumsum(step)[first], DAYS - 1)
    return out


def _declare(rng: np.random.Generator, t: dict[str, np.ndarray]) -> None:
    """Add the declared columns (``d_*``) and each row's true and declared taxes to ``t``."""
    n, s, heading = t["day"].size, t["scheme"], t["heading"]
    split = s == SPLIT  # each part true in itself, just under the threshold
    unit_cif = t["price"] * t["cif_ratio"]
    part_qty = rng.uniform(0.72, 0.97, n) * DE_MINIMIS_XOF / unit_cif
    part_qty = np.where(
        _WHOLE_UNITS[heading], np.maximum(np.floor(part_qty), 1.0), np.floor(part_qty * 10) / 10
    )
    t["weight"] = np.where(split, t["weight"] / t["quantity"] * part_qty, t["weight"])
    t["quantity"] = np.where(split, part_qty, t["quantity"])
    t["fob"] = np.round(t["quantity"] * t["price"])
    t["cif"] = np.round(t["fob"] * t["cif_ratio"])
    d_heading, d_origin = heading.copy(), t["origin"].copy()
    value_share = np.ones(n)
    d_quantity, d_weight = t["quantity"].copy(), t["weight"].copy()
    under = s == UNDER
    value_share[under] = rng.uniform(0.2, 0.55, int(under.sum()))
    for row in np.flatnonzero(s == MISCLASS):
        d_heading[row] = rng.choice(_CHEAPER[heading[row]])
    restate = (s == MISCLASS) & (_UNIT[d_heading] != _UNIT[heading])  # in the declared heading's unit
    d_quantity[restate] = (t["weight"] / (_KG_PER_UNIT[d_heading] * 1.03))[restate]
    d_quantity = np.where(
        _WHOLE_UNITS[d_heading], np.maximum(np.round(d_quantity), 1.0), np.round(d_quantity, 1)
    )
    qty = s == QUANTITY
    kept = rng.uniform(0.45, 0.8, n)
    kept = np.where(_WHOLE_UNITS[heading], np.floor(t["quantity"] * kept) / t["quantity"], kept)
    d_quantity[qty] = np.round((t["quantity"] * kept)[qty], 1)
    value_share[qty] = kept[qty]
    d_weight[qty] = (t["weight"] * (kept + (1 - kept) * rng.uniform(0.3, 0.9, n)))[qty]
    _false_origin(rng, t, d_origin, s == FALSE_ORIGIN)
    t["d_heading"], t["d_origin"], t["d_quantity"], t["d_weight"] = d_heading, d_origin, d_quantity, d_weight
    t["d_fob"] = np.round(t["fob"] * value_share)
    t["d_cif"] = np.round(t["cif"] * value_share)
    t["taxes"] = np.round(_taxes_xof(d_heading, d_origin, t["d_cif"], relief=np.ones(n, dtype=bool)))
    true_taxes = np.round(_taxes_xof(heading, t["origin"], t["cif"], relief=~split))
    t["raised"] = np.where(s >= 0, true_taxes - t["taxes"], 0.0)


def _false_origin(
    rng: np.random.Generator, t: dict[str, np.ndarray], d_origin: np.ndarray, rows: np.ndarray
) -> None:
    """Declare overseas goods as regional: via Ghana before the drift, mostly via Lome after it."""
    lome = rows & (t["day"] >= DRIFT_DAY) & (rng.random(rows.size) < 0.7)
    ghana = rows & ~lome
    hide = rng.random(rows.size) < 0.6  # show only the regional leg
    for mask, country, port in ((ghana, "GH", "GHTEM"), (lome, "TG", "TGLFW")):
        flew = mask & (t["office"] == OFFICES.index("AIR01"))  # now by sea from the first port
        t["loading"][flew] = [ORIGINS[o].ports[0] for o in t["origin"][flew]]
        d_origin[mask] = _ORIGIN[country]
        t["office"][mask] = OFFICES.index(ORIGINS[_ORIGIN[country]].border)
        t["transit"][mask & ~hide] = port
        t["loading"][mask & hide] = ORIGINS[_ORIGIN[country]].ports[0]
        t["transit"][mask & hide] = ""


def _taxes_xof(heading: np.ndarray, origin: np.ndarray, cif: np.ndarray, relief: np.ndarray) -> np.ndarray:
    """Duty (waived for regional origin, and under relief at or below the threshold) plus VAT."""
    dutiable = ~_REGIONAL[origin] & ~(relief & (cif <= DE_MINIMIS_XOF))
    duty = np.where(dutiable, _DUTY[heading] * cif, 0.0)
    return duty + VAT_RATE * (cif + duty)


def _columns(rng: np.random.Generator, p: _Parties, t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The CSV columns as strings, sorted by date; SGD numbers run in that order."""
    order = np.lexsort((rng.random(t["day"].size), t["day"]))
    t = {key: value[order] for key, value in t.items()}
    office = np.array(OFFICES)[t["office"]]
    route = [
        ">".join(leg for leg in legs if leg) for legs in zip(t["loading"], t["transit"], office, strict=True)
    ]
    whole = _WHOLE_UNITS[t["d_heading"]]
    quantity = np.where(whole, _integers(t["d_quantity"]), np.char.mod("%.1f", t["d_quantity"]))
    return {
        "SGD.NUMBER": _integers(20_240_000_000 + np.arange(1, order.size + 1)),
        "SGD.DATE": (FIRST_DAY + t["day"]).astype(str),
        "IMPORTER.TIN": p.tin[t["importer"]],
        "DECLARANT.CODE": p.broker_code[t["declarant"]],
        "OFFICE": office,
        "ROUTE": np.array(route, dtype=str),
        "TARIFF.CODE": _CODES[t["d_heading"]],
        "ORIGIN.CODE": _ORIGIN_CODES[t["d_origin"]],
        "QUANTITY": quantity,
        "QUANTITY.UNIT": _UNIT[t["d_heading"]],
        "GROSS.WEIGHT": np.char.mod("%.1f", t["d_weight"]),
        "FOB.VALUE": _integers(t["d_fob"]),
        "CIF.VALUE": _integers(t["d_cif"]),
        "TOTAL.TAXES": _integers(t["taxes"]),
        "illicit": np.where(t["scheme"] >= 0, "1", "0"),
        "FRAUD.TYPE": np.where(t["scheme"] >= 0, np.array(SCHEMES)[np.maximum(t["scheme"], 0)], ""),
        "RAISED_TAX_AMOUNT": _integers(t["raised"]),
    }


def _integers(values: np.ndarray) -> np.ndarray:
    """Whole numbers as decimal strings (money in XOF has no minor unit)."""
    whole: np.ndarray = np.rint(values).astype(np.int64)
    return whole.astype(str)
