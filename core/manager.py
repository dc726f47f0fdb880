"""The plugin manager: built-in plugins, third-party plugins from entry points, hook tracing."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from smartcustoms.core import hookspecs
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.types import PluginSpec

ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME

# The built-in plugins, by import path: each a class in a package of its own under plugins/. They are
# found and built exactly like third-party plugins (core names them; it never imports them itself).
DEFAULT_PLUGINS: tuple[str, ...] = (
    "smartcustoms.plugins.xray:XrayDetectorPlugin",
    "smartcustoms.plugins.xray:DenseRegionPlugin",
    "smartcustoms.plugins.rfid:EpcCheckPlugin",
    "smartcustoms.plugins.evidence:EvidenceLocationPlugin",
    "smartcustoms.plugins.evidence:EvidenceOrderPlugin",
    "smartcustoms.plugins.ct:CtDetectorPlugin",
    "smartcustoms.plugins.vendor_atr:VendorAtrPlugin",
    "smartcustoms.plugins.vehicle:VehicleComparePlugin",
    "smartcustoms.plugins.vehicle_risk:VehicleRiskPlugin",
    "smartcustoms.plugins.cargo_risk:CargoRiskPlugin",
    "smartcustoms.plugins.cargo_risk:CargoRiskCandidatePlugin",
    "smartcustoms.plugins.plate:PlateReaderPlugin",
    "smartcustoms.plugins.liquor:LiquorLabelPlugin",
    "smartcustoms.plugins.air_queue:AirQueuePlugin",
    "smartcustoms.plugins.enquiry:EnquiryAnalyticsPlugin",
    "smartcustoms.plugins.ipr:IprMonitorPlugin",
    "smartcustoms.plugins.crime:CrimeAnalyticsPlugin",
    "smartcustoms.plugins.onnx:OnnxDetectorPlugin",
    "smartcustoms.plugins.noop:NoopPlugin",
    "smartcustoms.plugins.alert_log:AlertLogPlugin",
)
TRACE_ENV = "SMARTCUSTOMS_TRACE_PLUGINS"

log = logging.getLogger(__name__)


class PluginLoadError(RuntimeError):
    """A plugin could not be imported or does not honour the contract."""


RESULT_HOOKS = frozenset({"smartcustoms_verdict", "smartcustoms_alert", "smartcustoms_runtime_started"})


@dataclass(frozen=True)
class PluginInfo:
    """A plugin found but not built: its spec, where it comes from and which hooks it implements.

    ``factory`` is the plugin class, built once per hosting process; None for a plugin written in the
    first contract (a module, or an object made at import), which is registered as it is.
    """

    spec: PluginSpec
    import_path: str
    origin: str
    hooks: tuple[str, ...]
    factory: type[Any] | None = field(default=None, compare=False)

    @property
    def processes_frames(self) -> bool:
        return "smartcustoms_process_batch" in self.hooks and bool(self.spec.consumes)

    @property
    def handles_results(self) -> bool:
        """Whether the stream worker hosts it: it implements a hook that runs there."""
        return bool(RESULT_HOOKS & set(self.hooks))

    @property
    def style(self) -> str:
        return "class" if self.factory is not None else "module"


def load_object(import_path: str) -> Any:
    """Import ``package.module`` or ``package.module:attribute``."""
    module_name, _, attribute = import_path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in filter(None, attribute.split(".")):
            target = getattr(target, part)
    except (ImportError, AttributeError) as error:
        raise PluginLoadError(f"cannot import plugin {import_path!r}: {error}") from error
    return target


def new_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager that knows the hook contract and holds no plugin yet."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    if os.environ.get(TRACE_ENV):
        pm.trace.root.setwriter(lambda message: log.warning("plugin trace: %s", message.rstrip()))
        pm.enable_tracing()
    return pm


def discover(import_path: str, origin: str = "builtin") -> PluginInfo:
    """Import a plugin and read what it is, without building it: its spec and its hooks, checked
    against the contract."""
    target = load_object(import_path)
    if inspect.isclass(target):
        spec = getattr(target, "spec", None)
        if not isinstance(spec, PluginSpec):
            raise PluginLoadError(
                f"plugin class {import_path!r} needs a class attribute `spec = PluginSpec(...)`, "
                f"got {type(spec).__name__}"
            )
        factory: type[Any] | None = target
    else:
        spec = _legacy_spec(target, import_path)
        factory = None
        if inspect.ismodule(target):
            log.info(
                "plugin %s is a module with module-level hooks (first contract): hosted as before; "
                "docs/plugins.md shows a plugin as a class",
                import_path,
            )
    hooks = _checked_hooks(target, spec.name)
    return PluginInfo(spec, import_path, origin, hooks, factory)


def _legacy_spec(target: Any, import_path: str) -> PluginSpec:
    spec_hook = getattr(target, "smartcustoms_plugin_spec", None)
    if spec_hook is None:
        raise PluginLoadError(f"plugin {import_path!r} does not implement smartcustoms_plugin_spec")
    spec = spec_hook()
    if not isinstance(spec, PluginSpec):
        raise PluginLoadError(f"plugin {import_path!r} returned {type(spec).__name__}, not a PluginSpec")
    return spec


def _checked_hooks(target: Any, name: str) -> tuple[str, ...]:
    """The hooks ``target`` implements; pluggy's validation (unknown hooks or arguments) applies.
    A class is checked as it is: pluggy reads its methods' arguments without the instance."""
    scratch = new_plugin_manager()
    scratch.register(target, name=name)
    hooks = tuple(sorted(caller.name for caller in scratch.get_hookcallers(target) or ()))
    scratch.unregister(target)
    return hooks


def build(info: PluginInfo, settings: Mapping[str, Any], context: PluginContext) -> Any:
    """The plugin object for one hosting process: a new instance of its class, given the settings
    and the context its constructor names; the object itself for a first-contract plugin."""
    if info.factory is None:
        return load_object(info.import_path)
    wanted = inspect.signature(info.factory).parameters
    offered = {"settings": dict(settings), "context": context}
    unknown = [n for n, p in wanted.items() if n not in offered and p.default is inspect.Parameter.empty]
    if unknown:
        raise PluginLoadError(
            f"plugin {info.spec.name}: its constructor asks for {', '.join(unknown)}; "
            "it may take settings and context"
        )
    return info.factory(**{name: value for name, value in offered.items() if name in wanted})


def host(
    pm: pluggy.PluginManager, info: PluginInfo, settings: Mapping[str, Any], context: PluginContext
) -> Any:
    """Build the plugin and register it under its name; a first-contract plugin gets its settings
    through ``smartcustoms_configure`` as it always did."""
    if pm.get_plugin(info.spec.name) is not None:
        raise PluginLoadError(f"two plugins are named {info.spec.name!r} (second from {info.import_path!r})")
    plugin = build(info, settings, context)
    pm.register(plugin, name=info.spec.name)
    if info.factory is None and "smartcustoms_configure" in info.hooks:
        pm.subset_hook_caller("smartcustoms_configure", [p for p in pm.get_plugins() if p is not plugin])(
            settings=dict(settings)
        )
    return plugin


def settings_for(info: PluginInfo, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's default settings overlaid with the configured ones."""
    return {**info.spec.default_settings, **overrides}


def register(
    pm: pluggy.PluginManager,
    import_path: str,
    origin: str = "builtin",
    settings: Mapping[str, Any] | None = None,
    context: PluginContext | None = None,
) -> PluginInfo:
    """Discover a plugin and host it in ``pm`` with its default settings (tools and tests)."""
    info = discover(import_path, origin)
    host(pm, info, settings_for(info, settings or {}), context or PluginContext(info.spec.name))
    return info


def entry_point_plugins() -> list[tuple[str, str]]:
    """(import path, origin) of every third-party plugin installed under the entry-point group."""
    found = []
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        distribution = entry_point.dist.name if entry_point.dist else "unknown"
        found.append((entry_point.value, f"entry point {entry_point.name} ({distribution})"))
    return found


def discover_plugins(
    *,
    builtins: Iterable[str] | None = None,
    extra: Iterable[str] = (),
    entry_points: bool = True,
) -> list[PluginInfo]:
    """Find the built-in plugins, the ``extra`` import paths from configuration and, unless disabled,
    every entry-point plugin; nothing is built. Two plugins of one name are an error."""
    if builtins is None:
        builtins = DEFAULT_PLUGINS
    sources = [(path, "builtin") for path in builtins] + [(path, "config") for path in extra]
    if entry_points:
        sources += entry_point_plugins()
    infos: list[PluginInfo] = []
    for path, origin in sources:
        info = discover(path, origin)
        if any(known.spec.name == info.spec.name for known in infos):
            raise PluginLoadError(f"two plugins are named {info.spec.name!r} (second from {path!r})")
        infos.append(info)
    return infos


def load_plugins(
    pm: pluggy.PluginManager,
    *,
    builtins: Iterable[str] | None = None,
    extra: Iterable[str] = (),
    entry_points: bool = True,
) -> list[PluginInfo]:
    """Discover every plugin and host each in ``pm`` with its default settings (tools and tests)."""
    infos = discover_plugins(builtins=builtins, extra=extra, entry_points=entry_points)
    for info in infos:
        host(pm, info, settings_for(info, {}), PluginContext(info.spec.name))
    return infos
