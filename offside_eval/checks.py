"""Bad input found before any model loads: model name and args, output folders, image files.

Each check raises the package's one-line error (ModelError / EvalError / DataError) naming the option,
file or field, and writes nothing.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from offside_data.chat import check_image

from .models import LMM, ModelError, get_model_class, parse_model_args
from .results import EvalError
from .task import Task


def check_model(model: str | LMM, model_args: Any) -> None:
    """A registered name, known model_args, and local pretrained/adapter paths that exist; loads nothing."""
    if not isinstance(model, str):
        return
    args = dict(model_args) if isinstance(model_args, dict) else parse_model_args(model_args)
    get_model_class(model).check_args(args)
    for key in ("pretrained", "adapter"):
        value = args.get(key)
        local = isinstance(value, str) and (value.startswith(("/", ".", "~")) or value.count("/") > 1)
        if local and not Path(value).expanduser().exists():
            raise ModelError(f"--model_args {key}={value}: no such file or folder")


def check_folder(path: str | Path | None, option: str) -> Path | None:
    """A folder that exists or can be created (checked, not created: bad input writes nothing)."""
    if path is None or str(path) == "":
        return None
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise EvalError(f"{option} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise EvalError(f"{option} {path}: {existing} is not writable")
    return path


def check_doc_images(task_objs: dict[str, Task], docs: dict[str, list[dict]]) -> None:
    """Header-check the image files docs reference (`_root` + `image`, as benchmark docs carry): milliseconds."""
    seen: set[Path] = set()
    for name, task in task_objs.items():
        if task.modality == "text":
            continue
        for doc in docs[name]:
            if isinstance(doc.get("_root"), str) and isinstance(doc.get("image"), str):
                path = Path(doc["_root"]) / doc["image"]
                if path not in seen:
                    check_image(path)
                    seen.add(path)
