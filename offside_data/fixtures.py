"""Cached offline fixtures: OFFSIDE-mini, MLLMU-mini and the tiny Qwen2.5-VL, built once on first use.

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
    """`target`, made by `build(folder)` on first use (benchmark plugins' fixtures build theirs here too)."""
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


def ensure_mini(players: int = 12, seed: int = 0) -> Path:
    """Path of the cached OFFSIDE-mini (players, seed), building it if needed."""
    from .synth import generate

    return build_once(cache_dir() / f"offside-mini-{MINI_VERSION}-p{players}-s{seed}",
                      lambda out: generate(out, n_players=players, seed=seed))


def ensure_mllmu_mini(profiles: int = 60, seed: int = 0) -> Path:
    """Path of the cached MLLMU-mini (fictional profiles, seed), building it if needed."""
    from .mllmu_synth import generate

    return build_once(cache_dir() / f"mllmu-mini-{MINI_VERSION}-p{profiles}-s{seed}",
                      lambda out: generate(out, n_profiles=profiles, seed=seed))


def ensure_tiny_model(seed: int = 0) -> Path:
    """Path of the cached tiny Qwen2.5-VL (tokenizer trained on the default OFFSIDE-mini)."""
    from .tiny_model import TinyConfig, build_tiny_model

    data = ensure_mini()
    return build_once(cache_dir() / f"tiny-qwen2_5_vl-{MINI_VERSION}-s{seed}",
                      lambda out: build_tiny_model(out, data, TinyConfig(seed=seed)))
