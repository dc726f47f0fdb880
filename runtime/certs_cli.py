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
from smartcustoms.runtime.tls import Issued, init_ca, issue


def _ca(directory: Path) -> Issued:
    ca = Issued(directory / "ca.pem", directory / "ca.key")
    if not (ca.cert.exists() and ca.key.exists()):
        raise FileNotFoundError(f"no CA in {directory}: run `smartcustoms certs init {directory}` first")
    return ca


def cmd_init(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    ca = init_ca(directory)
    hosts = tuple(args.host) or ("127.0.0.1", "localhost")
    server = issue(ca, directory, "gateway", server_hosts=hosts)
    tools = issue(ca, directory, "smartcustoms-tools")
    print(f"CA {ca.cert}; gateway certificate for {', '.join(hosts)}; tools certificate. Settings:")
    print("[gateway]")
    for name, path in (
        ("tls_cert", server.cert),
        ("tls_key", server.key),
        ("tls_client_ca", ca.cert),  # leave out for TLS without client certificates
        ("tls_ca", ca.cert),
        ("tls_tools_cert", tools.cert),
        ("tls_tools_key", tools.key),
    ):
        print(f'{name} = "{path.absolute()}"')
    return 0


def cmd_device(args: argparse.Namespace) -> int:
    problem = identifier_problem(args.name, "the device name") or ("" if args.name else "the name is empty")
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
