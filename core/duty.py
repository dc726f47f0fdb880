"""Hong Kong liquor duty, exactly: decimal arithmetic, the tier breakdown, the traveller's allowance.

The rule (Dutiable Commodities Ordinance as amended from 16 October 2024; see
../shared/domain/SMART_CUSTOMS.md):

- liquor over 30% alcohol by volume at 20 degrees C in a bottle of at most 1 litre pays 100% on the
  first HK$200 of the bottle's value and 10% on the rest;
- a bottle over 1 litre is assessed per litre: value per litre P = V / L, duty per litre D from the
  same two tiers, duty A = D x L;
- bottles packed as one item count as one bottle (their litres and their value add up);
- liquor of at most 30% and wine pay nothing;
- with no usable value and under 12 litres, HK$160 per litre;
- foreign currency converts at the operator's rate table (``RateTable``), whose date the breakdown shows;
- a traveller aged 18 or over may bring 1 litre of liquor over 30% duty-free.

How the arithmetic is done: values are ``decimal.Decimal``; nothing is rounded along the way (a value in
a foreign currency times its rate is exact; ``A = D x L`` is computed as ``min(V, 200 L) + 10% of
(V - 200 L)``, which is D x L without a division). Each amount shown is then rounded to the cent, half up
(``ROUND_HALF_UP``), once, from its exact figure. The 100% tier's duty is rounded on its own and the 10%
tier's duty is the rounded duty less it, so the two parts add up to the duty shown.

Where the published rule is silent, this module decides (and the docs say so, docs/operators.md):

- For a bottle of at most 1 litre the tiers apply to the bottle's value, so P and D are not part of the
  rule; they are shown as V / L and A / L (what the bottle pays per litre), so that D x L = A always.
- The allowance is 1 litre in all (the rule says only "1 litre"): it is taken from the traveller's
  dutiable bottles with the highest duty per litre first (the reading most favourable to the traveller,
  and the one that does not depend on the order bottles were put on the counter); ties go to the bottle
  listed first. A bottle the allowance covers in part pays the share of its duty that the uncovered litres
  are of its litres (``A x uncovered / L``, rounded to the cent).
- The HK$160 per litre rate needs the traveller's unvalued dutiable liquor to be under 12 litres in all;
  from 12 litres on the rule gives no rate, and ``DutyError`` asks for the value to be established.
- Wine pays nothing whatever its strength (``wine=True``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from numbers import Integral
from pathlib import Path
from typing import Any

CENT = Decimal("0.01")
DUTIABLE_ABV_PERCENT = Decimal(30)  # liquor above this pays duty
FULL_RATE_BAND_HKD = Decimal(200)  # value (per bottle, or per litre over 1 litre) taxed at 100%
UPPER_RATE = Decimal("0.1")  # on value above the band
UNVALUED_HKD_PER_LITRE = Decimal(160)
UNVALUED_MAX_LITRES = Decimal(12)  # the HK$160 rate applies under this
PER_LITRE_ABOVE_LITRES = Decimal(1)  # a bottle over this is assessed per litre
TRAVELLER_ALLOWANCE_LITRES = Decimal(1)
ML_PER_LITRE = Decimal(1000)
HKD = "HKD"
MAX_NUMBER = Decimal(10) ** 15  # larger inputs are typing errors (and would strain the precision)
_PRECISION = 50  # digits: every product and sum here is exact, each quotient correctly rounded
_CONTEXT = Context(prec=_PRECISION)

# How a bottle was assessed.
BASIS_VALUE = "value"  # the two tiers on its value
BASIS_NO_VALUE = "no_value"  # HK$160 per litre
BASIS_LOW_ABV = "abv_30_or_less"  # not dutiable
BASIS_WINE = "wine"  # not dutiable
DUTIABLE_BASES = (BASIS_VALUE, BASIS_NO_VALUE)


class DutyError(ValueError):
    """Input the duty cannot be assessed from; the message says what, in one line."""


def cents(amount: Decimal) -> Decimal:
    """``amount`` rounded to the cent, half up."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP, context=_CONTEXT)


def decimal_of(name: str, value: object) -> Decimal:
    """A finite Decimal from a Decimal, int, str or float (a float by its shortest repr, so 0.1 is
    Decimal("0.1")); DutyError naming ``name`` otherwise."""
    try:
        if isinstance(value, float):  # numpy's too: float.__repr__ is the shortest repr, without "np."
            number = Decimal(float.__repr__(value))
        elif isinstance(value, Decimal | str) or type(value) is int:
            number = Decimal(value)
        elif isinstance(value, Integral) and not isinstance(value, bool):  # numpy's integers
            number = Decimal(int(value))
        else:
            raise DutyError(f"{name} must be a number, got {value!r}")
    except InvalidOperation:
        raise DutyError(f"{name} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise DutyError(f"{name} must be a finite number, got {value!r}")
    if abs(number) >= MAX_NUMBER:
        raise DutyError(f"{name} is too large: {value!r}")
    return number


# --------------------------------------------------------------------------- exchange rates


@dataclass(frozen=True)
class Rate:
    """HKD per unit of ``currency``, as published on ``date`` (None for HKD itself)."""

    currency: str
    hkd_per_unit: Decimal
    date: dt.date | None = None


HKD_RATE = Rate(HKD, Decimal(1))


def _currency(code: object) -> str:
    text = str(code).strip().upper()
    if len(text) != 3 or not text.isascii() or not text.isalpha():
        raise DutyError(f"a currency is a three-letter ISO 4217 code such as USD, got {code!r}")
    return text


def _date(value: object, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise DutyError(f"{where}: the date must be YYYY-MM-DD, got {value!r}") from None


class RateTable:
    """The exchange rates an operator loads: currency -> ``Rate``. HKD is always there, at 1.

    Files (``load``): CSV with a header ``currency,hkd_per_unit,date``, or TOML with one ``[[rate]]``
    table per currency holding the same three keys (``hkd_per_unit`` a number or a string; TOML floats
    are read as decimals, digit for digit).
    """

    def __init__(self, rates: Iterable[Rate] = (), source: str = "") -> None:
        self.source = source
        self._rates: dict[str, Rate] = {HKD: HKD_RATE}
        for rate in rates:
            self._add(rate)

    def _add(self, rate: Rate) -> None:
        where = f"{self.source or 'rate table'}: {rate.currency}"
        if rate.currency == HKD:
            if rate.hkd_per_unit != 1:
                raise DutyError(f"{where}: HKD converts at 1, got {rate.hkd_per_unit}")
            return
        if rate.currency in self._rates:
            raise DutyError(f"{where} is listed twice")
        if rate.hkd_per_unit <= 0:
            raise DutyError(f"{where}: the rate must be more than 0 HKD per unit, got {rate.hkd_per_unit}")
        self._rates[rate.currency] = rate

    @property
    def currencies(self) -> tuple[str, ...]:
        return tuple(sorted(self._rates))

    def rate(self, currency: str) -> Rate:
        """The rate of a currency; DutyError, listing the known ones, for a currency not in the table."""
        code = _currency(currency)
        if code not in self._rates:
            loaded = f" ({self.source})" if self.source else ""
            raise DutyError(
                f"no exchange rate for {code}: the rate table{loaded} has {', '.join(self.currencies)}"
            )
        return self._rates[code]

    def rows(self) -> list[dict[str, str]]:
        """The table as strings (what ``from_rows`` reads back), HKD left out."""
        return [
            {"currency": r.currency, "hkd_per_unit": str(r.hkd_per_unit), "date": _iso(r.date)}
            for c, r in sorted(self._rates.items())
            if c != HKD
        ]

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], source: str = "") -> RateTable:
        """From mappings with ``currency``, ``hkd_per_unit`` and ``date``; DutyError naming the row."""
        rates = []
        for number, row in enumerate(rows, start=1):
            where = f"{source or 'rate table'}: rate {number}"
            missing = [k for k in ("currency", "hkd_per_unit", "date") if row.get(k) in (None, "")]
            if missing:
                raise DutyError(f"{where} has no {', '.join(missing)}")
            unit = decimal_of(f"{where}: hkd_per_unit", _plain(row["hkd_per_unit"]))
            rates.append(Rate(_currency(row["currency"]), unit, _date(row["date"], where)))
        return cls(rates, source)

    @classmethod
    def parse(cls, text: str, kind: str, source: str = "") -> RateTable:
        """A table from the text of a ``"csv"`` or ``"toml"`` file."""
        if kind == "csv":
            reader = csv.DictReader(io.StringIO(text))
            header = [name.strip() for name in reader.fieldnames or []]
            if not {"currency", "hkd_per_unit", "date"} <= set(header):
                raise DutyError(
                    f"{source or 'rate table'}: the CSV header must name currency,hkd_per_unit,date"
                )
            rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
            return cls.from_rows(rows, source)
        if kind == "toml":
            try:
                document = tomllib.loads(text, parse_float=Decimal)
            except tomllib.TOMLDecodeError as error:
                raise DutyError(f"{source or 'rate table'}: not valid TOML ({error})") from None
            rows = document.get("rate", [])
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise DutyError(f"{source or 'rate table'}: rates are [[rate]] tables")
            return cls.from_rows(rows, source)
        raise DutyError(f"a rate table is a .csv or a .toml file, got {kind!r}")

    @classmethod
    def load(cls, path: Path | str) -> RateTable:
        """A table from a .csv or .toml file; DutyError (one line) if it cannot be read or is wrong."""
        path = Path(path)
        kind = path.suffix.lower().removeprefix(".")
        if kind not in ("csv", "toml"):
            raise DutyError(f"{path}: a rate table is a .csv or a .toml file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise DutyError(f"cannot read the rate table {path}: {error}") from None
        return cls.parse(text, kind, str(path))


def _plain(value: object) -> object:
    """TOML integers and decimals as they are; anything else as its text."""
    return value if isinstance(value, int | Decimal) and not isinstance(value, bool) else str(value).strip()


def _iso(date: dt.date | None) -> str:
    return date.isoformat() if date else ""


# --------------------------------------------------------------------------- one item


@dataclass(frozen=True)
class LiquorItem:
    """One item as presented: ``bottles`` bottles of ``volume_ml`` each, packed as one (1: a bottle).

    ``value`` is the whole item's value in ``currency`` (None: no usable value information).
    """

    abv_percent: Decimal
    volume_ml: Decimal
    value: Decimal | None
    currency: str = HKD
    bottles: int = 1
    wine: bool = False

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.abv_percent <= Decimal(100):
            raise DutyError(f"ABV must be from 0 to 100 %, got {self.abv_percent}")
        if self.volume_ml <= 0:
            raise DutyError(f"the volume must be more than 0 ml, got {self.volume_ml}")
        if self.value is not None and self.value < 0:
            raise DutyError(f"the value must be zero or more, got {self.value}")
        if isinstance(self.bottles, bool) or not isinstance(self.bottles, int) or self.bottles < 1:
            raise DutyError(f"a pack holds a whole number of bottles, at least 1, got {self.bottles!r}")
        object.__setattr__(self, "currency", _currency(self.currency))

    @classmethod
    def of(
        cls,
        abv_percent: object,
        volume_ml: object,
        value: object | None,
        currency: str = HKD,
        *,
        bottles: int = 1,
        wine: bool = False,
    ) -> LiquorItem:
        """An item from numbers in any form ``decimal_of`` reads (str, int, Decimal, float)."""
        amount = None if value is None else decimal_of("value", value)
        return cls(
            decimal_of("ABV", abv_percent), decimal_of("volume", volume_ml), amount, currency, bottles, wine
        )

    @property
    def litres(self) -> Decimal:
        with localcontext(prec=_PRECISION):
            return self.volume_ml * self.bottles / ML_PER_LITRE

    @property
    def dutiable_strength(self) -> bool:
        """Liquor over 30% that is not wine: what pays duty and what the allowance is taken from."""
        return not self.wine and self.abv_percent > DUTIABLE_ABV_PERCENT


@dataclass(frozen=True)
class DutyBreakdown:
    """How one item's duty was worked out. Amounts in HKD, rounded to the cent; ``exact_duty_hkd`` is
    the unrounded duty (for the allowance's shares).

    basis: ``value`` (the two tiers), ``no_value`` (HK$160 per litre), ``abv_30_or_less`` or ``wine``.
    per_litre: assessed per litre (over 1 litre); otherwise the tiers were applied to the bottle's value.
    full_rate_* / upper_rate_*: the value in the 100% tier and above it, and the duty of each (zero
    unless the basis is ``value``).
    """

    item: LiquorItem
    basis: str
    per_litre: bool
    litres: Decimal
    rate: Rate
    value_hkd: Decimal | None
    value_per_litre_hkd: Decimal | None
    duty_per_litre_hkd: Decimal
    full_rate_value_hkd: Decimal
    upper_rate_value_hkd: Decimal
    full_rate_duty_hkd: Decimal
    upper_rate_duty_hkd: Decimal
    duty_hkd: Decimal
    exact_duty_hkd: Decimal = field(repr=False)

    @property
    def dutiable(self) -> bool:
        return self.basis in DUTIABLE_BASES

    @property
    def exact_duty_per_litre_hkd(self) -> Decimal:
        with localcontext(prec=_PRECISION):
            return self.exact_duty_hkd / self.litres


def bottle_duty(item: LiquorItem, rates: RateTable | None = None) -> DutyBreakdown:
    """The duty on one item (a bottle, or a pack counted as one bottle), without any allowance.

    DutyError for a currency not in ``rates`` (HKD needs no table), or an unvalued item of 12 litres
    or more.
    """
    rate = (rates or RateTable()).rate(item.currency) if item.value is not None else HKD_RATE
    litres = item.litres
    if not item.dutiable_strength:
        return _free(item, rate, litres, BASIS_WINE if item.wine else BASIS_LOW_ABV)
    if item.value is None:
        return _unvalued(item, litres)
    with localcontext(prec=_PRECISION):
        value_hkd = item.value * rate.hkd_per_unit
        per_litre = litres > PER_LITRE_ABOVE_LITRES
        band_hkd = FULL_RATE_BAND_HKD * litres if per_litre else FULL_RATE_BAND_HKD
        full_value = min(value_hkd, band_hkd)  # = min(P, 200) x L when per litre
        upper_value = max(value_hkd - band_hkd, Decimal(0))  # = max(P - 200, 0) x L
        exact = full_value + UPPER_RATE * upper_value
        duty = cents(exact)
        full_duty = cents(full_value)
        return DutyBreakdown(
            item=item,
            basis=BASIS_VALUE,
            per_litre=per_litre,
            litres=litres,
            rate=rate,
            value_hkd=cents(value_hkd),
            value_per_litre_hkd=cents(value_hkd / litres),
            duty_per_litre_hkd=cents(exact / litres),
            full_rate_value_hkd=cents(full_value),
            upper_rate_value_hkd=cents(upper_value),
            full_rate_duty_hkd=full_duty,
            upper_rate_duty_hkd=duty - full_duty,
            duty_hkd=duty,
            exact_duty_hkd=exact,
        )


def _free(item: LiquorItem, rate: Rate, litres: Decimal, basis: str) -> DutyBreakdown:
    zero = Decimal("0.00")
    value_hkd = None
    per_litre_value = None
    if item.value is not None:
        with localcontext(prec=_PRECISION):
            value_hkd = cents(item.value * rate.hkd_per_unit)
            per_litre_value = cents(item.value * rate.hkd_per_unit / litres)
    return DutyBreakdown(
        item, basis, litres > PER_LITRE_ABOVE_LITRES, litres, rate, value_hkd, per_litre_value,
        zero, zero, zero, zero, zero, zero, Decimal(0),
    )  # fmt: skip


def _unvalued(item: LiquorItem, litres: Decimal) -> DutyBreakdown:
    if litres >= UNVALUED_MAX_LITRES:
        raise DutyError(
            f"no value for {_number(litres)} litres: the HK$160 per litre rate is for under 12 litres;"
            " the value must be established"
        )
    with localcontext(prec=_PRECISION):
        exact = UNVALUED_HKD_PER_LITRE * litres
    zero = Decimal("0.00")
    return DutyBreakdown(
        item, BASIS_NO_VALUE, litres > PER_LITRE_ABOVE_LITRES, litres, HKD_RATE, None, None,
        cents(UNVALUED_HKD_PER_LITRE), zero, zero, zero, zero, cents(exact), exact,
    )  # fmt: skip


# --------------------------------------------------------------------------- a traveller's items


@dataclass(frozen=True)
class AllowanceShare:
    """The allowance taken from one item: ``litres`` of it duty-free, sparing ``relief_hkd``."""

    index: int  # of the item, in the order given
    litres: Decimal
    relief_hkd: Decimal


@dataclass(frozen=True)
class TravellerDuty:
    """A traveller's items assessed together: each item's breakdown, the allowance and the duty."""

    items: tuple[DutyBreakdown, ...]
    allowance_litres: Decimal  # offered: 1, or 0 for a traveller not entitled
    allowance: tuple[AllowanceShare, ...]  # where it was taken from, in the order taken
    payable_hkd: tuple[Decimal, ...]  # per item, after the allowance

    @property
    def duty_before_allowance_hkd(self) -> Decimal:
        return sum((b.duty_hkd for b in self.items), Decimal("0.00"))

    @property
    def relief_hkd(self) -> Decimal:
        return sum((s.relief_hkd for s in self.allowance), Decimal("0.00"))

    @property
    def allowance_used_litres(self) -> Decimal:
        return sum((s.litres for s in self.allowance), Decimal(0))

    @property
    def duty_hkd(self) -> Decimal:
        """What the traveller pays: the sum of the items' payable duty."""
        return sum(self.payable_hkd, Decimal("0.00"))


def traveller_duty(
    items: Sequence[LiquorItem],
    rates: RateTable | None = None,
    *,
    allowance_litres: Decimal = TRAVELLER_ALLOWANCE_LITRES,
) -> TravellerDuty:
    """Assess a traveller's items as a whole: each item's duty, then the allowance taken from the
    dutiable items with the highest duty per litre first (see the module's notes).

    ``allowance_litres``: 1 for a traveller aged 18 or over, 0 for one not entitled (under 18, a Hong
    Kong resident back within 24 hours, goods for trade). DutyError for an item that cannot be assessed,
    or unvalued dutiable liquor of 12 litres or more in all.
    """
    if allowance_litres < 0:
        raise DutyError(f"the allowance must be zero or more litres, got {allowance_litres}")
    assessed = tuple(bottle_duty(item, rates) for item in items)
    unvalued = sum((b.litres for b in assessed if b.basis == BASIS_NO_VALUE), Decimal(0))
    if unvalued >= UNVALUED_MAX_LITRES:
        raise DutyError(
            f"{_number(unvalued)} litres of liquor without a value: the HK$160 per litre rate is for"
            " under 12 litres; the value must be established"
        )
    payable = [b.duty_hkd for b in assessed]
    shares: list[AllowanceShare] = []
    left = allowance_litres
    order = sorted(
        (i for i, b in enumerate(assessed) if b.dutiable),
        key=lambda i: (-assessed[i].exact_duty_per_litre_hkd, i),
    )
    for index in order:
        if left <= 0:
            break
        breakdown = assessed[index]
        covered = min(left, breakdown.litres)
        with localcontext(prec=_PRECISION):
            remaining = cents(breakdown.exact_duty_hkd * (breakdown.litres - covered) / breakdown.litres)
        shares.append(AllowanceShare(index, covered, breakdown.duty_hkd - remaining))
        payable[index] = remaining
        left -= covered
    return TravellerDuty(assessed, allowance_litres, tuple(shares), tuple(payable))


# --------------------------------------------------------------------------- as JSON


def _number(quantity: Decimal) -> str:
    """A quantity without trailing zeros or an exponent: ``"0.75"``, ``"10"``."""
    return f"{quantity.normalize():f}"


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def breakdown_json(breakdown: DutyBreakdown) -> dict[str, Any]:
    """A breakdown as JSON-ready values: amounts as decimal strings (``"228.00"``)."""
    item, rate = breakdown.item, breakdown.rate
    return {
        "abv_percent": str(item.abv_percent),
        "volume_ml": str(item.volume_ml),
        "bottles": item.bottles,
        "wine": item.wine,
        "litres": _number(breakdown.litres),
        "value": _text(item.value),
        "currency": item.currency,
        "rate_hkd_per_unit": str(rate.hkd_per_unit),
        "rate_date": _iso(rate.date) or None,
        "basis": breakdown.basis,
        "per_litre": breakdown.per_litre,
        "value_hkd": _text(breakdown.value_hkd),
        "value_per_litre_hkd": _text(breakdown.value_per_litre_hkd),
        "duty_per_litre_hkd": str(breakdown.duty_per_litre_hkd),
        "full_rate_value_hkd": str(breakdown.full_rate_value_hkd),
        "upper_rate_value_hkd": str(breakdown.upper_rate_value_hkd),
        "full_rate_duty_hkd": str(breakdown.full_rate_duty_hkd),
        "upper_rate_duty_hkd": str(breakdown.upper_rate_duty_hkd),
        "duty_hkd": str(breakdown.duty_hkd),
    }
