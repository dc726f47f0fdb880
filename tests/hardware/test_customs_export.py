"""``customs_export``: BACUDA-style declarations whose ground truth agrees with each fraud typology."""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from smartcustoms.hardware.sim import cli
from smartcustoms.hardware.sim import customs_export as ce

ROWS = 20_000
NUMERIC = ("QUANTITY", "GROSS.WEIGHT", "FOB.VALUE", "CIF.VALUE", "TOTAL.TAXES", "RAISED_TAX_AMOUNT")
Table = dict[str, np.ndarray]


def read(path: Path) -> Table:
    with path.open(newline="") as source:
        reader = csv.reader(source)
        header = next(reader)
        columns = list(zip(*reader, strict=True))
    table = {name: np.array(values) for name, values in zip(header, columns, strict=True)}
    for name in NUMERIC:
        table[name] = table[name].astype(float)
    table["date"] = table["SGD.DATE"].astype("datetime64[D]")
    table["illicit_"] = table["illicit"] == "1"
    return table


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Table:
    path = tmp_path_factory.mktemp("export") / "declarations.csv"
    ce.export_declarations(path, ROWS, seed=11)
    return read(path)


def of(t: Table, scheme: str) -> np.ndarray:
    return t["FRAUD.TYPE"] == scheme


def relative_to_honest_median(t: Table, values: np.ndarray) -> np.ndarray:
    """Each row's value over the median of honest rows declared under the same tariff code."""
    median = {
        code: np.median(values[(t["TARIFF.CODE"] == code) & ~t["illicit_"]]) for code in set(t["TARIFF.CODE"])
    }
    return values / np.array([median[code] for code in t["TARIFF.CODE"]])


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    paths = [tmp_path / name for name in ("a.csv", "b.csv", "c.csv")]
    for path, seed in zip(paths, (3, 3, 4), strict=True):
        ce.export_declarations(path, 2_000, seed)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_columns_codes_and_amounts_are_well_formed(tmp_path: Path, table: Table) -> None:
    ce.export_declarations(tmp_path / "x.csv", 10, seed=1)
    assert tuple(next(csv.reader((tmp_path / "x.csv").open()))) == ce.COLUMNS
    assert len(table["SGD.NUMBER"]) == ROWS
    numbers = table["SGD.NUMBER"].astype(np.int64)
    assert (np.diff(numbers) > 0).all()
    codes = {h.code for h in ce.HEADINGS}
    assert len(codes) >= 40 and all(len(code) == 10 and code.isdigit() for code in codes)
    assert set(table["TARIFF.CODE"]) <= codes and len(set(table["TARIFF.CODE"])) >= 40
    assert (table["QUANTITY"] > 0).all() and (table["GROSS.WEIGHT"] > 0).all()
    assert (table["CIF.VALUE"] >= table["FOB.VALUE"]).all() and (table["FOB.VALUE"] > 0).all()
    assert set(table["OFFICE"]) == set(ce.OFFICES)
    assert all(
        route.split(">")[-1] == office for route, office in zip(table["ROUTE"], table["OFFICE"], strict=True)
    )
    assert np.percentile(table["CIF.VALUE"], 99) > 10 * np.median(table["CIF.VALUE"])  # heavy-tailed


def test_dates_are_in_order_within_the_year_and_seasonal(table: Table) -> None:
    dates = table["date"]
    assert (np.diff(dates).astype(int) >= 0).all()
    assert dates.min() >= np.datetime64("2024-01-01") and dates.max() <= np.datetime64("2024-12-31")
    assert len(set(dates)) > 300
    months = Counter(dates.astype("datetime64[M]").astype(str))
    assert months["2024-10"] > 1.3 * months["2024-01"]
    weekday = (dates.astype(int) - 4) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    assert (weekday == 6).sum() < 0.3 * (weekday == 2).sum()


def test_illicit_share_is_near_the_rate(tmp_path: Path, table: Table) -> None:
    assert 0.04 < table["illicit_"].mean() < 0.06  # default 0.05
    path = tmp_path / "high.csv"
    illicit = ce.export_declarations(path, 5_000, seed=2, illicit_rate=0.15)
    assert 0.12 * 5_000 < illicit < 0.18 * 5_000
    assert read(path)["illicit_"].sum() == illicit
    assert ce.export_declarations(tmp_path / "none.csv", 2_000, seed=2, illicit_rate=0.0) == 0


def test_ground_truth_columns_agree(table: Table) -> None:
    illicit = table["illicit_"]
    assert set(table["illicit"]) == {"0", "1"}
    assert ((table["RAISED_TAX_AMOUNT"] > 0) == illicit).all()  # every scheme here evades tax
    assert ((table["FRAUD.TYPE"] != "") == illicit).all()
    assert set(table["FRAUD.TYPE"][illicit]) == set(ce.SCHEMES)
    for scheme in ce.SCHEMES:
        assert of(table, scheme).sum() >= 40, scheme


def test_honest_taxes_are_duty_plus_vat(table: Table) -> None:
    rate = {h.code: h.duty_rate for h in ce.HEADINGS}
    regional = {o.code for o in ce.ORIGINS if o.border}
    honest = ~table["illicit_"]
    cif = table["CIF.VALUE"][honest]
    waived = np.isin(table["ORIGIN.CODE"][honest], list(regional)) | (cif <= ce.DE_MINIMIS_XOF)
    duty = np.where(waived, 0.0, np.array([rate[c] for c in table["TARIFF.CODE"][honest]]) * cif)
    assert np.abs(table["TOTAL.TAXES"][honest] - (duty + ce.VAT_RATE * (cif + duty))).max() <= 1.0


def test_undervalued_unit_values_sit_far_below_their_heading_but_honest_lookalikes_exist(
    table: Table,
) -> None:
    unit_value = relative_to_honest_median(table, table["CIF.VALUE"] / table["QUANTITY"])
    under = of(table, "undervaluation")
    assert np.median(unit_value[under]) < 0.5 and np.mean(unit_value[under] < 0.6) > 0.75
    honest = ~table["illicit_"]
    assert 0.9 < np.median(unit_value[honest]) < 1.1
    assert np.mean(unit_value[honest] < 0.6) > 0.05  # low-price traders and noise


def test_misclassified_goods_wear_a_lower_duty_decoy_heading(table: Table) -> None:
    rate = {h.code: h.duty_rate for h in ce.HEADINGS}
    decoys = {decoy for targets in ce.DECOYS.values() for decoy in targets}
    assert all(rate[d] < rate[code] for code, targets in ce.DECOYS.items() for d in targets)
    rows = of(table, "misclassification")
    assert set(table["TARIFF.CODE"][rows]) <= decoys
    assert not set(table["ORIGIN.CODE"][rows]) & {o.code for o in ce.ORIGINS if o.border}
    assert (~table["illicit_"] & np.isin(table["TARIFF.CODE"], list(decoys))).sum() > 10 * rows.sum()


def test_false_origin_claims_a_regional_origin_via_a_route_that_moves_after_the_drift(table: Table) -> None:
    rows = of(table, "false_origin")
    late = table["date"] >= ce.FIRST_DAY + ce.DRIFT_DAY
    assert set(table["ORIGIN.CODE"][rows]) == {"GH", "TG"}
    assert set(table["OFFICE"][rows & (table["ORIGIN.CODE"] == "GH")]) == {"LND01"}
    assert set(table["OFFICE"][rows & (table["ORIGIN.CODE"] == "TG")]) == {"LND02"}
    assert not (rows & ~late & (table["ORIGIN.CODE"] == "TG")).any()  # the Lome route is new
    assert (rows & late & (table["ORIGIN.CODE"] == "TG")).sum() > (
        rows & late & (table["ORIGIN.CODE"] == "GH")
    ).sum()
    honest = ~table["illicit_"]
    assert (honest & (table["ROUTE"] == "GHACC>LND01")).sum() > 5 * (
        rows & (table["ROUTE"] == "GHACC>LND01")
    ).sum()
    assert (honest & np.char.find(table["ROUTE"], ">GHTEM>") >= 0).sum() > 100  # honest transit


def test_quantity_under_declaration_leaves_weight_per_unit_high(table: Table) -> None:
    rows = of(table, "quantity")
    per_unit = relative_to_honest_median(table, table["GROSS.WEIGHT"] / table["QUANTITY"])
    unit_value = relative_to_honest_median(table, table["CIF.VALUE"] / table["QUANTITY"])
    assert np.median(per_unit[rows]) > 1.2 and 0.97 < np.median(per_unit[~table["illicit_"]]) < 1.03
    assert 0.8 < np.median(unit_value[rows]) < 1.25  # the value went down with the quantity


def test_split_shipments_stay_under_the_relief_threshold_and_appear_after_the_drift(table: Table) -> None:
    rows = of(table, "split")
    assert (table["CIF.VALUE"][rows] <= ce.DE_MINIMIS_XOF).all()
    assert (table["date"][rows] >= ce.FIRST_DAY + ce.DRIFT_DAY).all()
    rate = {h.code: h.duty_rate for h in ce.HEADINGS}
    duty = np.array([rate[c] for c in table["TARIFF.CODE"][rows]]) * table["CIF.VALUE"][rows]
    assert np.abs(table["RAISED_TAX_AMOUNT"][rows] - duty * (1 + ce.VAT_RATE)).max() <= 2.0
    parts = Counter(zip(table["IMPORTER.TIN"][rows], table["TARIFF.CODE"][rows], strict=True))
    assert min(parts.values()) >= 2
    small_honest = ~table["illicit_"] & (table["CIF.VALUE"] <= ce.DE_MINIMIS_XOF)
    assert small_honest.sum() > rows.sum()


def test_repeat_offenders_new_importers_and_complicit_brokers(table: Table) -> None:
    illicit, importer = table["illicit_"], table["IMPORTER.TIN"]
    rows, bad = Counter(importer), Counter(importer[illicit])
    assert sum(n for n in bad.values() if n >= 3) > 0.6 * illicit.sum()  # repeat offenders
    repeat = np.isin(importer, [tin for tin, n in bad.items() if n >= 3])
    assert (repeat & ~illicit).sum() > 0.3 * repeat.sum()  # who mostly declare honestly too
    first_seen: dict[str, np.datetime64] = {}
    for tin, date in zip(importer, table["date"], strict=True):
        first_seen.setdefault(tin, date)
    new = {tin for tin, date in first_seen.items() if date >= np.datetime64("2024-03-01")}
    offending = {tin for tin, n in bad.items() if n >= 2 and n >= 0.2 * rows[tin]}
    assert 0.05 < len(new) / len(rows) < 0.4
    assert len(offending & new) / len(new) > 1.5 * len(offending - new) / (len(rows) - len(new))
    declarant = table["DECLARANT.CODE"]
    shares = [illicit[declarant == code].mean() for code in set(declarant) if (declarant == code).sum() > 100]
    assert max(shares) > 1.4 * illicit.mean() and max(shares) < 0.5  # complicit, yet mostly honest


def run_cli(*argv: str) -> int:
    top = argparse.ArgumentParser(prog="smartcustoms")
    cli.add_parser(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(["sim", "export-declarations", *argv])
    return int(args.handler(args))


def test_cli_writes_the_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d.csv"
    assert run_cli(str(out), "--rows", "500", "--seed", "9", "--illicit-rate", "0.1") == 0
    assert len(out.read_text().splitlines()) == 501
    assert "500 declarations" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [("--rows", "-1"), ("--seed", "-3"), ("--illicit-rate", "0.9"), ("--illicit-rate", "nan")],
)
def test_cli_answers_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    out = tmp_path / "d.csv"
    assert run_cli(str(out), *argv) == 2
    assert not out.exists()
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_cli_reports_an_unwritable_path_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(str(tmp_path / "missing" / "d.csv"), "--rows", "10") == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
