"""Prometheus alerting rules for what an operator at a control point must act on.

Each rule is a conjunction of conditions, and each condition is a *signal* (a PromQL query that
returns the measured series whether or not anything is wrong) compared with a threshold. The test
suite runs every signal against a real Prometheus and requires data, so a rule cannot silently
watch a metric that does not exist; ``promtool test rules`` then checks when each rule fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smartcustoms.dashboards.promql import max_by, quantile, sum_by, sum_rate

GROUP_NAME = "smartcustoms"
JOB_PATTERN = "smartcustoms-.*"  # the job names of the generated scrape configuration


@dataclass(frozen=True)
class Condition:
    signal: str  # PromQL returning the measured series, healthy or not
    test: str  # the comparison that makes it a problem, e.g. "> 0"

    @property
    def expr(self) -> str:
        return f"({self.signal}) {self.test}"


@dataclass(frozen=True)
class AlertRule:
    name: str
    conditions: tuple[Condition, ...]
    for_: str
    severity: str  # "critical": act now; "warning": act within the shift
    summary: str
    description: str

    @property
    def expr(self) -> str:
        """The conditions joined with ``and``: labels of the first, where all hold for the same labels."""
        return "\nand\n".join(c.expr for c in self.conditions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": {"severity": self.severity},
            "annotations": {"summary": self.summary, "description": self.description},
        }


@dataclass(frozen=True)
class RuleSettings:
    """Bounds an operator may want to tune for a control point."""

    latency_p99_bound_s: float = 2.0  # end-to-end p99 above this for 5 minutes alerts
    backlog_frames: int = 100  # in-flight frames that, still growing, count as a backlog
    fallback_share: float = 0.05  # share of verdicts that are fallbacks
    rejected_share: float = 0.05  # share of received frames that are refused


_SOURCE = ("control_point", "modality", "source")
_POOL = ("control_point", "instance", "plugin")
_ACCEPTED = "smartcustoms_ingest_frames_accepted_total"
_IN_FLIGHT = 'smartcustoms_conservation_frames{state="in_flight"}'


def alert_rules(settings: RuleSettings | None = None) -> tuple[AlertRule, ...]:
    s = settings or RuleSettings()
    return (
        *_flow_rules(s),
        *_failure_rules(s),
        *_capacity_rules(s),
    )


def _flow_rules(s: RuleSettings) -> tuple[AlertRule, ...]:
    return (
        AlertRule(
            "SmartcustomsSourceSilent",
            (
                Condition(sum_rate(_ACCEPTED, _SOURCE, window="5m"), "== 0"),
                Condition(sum_by(_SOURCE, f"increase({_ACCEPTED}[1h])"), "> 0"),
            ),
            "5m",
            "warning",
            "Source {{ $labels.source }} ({{ $labels.modality }}) sent no frames for 10 minutes",
            "Device {{ $labels.source }} at control point {{ $labels.control_point }} had frames accepted "
            "within the last hour but none for 10 minutes. Check the device and its network path to the "
            "gateway, and the gateway's rejected-frames panel (its frames may be refused rather than "
            "missing). The alert clears when frames arrive again, or an hour after the last one.",
        ),
        AlertRule(
            "SmartcustomsLatencyHigh",
            (
                Condition(
                    quantile(
                        0.99, "smartcustoms_frame_latency_seconds", ("control_point", "modality"), window="5m"
                    ),
                    f"> {s.latency_p99_bound_s:g}",
                ),
            ),
            "5m",
            "warning",
            "End-to-end p99 latency of {{ $labels.modality }} frames is {{ $value | humanizeDuration }}",
            f"The 99th percentile of accepted-to-verdict time for {{{{ $labels.modality }}}} frames at "
            f"{{{{ $labels.control_point }}}} has been above {s.latency_p99_bound_s:g} s for 5 minutes. "
            "Find the slow checkpoint on the Stream, Dispatch and Plugins dashboards: a growing stream "
            "delay means too few workers, a long dispatch duration with a full pool means too few "
            "actors, a long plugin time means the plugin itself.",
        ),
        AlertRule(
            "SmartcustomsInFlightGrowing",
            (
                Condition(f"deriv({_IN_FLIGHT}[10m])", "> 0"),
                Condition(_IN_FLIGHT, f"> {s.backlog_frames}"),
            ),
            "10m",
            "warning",
            "Frames without a verdict keep piling up ({{ $labels.control_point }})",
            f"More than {s.backlog_frames} accepted frames are in flight and the number has been rising for "
            "10 minutes: the workers consume less than the gateway accepts (this is the consumer-lag "
            "signal; broker offsets are not used because the embedded broker reports them wrongly). Check "
            "that every worker is up and has partitions, and the Dispatch dashboard for exhausted pools; "
            "add workers or actors.",
        ),
    )


def _failure_rules(s: RuleSettings) -> tuple[AlertRule, ...]:
    return (
        AlertRule(
            "SmartcustomsFallbacksHigh",
            (
                Condition(
                    sum_rate("smartcustoms_fallbacks_total", ("control_point", "modality"), window="5m")
                    + " / "
                    + sum_rate(
                        "smartcustoms_sink_verdicts_total", ("control_point", "modality"), window="5m"
                    ),
                    f"> {s.fallback_share:g}",
                ),
            ),
            "10m",
            "warning",
            "{{ $value | humanizePercentage }} of {{ $labels.modality }} verdicts are fallbacks",
            f"More than {s.fallback_share:.0%} of {{{{ $labels.modality }}}} frames at "
            "{{ $labels.control_point }} went to manual inspection because the system could not decide, "
            "for 10 minutes. Officers get more manual inspections than they should. The Sink dashboard "
            "shows the reason: plugin_failed (see the Plugins dashboard), no_plugin (enable a plugin for "
            "the modality), payload_missing (blob store), redelivery_exhausted (workers down).",
        ),
        AlertRule(
            "SmartcustomsRedeliveryExhausted",
            (
                Condition(
                    sum_by(
                        ("control_point", "modality"),
                        'increase(smartcustoms_fallbacks_total{reason="redelivery_exhausted"}[10m])',
                    ),
                    "> 0",
                ),
            ),
            "0m",
            "critical",
            "{{ $labels.modality }} frames got no verdict after every redelivery",
            "The reconciler gave up on {{ $labels.modality }} frames at {{ $labels.control_point }}: they "
            "were published again and again and never assessed, and went to manual inspection. The "
            "workers are down, stuck, or not consuming the modality's topic. Check the worker processes "
            "and the Stream dashboard (assigned partitions, in flight).",
        ),
        AlertRule(
            "SmartcustomsPluginErrors",
            (
                Condition(
                    sum_rate(
                        "smartcustoms_plugin_errors_total", ("control_point", "plugin", "reason"), window="5m"
                    ),
                    "> 0",
                ),
            ),
            "10m",
            "warning",
            "Plugin {{ $labels.plugin }} keeps failing ({{ $labels.reason }})",
            "Plugin {{ $labels.plugin }} has failed micro-batches ({{ $labels.reason }}) continuously for "
            "10 minutes; their frames go to manual inspection. error and bad_result are plugin bugs (see "
            "the worker log for the traceback), timeout means the plugin is too slow for its timeout_s, "
            "actor_died means its Ray actor crashed (memory). Disable or fix the plugin.",
        ),
        AlertRule(
            "SmartcustomsDeadLetters",
            (
                Condition(
                    sum_by(
                        ("control_point", "reason"), "increase(smartcustoms_stream_dead_letters_total[10m])"
                    ),
                    "> 0",
                ),
            ),
            "0m",
            "warning",
            "Messages routed to the dead-letter topic ({{ $labels.reason }})",
            "Workers could not parse messages from a frames or verdicts topic ({{ $labels.reason }}) in "
            "the last 10 minutes and moved them to the dead-letter topic. Something other than the "
            "gateway writes to smartcustoms topics, or versions are mixed. Inspect the dead-letter topic.",
        ),
        AlertRule(
            "SmartcustomsVerdictPublishStalled",
            (
                Condition(
                    max_by(
                        ("control_point", "instance"), "smartcustoms_stream_verdict_publish_waiting_seconds"
                    ),
                    "> 60",
                ),
            ),
            "1m",
            "warning",
            "Stored verdicts wait to be published on {{ $labels.instance }}",
            "A stream worker has stored verdicts whose publish to the verdicts topic the broker has not "
            "taken for over two minutes (a publish takes milliseconds). The worker waits and tries again, "
            "holding those frames (nothing is lost), but the fusion stage does not see the verdicts, so "
            "their conveyances wait, and those partitions move no further. Check the broker and the "
            "verdicts topic (the worker log names the error once Faust's producer gives up).",
        ),
        AlertRule(
            "SmartcustomsIngestRejections",
            (
                Condition(
                    sum_rate("smartcustoms_ingest_frames_rejected_total", ("control_point",), window="5m")
                    + " / "
                    + sum_rate("smartcustoms_ingest_frames_received_total", ("control_point",), window="5m"),
                    f"> {s.rejected_share:g}",
                ),
            ),
            "10m",
            "warning",
            "The gateway refuses {{ $value | humanizePercentage }} of frames",
            f"More than {s.rejected_share:.0%} of the frames reaching the gateway at "
            "{{ $labels.control_point }} were refused for 10 minutes. The Ingest dashboard shows the "
            "reason: malformed, bad_shape, checksum or out_of_order point at a device or vendor SDK, "
            "store_full at the blob store, unavailable at Redis.",
        ),
        AlertRule(
            "SmartcustomsConservationImbalance",
            (Condition("smartcustoms_conservation_imbalance_frames", "!= 0"),),
            "1m",
            "critical",
            "The frame ledger does not balance ({{ $value }} frames)",
            "accepted - verdict - fallback - in_flight is {{ $value }} at {{ $labels.control_point }} "
            "({{ $labels.instance }}): a frame was lost or counted twice. Both ledger scripts are atomic, "
            "so this means someone changed the sc:<namespace>:* keys in Redis by hand, or Redis lost "
            "writes (failover without persistence). Keep the Redis state for investigation.",
        ),
        AlertRule(
            "SmartcustomsTargetDown",
            (Condition(f'up{{job=~"{JOB_PATTERN}"}}', "== 0"),),
            "1m",
            "critical",
            "{{ $labels.job }} at {{ $labels.instance }} cannot be scraped",
            "Prometheus has not reached {{ $labels.job }} ({{ $labels.instance }}) for a minute. A gateway "
            "down stops ingest at its control point; a worker down stops verdicts (frames wait in flight "
            "and the reconciler republishes them). Every other smartcustoms alert is blind to a process "
            "that is not scraped.",
        ),
    )


def _capacity_rules(s: RuleSettings) -> tuple[AlertRule, ...]:
    return (
        AlertRule(
            "SmartcustomsPluginPoolExhausted",
            (
                Condition(
                    sum_by(_POOL, "smartcustoms_dispatch_actors_busy")
                    + " / "
                    + sum_by(_POOL, "smartcustoms_dispatch_actors"),
                    ">= 1",
                ),
                Condition(sum_by(_POOL, "smartcustoms_dispatch_queue_depth"), "> 0"),
            ),
            "2m",
            "warning",
            "Every actor of plugin {{ $labels.plugin }} is busy and frames queue",
            "All Ray actors of {{ $labels.plugin }} on {{ $labels.instance }} have been busy for 2 minutes "
            "while frames wait for one. Latency grows with the queue. Raise plugins.{{ $labels.plugin }}."
            "pool_size (and the Ray cluster's CPUs), or batch_max_frames if the plugin batches well.",
        ),
        AlertRule(
            "SmartcustomsPluginNotReady",
            (Condition(f"min by ({', '.join(_POOL)}) (smartcustoms_plugin_ready)", "== 0"),),
            "5m",
            "critical",
            "Plugin {{ $labels.plugin }} is not ready on {{ $labels.instance }}",
            "The actors of {{ $labels.plugin }} on {{ $labels.instance }} have not finished building and "
            "warming up their plugin for 5 minutes, or could not: its frames go to manual inspection "
            "(not_ready) and the gateway's health says NOT_SERVING. The worker log names the reason; a "
            "missing or altered reference-data artefact names the `smartcustoms library build` command "
            "that makes it.",
        ),
    )


def rules_document(settings: RuleSettings | None = None) -> dict[str, Any]:
    """The rule file Prometheus loads (``rule_files``), as data."""
    return {"groups": [{"name": GROUP_NAME, "rules": [rule.as_dict() for rule in alert_rules(settings)]}]}
