"""TLS for ingest and the review pages, mutual TLS for devices, and a local CA to issue both.

With ``gateway.tls_cert`` and ``gateway.tls_key`` set, the gateway serves gRPC and the review pages over
TLS only. With ``gateway.tls_client_ca`` set too, every gRPC client must show a certificate that CA
signed (mutual TLS), and a device's certificate confines it to its own source ids: its common name
``D`` may send as source ``D`` or ``D-<anything>`` (``lane-1`` as ``lane-1-xray``), anything else is
PERMISSION_DENIED. Sequences and frame ids are thereby scoped to the devices that own them: no one can
squat another lane's sequence numbers.

``smartcustoms certs init DIR`` makes a local CA, a server certificate for the gateway's host names,
and ``smartcustoms certs device DIR NAME`` one client certificate per device: enough for a site without
a PKI, for the tests and for the demo. A site with its own PKI points the settings at its files.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from smartcustoms.core.config import GatewayConfig

__all__ = [
    "Issued",
    "LocalSite",
    "add_sender_arguments",
    "allowed_source",
    "client_credentials",
    "init_ca",
    "issue",
    "peer_device",
    "sender_credentials",
    "server_credentials",
    "tools_channel",
    "tools_credentials",
]

VALID_DAYS = 825
TOOLS_NAME = "smartcustoms-tools"  # the common name of the runtime's own tools' client certificate


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(data)
    path.chmod(0o600)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "smartcustoms"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def init_ca(directory: Path, name: str = "smartcustoms local CA") -> Issued:
    """A self-signed CA in ``directory`` (ca.pem, ca.key), made once and kept."""
    directory.mkdir(parents=True, exist_ok=True)
    issued = Issued(directory / "ca.pem", directory / "ca.key")
    if issued.cert.exists() and issued.key.exists():
        return issued
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write_key(key, issued.key)
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return issued


def issue(ca: Issued, directory: Path, name: str, *, server_hosts: tuple[str, ...] = ()) -> Issued:
    """A certificate signed by ``ca``: for a server (its host names and addresses) or, without
    ``server_hosts``, for a client (a device or officer tool) whose common name is ``name``."""
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{ca.key} is not an EC key made by `smartcustoms certs init`")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if server_hosts:
        names: list[x509.GeneralName] = []
        for host in server_hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        usage = ExtendedKeyUsageOID.SERVER_AUTH
    else:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    directory.mkdir(parents=True, exist_ok=True)
    issued = Issued(directory / f"{name}.pem", directory / f"{name}.key")
    _write_key(key, issued.key)
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return issued


@dataclass(frozen=True)
class LocalSite:
    """A local CA with the gateway's and the runtime tools' certificates, for a site without a PKI, the
    demo and the tests (``smartcustoms certs init``); devices' certificates are issued from it."""

    ca: Issued
    server: Issued
    tools: Issued

    @classmethod
    def make(cls, directory: Path, hosts: Sequence[str]) -> LocalSite:
        """The CA in ``directory`` (made once and kept) and fresh gateway certificates for ``hosts``."""
        ca = init_ca(directory)
        server = issue(ca, directory, "gateway", server_hosts=tuple(dict.fromkeys(hosts)))
        return cls(ca, server, issue(ca, directory, TOOLS_NAME))

    def settings(self) -> dict[str, str]:
        """The ``[gateway]`` settings that switch TLS and mutual TLS on with these files."""
        return {
            "tls_cert": str(self.server.cert.absolute()),
            "tls_key": str(self.server.key.absolute()),
            "tls_client_ca": str(self.ca.cert.absolute()),  # leave out for TLS without client certificates
            "tls_ca": str(self.ca.cert.absolute()),
            "tls_tools_cert": str(self.tools.cert.absolute()),
            "tls_tools_key": str(self.tools.key.absolute()),
        }

    def apply(self, gateway: GatewayConfig) -> None:
        """Point ``gateway`` at these files: TLS on ingest and the review pages, mutual TLS for clients."""
        for name, value in self.settings().items():
            setattr(gateway, name, value)

    def device(self, name: str) -> grpc.ChannelCredentials:
        """Client credentials for the device ``name`` (which may send as ``name`` and ``name-*``), with
        a certificate issued beside the CA."""
        issued = issue(self.ca, self.ca.cert.parent / "devices", name)
        return client_credentials(str(self.ca.cert), str(issued.cert), str(issued.key))


def server_credentials(cert: str, key: str, client_ca: str = "") -> grpc.ServerCredentials:
    """The gateway's gRPC credentials; with ``client_ca``, clients must show a certificate it signed."""
    pair = [(Path(key).read_bytes(), Path(cert).read_bytes())]
    if not client_ca:
        return grpc.ssl_server_credentials(pair)
    return grpc.ssl_server_credentials(
        pair, root_certificates=Path(client_ca).read_bytes(), require_client_auth=True
    )


def client_credentials(ca: str, cert: str = "", key: str = "") -> grpc.ChannelCredentials:
    """A client's credentials: trust ``ca``; with ``cert`` and ``key``, show them (mutual TLS)."""
    return grpc.ssl_channel_credentials(
        root_certificates=Path(ca).read_bytes(),
        private_key=Path(key).read_bytes() if key else None,
        certificate_chain=Path(cert).read_bytes() if cert else None,
    )


def tools_credentials(gateway: GatewayConfig) -> grpc.ChannelCredentials | None:
    """Credentials for the runtime's own tools (health checks, CLI), or None when ingest is plaintext."""
    if not gateway.tls_cert:
        return None
    return client_credentials(
        gateway.tls_ca or gateway.tls_client_ca, gateway.tls_tools_cert, gateway.tls_tools_key
    )


def tools_channel(gateway: GatewayConfig) -> grpc.Channel:
    """A blocking channel from the runtime's own command-line tools to the configured gateway: over TLS
    with the tools' certificate when ingest is on TLS, plaintext otherwise."""
    host = "127.0.0.1" if gateway.host in ("", "0.0.0.0", "::") else gateway.host
    credentials = tools_credentials(gateway)
    target = f"{host}:{gateway.port}"
    return grpc.insecure_channel(target) if credentials is None else grpc.secure_channel(target, credentials)


def add_sender_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a command that sends frames as a device: the CA it trusts and, under mutual TLS,
    its own certificate (``smartcustoms certs device``)."""
    tls = parser.add_argument_group("TLS, for a gateway that serves it")
    tls.add_argument("--tls-ca", metavar="CA.pem", help="CA of the gateway's certificate (default: tls_ca)")
    tls.add_argument("--tls-cert", metavar="DEVICE.pem", help="this sender's certificate, for mutual TLS")
    tls.add_argument("--tls-key", metavar="DEVICE.key", help="its key")


def sender_credentials(args: argparse.Namespace, gateway: GatewayConfig) -> grpc.ChannelCredentials | None:
    """Credentials from ``add_sender_arguments``' options; without ``--tls-ca``, the configured
    ``tls_ca`` when the configured gateway serves TLS; None for plaintext. ValueError: options that do
    not go together, OSError: a file that cannot be read."""
    cert, key = args.tls_cert or "", args.tls_key or ""
    if bool(cert) != bool(key):
        raise ValueError("--tls-cert and --tls-key go together")
    ca = args.tls_ca or (gateway.tls_ca if gateway.tls_cert else "")
    if not ca:
        if cert:
            raise ValueError("--tls-cert needs --tls-ca (or a configured gateway.tls_ca)")
        return None
    return client_credentials(ca, cert, key)


def peer_device(context: grpc.aio.ServicerContext) -> str | None:
    """The common name of the client certificate of a call, or None without mutual TLS."""
    names = context.auth_context().get("x509_common_name")
    return names[0].decode() if names else None


def allowed_source(device: str, source_id: str) -> bool:
    """Whether the device ``device`` may send as ``source_id``: itself, or one of its ``device-*``."""
    return source_id == device or source_id.startswith(f"{device}-")
