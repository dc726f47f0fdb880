"""Dependencies point one way: hardware imports core (and third-party libraries), never runtime or plugins."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import smartcustoms.hardware

FORBIDDEN = ("smartcustoms.runtime", "smartcustoms.plugins")

PROBE = """
import importlib, json, pkgutil, sys
import smartcustoms.hardware as hardware
modules = [m.name for m in pkgutil.walk_packages(hardware.__path__, "smartcustoms.hardware.")]
for name in modules:
    importlib.import_module(name)
outside = ("smartcustoms.runtime", "smartcustoms.plugins")
print(json.dumps({"imported": modules, "outside": sorted(m for m in sys.modules if m.startswith(outside))}))
"""


def test_every_hardware_module_imports_without_runtime_or_plugins() -> None:
    run = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True)
    found = json.loads(run.stdout.splitlines()[-1])
    assert "smartcustoms.hardware.adapters_cli" in found["imported"]
    assert "smartcustoms.hardware.sim.rfid" in found["imported"]
    assert found["outside"] == []


def test_no_hardware_source_names_runtime_or_plugins_in_an_import() -> None:
    """Also the imports inside functions, which importing the modules does not run."""
    root = Path(smartcustoms.hardware.__file__).parent
    offending = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offending += [
                f"{path.relative_to(root)}:{node.lineno} {n}" for n in names if n.startswith(FORBIDDEN)
            ]
    assert offending == []
