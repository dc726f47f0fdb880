"""The reader operation the adapter asks for, as an LLRP 1.0.1 ROSpec (section 10.2), and back.

Two ways to get one report per interval, both plain LLRP 1.0.1:

- ``continuous`` (default): one inventory on every antenna that runs until STOP_ROSPEC (start trigger
  Null, so START_ROSPEC starts it; ROSpec and AISpec stop triggers Null). The client asks for the reads
  gathered so far with GET_REPORT every ``report_interval_ms``; the reader also reports on its own after
  ``max_reads_per_report`` tag reports when that is set (ROReportTrigger 1, "upon N tags or end of AISpec").
- ``periodic``: the reader starts the ROSpec every ``report_interval_ms`` (Periodic start trigger), runs
  the AISpec for that long (Duration stop trigger) and reports at the end of each AISpec.

Either way every report carries, per tag and antenna: EPC, antenna id, peak RSSI, first and last seen
timestamps and tag seen count (the TagReportContentSelector below).
"""

from __future__ import annotations

from dataclasses import dataclass

from smartcustoms.hardware.llrp.codec import Message, llrp

CONTENT_FIELDS = (
    "EnableAntennaID",
    "EnablePeakRSSI",
    "EnableFirstSeenTimestamp",
    "EnableLastSeenTimestamp",
    "EnableTagSeenCount",
)
_ALL_CONTENT_FIELDS = (
    "EnableROSpecID",
    "EnableSpecIndex",
    "EnableInventoryParameterSpecID",
    "EnableChannelIndex",
    "EnableAccessSpecID",
    *CONTENT_FIELDS,
)


@dataclass(frozen=True)
class InventorySpec:
    rospec_id: int = 1
    antenna_ids: tuple[int, ...] = (0,)  # 0: every antenna of the reader
    report_interval_ms: int = 1000
    mode: str = "continuous"  # or "periodic"
    max_reads_per_report: int = 0  # N of the ROReportSpec; 0: no limit
    keepalive_interval_ms: int = 5000  # reader KEEPALIVE period; 0: none

    def __post_init__(self) -> None:
        if self.mode not in ("continuous", "periodic"):
            raise ValueError(f"mode must be 'continuous' or 'periodic', not {self.mode!r}")
        if not 0 < self.rospec_id < 2**32:
            raise ValueError("an ROSpecID is 1 to 2^32 - 1 (0 means 'all')")
        if self.report_interval_ms <= 0:
            raise ValueError("report_interval_ms must be positive")

    @property
    def continuous(self) -> bool:
        return self.mode == "continuous"


def add_rospec(spec: InventorySpec, message_id: int) -> Message:
    """ADD_ROSPEC for ``spec``; the ROSpec is added Disabled, as LLRP 1.0.1 section 10.1.1 requires."""
    start = llrp.ROSpecStartTrigger_Parameter(ROSpecStartTriggerType=llrp.ROSpecStartTriggerType.Null)
    ai_stop = llrp.AISpecStopTrigger_Parameter(AISpecStopTriggerType=llrp.AISpecStopTriggerType.Null)
    if not spec.continuous:
        start = llrp.ROSpecStartTrigger_Parameter(
            ROSpecStartTriggerType=llrp.ROSpecStartTriggerType.Periodic,
            Parameters=[llrp.PeriodicTriggerValue_Parameter(Offset=0, Period=spec.report_interval_ms)],
        )
        ai_stop = llrp.AISpecStopTrigger_Parameter(
            AISpecStopTriggerType=llrp.AISpecStopTriggerType.Duration, DurationTrigger=spec.report_interval_ms
        )
    stop = llrp.ROSpecStopTrigger_Parameter(
        ROSpecStopTriggerType=llrp.ROSpecStopTriggerType.Null, DurationTriggerValue=0
    )
    ai_spec = llrp.AISpec_Parameter(
        AntennaIDs=list(spec.antenna_ids),
        Parameters=[
            ai_stop,
            llrp.InventoryParameterSpec_Parameter(
                InventoryParameterSpecID=1, ProtocolID=llrp.AirProtocols.EPCGlobalClass1Gen2
            ),
        ],
    )
    selector = llrp.TagReportContentSelector_Parameter(
        **{name: name in CONTENT_FIELDS for name in _ALL_CONTENT_FIELDS}
    )
    report_spec = llrp.ROReportSpec_Parameter(
        ROReportTrigger=llrp.ROReportTriggerType.Upon_N_Tags_Or_End_Of_AISpec,
        N=spec.max_reads_per_report,
        Parameters=[selector],
    )
    rospec = llrp.ROSpec_Parameter(
        ROSpecID=spec.rospec_id,
        Priority=0,
        CurrentState=llrp.ROSpecState.Disabled,
        Parameters=[llrp.ROBoundarySpec_Parameter(Parameters=[start, stop]), ai_spec, report_spec],
    )
    return llrp.ADD_ROSPEC_Message(MessageID=message_id, Parameters=[rospec])


def keepalive_config(interval_ms: int, message_id: int) -> Message:
    """SET_READER_CONFIG with a periodic KeepaliveSpec, or keepalives off."""
    trigger = llrp.KeepaliveTriggerType.Periodic if interval_ms > 0 else llrp.KeepaliveTriggerType.Null
    keepalive = llrp.KeepaliveSpec_Parameter(KeepaliveTriggerType=trigger, PeriodicTriggerValue=interval_ms)
    return llrp.SET_READER_CONFIG_Message(
        MessageID=message_id, ResetToFactoryDefault=False, Parameters=[keepalive]
    )


# --------------------------------------------------------------------------- reading one back (simulator)


@dataclass(frozen=True)
class RoSpecPlan:
    """What a reader needs from an added ROSpec to run it."""

    rospec_id: int
    current_state: int
    start_trigger: int  # 0 Null, 1 Immediate, 2 Periodic, 3 GPI
    period_ms: int
    ai_duration_ms: int  # 0: the AISpec runs until the ROSpec stops
    antenna_ids: tuple[int, ...]
    report_trigger: int  # 0 None, 1 upon N or end of AISpec, 2 upon N or end of ROSpec
    report_n: int
    content: frozenset[str]  # enabled TagReportContentSelector fields


def plan_of(rospec: Message) -> RoSpecPlan:
    """Read the parts of a ROSpec parameter a reader acts on; ValueError for what it cannot run."""
    boundary = _first(rospec, "ROBoundarySpec")
    start = _first(boundary, "ROSpecStartTrigger")
    periodic = rospec.getFirstParameterByClass(llrp.PeriodicTriggerValue_Parameter)
    ai_specs = [p for p in rospec.Parameters if isinstance(p, llrp.AISpec_Parameter)]
    if len(ai_specs) != 1:
        raise ValueError("this reader runs ROSpecs with exactly one AISpec")
    ai_stop = _first(ai_specs[0], "AISpecStopTrigger")
    if ai_stop.AISpecStopTriggerType not in (0, 1):
        raise ValueError("AISpec stop triggers other than Null and Duration are not supported")
    report = rospec.getFirstParameterByClass(llrp.ROReportSpec_Parameter)
    selector = (
        None if report is None else report.getFirstParameterByClass(llrp.TagReportContentSelector_Parameter)
    )
    return RoSpecPlan(
        rospec_id=int(rospec.ROSpecID),
        current_state=int(rospec.CurrentState),
        start_trigger=int(start.ROSpecStartTriggerType),
        period_ms=0 if periodic is None else int(periodic.Period),
        ai_duration_ms=int(ai_stop.DurationTrigger) if ai_stop.AISpecStopTriggerType == 1 else 0,
        antenna_ids=tuple(int(a) for a in ai_specs[0].AntennaIDs),
        report_trigger=0 if report is None else int(report.ROReportTrigger),
        report_n=0 if report is None else int(report.N),
        content=frozenset()
        if selector is None
        else frozenset(f for f in CONTENT_FIELDS if getattr(selector, f)),
    )


def _first(parameter: Message, name: str) -> Message:
    found = parameter.getFirstParameterByClass(getattr(llrp, f"{name}_Parameter"))
    if found is None:
        raise ValueError(f"missing {name}")
    return found
