"""What produced a result: package versions and the source revision, recorded in every
results.json and checkpoint lineage so a number can be traced back to its code."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

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
