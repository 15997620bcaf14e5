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


def interrupted_training(folder: Path, key: str) -> bool:
    """A training stage of the same configuration that was killed after saving a `checkpoint-N`
    (stage options `save_strategy: steps` + `save_steps: N`): it resumes from there."""
    try:
        started = json.loads((folder / STARTED_FILE).read_text())["key"] == key
    except (OSError, json.JSONDecodeError, KeyError):
        return False
    return started and any(folder.glob("checkpoint-*"))


def finished(folder: Path, key: str) -> bool:
    marker = folder / STAGE_FILE
    if not marker.exists():
        return False
    try:
        return json.loads(marker.read_text())["key"] == key
    except (json.JSONDecodeError, KeyError):
        return False
