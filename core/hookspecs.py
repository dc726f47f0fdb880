"""The plugin contract: every hook a smartcustoms plugin can implement, by pipeline stage.

A hook's body is its docstring. Hooks only ever change by gaining keyword arguments; pluggy lets an
implementation accept just the arguments it needs, so older plugins keep working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from smartcustoms.core.frames import FrameView
    from smartcustoms.core.types import Assessment, PluginSpec
    from smartcustoms.v1 import results_pb2

PROJECT_NAME = "smartcustoms"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------------------------------
# Registration and configuration
# ---------------------------------------------------------------------------------------------------


@hookspec
def smartcustoms_plugin_spec() -> PluginSpec:  # type: ignore[empty-body]  # a hookspec is its docstring
    """Say what this plugin is: its name, version, the modalities it consumes and what it produces.

    Called once per plugin when the host loads it; every plugin implements it. A plugin that consumes
    no modality (empty ``consumes``) only acts on results, like a sink.
    """


@hookspec
def smartcustoms_configure(settings: Mapping[str, Any]) -> None:
    """Receive this plugin's settings (its defaults overlaid with the ``[plugins.NAME.settings]`` table).

    For plugins written as modules (the first contract): called once in every process that hosts the
    module, before any other hook. A plugin class receives its settings in its constructor instead
    (``smartcustoms.core.plugin``) and need not implement this hook.
    """


@hookspec
def smartcustoms_warm_up() -> None:
    """Get ready for the first frame: compile kernels, touch reference data, run a synthetic frame.

    Called once in each Ray actor of the plugin's pool, after the plugin is built and before the actor
    reports ready; no frame reaches the pool, and the gateway's health stays NOT_SERVING, until every
    actor of every enabled pool is ready. Raising marks the pool as failed: its frames go to manual
    inspection with the reason.
    """


@hookspec(historic=True)
def smartcustoms_runtime_started(config: Mapping[str, Any]) -> None:
    """Learn that the runtime is up, with the resolved configuration as a plain mapping.

    historic: a plugin registered later is called with the same arguments when it registers.
    """


# ---------------------------------------------------------------------------------------------------
# Processing
# ---------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def smartcustoms_process_batch(frames: Sequence[FrameView]) -> Sequence[Assessment]:  # type: ignore[empty-body]  # a hookspec is its docstring
    """Examine a micro-batch of frames of the modalities this plugin consumes.

    Return one ``Assessment`` per frame, in the same order. Runs in a Ray actor of the plugin's pool,
    which hosts only this plugin, so the first non-None result wins. Raising, returning the wrong
    number of assessments or running past the plugin's ``timeout_s`` sends every frame of the batch
    to manual inspection, counted against the plugin.
    """


# ---------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------


@hookspec
def smartcustoms_verdict(verdict: results_pb2.Verdict) -> None:
    """Act on a verdict once it is stored: forward it, index it, notify a system.

    Called exactly once per frame in the stream worker's sink stage, after the verdict store
    accepted it (a frame processed twice is not reported twice). Must not block for long.
    """


@hookspec
def smartcustoms_alert(alert: results_pb2.Alert) -> None:
    """Act on an alert: a verdict of ALARM or MANUAL_INSPECTION that an officer must see.

    Called once per alert in the sink stage, after ``smartcustoms_verdict``. A conveyance's HOLD or
    INSPECT decision (the fusion stage) comes here too, as an ALARM or a MANUAL_INSPECTION alert with
    ``alert_id`` ``conveyance-<id>-v<version>`` and the frame of its strongest reason (at least once).
    """


# ---------------------------------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------------------------------


@hookspec
def smartcustoms_shutdown() -> None:
    """Release resources: called once in each hosting process when it stops."""
