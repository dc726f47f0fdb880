"""Dependencies point one way: hardware and plugins import core; runtime imports them all; core
imports none of them. A plugin's runtime modules import only core and their own package; its offline
tools (``plugins/<name>/tools``) may also use the simulators in hardware. Every package on disk is in
setup.cfg, so a regular install holds it."""

from __future__ import annotations

import ast
import configparser
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
FOLDERS = ("core", "hardware", "plugins", "runtime", "dashboards")
ALWAYS = {"core", "v1"}  # every layer may use the domain types and the wire contract


def allowed(path: Path) -> set[str]:
    """The smartcustoms top packages the module at ``path`` may import."""
    parts = path.relative_to(ROOT).parts
    top = parts[0]
    if top == "core":
        return set(ALWAYS)
    if top in ("hardware", "dashboards"):
        return ALWAYS | {top}
    if top == "plugins":
        return ALWAYS | {"plugins"} | ({"hardware"} if "tools" in parts else set())
    return ALWAYS | set(FOLDERS)


def imported(path: Path) -> list[tuple[int, str]]:
    """Every ``smartcustoms.X...`` a module imports, lazily or not, with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.startswith("smartcustoms.")]


def modules() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_one_way(path: Path) -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for line, name in imported(path)
        if name.split(".")[1] not in allowed(path)
    ]
    assert not bad, "\n".join(bad)


def test_the_check_sees_real_imports() -> None:
    runtime_imports = {name for _, name in imported(ROOT / "runtime" / "worker.py")}
    assert "smartcustoms.core.config" in runtime_imports
    assert allowed(ROOT / "plugins" / "xray" / "tools" / "cli.py") >= {"hardware"}
    assert "hardware" not in allowed(ROOT / "plugins" / "xray" / "detector.py")


def plugin_packages() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "plugins").glob("*/__init__.py"))


@pytest.mark.parametrize("package", plugin_packages())
def test_a_plugin_imports_no_other_plugin(package: str) -> None:
    """A plugin package's modules (tools included) import no other plugin package."""
    for path in (ROOT / "plugins" / package).rglob("*.py"):
        for line, name in imported(path):
            parts = name.split(".")
            if parts[1] == "plugins" and len(parts) > 2:
                assert parts[2] == package, f"{path.relative_to(ROOT)}:{line} imports {name}"


@pytest.mark.parametrize("top", ["core", "hardware", "plugins", "dashboards"])
def test_each_top_package_imports_alone(top: str) -> None:
    """Importing a package (and the plugin classes the host discovers) loads nothing above its layer."""
    targets = [f"smartcustoms.{top}"]
    if top == "plugins":
        targets += [f"smartcustoms.plugins.{name}" for name in plugin_packages()]
    probe = (
        "import importlib, json, sys\n"
        f"for name in {targets!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[1] for m in sys.modules if m.startswith('smartcustoms.')})))"
    )
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", probe], text=True)))
    expected = {"core": ALWAYS, "hardware": ALWAYS | {"hardware"}, "plugins": ALWAYS | {"plugins"}}
    assert loaded <= expected.get(top, ALWAYS | {top}), loaded


def test_every_package_is_listed_in_setup_cfg() -> None:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    listed = set(setup["options"]["packages"].split())
    on_disk = {
        "smartcustoms." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in FOLDERS
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert on_disk <= listed, sorted(on_disk - listed)
