"""The cache of offline fixtures (a benchmark's synthetic mini release, the tiny Qwen2.5-VL), each built once.

Each is built in a temporary sibling folder and renamed into place, so an interrupted
build never leaves a half-written fixture behind. Cache root: $OFFSIDE_CACHE or
~/.cache/offside.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from .fileio import honour_umask

MINI_VERSION = "v2"  # v2: roots carry the synthetic marker


def cache_dir() -> Path:
    return Path(os.environ.get("OFFSIDE_CACHE", Path.home() / ".cache" / "offside")).expanduser()


def build_once(target: Path, build: Callable[[Path], object]) -> Path:
    """`target`, built by `build(folder)` the first time (atomically: a half-built fixture never shows)."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        build(tmp)
        honour_umask(tmp, directory=True)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not target.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
