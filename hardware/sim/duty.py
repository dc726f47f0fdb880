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

from smartcustoms.core import duty as core_duty

LIQUOR_DUTIABLE_ABV_PERCENT = float(core_duty.DUTIABLE_ABV_PERCENT)
LIQUOR_FULL_RATE_BAND_HKD = float(core_duty.FULL_RATE_BAND_HKD)  # value taxed at 100%
LIQUOR_UPPER_RATE = float(core_duty.UPPER_RATE)  # on value above the band
LIQUOR_UNVALUED_HKD_PER_LITRE = float(core_duty.UNVALUED_HKD_PER_LITRE)
LIQUOR_UNVALUED_MAX_LITRES = float(core_duty.UNVALUED_MAX_LITRES)
TRAVELLER_LIQUOR_ALLOWANCE_LITRES = float(core_duty.TRAVELLER_ALLOWANCE_LITRES)
CIGARETTE_DUTY_HKD_PER_STICK = 3.306
STICKS_PER_CARTON = 200
UNLEADED_PETROL_DUTY_HKD_PER_LITRE = 6.06


def liquor_duty_hkd(abv_percent: float, volume_ml: float, value_hkd: float | None) -> float:
    """Duty on one bottle (or one item packed as a bottle) of liquor, worked out by
    ``smartcustoms.core.duty`` in decimal and returned unrounded as a float (the cent rounding is the
    breakdown's; the simulators sum many bottles).

    value_hkd None means no usable value information: HK$160 per litre (for less than 12 litres).
    ValueError for an ABV outside 0-100, a negative value, or a volume that is not positive.
    """
    item = core_duty.LiquorItem.of(abv_percent, volume_ml, value_hkd)
    return float(core_duty.bottle_duty(item).exact_duty_hkd)


def cigarette_duty_hkd(sticks: int) -> float:
    return CIGARETTE_DUTY_HKD_PER_STICK * sticks
