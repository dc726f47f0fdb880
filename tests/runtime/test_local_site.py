"""The local CA the demo and `smartcustoms certs init` make: settings, and one certificate per device."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from smartcustoms.core.config import GatewayConfig
from smartcustoms.runtime.demo import DEMO_DEVICES, demo_devices, device_name
from smartcustoms.runtime.devices import owner_of
from smartcustoms.runtime.tls import LocalSite, allowed_source


def _common_name(path: Path) -> str:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_a_local_site_turns_tls_and_mutual_tls_on_and_keeps_its_ca(tmp_path: Path) -> None:
    site = LocalSite.make(tmp_path / "tls", ["127.0.0.1", "localhost", "127.0.0.1"])
    gateway = GatewayConfig()
    site.apply(gateway)
    assert gateway.tls_cert == str(site.server.cert) and gateway.tls_client_ca == str(site.ca.cert)
    assert _common_name(Path(gateway.tls_tools_cert)) == "smartcustoms-tools"
    san = x509.load_pem_x509_certificate(site.server.cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert [str(a) for a in san.value.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    ca_before = site.ca.cert.read_bytes()
    again = LocalSite.make(tmp_path / "tls", ["127.0.0.1"])
    assert again.ca.cert.read_bytes() == ca_before, "the CA is made once and kept"
    site.device("lane-3-xray")
    assert _common_name(tmp_path / "tls" / "devices" / "lane-3-xray.pem") == "lane-3-xray"
    assert site.server.cert.exists() and _common_name(site.server.cert) == "gateway"


def test_every_demo_device_owns_the_sources_it_sends_as() -> None:
    devices = set(demo_devices(lanes=2))
    assert len(devices) == 2 + len(DEMO_DEVICES)
    # the feed connector sends each feed it polls as feed-<feed> (hardware/feeds/runner.py)
    feed = device_name("listings", "listings-feed")
    assert allowed_source(feed, "feed-listings-feed") and owner_of("feed-listings-feed", devices) == feed
    for source in ("lane-1-xray", "evidence-store-vault-a", "portal-1-xray-crossings", "case-feed"):
        owner = owner_of(source, devices)
        assert owner is not None and allowed_source(owner, source)
    assert owner_of("lane-9-xray", devices) is None
