"""Every Prometheus metric smartcustoms exports, declared once, per checkpoint of a frame's path.

Checkpoints in order: ingest (gRPC gateway), stream (Faust consumer), dispatch (to the Ray actor
pool), plugin (the plugin's own work), sink (verdict store; with it, what risk plugins made of the
records of record frames). Labels stay small and bounded: modality, source (ingest only), plugin,
decision, record kind (only the kinds enabled plugins declare) and fixed sets of reasons. Code never
touches these objects directly: it reports events to ``smartcustoms.core.sensors.Sensor``.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS_S = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
)

REJECT_REASONS = (
    "malformed",
    "unknown_modality",
    "bad_header",
    "bad_shape",
    "out_of_order",
    "missing_chunks",
    "too_large",
    "checksum",
    "store_full",
    "backlog",
    "source_backlog",
    "stream_limit",
    "forbidden",
    "id_in_use",
    "unavailable",
    "stream_closed",
    "too_slow",
    "other",
)
PLUGIN_ERROR_REASONS = ("error", "timeout", "bad_result", "actor_died", "payload_missing", "not_ready")
FALLBACK_REASONS = (
    "plugin_failed",
    "plugin_timed_out",
    "plugin_requested",
    "no_plugin",
    "payload_missing",
    "redelivery_exhausted",
    "other",
)
DEAD_LETTER_REASONS = ("bad_frame", "bad_verdict")
RESULT_HOOKS = ("smartcustoms_verdict", "smartcustoms_alert", "preview")
SCREENING_BAG_OUTCOMES = ("as_scanned", "projected", "skipped", "failed")
DECISIONS = ("clear", "alarm", "manual_inspection")
CONSERVATION_STATES = ("accepted", "verdict", "fallback", "in_flight")
# A shadow plugin's detections of a class against the live verdict's, frame by frame.
SHADOW_AGREEMENT_OUTCOMES = ("both", "shadow_only", "live_only")
# ... and against officers' adjudications of alerts (counted by the gateway, from Redis).
SHADOW_ADJUDICATION_OUTCOMES = ("true_positive", "false_positive", "false_negative")
# Why a risk plugin selected a record for inspection: its score was above the budget's threshold, a
# random exploration pick, or an officers' watchlist entry (vehicle_risk).
SELECTION_REASONS = ("score", "exploration", "watchlist")
OTHER_RECORD_KIND = "other"  # a record kind no enabled plugin declares (the label stays bounded)
ADJUDICATION_OUTCOMES = ("confirmed", "cleared")
# A frame's highest record score, a probability: fine steps in the tail where budgets of 1-5% cut.
RISK_SCORE_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


@dataclass(frozen=True)
class CollectedMetric:
    """A gauge read from Redis at scrape time by a collector (any process may export it)."""

    name: str
    documentation: str
    labels: tuple[str, ...] = ()


CONSERVATION_FRAMES = CollectedMetric(
    "smartcustoms_conservation_frames",
    "Ledger counts: accepted = verdict + fallback + in_flight.",
    ("state",),
)
CONSERVATION_IMBALANCE = CollectedMetric(
    "smartcustoms_conservation_imbalance_frames",
    "accepted - verdict - fallback - in_flight: non-zero means a frame was lost or counted twice.",
)
ALERTS_ADJUDICATED = CollectedMetric(
    "smartcustoms_alerts_adjudicated",
    "Alerts officers confirmed or cleared, by detected class.",
    ("label", "outcome"),
)
SHADOW_ADJUDICATED = CollectedMetric(
    "smartcustoms_shadow_adjudicated",
    "Shadow-mode plugins scored against officers' decisions on alerts: true positives, false positives "
    "(the officer cleared a class the plugin found), false negatives (it missed a confirmed class).",
    ("plugin", "label", "outcome"),
)

RECORD_ALERTS_ADJUDICATED = CollectedMetric(
    "smartcustoms_record_alerts_adjudicated",
    "Alerts on record frames officers confirmed or cleared, per risk plugin that selected records in them, "
    "by what its selections there rest on: watchlist (any watched plate or driver), score (any score pick), "
    "or exploration (random picks only).",
    ("plugin", "selection", "outcome"),
)

COLLECTED_METRICS: tuple[CollectedMetric, ...] = (
    CONSERVATION_FRAMES,
    CONSERVATION_IMBALANCE,
    ALERTS_ADJUDICATED,
    SHADOW_ADJUDICATED,
    RECORD_ALERTS_ADJUDICATED,
)


class Metrics:
    """The metric objects, bound to one registry (a fresh one per test)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._declare_ingest(registry)
        self._declare_stream(registry)
        self._declare_dispatch(registry)
        self._declare_plugin(registry)
        self._declare_sink(registry)
        self._declare_records(registry)
        self._declare_conveyances(registry)

    def _declare_ingest(self, r: CollectorRegistry) -> None:
        self.ingest_received = Counter(
            "smartcustoms_ingest_frames_received_total",
            "Frames whose first chunk reached the gateway.",
            ["modality"],
            registry=r,
        )
        self.ingest_accepted = Counter(
            "smartcustoms_ingest_frames_accepted_total",
            "Frames made durable and acknowledged OK.",
            ["modality", "source"],
            registry=r,
        )
        self.ingest_duplicates = Counter(
            "smartcustoms_ingest_frames_duplicate_total",
            "Frames acknowledged again for an already accepted (source, sequence).",
            ["modality"],
            registry=r,
        )
        self.ingest_rejected = Counter(
            "smartcustoms_ingest_frames_rejected_total",
            "Frames refused with a non-OK status, by reason.",
            ["reason"],
            registry=r,
        )
        self.ingest_bytes = Counter(
            "smartcustoms_ingest_bytes_total", "Payload bytes accepted.", ["modality"], registry=r
        )
        self.ingest_duration = Histogram(
            "smartcustoms_ingest_duration_seconds",
            "First chunk received to acknowledgement sent.",
            ["modality"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.ingest_in_progress = Gauge(
            "smartcustoms_ingest_frames_in_progress",
            "Frames being received or made durable (gateway queue depth).",
            registry=r,
        )
        self.ingest_streams = Gauge("smartcustoms_ingest_streams_active", "Open vendor streams.", registry=r)
        self.ingest_backlog = Gauge(
            "smartcustoms_ingest_backlog_frames",
            "Frames awaiting verdicts as this gateway's push-back counts them: the ledger's last figure "
            "plus this gateway's frames that figure cannot include.",
            registry=r,
        )
        self.ingest_backlog_bytes = Gauge(
            "smartcustoms_ingest_backlog_bytes",
            "Payload bytes of the frames in smartcustoms_ingest_backlog_frames.",
            registry=r,
        )
        self.ingest_publish_errors = Counter(
            "smartcustoms_ingest_publish_errors_total",
            "Accepted frames whose publish failed (the reconciler republishes them).",
            registry=r,
        )
        self.reconciler_republished = Counter(
            "smartcustoms_reconciler_republished_total",
            "Frames republished for lack of a verdict.",
            ["modality"],
            registry=r,
        )

    def _declare_stream(self, r: CollectorRegistry) -> None:
        self.stream_frames = Counter(
            "smartcustoms_stream_frames_total",
            "Frames consumed from the modality topics.",
            ["modality"],
            registry=r,
        )
        self.stream_verdicts = Counter(
            "smartcustoms_stream_verdicts_published_total",
            "Verdicts published to the verdicts topic.",
            ["modality"],
            registry=r,
        )
        self.stream_publish_retries = Counter(
            "smartcustoms_stream_verdict_publish_retries_total",
            "Verdict batches published again after the broker did not take them (stored, frames held).",
            ["modality"],
            registry=r,
        )
        self.stream_publish_waiting = Gauge(
            "smartcustoms_stream_verdict_publish_waiting_seconds",
            "How long the oldest verdict publish in progress has waited for the broker (0: none waits).",
            registry=r,
        )
        self.stream_delay = Histogram(
            "smartcustoms_stream_delay_seconds",
            "Frame accepted at the gateway to consumed by a worker.",
            ["modality"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.stream_batch_frames = Histogram(
            "smartcustoms_stream_batch_frames",
            "Frames per micro-batch taken from a topic.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=r,
        )
        self.stream_partitions = Gauge(
            "smartcustoms_stream_assigned_partitions",
            "Topic partitions assigned to this worker (0 until it joined).",
            registry=r,
        )
        self.stream_dead_letters = Counter(
            "smartcustoms_stream_dead_letters_total",
            "Messages routed to the dead-letter topic.",
            ["reason"],
            registry=r,
        )

    def _declare_dispatch(self, r: CollectorRegistry) -> None:
        self.dispatch_frames = Counter(
            "smartcustoms_dispatch_frames_total",
            "Frames sent to a plugin's actor pool.",
            ["plugin"],
            registry=r,
        )
        self.dispatch_duration = Histogram(
            "smartcustoms_dispatch_duration_seconds",
            "Micro-batch queued for an actor to its results back.",
            ["plugin"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.dispatch_queue_depth = Gauge(
            "smartcustoms_dispatch_queue_depth", "Frames waiting for an idle actor.", ["plugin"], registry=r
        )
        self.dispatch_actors_busy = Gauge(
            "smartcustoms_dispatch_actors_busy",
            "Actors of the pool working on a batch.",
            ["plugin"],
            registry=r,
        )
        self.dispatch_actors = Gauge(
            "smartcustoms_dispatch_actors", "Actors in the plugin's pool.", ["plugin"], registry=r
        )

    def _declare_plugin(self, r: CollectorRegistry) -> None:
        self.plugin_frames = Counter(
            "smartcustoms_plugin_frames_total",
            "Frames a plugin assessed, by its decision.",
            ["plugin", "decision"],
            registry=r,
        )
        self.plugin_duration = Histogram(
            "smartcustoms_plugin_duration_seconds",
            "Time a plugin spent on one micro-batch inside its actor.",
            ["plugin"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.plugin_errors = Counter(
            "smartcustoms_plugin_errors_total",
            "Micro-batches a plugin failed, by reason.",
            ["plugin", "reason"],
            registry=r,
        )
        self.plugin_ready = Gauge(
            "smartcustoms_plugin_ready",
            "1 once every actor of the plugin's pool has built and warmed up its plugin, else 0.",
            ["plugin"],
            registry=r,
        )
        self.plugin_warm_up = Gauge(
            "smartcustoms_plugin_warm_up_seconds",
            "Time the slowest actor of the pool took to build and warm up its plugin.",
            ["plugin"],
            registry=r,
        )
        self.shadow_frames = Counter(
            "smartcustoms_shadow_frames_total",
            "Frames a shadow-mode plugin assessed, by whether its decision agreed with the live verdict.",
            ["plugin", "agreement"],
            registry=r,
        )
        self.shadow_agreement = Counter(
            "smartcustoms_shadow_agreement_total",
            "Per frame and class: found by the shadow plugin and the live plugins (both), by the shadow "
            "plugin only, or by the live plugins only.",
            ["plugin", "label", "outcome"],
            registry=r,
        )

    def _declare_sink(self, r: CollectorRegistry) -> None:
        self.sink_verdicts = Counter(
            "smartcustoms_sink_verdicts_total",
            "Verdicts stored, one per frame.",
            ["modality", "decision"],
            registry=r,
        )
        self.sink_duplicates = Counter(
            "smartcustoms_sink_duplicate_verdicts_total",
            "Verdicts for frames that already had one (ignored).",
            registry=r,
        )
        self.sink_duration = Histogram(
            "smartcustoms_sink_duration_seconds",
            "Time to store one batch of verdicts.",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.frame_latency = Histogram(
            "smartcustoms_frame_latency_seconds",
            "End to end: frame accepted at the gateway to verdict stored.",
            ["modality"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.fallbacks = Counter(
            "smartcustoms_fallbacks_total",
            "Frames sent to manual inspection because the system could not decide.",
            ["modality", "reason"],
            registry=r,
        )
        self.detections = Counter(
            "smartcustoms_detections_total",
            "Detections in stored verdicts, by the plugin that made them and their class.",
            ["modality", "plugin", "label"],
            registry=r,
        )
        self.alerts = Counter(
            "smartcustoms_alerts_total", "Alerts raised for officers.", ["modality", "decision"], registry=r
        )
        self.blobs_released = Counter(
            "smartcustoms_blobs_released_total",
            "Claim-check payloads released after their verdict.",
            registry=r,
        )
        self.blob_release_failures = Counter(
            "smartcustoms_blob_release_failures_total",
            "Releases of claim-check payloads that failed after their verdict was stored: kept and tried "
            "again when the store did not answer, left in it (logged) when it never could release them.",
            registry=r,
        )
        self.blobs_awaiting_release = Gauge(
            "smartcustoms_blobs_awaiting_release",
            "Claim-check payloads whose verdict is stored but whose release failed, to be tried again.",
            registry=r,
        )
        self.sink_hook_errors = Counter(
            "smartcustoms_sink_hook_errors_total",
            "Result hooks of plugins that raised.",
            ["hook"],
            registry=r,
        )
        self.screening_bags = Counter(
            "smartcustoms_screening_bags_total",
            "Screened lanes' X-ray bags by what became of them: put before screeners as scanned or with a "
            "threat projected, skipped (the renderer busy with earlier bags) or failed (logged).",
            ["outcome"],
            registry=r,
        )
        for outcome in SCREENING_BAG_OUTCOMES:
            self.screening_bags.labels(outcome)

    def _declare_records(self, r: CollectorRegistry) -> None:
        self.records_scored = Counter(
            "smartcustoms_records_scored_total",
            "Records of record frames a risk plugin scored (live or shadow), by record kind.",
            ["plugin", "kind"],
            registry=r,
        )
        self.records_selected = Counter(
            "smartcustoms_records_selected_total",
            "Records a risk plugin selected for inspection, by why: score, exploration or watchlist.",
            ["plugin", "kind", "reason"],
            registry=r,
        )
        self.records_selected_partial = Counter(
            "smartcustoms_records_selected_partial_total",
            "Selected records missing fields the model reads (scored from what was there).",
            ["plugin", "kind"],
            registry=r,
        )
        self.record_risk_score = Histogram(
            "smartcustoms_record_risk_score",
            "A record frame's risk score per plugin: the highest score of its records, in [0, 1].",
            ["plugin"],
            buckets=RISK_SCORE_BUCKETS,
            registry=r,
        )

    # conveyances (the fusion stage, runtime/fusion.py; names declared below the class) --------------
    def _declare_conveyances(self, r: CollectorRegistry) -> None:
        self.conveyance_frames = Counter(
            "smartcustoms_conveyance_frames_total",
            "Verdicts joined to a conveyance by the fusion stage: in its window (before its first decision) "
            "or late (after it, re-opening it).",
            ["modality", "arrival"],
            registry=r,
        )
        self.conveyance_decisions = Counter(
            "smartcustoms_conveyance_decisions_total",
            "Conveyance decisions made (every version), by outcome and by what made them: every expected "
            "part arrived (complete), the window closed (window), it closed with parts missing (timeout), "
            "a late frame (late).",
            ["outcome", "trigger"],
            registry=r,
        )
        self.conveyance_latency = Histogram(
            "smartcustoms_conveyance_decision_latency_seconds",
            "A conveyance's first frame accepted at the gateway to its first decision.",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )


# --------------------------------------------------------------------------- conveyances (fusion stage)
CONVEYANCE_OUTCOMES = ("clear", "inspect", "hold")
CONVEYANCE_TRIGGERS = ("complete", "window", "timeout", "late")
CONVEYANCE_ARRIVALS = ("in_window", "late")
# Counted in Redis by the fusion stage's scripts, exported at scrape time by the gateway.
CONVEYANCE_STATES = ("opened", "decided", "timed_out", "open", "reopened")
CONVEYANCES = CollectedMetric(
    "smartcustoms_conveyances",
    "Conveyances by state: opened = decided + timed_out + open (awaiting their first decision); reopened "
    "counts late frames that re-opened a decided conveyance (each makes a new decision version).",
    ("state",),
)
CONVEYANCES_DECIDED = CollectedMetric(
    "smartcustoms_conveyances_decided",
    "First decisions of conveyances by outcome (those that timed out are in state timed_out, all INSPECT).",
    ("outcome",),
)
CONVEYANCE_IMBALANCE = CollectedMetric(
    "smartcustoms_conveyance_imbalance",
    "opened - decided - timed_out - open: non-zero means a conveyance was lost or decided twice.",
)
COLLECTED_METRICS = (*COLLECTED_METRICS, CONVEYANCES, CONVEYANCES_DECIDED, CONVEYANCE_IMBALANCE)


# --------------------------------------------------------------------------- liquor duty desk (gateway)
# Why an officer overrode what the liquor_label plugin recognised on a bottle (runtime/liquor_desk.py).
LIQUOR_OVERRIDE_REASONS = (
    "wrong_product",
    "wrong_abv",
    "wrong_volume",
    "value_evidence",
    "not_liquor",
    "other",
)
# A counter kept in Redis by the desk and exported at scrape time by the gateway (as a counter, hence the
# _total): per label database entry, so its weak entries show. catalogue_id is bounded by the database.
LIQUOR_OVERRIDES = CollectedMetric(
    "smartcustoms_liquor_overrides_total",
    "Officers' overrides of recognised liquor bottles at the duty desk, by the label database entry the "
    "plugin matched and the reason given.",
    ("catalogue_id", "reason"),
)
COLLECTED_METRICS = (*COLLECTED_METRICS, LIQUOR_OVERRIDES)


# --------------------------------------------------------------------------- audit trail (gateway)
# Read from Redis at scrape time (runtime/auditor.py): the hash chain's records by kind and its queue.
AUDIT_KINDS = ("verdict", "adjudication", "override", "duty_assessment", "custody")
AUDIT_RECORDS = CollectedMetric(
    "smartcustoms_audit_records_total",
    "Records sealed into the audit trail's hash chain, by kind (verdict, adjudication, override, custody).",
    ("kind",),
)
AUDIT_PENDING = CollectedMetric(
    "smartcustoms_audit_pending",
    "Events queued for the audit trail and not sealed yet: growing means the gateway's auditor is behind.",
)
AUDIT_ANCHORED_SEQ = CollectedMetric(
    "smartcustoms_audit_anchored_seq",
    "The last audit record whose hash this gateway anchored in the second store (-1: none yet).",
)
COLLECTED_METRICS = (*COLLECTED_METRICS, AUDIT_RECORDS, AUDIT_PENDING, AUDIT_ANCHORED_SEQ)


# --------------------------------------------------------------------------- enquiry assistant (gateway)
# Counted by the enquiry plugin in its keyed state from the "enquiry" records on the stream, exported at
# scrape time by the gateway (runtime/enquiry.py EnquiryCollector). Labels are bounded: four languages,
# three outcomes, the knowledge base's topics.
ENQUIRIES = CollectedMetric(
    "smartcustoms_enquiries_total",
    "Questions to the enquiry assistant, by the question's language (en, zh-Hant, zh-Hans, mixed) and "
    "outcome (answered, low_confidence, handed_over).",
    ("language", "outcome"),
)
ENQUIRY_TOPICS = CollectedMetric(
    "smartcustoms_enquiry_topic_questions_total",
    "Questions to the enquiry assistant by the topic of the entry answering them (handover: none).",
    ("topic",),
)
COLLECTED_METRICS = (*COLLECTED_METRICS, ENQUIRIES, ENQUIRY_TOPICS)


# --------------------------------------------------------------------------- air cargo queue (gateway)
# Read from Redis at scrape time (runtime/air_queue_service.py): the queue's book and its running totals.
AIR_QUEUE_EVENTS = (
    "issued", "called", "arrived", "served", "cancelled", "no_show", "rejoined", "set_off",
    "counter_opened", "counter_closed", "terminal_opened", "terminal_closed",
)  # fmt: skip
AIR_QUEUE_PREDICTORS = ("model", "naive")
AIR_QUEUE_WAITING = CollectedMetric(
    "smartcustoms_air_queue_waiting",
    "Tickets waiting in the air cargo queue, by cargo type.",
    ("cargo_type",),
)
AIR_QUEUE_COUNTERS_OPEN = CollectedMetric(
    "smartcustoms_air_queue_counters_open", "Collection counters open at the air cargo terminal."
)
AIR_QUEUE_OLDEST_WAIT = CollectedMetric(
    "smartcustoms_air_queue_oldest_wait_seconds", "How long the longest-waiting ticket has waited (0: none)."
)
AIR_QUEUE_EVENTS_TOTAL = CollectedMetric(
    "smartcustoms_air_queue_events_total",
    "Queue events (each is also a record on the stream), by event.",
    ("event",),
)
AIR_QUEUE_FIRST_CALLS = CollectedMetric(
    "smartcustoms_air_queue_first_calls_total",
    "Tickets called for the first time (their waits are measured).",
)
AIR_QUEUE_WAIT = CollectedMetric(
    "smartcustoms_air_queue_wait_seconds_total", "Sum of the waits from ticket to first call."
)
AIR_QUEUE_PREDICTED_WAIT = CollectedMetric(
    "smartcustoms_air_queue_predicted_wait_seconds_total",
    "Sum of the waits predicted when the tickets were issued, over the tickets first called that had a "
    "prediction, by predictor "
    "(model: the learned queue model; naive: place x mean occupancy / open counters).",
    ("predictor",),
)
AIR_QUEUE_PREDICTED = CollectedMetric(
    "smartcustoms_air_queue_predicted_total",
    "Tickets first called that had a predicted call time when issued (a counter was open), by predictor.",
    ("predictor",),
)
AIR_QUEUE_PREDICTION_ERROR = CollectedMetric(
    "smartcustoms_air_queue_prediction_error_seconds_total",
    "Sum of |predicted - actual first call time| over the tickets first called, by predictor.",
    ("predictor",),
)
COLLECTED_METRICS = (
    *COLLECTED_METRICS,
    AIR_QUEUE_WAITING,
    AIR_QUEUE_COUNTERS_OPEN,
    AIR_QUEUE_OLDEST_WAIT,
    AIR_QUEUE_EVENTS_TOTAL,
    AIR_QUEUE_FIRST_CALLS,
    AIR_QUEUE_WAIT,
    AIR_QUEUE_PREDICTED_WAIT,
    AIR_QUEUE_PREDICTED,
    AIR_QUEUE_PREDICTION_ERROR,
)


# --------------------------------------------------------------------------- metrics read from Redis
REDIS_COLLECTOR_UP = CollectedMetric(
    "smartcustoms_redis_collector_up",
    "1 when the collector read Redis for this scrape; 0 when Redis did not answer and its gauges were "
    "left out (the rest of /metrics is served as usual).",
    ("collector",),
)
COLLECTED_METRICS = (*COLLECTED_METRICS, REDIS_COLLECTOR_UP)

SERVICE_RESTARTS = CollectedMetric(
    "smartcustoms_service_restarts_total",
    "Times `smartcustoms up` found a service (broker, redis, gateway, worker) dead and restarted it.",
    ("service",),
)
COLLECTED_METRICS = (*COLLECTED_METRICS, SERVICE_RESTARTS)


# --------------------------------------------------------------------------- evidence store (read from Redis)
EVIDENCE_UNDECODABLE_READS = CollectedMetric(
    "smartcustoms_evidence_undecodable_reads_total",
    "RFID reads the evidence locator could not decode as an EPC-96 (counted, never located).",
)
EVIDENCE_ALERTS = CollectedMetric(
    "smartcustoms_evidence_alerts_total",
    "Evidence store alerts raised, by kind (wrong_zone, not_read, exit_unapproved, unknown_tag).",
    ("kind",),
)
COLLECTED_METRICS = (*COLLECTED_METRICS, EVIDENCE_UNDECODABLE_READS, EVIDENCE_ALERTS)


# --------------------------------------------------------------------------- intelligence (read from Redis)
IPR_LISTINGS_FLAGGED = CollectedMetric(
    "smartcustoms_ipr_listings_flagged_total",
    "Online listings the IPR monitor flagged, each frozen into the audit trail (evidence capture).",
)
IPR_CASES = CollectedMetric(
    "smartcustoms_ipr_cases",
    "IPR cases open: flagged listings grouped by linked seller accounts (audit trail case index).",
)
CRIME_RECORDS = CollectedMetric(
    "smartcustoms_crime_records_total",
    "Case files, news items and social posts crime analytics holds (resolved into its link graph).",
)
CRIME_TREND_ALERTS = CollectedMetric(
    "smartcustoms_crime_trend_alerts",
    "Weekly series (commodity, route, method, place) that left their seasonal band, each an alert, "
    "by direction (rise, drop).",
    ("direction",),
)
COLLECTED_METRICS = (*COLLECTED_METRICS, IPR_LISTINGS_FLAGGED, IPR_CASES, CRIME_RECORDS, CRIME_TREND_ALERTS)


# --------------------------------------------------------------------------- screening (gateway)
# Read from Redis at scrape time (runtime/screening.py): screeners' answers on live bags, a share of them
# with a library threat projected into them (threat image projection).
SCREENING_RESULTS = ("hit", "miss", "wrong_place", "false_alarm", "clear")
SCREENING_ANSWERS = CollectedMetric(
    "smartcustoms_screening_answers_total",
    "Screeners' answers on live X-ray bags, by officer, the class of the threat projected into the bag "
    "(none: the bag as scanned) and result: hit, miss or wrong_place on a projected threat, false_alarm "
    "or clear on a bag without one.",
    ("officer", "threat_class", "result"),
)
SCREENING_RESPONSE_SECONDS = CollectedMetric(
    "smartcustoms_screening_response_seconds_total",
    "Seconds from a bag shown to its answer, summed, by officer and threat class (divide by the answers "
    "for the mean response time).",
    ("officer", "threat_class"),
)
COLLECTED_METRICS = (*COLLECTED_METRICS, SCREENING_ANSWERS, SCREENING_RESPONSE_SECONDS)
