"""What the gateway makes of the workers' readiness reports (pure logic; the real path is tested in
tests/integration/test_plugin_hosting.py)."""

from __future__ import annotations

import json

from smartcustoms.runtime.readiness import STALE_AFTER_S, pipeline_ready, report_field, worker_ready


def report(at_s: float, ready: bool, **pools: dict[str, object]) -> str:
    return json.dumps({"ready": ready, "at": at_s, "pools": pools})


def test_no_worker_is_not_ready() -> None:
    assert pipeline_ready({}, 100.0) == (False, "no stream worker is running")


def test_a_fresh_ready_worker_is_ready() -> None:
    assert pipeline_ready({"w1": report(99.0, True)}, 100.0) == (True, "")


def test_a_stale_report_is_a_worker_gone() -> None:
    stale = {"w1": report(100.0 - STALE_AFTER_S - 1, True)}
    assert pipeline_ready(stale, 100.0) == (False, "no stream worker is running")


def test_every_fresh_worker_must_be_ready_and_the_reason_names_the_pools() -> None:
    warming = report(99.5, False, xray_detector={"ready": False, "failure": ""}, noop={"ready": True})
    ready, why = pipeline_ready({"w1": report(99.0, True), "w2": warming}, 100.0)
    assert (ready, why) == (False, "plugins warming up: xray_detector")
    failed = report(99.5, False, ct_detector={"ready": False, "failure": "ArtefactError: no artefact"})
    assert pipeline_ready({"w": failed}, 100.0) == (
        False,
        "plugin pools failed: ct_detector: ArtefactError: no artefact",
    )
    joining = report(99.5, False, noop={"ready": True})
    assert pipeline_ready({"w": joining, "junk": "not json"}, 100.0) == (
        False,
        "stream worker joining its consumer group",
    )


def test_a_starting_worker_is_judged_by_its_own_report_only() -> None:
    """An earlier run's worker that failed left its report in Redis (it was killed before it could
    remove it): a new run's worker must not be failed by it, and fails on its own report alone."""
    failed = report(99.5, False, xray_detector={"ready": False, "failure": "ArtefactError: no artefact"})
    earlier = {report_field(41).encode(): failed.encode()}
    assert worker_ready(earlier, 42, 100.0) == (False, "this stream worker has not reported yet")
    warming = report(99.8, False, xray_detector={"ready": False, "failure": ""})
    assert worker_ready({**earlier, report_field(42).encode(): warming.encode()}, 42, 100.0) == (
        False,
        "plugins warming up: xray_detector",
    )
    assert worker_ready({**earlier, report_field(42): report(99.9, True)}, 42, 100.0) == (True, "")
    assert worker_ready({report_field(42): failed}, 42, 100.0)[1].startswith("plugin pools failed")
