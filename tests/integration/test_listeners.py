"""Ingest, review and metrics listen where each is told: officers' pages and Prometheus's scrapes need
not share the vendors' address."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Callable

import pytest

from smartcustoms.core.config import Config
from smartcustoms.runtime.stack import Stack, gateway_serving

pytestmark = pytest.mark.integration


def _listens(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except OSError:
        return False
    return True


def test_review_and_metrics_listen_apart_from_ingest(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    gateway = runtime_config.gateway
    gateway.host, gateway.review_host, gateway.metrics_host = "127.0.0.1", "127.0.0.2", "127.0.0.3"
    stack = start_stack(runtime_config, worker=False)

    assert gateway_serving(stack.gateway_target)
    assert stack.review_url.startswith("http://127.0.0.2:")
    with urllib.request.urlopen(stack.review_url, timeout=5) as page:
        assert page.status == 200
    with urllib.request.urlopen(stack.metrics_urls[0], timeout=5) as scrape:
        assert b"smartcustoms_ingest" in scrape.read()
    assert not _listens("127.0.0.1", gateway.review_port)  # nothing of the review pages on ingest's address
    assert not _listens("127.0.0.1", gateway.metrics_port)
    assert not _listens("127.0.0.2", gateway.port)  # nor ingest on the officers'
