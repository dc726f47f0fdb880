"""One dashboard per checkpoint of a frame's path: ingest, stream, dispatch, plugins, sink."""

from __future__ import annotations

from smartcustoms.dashboards.model import (
    BYTES,
    BYTES_PER_S,
    COUNT,
    FRAMES_PER_S,
    PER_S,
    RATIO,
    SECONDS,
    Dashboard,
    Panel,
    Query,
    Variable,
)
from smartcustoms.dashboards.overview import CONTROL_POINT_VARIABLE, MODALITY_VARIABLE, latency_percentiles
from smartcustoms.dashboards.promql import (
    CONTROL_POINT,
    MODALITY,
    PLUGIN,
    SOURCE,
    max_by,
    mean,
    quantile,
    selector,
    sum_by,
    sum_rate,
)

SOURCE_VARIABLE = Variable("source", "Source", "smartcustoms_ingest_frames_accepted_total")
PLUGIN_VARIABLE = Variable("plugin", "Plugin", "smartcustoms_dispatch_actors")

_CP = (CONTROL_POINT,)
_CP_MODALITY = (CONTROL_POINT, MODALITY)
_CP_PLUGIN = (CONTROL_POINT, PLUGIN)
_ONE_ROLE_NOTE = (
    " Every process exports this unlabelled metric, so the process that does not use it adds a series at 0."
)

INGEST = Dashboard(
    uid="smartcustoms-ingest",
    title="smartcustoms / Ingest (gRPC gateway)",
    description="Frames from vendor devices through the gRPC gateway: accepted, refused, bytes, durations.",
    variables=(CONTROL_POINT_VARIABLE, MODALITY_VARIABLE, SOURCE_VARIABLE),
    panels=(
        Panel(
            "Frames accepted per second by modality",
            "Frames made durable (blob store or inline, ledger in Redis) and acknowledged OK.",
            (
                Query(
                    sum_rate("smartcustoms_ingest_frames_accepted_total", ("modality",), _CP_MODALITY),
                    "{{modality}}",
                ),
            ),
            FRAMES_PER_S,
        ),
        Panel(
            "Frames accepted per second by source",
            "One line per device (source id). A line that drops to zero is a device gone silent: see "
            "the SmartcustomsSourceSilent alert.",
            (
                Query(
                    sum_rate(
                        "smartcustoms_ingest_frames_accepted_total",
                        ("modality", "source"),
                        (*_CP_MODALITY, SOURCE),
                    ),
                    "{{source}} ({{modality}})",
                ),
            ),
            FRAMES_PER_S,
        ),
        Panel(
            "Frames received per second by modality",
            "Frames whose first chunk reached the gateway, accepted or not (modality 'unknown' for "
            "frames that named none).",
            (
                Query(
                    sum_rate("smartcustoms_ingest_frames_received_total", ("modality",), _CP_MODALITY),
                    "{{modality}}",
                ),
            ),
            FRAMES_PER_S,
        ),
        Panel(
            "Frames rejected per second by reason",
            "Frames refused with a non-OK status in their acknowledgement (malformed, bad_shape, checksum, "
            "store_full, unavailable, ...). A vendor integration bug shows up here first.",
            (Query(sum_rate("smartcustoms_ingest_frames_rejected_total", ("reason",), _CP), "{{reason}}"),),
            FRAMES_PER_S,
        ),
        Panel(
            "Duplicate frames per second by modality",
            "Frames sent again for an already accepted (source, sequence), typically after a lost "
            "acknowledgement: acknowledged again, not processed again.",
            (
                Query(
                    sum_rate("smartcustoms_ingest_frames_duplicate_total", ("modality",), _CP_MODALITY),
                    "{{modality}}",
                ),
            ),
            FRAMES_PER_S,
        ),
        Panel(
            "Payload bytes accepted per second by modality",
            "Payload bytes of accepted frames.",
            (
                Query(
                    sum_rate("smartcustoms_ingest_bytes_total", ("modality",), _CP_MODALITY), "{{modality}}"
                ),
            ),
            BYTES_PER_S,
        ),
        Panel(
            "Ingest duration (first chunk to acknowledgement)",
            "Time from a frame's first chunk at the gateway to its acknowledgement: reassembly, checks, "
            "blob store and ledger writes.",
            latency_percentiles("smartcustoms_ingest_duration_seconds"),
            SECONDS,
        ),
        Panel(
            "Frames in progress, open streams, push-back backlog",
            "Frames being received or made durable (the gateway's queue), open vendor streams, and the "
            "frames awaiting verdicts as push-back counts them (compare with gateway.max_backlog_frames; "
            "the largest of the gateways' counts)." + _ONE_ROLE_NOTE,
            (
                Query(
                    sum_by(("control_point",), selector("smartcustoms_ingest_frames_in_progress", _CP)),
                    "{{control_point}} frames in progress",
                ),
                Query(
                    sum_by(("control_point",), selector("smartcustoms_ingest_streams_active", _CP)),
                    "{{control_point}} open streams",
                ),
                Query(
                    max_by(("control_point",), selector("smartcustoms_ingest_backlog_frames", _CP)),
                    "{{control_point}} backlog (push-back)",
                ),
            ),
            COUNT,
        ),
        Panel(
            "Push-back backlog bytes",
            "Payload bytes of the frames awaiting verdicts as push-back counts them (compare with "
            "gateway.max_backlog_bytes; the largest of the gateways' counts)." + _ONE_ROLE_NOTE,
            (
                Query(
                    max_by(("control_point",), selector("smartcustoms_ingest_backlog_bytes", _CP)),
                    "{{control_point}} backlog bytes",
                ),
            ),
            BYTES,
        ),
        Panel(
            "Republished frames and publish errors per second",
            "Frames the reconciler published again because they had no verdict by their deadline, and "
            "accepted frames whose first publish failed (the reconciler republishes those). Sustained "
            "republishing means the broker loses messages or the workers cannot keep up.",
            (
                Query(
                    sum_rate("smartcustoms_reconciler_republished_total", ("modality",), _CP_MODALITY),
                    "republished {{modality}}",
                ),
                Query(sum_rate("smartcustoms_ingest_publish_errors_total", (), _CP), "publish errors"),
            ),
            FRAMES_PER_S,
        ),
    ),
)

STREAM = Dashboard(
    uid="smartcustoms-stream",
    title="smartcustoms / Stream (Faust workers)",
    description="Frames consumed from the modality topics, micro-batches, stream delay, dead letters, lag.",
    variables=(CONTROL_POINT_VARIABLE, MODALITY_VARIABLE),
    panels=(
        Panel(
            "Frames consumed per second by modality",
            "Frames the workers took from the modality topics.",
            (
                Query(
                    sum_rate("smartcustoms_stream_frames_total", ("modality",), _CP_MODALITY), "{{modality}}"
                ),
            ),
            FRAMES_PER_S,
        ),
        Panel(
            "Verdicts published per second by modality",
            "Verdicts the workers published to the verdicts topic.",
            (
                Query(
                    sum_rate("smartcustoms_stream_verdicts_published_total", ("modality",), _CP_MODALITY),
                    "{{modality}}",
                ),
            ),
            FRAMES_PER_S,
        ),
        Panel(
            "Frames in flight (consumer lag proxy)",
            "Frames accepted but without a verdict or fallback yet, from the ledger in Redis. This stands "
            "in for Kafka consumer lag: the embedded tansu broker answers 'latest offset' requests wrongly "
            "when the last batch holds several records, so offset-based lag would be wrong. A line that "
            "keeps rising is a backlog: see the SmartcustomsInFlightGrowing alert.",
            (
                Query(
                    max_by(
                        ("control_point",),
                        selector("smartcustoms_conservation_frames", (CONTROL_POINT, 'state="in_flight"')),
                    ),
                    "{{control_point}} in flight",
                ),
            ),
            COUNT,
        ),
        Panel(
            "Accepted vs consumed per second",
            "Frames accepted at the gateway against frames consumed by the workers; consumed falling "
            "behind accepted for long is the lag growing.",
            (
                Query(sum_rate("smartcustoms_ingest_frames_accepted_total", (), _CP_MODALITY), "accepted"),
                Query(sum_rate("smartcustoms_stream_frames_total", (), _CP_MODALITY), "consumed"),
            ),
            FRAMES_PER_S,
        ),
        Panel(
            "Stream delay (accepted to consumed)",
            "Time from the gateway's acceptance of a frame to a worker taking it from its topic.",
            latency_percentiles("smartcustoms_stream_delay_seconds"),
            SECONDS,
        ),
        Panel(
            "Micro-batch size",
            "Frames per micro-batch taken from a topic (mean and p95). Batches grow with load."
            + _ONE_ROLE_NOTE,
            (
                Query(mean("smartcustoms_stream_batch_frames", (), _CP), "mean"),
                Query(quantile(0.95, "smartcustoms_stream_batch_frames", (), _CP), "p95"),
            ),
            COUNT,
        ),
        Panel(
            "Dead letters per second by reason",
            "Messages the workers could not parse (bad_frame, bad_verdict), routed to the dead-letter "
            "topic. Each one is a message some producer got wrong.",
            (Query(sum_rate("smartcustoms_stream_dead_letters_total", ("reason",), _CP), "{{reason}}"),),
            PER_S,
        ),
        Panel(
            "Oldest verdict publish waiting, per process",
            "How long the oldest publish of stored verdicts to the verdicts topic has waited for the "
            "broker (0: none waits; a publish takes milliseconds). Rising, the broker does not take them: "
            "the worker holds those frames and waits, the fusion stage does not see the verdicts."
            + _ONE_ROLE_NOTE,
            (
                Query(
                    max_by(
                        ("control_point", "instance"),
                        selector("smartcustoms_stream_verdict_publish_waiting_seconds", _CP),
                    ),
                    "{{control_point}} {{instance}}",
                ),
            ),
            SECONDS,
        ),
        Panel(
            "Verdict publishes tried again per second by modality",
            "Publishes of stored verdicts the broker failed (once Faust's producer gave up on it, after "
            "up to 20 minutes, or an error worth another try) and that the worker tried again.",
            (
                Query(
                    sum_rate("smartcustoms_stream_verdict_publish_retries_total", ("modality",), _CP),
                    "{{modality}}",
                ),
            ),
            PER_S,
        ),
        Panel(
            "Assigned partitions per process",
            "Topic partitions the consumer group assigned to each worker (0 until it joined; a worker "
            "stuck at 0 takes no frames)." + _ONE_ROLE_NOTE,
            (
                Query(
                    max_by(
                        ("control_point", "instance"),
                        selector("smartcustoms_stream_assigned_partitions", _CP),
                    ),
                    "{{control_point}} {{instance}}",
                ),
            ),
            COUNT,
        ),
    ),
)

DISPATCH = Dashboard(
    uid="smartcustoms-dispatch",
    title="smartcustoms / Dispatch (Ray actor pools)",
    description="Micro-batches handed to each plugin's Ray actor pool: rate, duration, queue, busy actors.",
    variables=(CONTROL_POINT_VARIABLE, PLUGIN_VARIABLE),
    panels=(
        Panel(
            "Frames dispatched per second by plugin",
            "Frames sent to each plugin's actor pool (a frame counts once for every plugin consuming its "
            "modality).",
            (Query(sum_rate("smartcustoms_dispatch_frames_total", ("plugin",), _CP_PLUGIN), "{{plugin}}"),),
            FRAMES_PER_S,
        ),
        Panel(
            "Micro-batches per second by plugin",
            "Micro-batches dispatched, including failed ones and the single-frame retries of a failed batch.",
            (
                Query(
                    sum_rate("smartcustoms_dispatch_duration_seconds_count", ("plugin",), _CP_PLUGIN),
                    "{{plugin}}",
                ),
            ),
            PER_S,
        ),
        Panel(
            "Dispatch duration (queued to results)",
            "Time from a micro-batch queued for an actor to its results back: queueing for an idle actor "
            "plus the Ray call.",
            latency_percentiles("smartcustoms_dispatch_duration_seconds", ("plugin",), _CP_PLUGIN),
            SECONDS,
        ),
        Panel(
            "Queue depth by plugin",
            "Frames waiting for an idle actor. Above zero for long means the pool is too small.",
            (
                Query(
                    sum_by(("plugin",), selector("smartcustoms_dispatch_queue_depth", _CP_PLUGIN)),
                    "{{plugin}}",
                ),
            ),
            COUNT,
        ),
        Panel(
            "Busy actors vs pool size",
            "Actors working on a batch against the actors in the pool. Busy equal to the pool size while "
            "frames queue is an exhausted pool: see the SmartcustomsPluginPoolExhausted alert.",
            (
                Query(
                    sum_by(("plugin",), selector("smartcustoms_dispatch_actors_busy", _CP_PLUGIN)),
                    "{{plugin}} busy",
                ),
                Query(
                    sum_by(("plugin",), selector("smartcustoms_dispatch_actors", _CP_PLUGIN)),
                    "{{plugin}} pool size",
                ),
            ),
            COUNT,
        ),
        Panel(
            "Pool utilisation",
            "Busy actors over pool size, per plugin.",
            (
                Query(
                    sum_by(("plugin",), selector("smartcustoms_dispatch_actors_busy", _CP_PLUGIN))
                    + " / "
                    + sum_by(("plugin",), selector("smartcustoms_dispatch_actors", _CP_PLUGIN)),
                    "{{plugin}}",
                ),
            ),
            RATIO,
        ),
    ),
)

PLUGINS = Dashboard(
    uid="smartcustoms-plugins",
    title="smartcustoms / Plugins",
    description="Each detector and risk plugin: frames assessed and their decisions, time per batch, errors.",
    variables=(CONTROL_POINT_VARIABLE, PLUGIN_VARIABLE),
    panels=(
        Panel(
            "Frames assessed per second by plugin and decision",
            "Frames each plugin assessed, by the decision it returned.",
            (
                Query(
                    sum_rate("smartcustoms_plugin_frames_total", ("plugin", "decision"), _CP_PLUGIN),
                    "{{plugin}} {{decision}}",
                ),
            ),
            FRAMES_PER_S,
        ),
        Panel(
            "Plugin time per batch",
            "Time a plugin spent on one micro-batch inside its actor (without queueing or the Ray call).",
            latency_percentiles("smartcustoms_plugin_duration_seconds", ("plugin",), _CP_PLUGIN),
            SECONDS,
        ),
        Panel(
            "Errors per second by plugin and reason",
            "Micro-batches a plugin failed: error (raised), timeout, bad_result, actor_died. Their frames "
            "go to manual inspection: see the SmartcustomsPluginErrors alert.",
            (
                Query(
                    sum_rate("smartcustoms_plugin_errors_total", ("plugin", "reason"), _CP_PLUGIN),
                    "{{plugin}} {{reason}}",
                ),
            ),
            PER_S,
        ),
        Panel(
            "Failed share of micro-batches",
            "Failed micro-batches over all micro-batches dispatched to the plugin.",
            (
                Query(
                    sum_rate("smartcustoms_plugin_errors_total", ("plugin",), _CP_PLUGIN)
                    + " / "
                    + sum_rate("smartcustoms_dispatch_duration_seconds_count", ("plugin",), _CP_PLUGIN),
                    "{{plugin}}",
                ),
            ),
            RATIO,
        ),
        Panel(
            "Alarm share by plugin",
            "Share of assessed frames a plugin alarmed on. A sudden change is worth a look (a device or "
            "a model drifting).",
            (
                Query(
                    sum_rate(
                        "smartcustoms_plugin_frames_total", ("plugin",), (*_CP_PLUGIN, 'decision="alarm"')
                    )
                    + " / "
                    + sum_rate("smartcustoms_plugin_frames_total", ("plugin",), _CP_PLUGIN),
                    "{{plugin}}",
                ),
            ),
            RATIO,
        ),
        Panel(
            "Plugin pools ready",
            "1 once every actor of the plugin's pool has built its plugin (reference data loaded) and "
            "warmed it up; 0 while it warms up or when it failed (see the SmartcustomsPluginNotReady "
            "alert). The gateway's health is SERVING only while every pool is ready.",
            (
                Query(
                    f"min by (plugin, instance) (smartcustoms_plugin_ready{{{', '.join(_CP_PLUGIN)}}})",
                    "{{plugin}} {{instance}}",
                ),
            ),
            COUNT,
        ),
        Panel(
            "Build and warm-up time of a pool",
            "How long the slowest actor of the pool took to build and warm up its plugin: what a worker "
            "restart costs before the pool takes frames.",
            (
                Query(
                    f"max by (plugin) (smartcustoms_plugin_warm_up_seconds{{{', '.join(_CP_PLUGIN)}}})",
                    "{{plugin}}",
                ),
            ),
            SECONDS,
        ),
    ),
)

SINK = Dashboard(
    uid="smartcustoms-sink",
    title="smartcustoms / Sink (verdict store)",
    description="Verdicts stored once per frame, duplicates, payloads released, result hooks, fallbacks.",
    variables=(CONTROL_POINT_VARIABLE, MODALITY_VARIABLE),
    panels=(
        Panel(
            "Verdicts stored per second by modality and decision",
            "Verdicts stored in Redis, exactly one per frame.",
            (
                Query(
                    sum_rate("smartcustoms_sink_verdicts_total", ("modality", "decision"), _CP_MODALITY),
                    "{{modality}} {{decision}}",
                ),
            ),
            FRAMES_PER_S,
        ),
        Panel(
            "End-to-end latency p99 by modality",
            "99th percentile of accepted-to-verdict-stored time, per modality.",
            (
                Query(
                    quantile(0.99, "smartcustoms_frame_latency_seconds", ("modality",), _CP_MODALITY),
                    "{{modality}} p99",
                ),
            ),
            SECONDS,
        ),
        Panel(
            "Sink batch duration",
            "Time to store one batch of verdicts (one Redis round trip per batch)." + _ONE_ROLE_NOTE,
            latency_percentiles("smartcustoms_sink_duration_seconds", (), _CP),
            SECONDS,
        ),
        Panel(
            "Duplicate verdicts and released payloads per second",
            "Verdicts for frames that already had one (a frame processed twice, e.g. after redelivery; "
            "ignored), claim-check payloads released after their verdict, and releases that failed "
            "(kept and tried again after the next stored batch when the store did not answer; a "
            "reference it can never release is logged and left)." + _ONE_ROLE_NOTE,
            (
                Query(sum_rate("smartcustoms_sink_duplicate_verdicts_total", (), _CP), "duplicate verdicts"),
                Query(sum_rate("smartcustoms_blobs_released_total", (), _CP), "payloads released"),
                Query(sum_rate("smartcustoms_blob_release_failures_total", (), _CP), "releases failed"),
            ),
            PER_S,
        ),
        Panel(
            "Payloads awaiting release",
            "Claim-check payloads whose verdict is stored but whose release failed (the blob store did not "
            "answer); each sink tries them again after its next stored batch. A count that stays up holds "
            "blob store space." + _ONE_ROLE_NOTE,
            (
                Query(
                    sum_by(("control_point",), selector("smartcustoms_blobs_awaiting_release", _CP)),
                    "awaiting release",
                ),
            ),
            COUNT,
        ),
        Panel(
            "Fallbacks per second by modality and reason",
            "Frames sent to manual inspection because the system could not decide.",
            (
                Query(
                    sum_rate("smartcustoms_fallbacks_total", ("modality", "reason"), _CP_MODALITY),
                    "{{modality}} {{reason}}",
                ),
            ),
            FRAMES_PER_S,
        ),
        Panel(
            "Alerts per second by modality and decision",
            "Alerts raised for officers.",
            (
                Query(
                    sum_rate("smartcustoms_alerts_total", ("modality", "decision"), _CP_MODALITY),
                    "{{modality}} {{decision}}",
                ),
            ),
            PER_S,
        ),
        Panel(
            "Result hook errors per second by hook",
            "Result hooks of sink plugins (smartcustoms_verdict, smartcustoms_alert) that raised. The "
            "verdict is stored regardless; what the plugin should have done with it (a notification, an "
            "export) did not happen.",
            (Query(sum_rate("smartcustoms_sink_hook_errors_total", ("hook",), _CP), "{{hook}}"),),
            PER_S,
        ),
    ),
)

CHECKPOINTS = (INGEST, STREAM, DISPATCH, PLUGINS, SINK)
