"""What the numbers were measured on: CPU, cores, memory, kernel, Python and the versions that matter."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path

PACKAGES = ("faust-streaming", "aiokafka", "ray", "grpcio", "numpy", "redis", "protobuf")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)  # /proc/meminfo counts KiB
    except OSError:
        pass
    return None


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def describe() -> dict[str, object]:
    """The machine description stored with every benchmark result."""
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "kernel": f"{platform.system()} {platform.release()}",
        "versions": {package: _version(package) for package in PACKAGES},
    }


def format_description(description: dict[str, object]) -> list[str]:
    versions = description["versions"]
    assert isinstance(versions, dict)
    return [
        f"machine: {description['cpu_model']}, {description['cpu_count']} cores, "
        f"{description['memory_gib']} GiB RAM, {description['kernel']}, Python {description['python']}",
        "versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()),
    ]
