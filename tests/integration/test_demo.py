"""`smartcustoms demo` on embedded defaults: it starts its own broker, Redis and Ray."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from smartcustoms.core import config as config_module
from smartcustoms.runtime.process import ManagedProcess, wait_for
from smartcustoms.runtime.stack import with_free_ports

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_streams_simulated_devices_and_accounts_for_every_frame(tmp_path: Path) -> None:
    config = with_free_ports(config_module.load(environ={}))
    config.run_dir = str(tmp_path / "run")
    config.blobstore.shm_root = str(tmp_path / "shm")
    Path(config.blobstore.shm_root).mkdir()
    config_path = tmp_path / "demo.json"
    config_path.write_text(config.to_json())
    demo = ManagedProcess(
        "demo",
        [
            sys.executable,
            "-m",
            "smartcustoms.runtime.cli",
            "--config",
            str(config_path),
            "demo",
            "--duration-s",
            "12",  # the devices share 2 cores with the runtime: enough time for a dozen frames
        ],
        log_path=tmp_path / "demo.log",
        stop_timeout_s=30,
    )
    demo.start()
    try:
        wait_for(lambda: not demo.running, 240, interval_s=0.5, what="the demo to finish")
    finally:
        demo.stop()
    output = (tmp_path / "demo.log").read_text()
    assert demo.returncode == 0, output
    rows = dict(re.findall(r"^(ingest|stream|dispatch|plugin|sink)\s+(\d+)", output, re.M))
    assert set(rows) == {"ingest", "stream", "dispatch", "plugin", "sink"}
    conservation = re.search(
        r"conservation: accepted (\d+) = verdicts \d+ \+ fallbacks \d+ \+ in flight 0 +\(imbalance 0\)",
        output,
    )
    assert conservation, "every accepted frame got its verdict or fallback"
    # Every frame accepted was stored: the devices' frames through ingest, and the records the gateway's
    # own services publish (queue events, enquiries), which enter the ledger without the ingest stream.
    # TLS, mutual TLS and the device registry are on by default: every device below sent with its own
    # certificate, as a registered device, and had every frame accepted.
    assert re.search(
        r"^security: TLS and mutual TLS on: local CA .*ca\.pem, one certificate per device; device registry "
        r"on, \d+ devices registered",
        output,
        re.M,
    ), output
    assert re.search(r"alert review https://", output)
    # the simulators render before the clock starts, so their CPU is not the runtime's latency
    assert re.search(r"^devices: [1-9]\d* frames \(\d+ MiB\) rendered ahead in [\d.]+ s", output, re.M), (
        output
    )
    assert int(rows["ingest"]) > 10 and int(rows["sink"]) == int(conservation.group(1)) >= int(rows["ingest"])
    for device in (
        "lane-0-xray",
        "evidence-reader-1",
        "portal-1-xray",
        "lane-1-ct",
        "red-channel-camera",
        "evidence-store",
        "cargo-feed",
        "crossing-feed",
        "enquiry-robot-1",
        "listings-feed",
    ):
        assert re.search(rf"{device}\s+sent\s+(\d+)\s+accepted\s+\1 ", output), device
    assert re.search(r"^xray\s+\d+\s+\d+\s+0$", output, re.M), "no X-ray frame fell back"
    # where the tail comes from: the X-ray lanes' frames, and the X-ray detector's time per batch
    assert re.search(r"^frames\s+xray\s+[1-9]\d*\s+[\d.]+\s+[\d.]+$", output, re.M), output
    assert re.search(r"^plugin\s+xray_detector\s+[1-9]\d*\s+[\d.]+\s+[\d.]+$", output, re.M), output
    conveyances = re.search(
        r"^conveyances: opened (\d+) = decided \d+ \(.*\) \+ timed out \d+ \+ open 0 +\(imbalance 0;",
        output,
        re.M,
    )
    assert conveyances and int(conveyances.group(1)) > 0, "every conveyance opened got its decision"
    audit = re.search(
        r"^audit trail: (\d+) records \(.*verdict (\d+).*\), 0 queued; chain intact;", output, re.M
    )
    assert audit and int(audit.group(2)) >= int(rows["sink"]), "every verdict sealed into the audit trail"
    assert re.search(
        r"tamper check: record (\d+) changed in a copy -> verify says: record \1: changed", output
    )
    assert re.search(r"^enquiries: [1-9]\d* questions counted by the enquiry plugin", output, re.M)
    assert re.search(r"^ipr: [1-9]\d* listings flagged, evidence captured", output, re.M)
    assert re.search(r"^air cargo queue: [1-9]\d* tickets.*; tickets [1-9]\d* tallied by", output, re.M)
    # the first X-ray lane's bags wait for screeners, some with a library threat projected into them
    screening = re.search(
        r"^screening \(lane-0-xray 20% projected\): ([1-9]\d*) bags wait for screeners at "
        r"https://\S+/screening, (\d+) with a projected threat",
        output,
        re.M,
    )
    assert screening and int(screening.group(2)) <= int(screening.group(1)), output
