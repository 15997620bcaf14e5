"""Checkpoint lineage: how offside checkpoints point at their parents, shared by train and eval.

A checkpoint folder holds either full weights or a peft LoRA adapter, plus
`offside_lineage.json` (parent, method, hyperparameters, data identity, ...). An adapter
folder is resolved by walking parents until a full-weights model is reached; the adapters
found on the way are applied (and merged) oldest first. So pretrained -> vanilla (LoRA) ->
unlearned (LoRA) -> relearned (LoRA) loads as base + three merged adapters.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .fileio import atomic_write_text

LINEAGE_FILE = "offside_lineage.json"
ADAPTER_FILE = "adapter_config.json"


class CheckpointError(ValueError):
    pass


def read_lineage(path: str | Path) -> dict[str, Any] | None:
    file = Path(path) / LINEAGE_FILE
    if not file.exists():
        return None
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{file}: invalid JSON ({exc})") from None


def write_lineage(path: str | Path, record: dict[str, Any]) -> Path:
    """Write the lineage record atomically (a crash never leaves a half-written file)."""
    return atomic_write_text(Path(path) / LINEAGE_FILE, json.dumps(record, indent=1, sort_keys=True, default=str))


def _parent_of(folder: Path) -> str:
    lineage = read_lineage(folder) or {}
    parent = lineage.get("parent")
    if not parent:
        adapter_cfg = json.loads((folder / ADAPTER_FILE).read_text(encoding="utf-8"))
        parent = adapter_cfg.get("base_model_name_or_path")
    if not parent:
        raise CheckpointError(f"{folder}: adapter without a parent (no 'parent' in {LINEAGE_FILE}, no base model)")
    candidate = Path(parent)
    if not candidate.is_absolute() and (folder / candidate).exists():
        return str((folder / candidate).resolve())
    return parent


def resolve_checkpoint(path: str | Path) -> tuple[str, list[str]]:
    """Return (full-weights model path or hub id, adapter folders to apply oldest first)."""
    adapters: list[str] = []
    current = str(path)
    seen = set()
    while Path(current).is_dir() and (Path(current) / ADAPTER_FILE).exists():
        if current in seen:
            raise CheckpointError(f"{path}: lineage loops back to {current}")
        seen.add(current)
        adapters.insert(0, current)
        current = _parent_of(Path(current))
    return current, adapters


def processor_source(path: str | Path) -> str:
    """The folder to load the processor from: the checkpoint's own copy if saved, else its base."""
    path = Path(path)
    if any((path / name).exists() for name in ("processor_config.json", "preprocessor_config.json",
                                                "tokenizer_config.json")):
        return str(path)
    base, _ = resolve_checkpoint(path)
    return base


def load_model(path: str | Path, dtype: Any = None, device_map: Any = None, model_cls: Any = None, **kwargs):
    """Load a checkpoint (full weights or an adapter chain) as one plain transformers model.

    Adapters are merged one by one, so the result has no peft wrappers: training a new
    adapter on top, evaluating, or using it as a frozen reference all see the same weights.
    """
    from transformers import AutoModelForImageTextToText

    base, adapters = resolve_checkpoint(path)
    cls = model_cls or AutoModelForImageTextToText
    model = cls.from_pretrained(base, dtype=dtype, device_map=device_map, **kwargs)
    if adapters:
        from peft import PeftModel

        for adapter in adapters:
            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return model
