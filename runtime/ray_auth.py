"""Ray's token authentication, on by default for every Ray cluster the runtime starts.

Ray's control and worker ports listen on every interface; without authentication anyone who reaches
the host can run code on it. So a local Ray (the stream worker's own, or the embedded head of tests and
benchmarks) runs with ``RAY_AUTH_MODE=token`` and a token of its own, kept in a file readable only by
its owner (``RAY_AUTH_TOKEN_PATH``), never in the user's home where runs would share it. Drivers that
join a cluster (a worker with ``ray.address``) get the same two variables from ``ray.auth_token_path``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["ensure_token", "local_token_path", "token_env", "use_token"]


def ensure_token(path: Path) -> Path:
    """The token file at ``path``, created (owner read/write only) with a new random token if missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32))
    return path


def local_token_path(auth_token_path: str, run_dir: str) -> Path:
    """Where the token of a worker's local Ray lives: the configured file, else one in the run dir."""
    return Path(auth_token_path) if auth_token_path else Path(run_dir) / "ray-auth-token"


def use_token(path: Path) -> None:
    """Make this process (a Ray driver, and the Ray processes it starts) use the token in ``path``.

    Ray reads its settings when it is imported; a process started with ``token_env`` in its environment
    (the runtime's own children, systemd units) needs nothing more. Otherwise the variables are set now
    and Ray's settings re-read, as Ray itself does when it turns token authentication on.
    """
    wanted = token_env(path)
    if all(os.environ.get(k) == v for k, v in wanted.items()):
        return
    os.environ.update(wanted)
    from ray._raylet import Config  # type: ignore[attr-defined]  # Ray's own refresh (its authentication setup)

    Config.initialize("")


def token_env(path: Path) -> dict[str, str]:
    """The environment that makes Ray (a head, a driver and their workers) use the token in ``path``."""
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(path.absolute())}
