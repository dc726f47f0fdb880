"""The plugin manager: built-in plugins, third-party plugins from entry points, hook tracing."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

from smartcustoms.core import hookspecs
from smartcustoms.core.types import PluginSpec

ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME
TRACE_ENV = "SMARTCUSTOMS_TRACE_PLUGINS"

log = logging.getLogger(__name__)


class PluginLoadError(RuntimeError):
    """A plugin could not be imported or does not honour the contract."""


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin: its spec, where it comes from and which hooks it implements."""

    spec: PluginSpec
    import_path: str
    origin: str
    hooks: tuple[str, ...]

    @property
    def processes_frames(self) -> bool:
        return "smartcustoms_process_batch" in self.hooks and bool(self.spec.consumes)


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


def register(pm: pluggy.PluginManager, import_path: str, origin: str = "builtin") -> PluginInfo:
    """Import a plugin, ask it for its spec and register it under the spec's name."""
    plugin = load_object(import_path)
    spec_hook = getattr(plugin, "smartcustoms_plugin_spec", None)
    if spec_hook is None:
        raise PluginLoadError(f"plugin {import_path!r} does not implement smartcustoms_plugin_spec")
    spec = spec_hook()
    if not isinstance(spec, PluginSpec):
        raise PluginLoadError(f"plugin {import_path!r} returned {type(spec).__name__}, not a PluginSpec")
    if pm.get_plugin(spec.name) is not None:
        raise PluginLoadError(f"two plugins are named {spec.name!r} (second from {import_path!r})")
    pm.register(plugin, name=spec.name)
    hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))
    return PluginInfo(spec, import_path, origin, hooks)


def entry_point_plugins() -> list[tuple[str, str]]:
    """(import path, origin) of every third-party plugin installed under the entry-point group."""
    found = []
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        distribution = entry_point.dist.name if entry_point.dist else "unknown"
        found.append((entry_point.value, f"entry point {entry_point.name} ({distribution})"))
    return found


def load_plugins(
    pm: pluggy.PluginManager,
    *,
    builtins: Iterable[str] | None = None,
    extra: Iterable[str] = (),
    entry_points: bool = True,
) -> list[PluginInfo]:
    """Register the built-in plugins, the ``extra`` import paths from configuration and, unless
    disabled, every entry-point plugin."""
    if builtins is None:
        from smartcustoms.plugins import DEFAULT_PLUGINS

        builtins = DEFAULT_PLUGINS
    sources = [(path, "builtin") for path in builtins] + [(path, "config") for path in extra]
    if entry_points:
        sources += entry_point_plugins()
    return [register(pm, path, origin) for path, origin in sources]
