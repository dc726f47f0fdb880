"""``smartcustoms outcomes cargo FILE --mapping MAP.toml``: officers' inspection results into the history.

Each labelled row (``illicit`` "1" or "0", and ``duty_at_stake_hkd`` as the revenue the inspection
recovered) is an inspected declaration: its importer's, declarant's, origin's and transit hub's hit
rates in the cargo_risk plugin's state take it into account from then on. The file's content is the
idempotency token, chunk by chunk, so loading the same file twice counts it once.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

CHUNK_ROWS = 1000


def add_parser(commands: Any) -> None:
    outcomes = commands.add_parser(
        "outcomes", help="load officers' inspection results into a risk plugin's history"
    )
    kinds = outcomes.add_subparsers(dest="system", required=True, metavar="SYSTEM")
    cargo = kinds.add_parser(
        "cargo",
        help="inspection results of cargo declarations (labelled export rows) into cargo_risk's history",
    )
    cargo.add_argument(
        "data", help="CSV or Parquet export: the declarations with illicit and duty_at_stake_hkd"
    )
    cargo.add_argument("--mapping", required=True, help="column mapping TOML (docs/formats.md)")
    cargo.set_defaults(handler=cmd_outcomes)


def cmd_outcomes(args: argparse.Namespace) -> int:
    import redis

    from smartcustoms.core import config as config_module
    from smartcustoms.core.keys import plugin_state_prefix
    from smartcustoms.core.records_csv import RowError, load_mapping, read_records
    from smartcustoms.core.state import open_state
    from smartcustoms.plugins.cargo_risk.features import CargoHistory, Declaration, Outcome

    path = Path(args.data)
    try:
        config = config_module.load(getattr(args, "config", None))
        mapping = load_mapping(Path(args.mapping))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        outcomes, skipped = [], 0
        for item in read_records(path, mapping):
            label = "" if isinstance(item, RowError) else item.fields.get("illicit", "")
            if isinstance(item, RowError) or label not in ("0", "1"):
                skipped += 1
                continue
            revenue = _number(item.fields.get("duty_at_stake_hkd", ""))
            outcomes.append(Outcome(Declaration.from_record(item), hit=label == "1", revenue_hkd=revenue))
    except (OSError, ValueError) as error:  # RecordsError is a ValueError
        print(f"smartcustoms outcomes cargo: {error}", file=sys.stderr)
        return 2
    state = open_state(config.redis.client_url, plugin_state_prefix(config.namespace, "cargo_risk"))
    history, applied = CargoHistory(state), 0
    try:
        for start in range(0, len(outcomes), CHUNK_ROWS):
            chunk = outcomes[start : start + CHUNK_ROWS]
            applied += len(chunk) if history.add_outcomes(chunk, token=f"file:{digest}:{start}") else 0
    except redis.RedisError as error:
        print(f"smartcustoms outcomes cargo: Redis at {config.redis.client_url}: {error}", file=sys.stderr)
        return 1
    finally:
        state.close()
    hits = sum(o.hit for o in outcomes)
    print(
        f"{path}: {len(outcomes):,} inspection results ({hits:,} hits), {applied:,} new to the history, "
        f"{len(outcomes) - applied:,} loaded before; {skipped:,} rows without a result skipped"
    )
    return 0


def _number(text: str) -> float:
    try:
        return max(0.0, float(text))
    except ValueError:
        return 0.0
