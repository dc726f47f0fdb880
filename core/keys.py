"""Where the runtime keeps things in Redis: one prefix per namespace, in one place."""

from __future__ import annotations


def redis_prefix(namespace: str) -> str:
    """The prefix of every Redis key of a namespace: ledger, blob store, plugin state, readiness."""
    return f"sc:{namespace}:"


def plugin_state_prefix(namespace: str, plugin: str) -> str:
    """The prefix of one plugin's keyed state: no two plugins can read or overwrite each other's."""
    return f"{redis_prefix(namespace)}state:{plugin}:"


def readiness_key(namespace: str) -> str:
    """Hash of plugin name -> readiness report, written by the stream worker, read by the gateway."""
    return f"{redis_prefix(namespace)}ready"
