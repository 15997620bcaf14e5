"""Stage markers in a run folder: a stage's key (a hash of its configuration and its parent's), the
marker of a finished stage, and the one of a started training stage (to resume after a kill)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from offside_data.fileio import atomic_write_text

STAGE_FILE = ".offside_stage.json"
STARTED_FILE = ".offside_stage_started.json"


def stage_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, default=str))


def _started(folder: Path, key: str) -> bool:
    try:
        return json.loads((folder / STARTED_FILE).read_text())["key"] == key
    except (OSError, json.JSONDecodeError, KeyError):
        return False


def interrupted_training(folder: Path, key: str) -> bool:
    """A training stage of the same configuration that was killed after saving a `checkpoint-N`
    (stage options `save_strategy: steps` + `save_steps: N`): it resumes from there."""
    return _started(folder, key) and any(folder.glob("checkpoint-*"))


def interrupted_evaluation(folder: Path, key: str) -> bool:
    """An evaluation stage of the same configuration that was killed with answers in its journal: the
    rerun resumes them instead of asking the model again."""
    return _started(folder, key) and (folder / "journal").is_dir()


def finished(folder: Path, key: str) -> bool:
    marker = folder / STAGE_FILE
    if not marker.exists():
        return False
    try:
        return json.loads(marker.read_text())["key"] == key
    except (json.JSONDecodeError, KeyError):
        return False
