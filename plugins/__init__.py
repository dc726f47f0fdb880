"""Built-in plugins: one package each, registered exactly like third-party plugins.

The list of them is ``smartcustoms.core.manager.DEFAULT_PLUGINS``.
"""

from __future__ import annotations

from smartcustoms.core.manager import DEFAULT_PLUGINS

__all__ = ["DEFAULT_PLUGINS"]
