"""A sink plugin whose result hook fails on purpose, so the hook-error panel has data."""

from __future__ import annotations

from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.types import PluginSpec
from smartcustoms.v1 import frame_pb2, results_pb2


class HookBreaker:
    """Raises in ``smartcustoms_verdict`` for camera verdicts; ignores everything else."""

    @hookimpl
    def smartcustoms_plugin_spec(self) -> PluginSpec:
        return PluginSpec(name="hook_breaker", version="0.1.0", produces=("nothing",))

    @hookimpl
    def smartcustoms_verdict(self, verdict: results_pb2.Verdict) -> None:
        if verdict.modality == frame_pb2.MODALITY_CAMERA:
            raise RuntimeError("result hook fails on purpose")


hook_breaker = HookBreaker()
