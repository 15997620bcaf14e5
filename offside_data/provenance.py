"""What produced a result: package versions and the source revision, recorded in every
results.json and checkpoint lineage so a number can be traced back to its code."""
from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from .fileio import atomic_write_text

SYNTHETIC_MARKER = ".offside-synthetic"  # written by every fixture generator into the root it builds


def mark_synthetic(root: str | Path, generator: str, **params) -> None:
    """Say, inside a generated data root, that it is synthetic and what made it (not a data file:
    fingerprints and loaders never see it)."""
    atomic_write_text(Path(root) / SYNTHETIC_MARKER, json.dumps({"generator": generator, **params}) + "\n")


def is_synthetic(root: str | Path) -> bool:
    """A data root built by one of offside's fixture generators, however it was named."""
    return (Path(root) / SYNTHETIC_MARKER).is_file()


PACKAGES = ("offside", "torch", "transformers", "peft", "trl", "accelerate", "datasets", "rouge-score", "sacrebleu",
            "openai", "pyyaml")


def package_versions() -> dict[str, str]:
    """Python's version and each installed package of PACKAGES (absent ones are left out)."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def git_revision() -> str | None:
    """HEAD of the source checkout (with "-dirty" when tracked files changed); None outside git."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if rev.returncode != 0:
        return None
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
