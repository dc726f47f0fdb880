"""Hong Kong duty rules the simulators use to put a price on what is at stake.

Hong Kong is a free port: only liquor, tobacco, hydrocarbon oil and methyl alcohol are dutiable.

* Liquor (since 16 October 2024): liquor over 30% alcohol by volume at 20 degrees C pays 100% on the
  first HK$200 of value and 10% on the rest, per bottle of at most 1 litre; a bottle over 1 litre is
  assessed per litre (P = V / L, D = tiers(P), duty A = D x L). Liquor of at most 30% and wine pay 0%.
  Without usable value information and under 12 litres, the rate is HK$160 per litre.
* Cigarettes: HK$3,306 per 1,000 sticks (since 28 February 2024).
* Hydrocarbon oil: unleaded petrol HK$6.06 per litre.

Travellers aged 18 and over may bring 1 litre of liquor over 30% duty-free.
"""

from __future__ import annotations

LIQUOR_DUTIABLE_ABV_PERCENT = 30.0
LIQUOR_FULL_RATE_BAND_HKD = 200.0  # value taxed at 100%
LIQUOR_UPPER_RATE = 0.10  # on value above the band
LIQUOR_UNVALUED_HKD_PER_LITRE = 160.0
LIQUOR_UNVALUED_MAX_LITRES = 12.0
TRAVELLER_LIQUOR_ALLOWANCE_LITRES = 1.0
CIGARETTE_DUTY_HKD_PER_STICK = 3.306
STICKS_PER_CARTON = 200
UNLEADED_PETROL_DUTY_HKD_PER_LITRE = 6.06


def _liquor_tiers(value_hkd: float) -> float:
    """100% of the first HK$200 and 10% of the rest."""
    band = min(value_hkd, LIQUOR_FULL_RATE_BAND_HKD)
    return band + LIQUOR_UPPER_RATE * max(value_hkd - LIQUOR_FULL_RATE_BAND_HKD, 0.0)


def liquor_duty_hkd(abv_percent: float, volume_ml: float, value_hkd: float | None) -> float:
    """Duty on one bottle (or one item packed as a bottle) of liquor.

    value_hkd None means no usable value information: HK$160 per litre (for less than 12 litres).
    """
    if abv_percent < 0 or volume_ml <= 0 or (value_hkd is not None and value_hkd < 0):
        raise ValueError("ABV, volume and value must be non-negative, volume positive")
    if abv_percent <= LIQUOR_DUTIABLE_ABV_PERCENT:
        return 0.0
    litres = volume_ml / 1000.0
    if value_hkd is None:
        if litres >= LIQUOR_UNVALUED_MAX_LITRES:
            raise ValueError("the HK$160 per litre rate applies below 12 litres only")
        return LIQUOR_UNVALUED_HKD_PER_LITRE * litres
    if litres <= 1.0:
        return _liquor_tiers(value_hkd)
    return _liquor_tiers(value_hkd / litres) * litres


def cigarette_duty_hkd(sticks: int) -> float:
    return CIGARETTE_DUTY_HKD_PER_STICK * sticks
