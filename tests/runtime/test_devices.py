"""Which registered device owns a source id."""

from __future__ import annotations

from smartcustoms.runtime.devices import owner_of


def test_a_device_owns_its_name_and_its_dashed_children_only() -> None:
    devices = {"lane-1", "portal", "evidence-store"}
    assert owner_of("lane-1", devices) == "lane-1"
    assert owner_of("lane-1-xray", devices) == "lane-1"
    assert owner_of("evidence-store-vault-a", devices) == "evidence-store"
    assert owner_of("portal-2-xray", devices) == "portal"
    assert owner_of("lane-10-xray", devices) is None  # not lane-1's: names match whole parts
    assert owner_of("lane", devices) is None
    assert owner_of("", devices) is None
