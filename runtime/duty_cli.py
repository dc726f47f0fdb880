"""``smartcustoms duty``: the Hong Kong liquor duty calculator, and the exchange rates officers' desks use.

    smartcustoms duty liquor --value 480 --currency HKD --volume-ml 750 --abv 43
                             [--pack N] [--wine] [--allowance] [--rates FILE] [--json]
    smartcustoms duty rates load FILE      # the rate table the liquor desk converts with (Redis)
    smartcustoms duty rates show

``liquor`` works offline: one item (a bottle, or ``--pack N`` bottles of ``--volume-ml`` each packed as
one, ``--value`` being the whole item's), assessed by ``smartcustoms.core.duty``; without ``--value``
the no-value rate (HK$160 a litre) applies. ``--allowance`` applies the traveller's 1-litre allowance
as if the item were all the traveller carries. ``--json`` prints the breakdown with amounts as decimal
strings. Invalid input is one line on stderr and exit 2; ``rates`` exits 1 when Redis cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from typing import Any

from smartcustoms.core.duty import (
    BASIS_LOW_ABV,
    BASIS_NO_VALUE,
    BASIS_WINE,
    DutyBreakdown,
    DutyError,
    LiquorItem,
    RateTable,
    TravellerDuty,
    breakdown_json,
    decimal_of,
    traveller_duty,
)

PROG = "smartcustoms duty"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    duty = commands.add_parser(
        "duty", help="Hong Kong liquor duty: a calculator, and the exchange rate table"
    )
    actions = duty.add_subparsers(dest="action", required=True, metavar="ACTION")
    liquor = actions.add_parser("liquor", help="the duty on one bottle or pack of liquor, with its breakdown")
    liquor.add_argument("--value", help="the item's value (the whole pack's); omit when there is none usable")
    liquor.add_argument("--currency", default="HKD", help="ISO 4217 code of --value (default HKD)")
    liquor.add_argument("--volume-ml", help="volume of a bottle in millilitres")
    liquor.add_argument("--abv", help="alcohol by volume at 20 degrees C, percent")
    liquor.add_argument("--pack", default="1", help="bottles packed as one item (default 1)")
    liquor.add_argument("--wine", action="store_true", help="the item is wine (no duty)")
    liquor.add_argument(
        "--allowance", action="store_true", help="apply the traveller's 1-litre allowance to this item"
    )
    liquor.add_argument("--rates", help="exchange rate table, .csv or .toml (currency,hkd_per_unit,date)")
    liquor.add_argument("--json", action="store_true", help="print the breakdown as JSON")
    liquor.set_defaults(handler=cmd_liquor)
    rates = actions.add_parser("rates", help="the exchange rate table of the liquor desk (in Redis)")
    rate_actions = rates.add_subparsers(dest="rates_action", required=True, metavar="ACTION")
    load = rate_actions.add_parser("load", help="replace the desk's rate table with a .csv or .toml file")
    load.add_argument("file")
    load.set_defaults(handler=cmd_rates_load)
    rate_actions.add_parser("show", help="print the desk's rate table").set_defaults(handler=cmd_rates_show)


def _refuse(message: object, code: int = 2) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


def cmd_liquor(args: argparse.Namespace) -> int:
    try:
        item = _item(args)
        rates = RateTable.load(args.rates) if args.rates else None
        assessed = traveller_duty([item], rates, allowance_litres=Decimal(1 if args.allowance else 0))
    except DutyError as error:
        return _refuse(error)
    if args.json:
        print(json.dumps(liquor_json(assessed, args.allowance), indent=2))
    else:
        print("\n".join(describe(assessed, args.allowance)))
    return 0


def _item(args: argparse.Namespace) -> LiquorItem:
    if args.volume_ml is None:
        raise DutyError("the bottle's volume is needed: --volume-ml")
    if args.abv is None:
        raise DutyError("the strength is needed: --abv (percent alcohol by volume)")
    pack = decimal_of("--pack", args.pack)
    if pack != pack.to_integral_value() or pack < 1:
        raise DutyError(f"--pack must be a whole number of bottles, at least 1, got {args.pack!r}")
    return LiquorItem.of(
        args.abv, args.volume_ml, args.value, args.currency, bottles=int(pack), wine=args.wine
    )


def liquor_json(assessed: TravellerDuty, allowance: bool) -> dict[str, Any]:
    """The item's breakdown (amounts as decimal strings); with the allowance, what it spared."""
    shown = breakdown_json(assessed.items[0])
    if allowance:
        shown |= {
            "allowance_litres": f"{assessed.allowance_used_litres.normalize():f}",
            "relief_hkd": str(assessed.relief_hkd),
            "payable_hkd": str(assessed.duty_hkd),
        }
    return shown


def describe(assessed: TravellerDuty, allowance: bool) -> list[str]:
    """The breakdown as lines of text."""
    found = assessed.items[0]
    lines = [_heading(found), *_value_lines(found), *_duty_lines(found)]
    if allowance:
        used = f"{assessed.allowance_used_litres.normalize():f}"
        lines.append(f"  allowance: {used} litre duty-free, HKD {assessed.relief_hkd:,} spared")
        lines.append(f"  payable                       HKD {assessed.duty_hkd:>12,}")
    return lines


def _heading(found: DutyBreakdown) -> str:
    item = found.item
    pack = f"{item.bottles} x " if item.bottles > 1 else ""
    kind = "wine" if item.wine else "liquor"
    litres = f"{found.litres.normalize():f}"
    return f"{kind} {item.abv_percent}% ABV, {pack}{item.volume_ml} ml ({litres} litres)"


def _value_lines(found: DutyBreakdown) -> list[str]:
    item, rate = found.item, found.rate
    if item.value is None:
        return ["  value: none usable"]
    if item.currency == "HKD":
        return [f"  value                         HKD {found.value_hkd:>12,}"]
    date = rate.date.isoformat() if rate.date else "-"
    return [
        f"  value {item.currency} {item.value:,} at {rate.hkd_per_unit} HKD per {item.currency} "
        f"(rate of {date})",
        f"  value                         HKD {found.value_hkd:>12,}",
    ]


def _duty_lines(found: DutyBreakdown) -> list[str]:
    if found.basis in (BASIS_LOW_ABV, BASIS_WINE):
        why = "wine" if found.basis == BASIS_WINE else "30% ABV or less"
        return [f"  duty: none ({why})", f"  duty A                        HKD {found.duty_hkd:>12,}"]
    if found.basis == BASIS_NO_VALUE:
        return [
            "  no usable value: HKD 160 per litre (under 12 litres)",
            f"  duty per litre D              HKD {found.duty_per_litre_hkd:>12,}",
            f"  duty A = D x L                HKD {found.duty_hkd:>12,}",
        ]
    how = "per litre, over 1 litre" if found.per_litre else "on the bottle's value"
    return [
        f"  value per litre P             HKD {found.value_per_litre_hkd:>12,}",
        f"  tiers ({how}):",
        f"    100% of HKD {found.full_rate_value_hkd:,}".ljust(32) + f"HKD {found.full_rate_duty_hkd:>12,}",
        f"    10% of HKD {found.upper_rate_value_hkd:,}".ljust(32) + f"HKD {found.upper_rate_duty_hkd:>12,}",
        f"  duty per litre D              HKD {found.duty_per_litre_hkd:>12,}",
        f"  duty A                        HKD {found.duty_hkd:>12,}",
    ]


# --------------------------------------------------------------------------- the desk's rate table


def cmd_rates_load(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    from smartcustoms.runtime.liquor_desk import store_rates

    try:
        table = RateTable.load(args.file)
    except DutyError as error:
        return _refuse(error)
    try:
        store_rates(*_redis_and_namespace(args), table)
    except RedisError as error:
        return _refuse(f"Redis: {error}", 1)
    rows = table.rows()
    listed = ", ".join(f"{r['currency']} {r['hkd_per_unit']} ({r['date']})" for r in rows) or "HKD only"
    print(f"loaded {len(rows)} rates from {args.file}: {listed}")
    return 0


def cmd_rates_show(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    from smartcustoms.runtime.liquor_desk import read_rates

    try:
        table = read_rates(*_redis_and_namespace(args))
    except RedisError as error:
        return _refuse(f"Redis: {error}", 1)
    except DutyError as error:
        return _refuse(f"the stored rate table is unusable: {error}", 1)
    print(f"{'currency':<9} {'HKD per unit':>14}  date")
    for row in table.rows():
        print(f"{row['currency']:<9} {row['hkd_per_unit']:>14}  {row['date']}")
    if not table.rows():
        print("(no rates loaded: only HKD values can be assessed)")
    return 0


def _redis_and_namespace(args: argparse.Namespace) -> tuple[str, str]:
    """Where the runtime's Redis is (``--config``: ``redis.url``, else the embedded one) and the namespace."""
    from smartcustoms.core import config as config_module

    config = config_module.load(getattr(args, "config", None))
    return config.redis.client_url, config.namespace
