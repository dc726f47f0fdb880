"""Configuration: defaults, a TOML or JSON file, environment overrides, plugin sections."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from smartcustoms.core import config as config_module
from smartcustoms.core.config import Config, ConfigError, PluginConfig


def write(tmp_path: Path, text: str, name: str = "smartcustoms.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_without_file_or_environment() -> None:
    config = config_module.load(environ={})
    assert config == Config()
    assert config.blobstore.kind == "shm"
    assert config.broker.bootstrap_servers == ""  # embedded broker
    assert config.plugins == {} and config.extra_plugins == []


def test_load_toml_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
namespace = "lane7"
control_point = "lok-ma-chau"
extra_plugins = ["acme_customs.declared_value", "other.module:plugin"]

[broker]
bootstrap_servers = "kafka-1:9092,kafka-2:9092"
partitions = 12

[worker]
batch_window_ms = 5.0

[blobstore]
kind = "redis"
""",
    )
    config = config_module.load(path, environ={})
    assert (config.namespace, config.control_point) == ("lane7", "lok-ma-chau")
    assert config.extra_plugins == ["acme_customs.declared_value", "other.module:plugin"]
    assert config.broker.bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert config.broker.partitions == 12
    assert config.broker.embedded_port == 9092  # untouched keys keep their defaults
    assert config.worker.batch_window_ms == 5.0
    assert config.blobstore.kind == "redis"


def test_load_json_file(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"gateway": {"port": 6000}}), name="config.json")
    assert config_module.load(path, environ={}).gateway.port == 6000


def test_plugin_sections(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[plugins.dense_region]
pool_size = 3
num_cpus = 0.5
batch_max_frames = 8
timeout_s = 12.5

[plugins.dense_region.settings]
max_transmission = 0.05
nested = { a = 1 }

[plugins.noop]
enabled = true
""",
    )
    config = config_module.load(path, environ={})
    dense = config.plugin("dense_region")
    assert dense == PluginConfig(
        enabled=None,
        pool_size=3,
        num_cpus=0.5,
        batch_max_frames=8,
        timeout_s=12.5,
        settings={"max_transmission": 0.05, "nested": {"a": 1}},
    )
    assert config.plugin("noop").enabled is True
    assert config.plugin("not_configured") == PluginConfig()
    assert config.to_dict()["plugins"]["dense_region"]["timeout_s"] == 12.5


@pytest.mark.parametrize(
    ("variable", "value", "read"),
    [
        ("SMARTCUSTOMS_KAFKA_BOOTSTRAP", "broker:9092", lambda c: c.broker.bootstrap_servers),
        ("SMARTCUSTOMS_REDIS_URL", "redis://r:6379/0", lambda c: c.redis.url),
        ("SMARTCUSTOMS_RAY_ADDRESS", "ray://head:10001", lambda c: c.ray.address),
        ("SMARTCUSTOMS_BLOBSTORE", "redis", lambda c: c.blobstore.kind),
        ("SMARTCUSTOMS_RUN_DIR", "/var/run/sc", lambda c: c.run_dir),
        ("SMARTCUSTOMS_NAMESPACE", "ns2", lambda c: c.namespace),
    ],
)
def test_environment_overrides(variable: str, value: str, read: Callable[[Config], str]) -> None:
    config = config_module.load(environ={variable: value})
    assert read(config) == value


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[redis]\nurl = "redis://file:1/0"\nalerts_kept = 5\n')
    config = config_module.load(path, environ={"SMARTCUSTOMS_REDIS_URL": "redis://env:2/0"})
    assert config.redis.url == "redis://env:2/0"
    assert config.redis.alerts_kept == 5


def test_empty_environment_value_does_not_override(tmp_path: Path) -> None:
    path = write(tmp_path, 'namespace = "from_file"\n')
    assert config_module.load(path, environ={"SMARTCUSTOMS_NAMESPACE": ""}).namespace == "from_file"


def test_load_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTCUSTOMS_NAMESPACE", "from_os")
    assert config_module.load().namespace == "from_os"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("namespce = 'x'\n", "unknown setting(s) in top level: namespce"),
        ("[brokr]\nx = 1\n", "unknown setting(s) in top level: brokr"),
        ("[broker]\nport = 1\nhost = 'h'\n", "unknown setting(s) in broker: host, port"),
        ("[plugins.dense_region]\npool = 2\n", "unknown setting(s) in plugins.dense_region: pool"),
        ("[blobstore]\nkind = 'memory'\n", "blobstore.kind must be 'shm' or 'redis', not 'memory'"),
        ("[worker]\nbatches_in_flight = 0\n", "worker.batches_in_flight must be at least 1, not 0"),
        (
            "[screening]\nlanes = { 'lane-*' = 1.5 }\n",
            "screening.lanes.lane-*: the share of projected bags must be 0 to 1, not 1.5",
        ),
        (
            "[screening]\nlanes = ['lane-1']\n",
            "screening.lanes must be a table of source-id pattern = share, not ['lane-1']",
        ),
        ("[screening]\nqueue_length = 0\n", "screening.queue_length must be at least 1, not 0"),
        ("[screening]\nitem_ttl_s = 0\n", "screening.item_ttl_s must be positive, not 0"),
    ],
)
def test_bad_settings_rejected_with_a_clear_message(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_module.load(write(tmp_path, text), environ={})
    assert str(caught.value) == message


def test_unknown_blobstore_kind_from_environment() -> None:
    with pytest.raises(ConfigError, match=r"blobstore\.kind"):
        config_module.load(environ={"SMARTCUSTOMS_BLOBSTORE": "s3"})


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_to_json_round_trips_through_from_dict() -> None:
    config = config_module.from_dict({"plugins": {"noop": {"enabled": True, "settings": {"k": [1, 2]}}}})
    assert config_module.from_dict(json.loads(config.to_json())) == config


@pytest.mark.parametrize("text", ["broker = 5\n", "plugins = 5\n", "[plugins]\ndense_region = 5\n"])
def test_section_that_is_not_a_table_rejected(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError):
        config_module.load(write(tmp_path, text), environ={})
