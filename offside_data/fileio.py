"""Atomic file writes: results, reports, data files and lineage are never left half-written."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def current_umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def honour_umask(path: str | Path, directory: bool = False) -> None:
    """Give a file made by `mkstemp` (0600) / a folder made by `mkdtemp` (0700) the mode a plain
    open()/mkdir() would have had: 0644 / 0755 under umask 022, so colleagues on a cluster can read."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` to a temporary sibling, then rename it over `path` (mode as the umask says)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        honour_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_yaml_mapping(path: str | Path, what: str) -> dict:
    """A YAML file whose top level is a mapping (an experiment, a trainer --config); the ValueError
    names `what` (e.g. the file, or '--config FILE') and the problem in one line."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{what}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what}: top level must be a mapping")
    return data
