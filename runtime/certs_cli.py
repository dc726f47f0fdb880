"""``smartcustoms certs``: a local CA and the certificates of the gateway, its tools and each device.

smartcustoms certs init DIR [--host NAME ...]   # ca.pem/key, gateway.pem/key, tools.pem/key; prints the
                                                # [gateway] settings that switch TLS and mutual TLS on
smartcustoms certs device DIR NAME              # NAME.pem/key: a device that may send as NAME, NAME-*
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smartcustoms.core.frames import identifier_problem
from smartcustoms.runtime.tls import TOOLS_NAME, Issued, LocalSite, issue


def _ca(directory: Path) -> Issued:
    ca = Issued(directory / "ca.pem", directory / "ca.key")
    if not (ca.cert.exists() and ca.key.exists()):
        raise FileNotFoundError(f"no CA in {directory}: run `smartcustoms certs init {directory}` first")
    return ca


def cmd_init(args: argparse.Namespace) -> int:
    hosts = tuple(args.host) or ("127.0.0.1", "localhost")
    site = LocalSite.make(Path(args.dir), hosts)
    print(f"CA {site.ca.cert}; gateway certificate for {', '.join(hosts)}; tools certificate. Settings:")
    print("[gateway]  # without tls_client_ca: TLS, but devices need no certificate of their own")
    for name, path in site.settings().items():
        print(f'{name} = "{path}"')
    return 0


def cmd_device(args: argparse.Namespace) -> int:
    problem = identifier_problem(args.name, "the device name") or ("" if args.name else "the name is empty")
    if args.name in ("ca", "gateway", TOOLS_NAME):
        problem = f"{args.name!r} names the site's own certificate: choose another device name"
    if problem:
        print(f"smartcustoms certs device: {problem}", file=sys.stderr)
        return 2
    try:
        issued = issue(_ca(Path(args.dir)), Path(args.dir), args.name)
    except FileNotFoundError as error:
        print(f"smartcustoms certs device: {error}", file=sys.stderr)
        return 2
    print(f"{issued.cert} and {issued.key}: {args.name} may send as {args.name} and {args.name}-*")
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    certs = commands.add_parser("certs", help="a local CA and certificates for TLS and devices' mutual TLS")
    actions = certs.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = actions.add_parser("init", help="CA, gateway and tools certificates in DIR (the CA is kept)")
    init.add_argument("dir")
    init.add_argument("--host", action="append", default=[], help="the gateway's host name or address")
    init.set_defaults(handler=cmd_init)
    device = actions.add_parser("device", help="a device's client certificate, signed by DIR's CA")
    device.add_argument("dir")
    device.add_argument("name")
    device.set_defaults(handler=cmd_device)
