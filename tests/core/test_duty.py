"""Hong Kong liquor duty in decimal: every figure below is worked out by hand in its comment."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

import pytest

from smartcustoms.core import duty
from smartcustoms.core.duty import (
    DutyError,
    LiquorItem,
    Rate,
    RateTable,
    bottle_duty,
    breakdown_json,
    traveller_duty,
)

D = Decimal
RATES = RateTable(
    [
        Rate("USD", D("7.7812"), dt.date(2025, 1, 15)),
        Rate("JPY", D("0.0502"), dt.date(2025, 1, 15)),
        Rate("CNY", D("1.0650"), dt.date(2025, 1, 14)),
    ],
    "rates.csv",
)


def spirit(volume_ml: object, value: object | None, abv: object = 40, **kwargs: object) -> LiquorItem:
    return LiquorItem.of(abv, volume_ml, value, **kwargs)  # type: ignore[arg-type]


def assessed(
    volume_ml: object, value: object | None, abv: object = 40, **kwargs: object
) -> duty.DutyBreakdown:
    currency = str(kwargs.pop("currency", "HKD"))
    return bottle_duty(spirit(volume_ml, value, abv, currency=currency, **kwargs), RATES)


# --------------------------------------------------------------------------- a bottle of at most 1 litre


def test_the_issue_example_a_75cl_bottle_at_hk480() -> None:
    found = assessed(750, 480, abv=43)
    # 100% of the first 200 = 200; 10% of the other 280 = 28; A = 228. P = 480 / 0.75 = 640; D = 228 / 0.75.
    assert (found.duty_hkd, found.full_rate_duty_hkd, found.upper_rate_duty_hkd) == (D("228.00"), 200, 28)
    assert (found.full_rate_value_hkd, found.upper_rate_value_hkd) == (D("200.00"), D("280.00"))
    assert (found.value_per_litre_hkd, found.duty_per_litre_hkd) == (D("640.00"), D("304.00"))
    assert (found.basis, found.per_litre, found.litres, found.value_hkd) == ("value", False, D("0.75"), 480)


@pytest.mark.parametrize(
    ("volume_ml", "value", "expected"),
    [
        (700, 150, "150.00"),  # all within the 100% band
        (700, 200, "200.00"),  # exactly the band: nothing at 10%
        (700, 0, "0.00"),  # a value of nothing pays nothing
        (700, 1380, "318.00"),  # 200 + 10% of 1180
        (1000, 1000, "280.00"),  # exactly 1 litre is still a bottle, not per litre: 200 + 80
        (50, 1680, "348.00"),  # a miniature: 200 + 148
        (700, "200.01", "200.00"),  # 200 + 0.001 -> 200.00
        (700, "200.05", "200.01"),  # 200 + 0.005 -> half up (banker's rounding would give 200.00)
        (700, "200.15", "200.02"),  # 200.015 -> 200.02 (half up, where half-even would also round up)
        (700, "200.25", "200.03"),  # 200.025 -> 200.03 (half-even would give 200.02)
        (700, "199.999", "200.00"),  # 199.999 all at 100%, rounded once at the end
    ],
)
def test_a_bottle_of_at_most_a_litre_pays_the_two_tiers_on_its_value(
    volume_ml: int, value: object, expected: str
) -> None:
    assert assessed(volume_ml, value).duty_hkd == D(expected)


def test_the_tiers_add_up_to_the_duty_even_when_it_rounds() -> None:
    found = assessed(700, "200.05")  # exact 200.005
    assert (found.full_rate_duty_hkd, found.upper_rate_duty_hkd, found.duty_hkd) == (
        200,
        D("0.01"),
        D("200.01"),
    )
    assert found.exact_duty_hkd == D("200.005")


# --------------------------------------------------------------------------- over 1 litre: per litre


@pytest.mark.parametrize(
    ("volume_ml", "value", "per_litre_value", "per_litre_duty", "expected"),
    [
        # P = 3400 / 1.5 = 2266.67; D = 200 + 206.67 = 406.67; A = 300 + 310 = 610
        (1500, 3400, "2266.67", "406.67", "610.00"),
        # P = 380 / 1.75 = 217.14; D = 201.71; A = 350 + 3 = 353
        (1750, 380, "217.14", "201.71", "353.00"),
        # P = 240 / 1.5 = 160, all at 100%: D = 160, A = 240
        (1500, 240, "160.00", "160.00", "240.00"),
        # P = 1000 / 4.5 = 222.22; D = 202.22; A = 900 + 10 = 910
        (4500, 1000, "222.22", "202.22", "910.00"),
        # 1001 ml at 1000: P = 999.000999; A = 200.2 + 79.98 = 280.18; D = A / 1.001 = 279.9001
        (1001, 1000, "999.00", "279.90", "280.18"),
    ],
)
def test_a_bottle_over_a_litre_is_assessed_per_litre(
    volume_ml: int, value: int, per_litre_value: str, per_litre_duty: str, expected: str
) -> None:
    found = assessed(volume_ml, value)
    assert found.per_litre
    assert (found.value_per_litre_hkd, found.duty_per_litre_hkd) == (D(per_litre_value), D(per_litre_duty))
    assert found.duty_hkd == D(expected)
    assert found.full_rate_duty_hkd + found.upper_rate_duty_hkd == found.duty_hkd


def test_per_litre_duty_is_the_tiers_of_the_value_per_litre_times_the_litres() -> None:
    """A = D x L with D = tiers(P), for many values and volumes (checked against a plain float formula)."""
    draw = random.Random(12)
    for _ in range(500):
        litres, value = draw.randint(1001, 20_000) / 1000, draw.randint(0, 500_000) / 100
        per_litre = value / litres
        tiers = min(per_litre, 200) + 0.1 * max(per_litre - 200, 0)
        found = assessed(D(str(litres)) * 1000, D(str(value)))
        assert abs(float(found.exact_duty_hkd) - tiers * litres) < 1e-6


# --------------------------------------------------------------------------- packs, strength, wine, no value


def test_bottles_packed_as_one_item_count_as_one_bottle() -> None:
    pack = assessed(500, 600, bottles=2)  # 1 litre in all: one bottle of HK$600 -> 200 + 40
    assert (pack.litres, pack.per_litre, pack.duty_hkd) == (D("1.0"), False, D("240.00"))
    apart = [assessed(500, 300).duty_hkd for _ in range(2)]  # 210 each when not packed together
    assert sum(apart) == D("420.00")
    three = assessed(500, 900, bottles=3)  # 1.5 litres: P = 600, D = 240, A = 360
    assert (three.per_litre, three.duty_per_litre_hkd, three.duty_hkd) == (True, D("240.00"), D("360.00"))


@pytest.mark.parametrize(
    ("abv", "wine", "basis"),
    [(30, False, "abv_30_or_less"), ("29.9", False, "abv_30_or_less"), (5, False, "abv_30_or_less"),
     (35, True, "wine"), (13, True, "wine")],
)  # fmt: skip
def test_liquor_of_30_percent_or_less_and_wine_pay_nothing(abv: object, wine: bool, basis: str) -> None:
    found = assessed(750, 4200, abv=abv, wine=wine)
    assert (found.basis, found.dutiable, found.duty_hkd) == (basis, False, D("0.00"))
    assert found.value_hkd == D("4200.00")  # the value is still shown


def test_just_over_30_percent_is_dutiable() -> None:
    assert assessed(700, 480, abv="30.1").duty_hkd == D("228.00")


def test_no_value_under_12_litres_pays_160_a_litre() -> None:
    half = assessed(500, None, abv=53)  # 160 x 0.5
    assert (half.basis, half.duty_hkd, half.duty_per_litre_hkd, half.value_hkd) == ("no_value", 80, 160, None)
    assert assessed(11_990, None).duty_hkd == D("1918.40")  # 160 x 11.99
    assert assessed(700, None, currency="EUR").duty_hkd == D("112.00")  # no value: no rate needed
    with pytest.raises(DutyError, match="under 12 litres"):
        assessed(12_000, None)
    with pytest.raises(DutyError, match="under 12 litres"):
        assessed(1000, None, bottles=12)
    assert assessed(20_000, None, abv=12).duty_hkd == 0  # not dutiable, so no limit


# --------------------------------------------------------------------------- currency


def test_foreign_currency_converts_at_the_tables_rate_and_shows_its_date() -> None:
    found = assessed(700, "61.70", currency="usd")
    # 61.70 x 7.7812 = 480.10004 HKD; A = 200 + 28.010004 = 228.010004 -> 228.01
    assert found.item.currency == "USD"
    assert (found.value_hkd, found.exact_duty_hkd, found.duty_hkd) == (
        D("480.10"),
        D("228.010004"),
        D("228.01"),
    )
    assert found.rate == Rate("USD", D("7.7812"), dt.date(2025, 1, 15))
    shown = breakdown_json(found)
    assert (shown["rate_hkd_per_unit"], shown["rate_date"], shown["currency"]) == (
        "7.7812",
        "2025-01-15",
        "USD",
    )
    yen = assessed(720, 9800, currency="JPY")  # 9800 x 0.0502 = 491.96; 200 + 29.196 = 229.196 -> 229.20
    assert (yen.value_hkd, yen.duty_hkd) == (D("491.96"), D("229.20"))


def test_hkd_needs_no_table_and_an_unknown_currency_is_named() -> None:
    assert bottle_duty(spirit(700, 480)).duty_hkd == 228  # no table at all
    assert bottle_duty(spirit(700, 480)).rate.date is None
    with pytest.raises(
        DutyError, match=r"no exchange rate for GBP: the rate table \(rates.csv\) has CNY, HKD"
    ):
        assessed(700, 100, currency="GBP")
    with pytest.raises(DutyError, match="no exchange rate for USD: the rate table has HKD"):
        bottle_duty(spirit(700, 100, currency="USD"))
    with pytest.raises(DutyError, match="three-letter"):
        spirit(700, 100, currency="US$")


# --------------------------------------------------------------------------- rate tables


def test_rate_tables_load_from_csv_and_toml_digit_for_digit(tmp_path: Path) -> None:
    csv_file = tmp_path / "rates.csv"
    csv_file.write_text("currency,hkd_per_unit,date\nusd, 7.7812 ,2025-01-15\nEUR,8.1234,2025-01-14\n")
    toml_file = tmp_path / "rates.toml"
    toml_file.write_text(
        '[[rate]]\ncurrency = "USD"\nhkd_per_unit = 7.7812\ndate = 2025-01-15\n\n'
        '[[rate]]\ncurrency = "EUR"\nhkd_per_unit = "8.1234"\ndate = "2025-01-14"\n'
    )
    for path in (csv_file, toml_file):
        table = RateTable.load(path)
        assert table.currencies == ("EUR", "HKD", "USD")
        assert table.rate("usd") == Rate("USD", D("7.7812"), dt.date(2025, 1, 15))  # not 7.78119999...
        assert table.rate("EUR").hkd_per_unit == D("8.1234")
        assert table.source == str(path)
    again = RateTable.from_rows(RateTable.load(csv_file).rows())
    assert again.rate("EUR") == RateTable.load(csv_file).rate("EUR")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("r.csv", "currency,rate,date\nUSD,7.8,2025-01-01\n", "header must name"),
        (
            "r.csv",
            "currency,hkd_per_unit,date\nUSD,7.8,2025-01-01\nUSD,7.9,2025-01-02\n",
            "USD is listed twice",
        ),
        ("r.csv", "currency,hkd_per_unit,date\nUSD,0,2025-01-01\n", "more than 0"),
        ("r.csv", "currency,hkd_per_unit,date\nUSD,-7.8,2025-01-01\n", "more than 0"),
        (
            "r.csv",
            "currency,hkd_per_unit,date\nUSD,seven,2025-01-01\n",
            "rate 1: hkd_per_unit must be a number",
        ),
        ("r.csv", "currency,hkd_per_unit,date\nUSD,7.8,15/01/2025\n", "date must be YYYY-MM-DD"),
        ("r.csv", "currency,hkd_per_unit,date\nUSD,7.8,\n", "rate 1 has no date"),
        ("r.csv", "currency,hkd_per_unit,date\nHKD,1.1,2025-01-01\n", "HKD converts at 1"),
        ("r.csv", "currency,hkd_per_unit,date\nDOLLAR,7.8,2025-01-01\n", "three-letter"),
        ("r.toml", "[[rate]\n", "not valid TOML"),
        ("r.toml", 'rate = "USD"\n', r"\[\[rate\]\] tables"),
        ("r.toml", '[[rate]]\ncurrency = "USD"\nhkd_per_unit = inf\ndate = 2025-01-01\n', "finite"),
        ("r.json", "{}", "a .csv or a .toml file"),
    ],
)
def test_a_bad_rate_table_is_refused_in_one_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DutyError, match=message) as refused:
        RateTable.load(path)
    assert "\n" not in str(refused.value)


def test_a_missing_rate_file_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(DutyError, match="cannot read the rate table"):
        RateTable.load(tmp_path / "nowhere.csv")


def test_a_table_listing_hkd_at_1_is_fine() -> None:
    table = RateTable.from_rows([{"currency": "HKD", "hkd_per_unit": "1.00", "date": "2025-01-01"}])
    assert table.currencies == ("HKD",)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"value": -1}, "value must be zero or more"),
        ({"volume_ml": 0}, "more than 0 ml"),
        ({"volume_ml": -700}, "more than 0 ml"),
        ({"abv": "100.1"}, "ABV must be from 0 to 100"),
        ({"abv": -1}, "ABV must be from 0 to 100"),
        ({"value": "NaN"}, "value must be a finite number"),
        ({"value": float("inf")}, "value must be a finite number"),
        ({"value": "abc"}, "value must be a number"),
        ({"value": True}, "value must be a number"),
        ({"value": "1e20"}, "too large"),
        ({"bottles": 0}, "whole number of bottles"),
        ({"bottles": 1.5}, "whole number of bottles"),
    ],
)
def test_bad_input_is_a_duty_error_saying_what(kwargs: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"volume_ml": 700, "value": 480, "abv": 40} | kwargs
    with pytest.raises(DutyError, match=message):
        spirit(values.pop("volume_ml"), values.pop("value"), values.pop("abv"), **values)


def test_numbers_come_in_any_plain_form() -> None:
    import numpy as np

    assert spirit(np.float64(700.0), 0.1).value == D("0.1")  # a float by its shortest repr
    assert spirit(np.int64(700), "480").volume_ml == 700
    assert spirit(D("700"), 480, abv=43).abv_percent == 43


# --------------------------------------------------------------------------- the traveller's allowance


def test_one_bottle_under_a_litre_is_wholly_within_the_allowance() -> None:
    found = traveller_duty([spirit(700, 480)])
    assert found.payable_hkd == (0,)
    assert [(s.index, s.litres, s.relief_hkd) for s in found.allowance] == [(0, D("0.7"), D("228.00"))]
    assert (found.duty_before_allowance_hkd, found.relief_hkd, found.duty_hkd) == (228, 228, 0)


def test_the_allowance_is_taken_from_the_highest_duty_per_litre_first() -> None:
    cheap, dear = spirit(700, 480), spirit(700, 1380)  # 325.71 and 454.29 HKD a litre
    found = traveller_duty([cheap, dear])
    # The dear bottle's 0.7 litre, then 0.3 of the cheap one's: it pays 228 x 0.4 / 0.7 = 130.2857 -> 130.29
    assert [(s.index, s.litres) for s in found.allowance] == [(1, D("0.7")), (0, D("0.3"))]
    assert found.payable_hkd == (D("130.29"), D("0.00"))
    assert (found.relief_hkd, found.duty_hkd) == (D("415.71"), D("130.29"))  # 318 + 97.71
    assert found.duty_before_allowance_hkd - found.relief_hkd == found.duty_hkd


def test_a_big_bottle_uses_the_allowance_in_part() -> None:
    magnum, bottle = spirit(1500, 3400), spirit(700, 480)  # 406.67 and 325.71 HKD a litre
    found = traveller_duty([bottle, magnum])
    # 1 litre of the magnum's 1.5: it pays 610 x 0.5 / 1.5 = 203.33; the 70 cl bottle pays its 228
    assert [(s.index, s.litres, s.relief_hkd) for s in found.allowance] == [(1, D("1"), D("406.67"))]
    assert found.payable_hkd == (D("228.00"), D("203.33"))
    assert found.duty_hkd == D("431.33")


def test_equal_bottles_give_the_allowance_to_the_one_listed_first() -> None:
    found = traveller_duty([spirit(700, 480), spirit(700, 480), spirit(700, 480)])
    assert [(s.index, s.litres) for s in found.allowance] == [(0, D("0.7")), (1, D("0.3"))]
    assert found.payable_hkd == (0, D("130.29"), D("228.00"))


def test_wine_and_weak_liquor_neither_pay_nor_use_the_allowance() -> None:
    wine, liqueur, whisky = spirit(750, 1200, abv=14, wine=True), spirit(700, 190, abv=28), spirit(700, 480)
    found = traveller_duty([wine, liqueur, whisky])
    assert [(s.index, s.litres) for s in found.allowance] == [(2, D("0.7"))]
    assert found.allowance_used_litres == D("0.7") and found.duty_hkd == 0


def test_unvalued_liquor_takes_the_allowance_after_dearer_litres() -> None:
    unvalued, two_litres = spirit(700, None), spirit(2000, 400)  # 160 and 200 HKD a litre
    found = traveller_duty([unvalued, two_litres])
    assert [(s.index, s.litres) for s in found.allowance] == [(1, D("1"))]
    assert found.payable_hkd == (D("112.00"), D("200.00"))  # 160 x 0.7; 400 x 1 / 2


def test_a_traveller_not_entitled_pays_on_every_bottle() -> None:
    found = traveller_duty([spirit(700, 480), spirit(700, 1380)], allowance_litres=D(0))
    assert found.allowance == () and found.duty_hkd == D("546.00")
    with pytest.raises(DutyError, match="zero or more litres"):
        traveller_duty([], allowance_litres=D(-1))


def test_unvalued_liquor_is_limited_to_under_12_litres_in_all() -> None:
    assert traveller_duty([spirit(6000, None), spirit(5990, None)]).duty_before_allowance_hkd == D("1918.40")
    with pytest.raises(DutyError, match="12 litres of liquor without a value"):
        traveller_duty([spirit(6000, None), spirit(6000, None)])


def test_nothing_to_assess_pays_nothing() -> None:
    found = traveller_duty([])
    assert (found.duty_hkd, found.allowance, found.payable_hkd) == (0, (), ())


# --------------------------------------------------------------------------- JSON and the simulators


def test_breakdown_json_holds_decimal_strings() -> None:
    shown = breakdown_json(assessed(750, 480, abv=43))
    assert {k: shown[k] for k in ("value_per_litre_hkd", "duty_per_litre_hkd", "duty_hkd")} == {
        "value_per_litre_hkd": "640.00",
        "duty_per_litre_hkd": "304.00",
        "duty_hkd": "228.00",
    }
    assert (shown["litres"], shown["rate_date"], shown["basis"]) == ("0.75", None, "value")
    assert breakdown_json(assessed(10_000, None))["litres"] == "10"


def test_the_simulators_float_api_delegates_to_core() -> None:
    from smartcustoms.hardware.sim import duty as sim_duty
    from smartcustoms.hardware.sim.liquor import CATALOGUE

    for item in CATALOGUE:
        core = bottle_duty(LiquorItem.of(item.abv_percent, item.volume_ml, item.reference_price_hkd))
        assert sim_duty.liquor_duty_hkd(item.abv_percent, item.volume_ml, item.reference_price_hkd) == float(
            core.exact_duty_hkd
        )
        assert round(item.duty_hkd, 2) == float(core.duty_hkd)
    with pytest.raises(ValueError):
        sim_duty.liquor_duty_hkd(40, 0, 100)
