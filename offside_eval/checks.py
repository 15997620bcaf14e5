"""Bad input found before any model loads: model name and args, output folders, image files.

Each check raises the package's one-line error (ModelError / EvalError / DataError) naming the option,
file or field, and writes nothing.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from transformers import GenerationConfig

from offside_data.chat import check_image
from offside_data.options import did_you_mean, missing_local_path

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
        problem = missing_local_path(value) if isinstance(value, str) else None
        if problem:
            raise ModelError(f"--model_args {key}={value}: {problem}")
    if args.get("device") is not None:
        check_device(args["device"], "--model_args device")


# generate() options beyond transformers' GenerationConfig that offside's models take
OFFSIDE_GEN_KEYS = ("until", "use_checkpoint_generation_config", "strip_reply")


def check_gen_kwargs(gen_kwargs: dict[str, Any]) -> None:
    """Keys generate() knows (transformers' GenerationConfig fields and offside's own), else one line."""
    known = [*OFFSIDE_GEN_KEYS, *GenerationConfig().to_dict()]
    for key in gen_kwargs:
        if key not in known:
            raise EvalError(f"--gen_kwargs {key}: not a generation option{did_you_mean(key, known)}")


def check_device(device: str | None, option: str = "--device") -> None:
    """A device this machine has, before any model loads."""
    if device is None or device in ("auto", "cpu"):
        return
    kind, _, index = str(device).partition(":")
    available = {"cuda": torch.cuda.is_available, "mps": torch.backends.mps.is_available}.get(kind)
    if available is None:
        raise EvalError(f"{option} {device}: not a device (cpu, cuda, cuda:N, mps or auto)")
    if not available():
        raise EvalError(f"{option} {device}: {kind} is not available on this machine (torch {torch.__version__}); "
                        "use --device cpu")
    if kind == "cuda" and index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise EvalError(f"{option} {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def check_output_run(folder: Path | None, run: dict[str, Any]) -> None:
    """An --output_path holding another run's results.json is refused, so two runs' files never mix;
    the same run (model, model_args, tasks, limit) goes on: its journal resumes, its files are replaced."""
    previous = folder / "results.json" if folder else None
    if previous is None or not previous.is_file():
        return
    try:
        old = json.loads(previous.read_text(encoding="utf-8"))["config"]
    except (OSError, ValueError, KeyError, TypeError):
        raise EvalError(f"--output_path {folder}: its results.json is unreadable; choose another folder") from None
    for key, value in run.items():
        if json.dumps(old.get(key), sort_keys=True, default=str) != json.dumps(value, sort_keys=True, default=str):
            raise EvalError(f"--output_path {folder} holds another run's results ({key}: {old.get(key)!r}, now "
                            f"{value!r}); choose another --output_path or remove that folder")


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
