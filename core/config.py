"""Configuration: embedded defaults, a TOML file, environment overrides.

Every external endpoint left unset means "start an embedded one": the tansu broker, redis-server,
a local Ray runtime. Setting it (file or environment) points the same code at a real Kafka cluster,
Redis and Ray cluster.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smartcustoms.core.types import PLACEMENTS, Modality

ENV_OVERRIDES: Mapping[str, tuple[str, str]] = {
    "SMARTCUSTOMS_KAFKA_BOOTSTRAP": ("broker", "bootstrap_servers"),
    "SMARTCUSTOMS_REDIS_URL": ("redis", "url"),
    "SMARTCUSTOMS_RAY_ADDRESS": ("ray", "address"),
    "SMARTCUSTOMS_BLOBSTORE": ("blobstore", "kind"),
    "SMARTCUSTOMS_RUN_DIR": ("", "run_dir"),
    "SMARTCUSTOMS_NAMESPACE": ("", "namespace"),
}


@dataclass
class BrokerConfig:
    bootstrap_servers: str = ""  # empty: start the embedded tansu broker
    embedded_port: int = 9092
    partitions: int = 4
    # Group joins: tansu answers a join after half of this; 6 s is the least a Kafka broker accepts
    # (group.min.session.timeout.ms). A worker that dies without leaving is out after this long.
    session_timeout_s: float = 6.0
    heartbeat_interval_s: float = 1.0
    fetch_max_wait_ms: int = 20  # how long a consumer's fetch may wait for data
    max_message_bytes: int = 1024 * 1024


@dataclass
class RedisConfig:
    url: str = ""  # empty: start an embedded redis-server with append-only persistence
    embedded_port: int = 6390
    verdict_ttl_s: int = 30 * 86400  # how long a verdict stays queryable by frame id
    dedupe_ttl_s: int = 86400  # window in which a repeated (source, sequence) is recognised
    alerts_kept: int = 10_000

    @property
    def client_url(self) -> str:
        """Where a client command finds the runtime's Redis: ``url``, else the embedded server's port."""
        return self.url or f"redis://127.0.0.1:{self.embedded_port}/0"


@dataclass
class RayConfig:
    address: str = ""  # empty: a local Ray runtime inside the stream worker
    num_cpus: int = 0  # 0: every core
    object_store_memory_bytes: int = 256 * 1024 * 1024
    # Ray's token authentication (runtime/ray_auth.py). A local Ray always runs with a token of its own
    # (this file, else <run_dir>/ray-auth-token); with ``address`` set, the cluster's token file, if any.
    auth_token_path: str = ""
    # The nice level of a local Ray's workers (the plugin actors). Analysis yields the CPU to the ingest
    # path (gateway, broker, Redis, each at 0) when a host is overloaded, so acknowledgements stay fast
    # and a backlog of analysis drains once the load falls; with the CPU free it changes nothing. A
    # cluster's nodes take theirs from the environment of `ray start` (RAY_worker_niceness).
    worker_niceness: int = 10


@dataclass
class BlobStoreConfig:
    kind: str = "shm"  # "shm" (one host, fastest) or "redis" (several hosts)
    shm_root: str = "/dev/shm"
    capacity_bytes: int = 8 * 1024**3
    redis_segment_bytes: int = 8 * 1024 * 1024


@dataclass
class GatewayConfig:
    host: str = "127.0.0.1"  # where vendors' gRPC ingest (and the services beside it) listens
    port: int = 50051
    metrics_port: int = 9464
    review_port: int = 8080  # the officers' alert review page
    # Separate listeners: the review pages for officers' network, /metrics (gateway's and worker's) for
    # Prometheus's; "" = the same as ``host``.
    review_host: str = ""
    metrics_host: str = ""
    # TLS (runtime/tls.py, `smartcustoms certs`): with cert and key, ingest and the review pages are served
    # over TLS only; with client_ca too, gRPC clients need a certificate it signed, and a device's
    # certificate confines it to its own source ids. ca: the CA the runtime's own tools (health checks,
    # CLI) trust; tools_cert and tools_key: the certificate they show under mutual TLS.
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    tls_ca: str = ""
    tls_tools_cert: str = ""
    tls_tools_key: str = ""
    max_frame_bytes: int = 2 * 1024**3
    max_chunk_bytes: int = 8 * 1024 * 1024
    inline_max_bytes: int = 256 * 1024  # larger payloads travel by claim check
    window_frames: int = 64  # frames per stream being made durable at once (flow control)
    # HTTP/2 flow-control window of each ingest stream: what a vendor may send ahead of what the gateway
    # has read. A fixed window bounds the gateway's memory for data in transit (streams x this) when
    # vendors send faster than it reads; 0: gRPC's own, which grows with its bandwidth probing (several
    # MiB a stream) and suits links with a long round trip.
    receive_window_bytes: int = 1024 * 1024
    capacity_wait_s: float = 30.0  # how long a frame waits for blob store room before RESOURCE_EXHAUSTED
    # Push-back: past this many frames accepted and not yet decided (all sources), new frames are answered
    # RESOURCE_EXHAUSTED with retry_after_ms, so vendors slow down while acks stay fast. 0: no limit.
    max_backlog_frames: int = 1000
    # The same for one source's frames, so that one lane in a flood cannot take every other lane's room
    # (reason source_backlog). 0: no limit per source.
    max_backlog_frames_per_source: int = 250
    # The same in payload bytes (inline or in the blob store), in total and per source. A frame larger
    # than a limit still comes in when nothing else is awaited there. 0: no limit.
    max_backlog_bytes: int = 4 * 1024**3
    max_backlog_bytes_per_source: int = 1024**3
    # Only registered devices may send (runtime/devices.py, `smartcustoms devices add|list|revoke`).
    device_registry: bool = False
    max_open_frames_per_stream: int = 64  # frames one stream may have begun and not finished sending
    # Bytes a stream's unfinished frames may declare in all, sent or not (the blob store reserves them as
    # they arrive); one frame of any size up to max_frame_bytes is always let in on an otherwise finished
    # stream. 0: no limit.
    max_pending_bytes_per_stream: int = 2 * 1024**3
    retry_after_ms: int = 500
    # A frame's chunks must all arrive within this many seconds of its first, or the frame is refused
    # DEADLINE_EXCEEDED and gives back its blob store bytes (a stream that trickles cannot hold them for
    # ever; 2 GiB at 20 MB/s takes 107 s). 0: no deadline.
    frame_deadline_s: float = 300.0
    stop_grace_s: float = 5.0
    officer_auth: bool = True  # officers log in to the review pages and gRPC services (docs/security.md)
    officer_session_s: float = 8 * 3600.0  # how long an officer's login lasts
    # Build the enquiry assistant (knowledge base, index, jieba's dictionary: ~1 s of CPU, ~66 MiB) before
    # the gateway serves rather than on the first question, which would hold the gateway's GIL while
    # frames are being acknowledged. false: a gateway that is never asked anything never builds it.
    enquiry_warm_up: bool = True

    @property
    def review_bind(self) -> str:
        return self.review_host or self.host

    @property
    def metrics_bind(self) -> str:
        return self.metrics_host or self.host


@dataclass
class WorkerConfig:
    metrics_port: int = 9465
    batch_max_frames: int = 64
    batch_window_ms: float = 10.0
    # Each frames agent takes the next batch while up to batches_in_flight - 1 are decided; verdicts are
    # stored in order, an offset committed only after its verdict (runtime/inflight.py). 1: awaited.
    batches_in_flight: int = 2
    stop_timeout_s: float = 20.0


@dataclass
class ReconcilerConfig:
    interval_s: float = 2.0
    redeliver_after_s: float = 30.0  # a frame with no verdict this long after acceptance is republished
    max_attempts: int = 3  # then it gets a manual-inspection fallback verdict


@dataclass
class FusionConfig:
    """One decision per conveyance (docs/risk.md): how long its parts may take and how they combine."""

    enabled: bool = True
    window_s: float = 30.0  # after a conveyance's first frame, how long its other frames may take
    # With every one of these present the conveyance is decided at once; one still missing when the
    # window closes makes it INSPECT ("timeout: missing ..."). Empty: decide when the window closes.
    expected_modalities: list[str] = field(default_factory=list)
    hold_score: float = 0.9  # a detector's alarm with a detection scoring at least this: HOLD
    hold_on_watchlist: bool = True  # a detection naming a watchlist entry: HOLD
    risk_modalities: list[str] = field(default_factory=lambda: ["record"])  # alarms here are selections
    scan_interval_s: float = 0.5  # how often a worker looks for windows that have closed
    alerts: bool = True  # raise an alert (the smartcustoms_alert hook) for HOLD and INSPECT


@dataclass
class AuditConfig:
    """The audit trail (docs/audit.md): how often the gateway seals queued events into the chain, and
    how often it anchors the chain head in the second store (a file outside Redis) and in its log."""

    seal_interval_s: float = 0.2
    anchor_interval_s: float = 60.0
    anchor_path: str = ""  # "" = <run_dir>/audit-anchors.jsonl

    def anchors_at(self, run_dir: str) -> str:
        return self.anchor_path or str(Path(run_dir) / "audit-anchors.jsonl")


@dataclass
class SupervisorConfig:
    """How ``smartcustoms up`` restarts a child that died (runtime/supervisor.py): exponential backoff
    between failed attempts, and at most ``budget`` restarts of one service per ``window_s``."""

    interval_s: float = 0.1  # how often the children are looked at: the delay before a restart begins
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    budget: int = 5
    window_s: float = 600.0


@dataclass
class ScreeningConfig:
    """Screeners' queue of live X-ray images and threat image projection (docs/screening.md).

    ``lanes`` maps source-id glob patterns to the share of that lane's bags shown with a library threat
    projected into them (0 to 1; 0: screened without projection). An X-ray frame of no listed lane is
    not put before screeners. Projected images are a test of the officer only: the frame's verdict is
    never changed."""

    lanes: dict[str, float] = field(default_factory=dict)
    threat_dir: str = ""  # a library folder of threat images (docs/detectors.md); "": the xray-library one
    labels: list[str] = field(default_factory=list)  # classes projected; empty: every class of the folder
    queue_length: int = 200  # the newest bags waiting for a screener; older ones leave the queue
    # how long a bag's images are kept, waiting or handed out (5 minutes once answered)
    item_ttl_s: float = 3600.0
    answers_kept: int = 100_000  # the newest answers kept for the scores' record


@dataclass
class PluginConfig:
    enabled: bool | None = None  # None: the plugin's own default
    pool_size: int = 1  # Ray actors
    num_cpus: float = 0.1  # Ray CPU reservation per actor: nominal, so a dozen pools fit on 2 cores
    batch_max_frames: int = 16
    timeout_s: float = 10.0  # per frame: a batch of n frames may take n times this
    ready_timeout_s: float = 300.0  # for an actor to build and warm up its plugin
    mode: str = "live"  # "live", or "shadow": runs on live traffic, never changes a verdict or alerts
    compare_with: list[str] = field(default_factory=list)  # shadow: the live plugins it is scored against
    # Narrow what is routed to the plugin: modalities it can consume; source_id glob patterns.
    consumes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    # Ray's placement of the pool's actors: "DEFAULT" packs them onto the stream worker's node until it is
    # half used; "SPREAD" puts them across the cluster's nodes, so a lost node takes only its share.
    scheduling_strategy: str = "DEFAULT"
    # Where the plugin runs: "ray" (its actor pool) or "worker" (in the stream worker's process, for
    # cheap, trusted plugins that take well under a millisecond a batch: no Ray round trip; see
    # runtime/local_pool.py for what it gives up). Empty: where the plugin's spec says (ray unless it
    # names the worker).
    placement: str = ""


@dataclass
class Config:
    namespace: str = "smartcustoms"
    run_dir: str = ".smartcustoms"
    control_point: str = ""
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    blobstore: BlobStoreConfig = field(default_factory=BlobStoreConfig)
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    reconciler: ReconcilerConfig = field(default_factory=ReconcilerConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)
    screening: ScreeningConfig = field(default_factory=ScreeningConfig)
    plugins: dict[str, PluginConfig] = field(default_factory=dict)
    extra_plugins: list[str] = field(default_factory=list)  # "module" or "module:attribute" import paths
    artefacts_dir: str = ""  # reference data artefacts; "" = $SMARTCUSTOMS_ARTEFACTS_DIR or ~/.cache/...

    def plugin(self, name: str) -> PluginConfig:
        return self.plugins.get(name) or PluginConfig()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


class ConfigError(ValueError):
    pass


PLUGIN_MODES = ("live", "shadow")
SCHEDULING_STRATEGIES = ("DEFAULT", "SPREAD")


def _build(cls: type[Any], values: Mapping[str, Any], where: str) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where or 'the configuration'} must be a table, not {values!r}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(f"unknown setting(s) in {where or 'top level'}: {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        nested = _NESTED.get((cls, name))
        if nested is PluginConfig:
            if not isinstance(value, Mapping):
                raise ConfigError(f"plugins must be a table of plugin tables, not {value!r}")
            kwargs[name] = {k: _build(PluginConfig, v, f"plugins.{k}") for k, v in value.items()}
        elif nested is not None:
            kwargs[name] = _build(nested, value, name)
        else:
            kwargs[name] = value
    return cls(**kwargs)


_NESTED: dict[tuple[type[Any], str], type[Any]] = {
    (Config, "broker"): BrokerConfig,
    (Config, "redis"): RedisConfig,
    (Config, "ray"): RayConfig,
    (Config, "blobstore"): BlobStoreConfig,
    (Config, "gateway"): GatewayConfig,
    (Config, "worker"): WorkerConfig,
    (Config, "reconciler"): ReconcilerConfig,
    (Config, "fusion"): FusionConfig,
    (Config, "audit"): AuditConfig,
    (Config, "supervisor"): SupervisorConfig,
    (Config, "screening"): ScreeningConfig,
    (Config, "plugins"): PluginConfig,
}


def from_dict(values: Mapping[str, Any]) -> Config:
    config: Config = _build(Config, values, "")
    if config.blobstore.kind not in ("shm", "redis"):
        raise ConfigError(f"blobstore.kind must be 'shm' or 'redis', not {config.blobstore.kind!r}")
    for name, plugin in config.plugins.items():
        if plugin.mode not in PLUGIN_MODES:
            raise ConfigError(f"plugins.{name}.mode must be 'live' or 'shadow', not {plugin.mode!r}")
        if plugin.scheduling_strategy not in SCHEDULING_STRATEGIES:
            raise ConfigError(
                f"plugins.{name}.scheduling_strategy must be 'DEFAULT' or 'SPREAD', "
                f"not {plugin.scheduling_strategy!r}"
            )
        if plugin.placement and plugin.placement not in PLACEMENTS:
            raise ConfigError(f"plugins.{name}.placement must be 'ray' or 'worker', not {plugin.placement!r}")
    if config.worker.batches_in_flight < 1:
        in_flight = config.worker.batches_in_flight
        raise ConfigError(f"worker.batches_in_flight must be at least 1, not {in_flight!r}")
    _check_fusion(config.fusion)
    _check_screening(config.screening)
    for setting in ("seal_interval_s", "anchor_interval_s"):
        if not getattr(config.audit, setting) > 0:
            raise ConfigError(f"audit.{setting} must be positive, not {getattr(config.audit, setting)!r}")
    supervisor = config.supervisor
    if not (supervisor.interval_s > 0 and 0 < supervisor.initial_backoff_s <= supervisor.max_backoff_s):
        raise ConfigError(
            "supervisor: interval_s and initial_backoff_s must be positive, at most max_backoff_s"
        )
    if supervisor.budget < 1 or not supervisor.window_s > 0:
        raise ConfigError(f"supervisor: budget must be at least 1 and window_s positive, not {supervisor!r}")
    return config


def _check_fusion(fusion: FusionConfig) -> None:
    names = [m.value for m in Modality]
    for setting in ("expected_modalities", "risk_modalities"):
        unknown = sorted(set(getattr(fusion, setting)) - set(names))
        if unknown:
            listed = ", ".join(map(repr, unknown))
            raise ConfigError(f"fusion.{setting}: unknown modality {listed} (one of {', '.join(names)})")
    if not fusion.window_s > 0:
        raise ConfigError(f"fusion.window_s must be positive, not {fusion.window_s!r}")
    if not 0 <= fusion.hold_score <= 1:
        raise ConfigError(f"fusion.hold_score must be between 0 and 1, not {fusion.hold_score!r}")
    if not fusion.scan_interval_s > 0:
        raise ConfigError(f"fusion.scan_interval_s must be positive, not {fusion.scan_interval_s!r}")


def _check_screening(screening: ScreeningConfig) -> None:
    if not isinstance(screening.lanes, Mapping):
        raise ConfigError(
            f"screening.lanes must be a table of source-id pattern = share, not {screening.lanes!r}"
        )
    for lane, share in screening.lanes.items():
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise ConfigError(
                f"screening.lanes.{lane}: the share of projected bags must be 0 to 1, not {share!r}"
            )
    for setting in ("queue_length", "answers_kept"):
        if getattr(screening, setting) < 1:
            raise ConfigError(f"screening.{setting} must be at least 1, not {getattr(screening, setting)!r}")
    if not screening.item_ttl_s > 0:
        raise ConfigError(f"screening.item_ttl_s must be positive, not {screening.item_ttl_s!r}")


def load(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Defaults, overlaid with a TOML or JSON file if given, overlaid with SMARTCUSTOMS_* variables."""
    values: dict[str, Any] = {}
    if path is not None:
        text = Path(path).read_text()
        values = json.loads(text) if str(path).endswith(".json") else tomllib.loads(text)
    environ = os.environ if environ is None else environ
    for variable, (section, key) in ENV_OVERRIDES.items():
        if environ.get(variable):
            target = values.setdefault(section, {}) if section else values
            target[key] = environ[variable]
    return from_dict(values)
