"""Modules imported when first used, so that finding a plugin does not load its engines.

The stream worker and the gateway import every plugin's class to read its spec and hooks
(``core.manager.discover``), but run none of the detectors: those are built in Ray actors. A plugin
module that imports OpenCV or its numba kernels at the top would load them (and SciPy, which numba
brings) into every such process, about 100 MiB each, for nothing. So a runtime module names such a
module through ``lazy``::

    if TYPE_CHECKING:
        import cv2
    else:
        cv2 = lazy("cv2")

and it is imported the first time one of its attributes is read: when the plugin is built, warmed up or
called, in the process that runs it. The checker sees the real module. Nothing may read the module's
attributes when the importing module is imported (a constant, a default argument), or the point is lost;
``tests/core/test_lazy.py`` checks that discovering the built-in plugins loads none of these engines.
"""

from __future__ import annotations

import importlib
import threading
import types
from typing import Any

__all__ = ["LazyModule", "lazy"]


class LazyModule(types.ModuleType):
    """Stands for the module ``name`` until one of its attributes is read; then imports it and takes its
    attributes, so later reads are plain attribute reads."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__dict__["_lazy_lock"] = threading.Lock()

    def __getattr__(self, attribute: str) -> Any:  # only for attributes not taken yet
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)  # copy, pickle and the like probe these: do not import for them
        with self.__dict__["_lazy_lock"]:
            module = importlib.import_module(self.__name__)
            for key, value in vars(module).items():
                if not (key.startswith("__") and key.endswith("__")):
                    self.__dict__.setdefault(key, value)
        return getattr(module, attribute)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        """Pickled as its name (a function Ray pickles by value may refer to one): a new stand-in."""
        return lazy, (self.__name__,)


def lazy(name: str) -> Any:
    """A stand-in for the module ``name`` (absolute), imported on first use (see the module's docstring).
    Typed ``Any``: name the real module under ``TYPE_CHECKING`` for the checker."""
    return LazyModule(name)
