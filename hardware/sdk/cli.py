"""``smartcustoms vendor-check``: the conformance kit from the command line.

runtime/cli.py adds the subcommand through ``add_parser(commands)``; ``python -m
smartcustoms.hardware.sdk.cli vendor-check --target HOST:PORT`` runs it on its own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from smartcustoms.hardware.sdk.conformance import (
    DEFAULT_LARGE_FRAME_BYTES,
    DEFAULT_MAX_FRAME_BYTES,
    DEFAULT_TIMEOUT_S,
    format_results,
    run_checks,
)
from smartcustoms.hardware.sdk.stream import DEFAULT_CHUNK_BYTES


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``vendor-check`` with its handler (``args.handler(args)`` returns the exit code)."""
    check = commands.add_parser(
        "vendor-check",
        help="check an IngestService (the gateway, or a vendor's relay) against the ingest contract",
        description="Streams good and bad frames and prints requirement | PASS/FAIL | detail; "
        "exits 1 if any requirement fails.",
    )
    check.add_argument("--target", required=True, help="HOST:PORT of the IngestService")
    check.add_argument(
        "--max-frame-bytes",
        type=int,
        default=DEFAULT_MAX_FRAME_BYTES,
        help="the target's frame size limit (gateway.max_frame_bytes); default %(default)s",
    )
    check.add_argument(
        "--large-frame-bytes",
        type=int,
        default=DEFAULT_LARGE_FRAME_BYTES,
        help="size of the large frame sent in chunks (at most --max-frame-bytes); default %(default)s",
    )
    check.add_argument(
        "--chunk-bytes", type=int, default=DEFAULT_CHUNK_BYTES, help="chunk size; default %(default)s"
    )
    check.add_argument(
        "--timeout-s",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="deadline of each check; default %(default)s",
    )
    check.set_defaults(handler=cmd_vendor_check)


def cmd_vendor_check(args: argparse.Namespace) -> int:
    results = run_checks(
        args.target,
        max_frame_bytes=args.max_frame_bytes,
        large_frame_bytes=args.large_frame_bytes,
        chunk_bytes=args.chunk_bytes,
        timeout_s=args.timeout_s,
    )
    print(format_results(results), flush=True)
    return 0 if all(result.passed for result in results) else 1


def main(argv: Sequence[str] | None = None) -> None:
    top = argparse.ArgumentParser(prog="smartcustoms-vendor", description=__doc__)
    add_parser(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(argv)
    sys.exit(args.handler(args))


if __name__ == "__main__":
    main()
