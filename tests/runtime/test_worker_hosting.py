"""The stream worker builds only the plugins whose hooks run in it: never a detector's reference data."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from smartcustoms.core import config as config_module
from smartcustoms.core.config import PluginConfig
from smartcustoms.runtime.testing import only_plugins
from smartcustoms.runtime.worker import WorkerRuntime, actor_spec


def runtime(tmp_path: Path) -> WorkerRuntime:
    config = config_module.load(environ={})
    config.redis.url = "redis://127.0.0.1:1/0"  # never reached: state clients connect on first use
    config.blobstore.shm_root = str(tmp_path)
    config.artefacts_dir = "relative/artefacts"
    config.plugins = {"dense_region": PluginConfig(settings={"min_area_px": 99}, mode="shadow")}
    return WorkerRuntime(config, CollectorRegistry())


def test_the_worker_hosts_only_plugins_with_result_hooks(tmp_path: Path) -> None:
    worker = runtime(tmp_path)
    enabled = {info.spec.name for info in worker.plugins}
    assert {"xray_detector", "dense_region", "ct_detector", "alert_log"} <= enabled
    worker.host_result_plugins()
    hosted = {worker.pm.get_name(plugin) for plugin in worker.pm.get_plugins()}
    assert hosted == {"alert_log"}  # the detectors are built only in their Ray actors
    assert worker.shadow_compare == {"dense_region": frozenset()}
    worker.close()
    worker.store.close()


def test_an_actor_gets_its_settings_state_and_an_absolute_artefact_root(tmp_path: Path) -> None:
    worker = runtime(tmp_path)
    (dense,) = [info for info in worker.plugins if info.spec.name == "dense_region"]
    spec = actor_spec(worker.config, dense)
    assert spec.import_path == "smartcustoms.plugins.xray:DenseRegionPlugin"
    assert spec.settings["min_area_px"] == 99
    assert spec.settings["max_transmission"] == dense.spec.default_settings["max_transmission"]
    assert Path(spec.artefact_root).is_absolute() and spec.artefact_root.endswith("relative/artefacts")
    assert spec.redis_url == "redis://127.0.0.1:1/0" and spec.namespace == worker.config.namespace
    worker.store.close()


def test_only_plugins_leaves_the_named_frame_plugins_and_the_result_plugins(tmp_path: Path) -> None:
    """The tests' helper: a worker of ``only_plugins(config, "dense_region")`` hosts dense_region with
    its settings, no other built-in detector, and still its result plugins; a plugin off by default
    (onnx_detector) is turned on when named, one turned off explicitly stays off."""
    config = config_module.load(environ={})
    config.redis.url = "redis://127.0.0.1:1/0"
    config.blobstore.shm_root = str(tmp_path)
    config.plugins = {
        "dense_region": PluginConfig(settings={"min_area_px": 99}),
        "rfid_epc_check": PluginConfig(enabled=False),
    }
    only_plugins(config, "dense_region", "onnx_detector", "rfid_epc_check")
    worker = WorkerRuntime(config, CollectorRegistry())
    enabled = {info.spec.name for info in worker.plugins}
    assert enabled == {"dense_region", "onnx_detector", "alert_log"}
    assert config.plugin("dense_region").settings == {"min_area_px": 99}
    worker.close()
    worker.store.close()


_ROOT_LEVEL_AFTER_FAUST_SETS_UP_LOGGING = """
import logging, sys
import faust
from smartcustoms.runtime.worker import quiet_worker
app = faust.App("logging-check", broker="kafka://localhost:1")
if sys.argv[1] == "quiet":
    worker = quiet_worker(app)
else:  # Faust's own, as the stream worker made it before
    worker = faust.Worker(app, loglevel="warn", redirect_stdouts=False, quiet=True)
worker._setup_logging()  # what the worker does as it starts
print(logging.getLogger("aiokafka.conn").getEffectiveLevel())
"""


def test_the_stream_worker_builds_no_debug_records() -> None:
    """Faust's terminal spinner sets the root logger to DEBUG, so every debug call of Faust and aiokafka
    would build a record on the stream's event loop; the worker runs without it, at WARNING. (In a
    process of its own: Faust's set-up replaces the logging configuration of the process.)"""

    def level(kind: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", _ROOT_LEVEL_AFTER_FAUST_SETS_UP_LOGGING, kind],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return int(done.stdout.strip().splitlines()[-1])

    assert level("faust") == logging.DEBUG  # what Faust's own worker does with loglevel "warn"
    assert level("quiet") == logging.WARNING
