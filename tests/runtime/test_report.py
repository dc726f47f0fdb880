"""Reading /metrics back: histogram quantiles, scraping, the per-checkpoint table."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from smartcustoms.runtime import report
from smartcustoms.runtime.report import CheckpointRow, Samples

INF = math.inf

# ---------------------------------------------------------------------------------------------------
# quantile_of: Prometheus' histogram_quantile, linear inside a bucket
# ---------------------------------------------------------------------------------------------------

BUCKETS = [(0.1, 2.0), (0.5, 6.0), (1.0, 10.0), (INF, 10.0)]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0.5, 0.4),  # rank 5 in (0.1, 0.5]: 0.1 + 0.4 * (5 - 2) / 4
        (0.99, 0.9875),  # rank 9.9 in (0.5, 1.0]: 0.5 + 0.5 * (9.9 - 6) / 4
        (0.1, 0.05),  # rank 1 in (0, 0.1]: 0.1 * 1 / 2
        (0.2, 0.1),  # rank 2: exactly the first bucket's upper bound
        (1.0, 1.0),  # rank 10 reached at the last finite bucket
        (0.0, 0.0),
    ],
)
def test_quantile_of_hand_computed(q: float, expected: float) -> None:
    assert report.quantile_of(BUCKETS, q) == pytest.approx(expected)


def test_quantile_of_in_the_inf_bucket_is_the_highest_finite_bound() -> None:
    assert report.quantile_of([(1.0, 5.0), (2.0, 6.0), (INF, 10.0)], 0.9) == 2.0


@pytest.mark.parametrize("buckets", [[], [(0.1, 0.0), (INF, 0.0)]])
def test_quantile_of_without_observations(buckets: list[tuple[float, float]]) -> None:
    assert report.quantile_of(buckets, 0.5) is None


def test_quantile_of_accepts_any_iterable() -> None:
    assert report.quantile_of(iter(BUCKETS), 0.5) == pytest.approx(0.4)


def test_quantile_sums_series_and_filters_labels() -> None:
    samples: Samples = {
        "lat_bucket": [
            ({"plugin": "a", "le": "1.0"}, 1.0),
            ({"plugin": "a", "le": "+Inf"}, 2.0),
            ({"plugin": "b", "le": "1.0"}, 3.0),
            ({"plugin": "b", "le": "+Inf"}, 4.0),
        ]
    }
    # all series: buckets (1.0, 4), (inf, 6); rank 3 -> 1.0 * 3 / 4
    assert report.quantile(samples, "lat", 0.5) == pytest.approx(0.75)
    # plugin b only: (1.0, 3), (inf, 4); rank 2 -> 1.0 * 2 / 3
    assert report.quantile(samples, "lat", 0.5, plugin="b") == pytest.approx(2 / 3)
    assert report.quantile(samples, "lat", 0.5, plugin="c") is None
    assert report.quantile(samples, "missing", 0.5) is None


def test_total_and_merge() -> None:
    one: Samples = {"frames_total": [({"modality": "xray"}, 3.0), ({"modality": "ct"}, 1.0)]}
    two: Samples = {"frames_total": [({"modality": "xray"}, 2.0)], "other": [({}, 9.0)]}
    merged = report.merge(one, two)
    assert report.total(merged, "frames_total") == 6.0
    assert report.total(merged, "frames_total", modality="xray") == 5.0
    assert report.total(merged, "frames_total", modality="rfid") == 0.0
    assert report.total(merged, "nothing") == 0.0
    assert report.total(merged, "other") == 9.0


# ---------------------------------------------------------------------------------------------------
# scrape: a real /metrics endpoint on the loopback
# ---------------------------------------------------------------------------------------------------


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics_url(registry: CollectorRegistry) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = generate_latest(registry)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_scrape(registry: CollectorRegistry, metrics_url: str) -> None:
    frames = Counter("smartcustoms_test_frames_total", "frames", ["modality"], registry=registry)
    frames.labels("xray").inc(3)
    frames.labels("rfid").inc(2)
    latency = Histogram("smartcustoms_test_seconds", "latency", buckets=(0.1, 0.5, 1.0), registry=registry)
    for value in (0.05, 0.05, 0.2, 0.3, 0.4, 0.45, 0.7, 0.8, 0.9, 0.95):
        latency.observe(value)

    samples = report.scrape(metrics_url, timeout_s=5.0)

    counted = {labels["modality"]: value for labels, value in samples["smartcustoms_test_frames_total"]}
    assert counted == {"rfid": 2.0, "xray": 3.0}
    assert report.total(samples, "smartcustoms_test_frames_total") == 5.0
    assert report.total(samples, "smartcustoms_test_seconds_count") == 10.0
    buckets = {labels["le"]: value for labels, value in samples["smartcustoms_test_seconds_bucket"]}
    assert buckets == {"0.1": 2.0, "0.5": 6.0, "1.0": 10.0, "+Inf": 10.0}
    assert report.quantile(samples, "smartcustoms_test_seconds", 0.5) == pytest.approx(0.4)
    assert report.quantile(samples, "smartcustoms_test_seconds", 0.99) == pytest.approx(0.9875)


def test_scrape_empty_registry(metrics_url: str) -> None:
    assert dict(report.scrape(metrics_url)) == {}


# ---------------------------------------------------------------------------------------------------
# the per-checkpoint table
# ---------------------------------------------------------------------------------------------------


def checkpoint_samples() -> Samples:
    return {
        "smartcustoms_ingest_frames_accepted_total": [
            ({"source": "lane-1"}, 60.0),
            ({"source": "lane-2"}, 40.0),
        ],
        "smartcustoms_ingest_duration_seconds_bucket": [
            ({"le": "0.01"}, 50.0),
            ({"le": "0.1"}, 100.0),
            ({"le": "+Inf"}, 100.0),
        ],
        "smartcustoms_sink_verdicts_total": [({"modality": "xray", "decision": "clear"}, 90.0)],
    }


def test_checkpoint_rows() -> None:
    rows = report.checkpoint_rows(checkpoint_samples(), duration_s=20.0)
    assert [row.checkpoint for row in rows] == ["ingest", "stream", "dispatch", "plugin", "sink"]
    ingest, stream, _, _, sink = rows
    assert ingest.frames == 100.0 and ingest.per_second == 5.0
    assert ingest.p50_s == pytest.approx(0.01)  # rank 50: the first bucket's bound
    assert ingest.p99_s == pytest.approx(0.01 + 0.09 * 49 / 50)
    assert ingest.what == "first chunk to ack"
    assert stream == CheckpointRow("stream", 0.0, 0.0, None, None, "accepted to consumed")
    assert (sink.frames, sink.per_second, sink.p50_s) == (90.0, 4.5, None)


def test_checkpoint_rows_zero_duration() -> None:
    rows = report.checkpoint_rows(checkpoint_samples(), duration_s=0.0)
    assert rows[0].per_second == 0.0


def test_format_table() -> None:
    rows = [
        CheckpointRow("ingest", 100.0, 5.0, 0.01, 0.0988, "first chunk to ack"),
        CheckpointRow("stream", 0.0, 0.0, None, None, "accepted to consumed"),
    ]
    lines = report.format_table(rows).splitlines()
    assert lines[0].split() == ["checkpoint", "frames", "frames/s", "p50", "ms", "p99", "ms", "latency", "of"]
    assert lines[1] == "-" * 78
    assert lines[2].split() == ["ingest", "100", "5.0", "10.0", "98.8", "first", "chunk", "to", "ack"]
    assert lines[3].split() == ["stream", "0", "0.0", "-", "-", "accepted", "to", "consumed"]
    assert len(lines) == 4
    assert lines[2].index("first") == lines[0].index("latency")  # columns line up


def test_format_table_without_rows() -> None:
    assert len(report.format_table([]).splitlines()) == 2


# ---------------------------------------------------------------------------------------------------
# the tail: which modality's frames and which plugin's batches are slowest
# ---------------------------------------------------------------------------------------------------


def test_the_tail_names_the_slow_series_first_from_a_real_scrape(
    registry: CollectorRegistry, metrics_url: str
) -> None:
    buckets = (0.01, 0.1, 0.5, 1.0)
    frames = Histogram(
        "smartcustoms_frame_latency_seconds", "", ["modality"], buckets=buckets, registry=registry
    )
    plugins = Histogram(
        "smartcustoms_plugin_duration_seconds", "", ["plugin"], buckets=buckets, registry=registry
    )
    for _ in range(98):
        frames.labels("rfid").observe(0.005)
    for value in (0.05, 0.8):
        frames.labels("vehicle").observe(value)
        plugins.labels("vehicle_compare").observe(value - 0.05)
    plugins.labels("noop").observe(0.001)
    for value in [0.2] * 100:
        frames.labels("record").observe(value)  # p50 above the vehicles', p99 below: p99 orders the rows
    frames.labels("camera")  # a series with no observation yet is left out

    samples = report.scrape(metrics_url)
    rows = report.latency_by(samples, "smartcustoms_frame_latency_seconds", "modality")
    assert [(row.name, row.count) for row in rows] == [("vehicle", 2.0), ("record", 100.0), ("rfid", 98.0)]
    vehicle, record, rfid = rows
    assert vehicle.p99_s == pytest.approx(0.5 + 0.5 * 0.98)  # rank 1.98 of 2: the second, in (0.5, 1]
    assert vehicle.p50_s == pytest.approx(0.1)  # rank 1 of 2: the first, in (0.01, 0.1]
    assert record.p50_s == pytest.approx(0.1 + 0.4 * 50 / 100)  # above the vehicles' p50
    assert record.p99_s == pytest.approx(0.1 + 0.4 * 99 / 100)  # below the vehicles' p99
    assert rfid.p99_s == pytest.approx(0.01 * 0.99)  # rank 97.02 of 98, in (0, 0.01]

    lines = report.format_tail(samples).splitlines()
    assert lines[0].split() == ["tail", "of", "count", "p50", "ms", "p99", "ms"]
    assert [line.split()[:3] for line in lines[1:]] == [
        ["frames", "vehicle", "2"],
        ["frames", "record", "100"],
        ["frames", "rfid", "98"],
        ["plugin", "vehicle_compare", "2"],
        ["plugin", "noop", "1"],
    ]
    assert lines[1].split()[-2:] == [f"{vehicle.p50_s * 1000:.1f}", f"{vehicle.p99_s * 1000:.1f}"]


def test_the_tail_of_nothing_is_its_header_alone() -> None:
    assert report.format_tail({}).split() == ["tail", "of", "count", "p50", "ms", "p99", "ms"]
