"""The figures the enquiry answers quote, each kept once.

Liquor figures are the duty code's own constants (``smartcustoms.core.duty``), and the worked example is
computed by ``bottle_duty`` when the knowledge base loads, so an answer can never disagree with the duty
the liquor desk charges. The tobacco allowance, the currency declaration threshold and the penalties are
not used by any duty code yet: they are kept here, once, and the knowledge base's templates name them.
"""

from __future__ import annotations

from decimal import Decimal

from smartcustoms.core import duty

TOBACCO_CIGARETTES = 19  # sticks, duty-free, per traveller aged 18 or over (since 1 August 2010)
TOBACCO_CIGARS = 1  # or, for more than one cigar, this many grams in all:
TOBACCO_CIGARS_GRAMS = 25
TOBACCO_OTHER_GRAMS = 25  # of other manufactured tobacco
ALLOWANCE_MIN_AGE_YEARS = 18
RESIDENT_AWAY_HOURS = 24  # a Hong Kong Identity Card holder must have been away this long
UNDECLARED_PENALTY_HKD = 1_000_000  # failing to declare dutiable goods: maximum fine
UNDECLARED_PRISON_YEARS = 2
CURRENCY_DECLARATION_HKD = 120_000  # currency and bearer negotiable instruments above this are declared
CURRENCY_PENALTY_HKD = 500_000  # failing to declare them: maximum fine
CURRENCY_PRISON_YEARS = 2
FORMULA_EXPORT_KG = Decimal("1.8")  # powdered formula a departing person aged 16 or over may carry
FORMULA_MIN_AGE_YEARS = 16
EXAMPLE_BOTTLE_ML = 700  # the worked example: a 700 ml bottle of 40% spirit worth HK$500
EXAMPLE_BOTTLE_ABV = 40
EXAMPLE_BOTTLE_HKD = 500
EXAMPLE_LARGE_ML = 1500  # and a 1.5 litre bottle worth HK$900
EXAMPLE_LARGE_HKD = 900


def _number(value: Decimal | int) -> str:
    """``1``, ``0.1``, ``1,000,000``: no trailing zeros, thousands separated."""
    text = f"{Decimal(value).normalize():f}"
    whole, _, fraction = text.partition(".")
    return f"{int(whole):,}" + (f".{fraction}" if fraction else "")


def facts() -> dict[str, str]:
    """Every figure a template may name, rendered as text (the same in both languages)."""
    small = duty.bottle_duty(duty.LiquorItem.of(EXAMPLE_BOTTLE_ABV, EXAMPLE_BOTTLE_ML, EXAMPLE_BOTTLE_HKD))
    large = duty.bottle_duty(duty.LiquorItem.of(EXAMPLE_BOTTLE_ABV, EXAMPLE_LARGE_ML, EXAMPLE_LARGE_HKD))
    return {
        "liquor_allowance_l": _number(duty.TRAVELLER_ALLOWANCE_LITRES),
        "dutiable_abv": _number(duty.DUTIABLE_ABV_PERCENT),
        "band_hkd": _number(duty.FULL_RATE_BAND_HKD),
        "upper_rate_pct": _number(duty.UPPER_RATE * 100),
        "per_litre_above_l": _number(duty.PER_LITRE_ABOVE_LITRES),
        "unvalued_hkd_per_l": _number(duty.UNVALUED_HKD_PER_LITRE),
        "unvalued_max_l": _number(duty.UNVALUED_MAX_LITRES),
        "example_ml": _number(EXAMPLE_BOTTLE_ML),
        "example_abv": _number(EXAMPLE_BOTTLE_ABV),
        "example_hkd": _number(EXAMPLE_BOTTLE_HKD),
        "example_full_duty_hkd": _number(small.full_rate_duty_hkd),
        "example_upper_duty_hkd": _number(small.upper_rate_duty_hkd),
        "example_duty_hkd": _number(small.duty_hkd),
        "large_ml": _number(EXAMPLE_LARGE_ML),
        "large_hkd": _number(EXAMPLE_LARGE_HKD),
        "large_per_litre_hkd": _number(large.value_per_litre_hkd or Decimal(0)),
        "large_duty_per_litre_hkd": _number(large.duty_per_litre_hkd),
        "large_duty_hkd": _number(large.duty_hkd),
        "cigarettes": _number(TOBACCO_CIGARETTES),
        "cigars": _number(TOBACCO_CIGARS),
        "cigars_g": _number(TOBACCO_CIGARS_GRAMS),
        "tobacco_g": _number(TOBACCO_OTHER_GRAMS),
        "min_age": _number(ALLOWANCE_MIN_AGE_YEARS),
        "away_hours": _number(RESIDENT_AWAY_HOURS),
        "penalty_hkd": _number(UNDECLARED_PENALTY_HKD),
        "penalty_years": _number(UNDECLARED_PRISON_YEARS),
        "currency_hkd": _number(CURRENCY_DECLARATION_HKD),
        "currency_penalty_hkd": _number(CURRENCY_PENALTY_HKD),
        "currency_years": _number(CURRENCY_PRISON_YEARS),
        "formula_kg": _number(FORMULA_EXPORT_KG),
        "formula_age": _number(FORMULA_MIN_AGE_YEARS),
    }
