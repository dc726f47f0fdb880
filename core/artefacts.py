"""Reference data as versioned artefacts: a folder of files with a manifest naming its version,
where it came from and the SHA-256 of every file.

A plugin never builds its reference data (threat library, vehicle references, fitted models) while it
runs: an explicit command builds it from a named source (the simulator, or a folder of the site's own
labelled images) into ``<artefact root>/<name>/``, and the plugin loads it from there at start-up. The
content hash, over every file's hash, is what ``smartcustoms plugins`` shows and what every result of the
plugin carries, so a verdict can always be traced to the exact data that made it::

    <root>/xray-library/manifest.json   {"name": "xray-library", "version": "sim-v1", "source": "...",
                                         "built": "2026-12-02T10:00:00Z", "files": {"labels.csv": "ab12..."}}
    <root>/xray-library/labels.csv ...

Building writes into a temporary sibling and renames it into place, so a reader never sees half an
artefact and two builders do not collide.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "manifest.json"
ROOT_ENV = "SMARTCUSTOMS_ARTEFACTS_DIR"


class ArtefactError(RuntimeError):
    """An artefact that is missing, incomplete or altered since it was built."""


@dataclass(frozen=True)
class ArtefactInfo:
    """What identifies one built artefact."""

    name: str
    version: str
    content_hash: str  # sha256 over the sorted (file, file sha256) pairs
    source: str  # what it was built from, in words
    path: Path

    @property
    def short(self) -> str:
        """``name version hash12``, for listings and logs."""
        return f"{self.name} {self.version} {self.content_hash[:12]}"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "content_hash": self.content_hash}


def default_root() -> Path:
    """``$SMARTCUSTOMS_ARTEFACTS_DIR``, else ``$XDG_CACHE_HOME/smartcustoms/artefacts``, else
    ``~/.cache/smartcustoms/artefacts``."""
    explicit = os.environ.get(ROOT_ENV)
    if explicit:
        return Path(explicit).absolute()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base).absolute() / "smartcustoms" / "artefacts"


def resolve_root(configured: str = "") -> Path:
    """The configured artefact root (absolute), or the default one."""
    return Path(configured).absolute() if configured else default_root()


def root_for(config_path: str | None) -> Path:
    """The artefact root of the configuration file at ``config_path`` (a tool's ``--config``), else the
    default root."""
    if not config_path:
        return default_root()
    from smartcustoms.core import config  # only tools that name a configuration pay for loading it

    return resolve_root(config.load(config_path).artefacts_dir)


def locate(name: str, explicit_dir: str = "", root: str | Path = "") -> Path:
    """Where artefact ``name`` lives: an explicit folder if given, else ``<root>/<name>``."""
    if explicit_dir:
        return Path(explicit_dir).absolute()
    return resolve_root(str(root)) / name


def content_hash(files: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0{files[name]}\n".encode())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read(
    folder: str | Path, *, expected_name: str = "", build_hint: str = "", verify: bool = True
) -> ArtefactInfo:
    """The artefact in ``folder``; ArtefactError naming ``build_hint`` when missing or altered.

    ``verify`` re-hashes every file against the manifest (a few ms per MB): a plugin loading its data
    does it once at start-up; a listing may skip it.
    """
    folder = Path(folder)
    hint = f": build it with `{build_hint}`" if build_hint else ""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ArtefactError(f"no artefact at {folder} (no {MANIFEST}){hint}")
    try:
        manifest = json.loads(manifest_path.read_text())
        name, version, source = str(manifest["name"]), str(manifest["version"]), str(manifest["source"])
        files = {str(k): str(v) for k, v in dict(manifest["files"]).items()}
    except (ValueError, KeyError, TypeError) as error:
        raise ArtefactError(f"{manifest_path}: not an artefact manifest ({error}){hint}") from None
    if expected_name and name != expected_name:
        raise ArtefactError(f"{folder} holds artefact {name!r}, not {expected_name!r}{hint}")
    if verify:
        for relative, expected in files.items():
            path = folder / relative
            if not path.is_file() or file_sha256(path) != expected:
                raise ArtefactError(f"{folder}: {relative} is missing or changed since the build{hint}")
    return ArtefactInfo(name, version, content_hash(files), source, folder)


def build(
    folder: str | Path, *, name: str, version: str, source: str, write: Callable[[Path], None]
) -> ArtefactInfo:
    """Build an artefact: ``write(staging_dir)`` writes the files, then the manifest is added and the
    folder renamed into place (an older build of it is replaced)."""
    folder = Path(folder).absolute()
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; workers may run as another user
    try:
        write(staging)
        files = {
            str(path.relative_to(staging)): file_sha256(path)
            for path in sorted(staging.rglob("*"))
            if path.is_file() and path.name != MANIFEST
        }
        manifest = {
            "name": name,
            "version": version,
            "source": source,
            "built": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "files": files,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        _swap_into_place(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return read(folder, expected_name=name)


def _swap_into_place(staging: Path, folder: Path) -> None:
    old = None
    if folder.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{folder.name}-old-", dir=folder.parent))
        old.rmdir()
        folder.rename(old)
    try:
        staging.rename(folder)
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
