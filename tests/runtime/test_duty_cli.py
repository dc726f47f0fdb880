"""``smartcustoms duty``: the liquor duty calculator (its JSON, its text, one line and exit 2 for every
invalid input) and the desk's rate table on a real Redis."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from smartcustoms.runtime.cli import main
from smartcustoms.runtime.services import EmbeddedRedis


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


@pytest.fixture
def rates_file(tmp_path: Path) -> Path:
    path = tmp_path / "rates.toml"
    path.write_text('[[rate]]\ncurrency = "USD"\nhkd_per_unit = 7.7812\ndate = 2025-01-15\n')
    return path


LIQUOR = ["duty", "liquor"]


def test_the_issue_example_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        [*LIQUOR, "--value", "480", "--currency", "HKD", "--volume-ml", "750", "--abv", "43", "--json"],
        capsys,
    )
    shown = json.loads(out)
    assert (code, err) == (0, "")
    assert (shown["value_per_litre_hkd"], shown["duty_per_litre_hkd"], shown["duty_hkd"]) == (
        "640.00",
        "304.00",
        "228.00",
    )
    assert (shown["full_rate_duty_hkd"], shown["upper_rate_duty_hkd"], shown["basis"]) == (
        "200.00",
        "28.00",
        "value",
    )


def test_the_text_breakdown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*LIQUOR, "--value", "3400", "--volume-ml", "1500", "--abv", "40"], capsys)
    assert code == 0
    assert out.splitlines() == [
        "liquor 40% ABV, 1500 ml (1.5 litres)",
        "  value                         HKD     3,400.00",
        "  value per litre P             HKD     2,266.67",
        "  tiers (per litre, over 1 litre):",
        "    100% of HKD 300.00          HKD       300.00",
        "    10% of HKD 3,100.00         HKD       310.00",
        "  duty per litre D              HKD       406.67",
        "  duty A                        HKD       610.00",
    ]


def test_foreign_currency_packs_the_allowance_and_no_value(
    rates_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    usd = [
        "--value",
        "61.70",
        "--currency",
        "usd",
        "--volume-ml",
        "700",
        "--abv",
        "40",
        "--rates",
        str(rates_file),
    ]
    code, out, _ = run([*LIQUOR, *usd, "--json"], capsys)
    shown = json.loads(out)
    # 61.70 x 7.7812 = 480.10004 HKD: 200 + 28.010004 -> 228.01
    assert (code, shown["value_hkd"], shown["duty_hkd"], shown["rate_date"]) == (
        0,
        "480.10",
        "228.01",
        "2025-01-15",
    )
    _, out, _ = run([*LIQUOR, *usd], capsys)
    assert "value USD 61.70 at 7.7812 HKD per USD (rate of 2025-01-15)" in out
    _, out, _ = run(
        [*LIQUOR, "--value", "600", "--volume-ml", "500", "--abv", "40", "--pack", "2", "--json"], capsys
    )
    assert (json.loads(out)["litres"], json.loads(out)["duty_hkd"]) == (
        "1",
        "240.00",
    )  # one bottle of 1 litre
    _, out, _ = run(
        [*LIQUOR, "--value", "1380", "--volume-ml", "1500", "--abv", "43", "--allowance", "--json"], capsys
    )
    # 1.5 l at 1380: 300 + 108 = 408; 1 litre duty-free: 408 x 0.5 / 1.5 = 136
    shown = json.loads(out)
    assert (shown["duty_hkd"], shown["allowance_litres"], shown["relief_hkd"], shown["payable_hkd"]) == (
        "408.00",
        "1",
        "272.00",
        "136.00",
    )
    _, out, _ = run([*LIQUOR, "--volume-ml", "700", "--abv", "53"], capsys)
    assert "no usable value: HKD 160 per litre" in out and "HKD       112.00" in out
    _, out, _ = run(
        [*LIQUOR, "--value", "900", "--volume-ml", "750", "--abv", "13", "--wine", "--json"], capsys
    )
    assert (json.loads(out)["basis"], json.loads(out)["duty_hkd"]) == ("wine", "0.00")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--value", "-5", "--volume-ml", "750", "--abv", "43"], "the value must be zero or more, got -5"),
        (["--value", "480", "--volume-ml", "0", "--abv", "43"], "the volume must be more than 0 ml, got 0"),
        (["--value", "480", "--volume-ml", "750", "--abv", "101"], "ABV must be from 0 to 100 %, got 101"),
        (
            ["--value", "480", "--volume-ml", "750", "--abv", "43", "--currency", "XYZ"],
            "no exchange rate for XYZ",
        ),
        (["--value", "lots", "--volume-ml", "750", "--abv", "43"], "value must be a number, got 'lots'"),
        (["--value", "480", "--volume-ml", "nan", "--abv", "43"], "volume must be a finite number"),
        (["--value", "480", "--abv", "43"], "the bottle's volume is needed: --volume-ml"),
        (["--value", "480", "--volume-ml", "750"], "the strength is needed: --abv"),
        (
            ["--value", "480", "--volume-ml", "750", "--abv", "43", "--pack", "1.5"],
            "--pack must be a whole number",
        ),
        (
            ["--value", "480", "--volume-ml", "750", "--abv", "43", "--pack", "0"],
            "--pack must be a whole number",
        ),
        (["--volume-ml", "12000", "--abv", "43"], "the HK$160 per litre rate is for under 12 litres"),
        (
            ["--value", "480", "--volume-ml", "750", "--abv", "43", "--rates", "nowhere.csv"],
            "cannot read the rate",
        ),
    ],
)
def test_every_invalid_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run([*LIQUOR, *argv], capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("smartcustoms duty: ")
    assert message in err


def test_a_bad_rate_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("currency,hkd_per_unit,date\nUSD,7.8,2025-01-15\nUSD,7.9,2025-01-16\n")
    code, _, err = run(
        [*LIQUOR, "--value", "1", "--volume-ml", "750", "--abv", "43", "--rates", str(path)], capsys
    )
    assert (code, err) == (2, f"smartcustoms duty: {path}: USD is listed twice\n")


@pytest.mark.integration
def test_the_desks_rate_table_is_loaded_and_shown(
    redis_service: EmbeddedRedis, rates_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'namespace = "d{uuid.uuid4().hex[:8]}"\n[redis]\nurl = "{redis_service.url}"\n')
    code, out, _ = run(["--config", str(config), "duty", "rates", "show"], capsys)
    assert code == 0 and "no rates loaded" in out
    code, out, _ = run(["--config", str(config), "duty", "rates", "load", str(rates_file)], capsys)
    assert (code, out) == (0, f"loaded 1 rates from {rates_file}: USD 7.7812 (2025-01-15)\n")
    code, out, _ = run(["--config", str(config), "duty", "rates", "show"], capsys)
    assert out.splitlines()[1].split() == ["USD", "7.7812", "2025-01-15"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rate]]\ncurrency = 'USD'\n")
    code, _, err = run(["--config", str(config), "duty", "rates", "load", str(bad)], capsys)
    assert (code, err.count("\n")) == (2, 1) and "has no hkd_per_unit, date" in err
