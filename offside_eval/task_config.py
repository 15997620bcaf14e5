"""Typed task and group configs: the lmms-eval YAML keys plus our own (modality, image_size, metadata).

Every key a YAML file may hold is a field here, so a typo is caught where it is written: one line
naming the file and the closest valid key.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class TaskError(ValueError):
    """Bad task name or task file."""


MODALITIES = ("mm", "text")


@dataclass
class TaskConfig:
    task: str
    path: Path | None = None  # the YAML file it came from (not a YAML key)
    tag: list[str] = field(default_factory=list)
    dataset_path: Any = None  # a registered benchmark (offside_data.benchmarks), a file/folder or a hub id
    dataset_name: str | None = None
    dataset_kwargs: dict[str, Any] = field(default_factory=dict)
    test_split: str = "test"
    process_docs: Any = None
    output_type: str = "generate_until"
    doc_to_visual: Any = None
    doc_to_text: Any = None
    doc_to_choice: Any = None
    doc_to_target: Any = None
    process_results: Any = None
    doc_to_image_id: Any = None  # the image's name a judge prompt shows (the authors' judge: its basename)
    metric_list: list[dict[str, Any]] | None = None
    generation_kwargs: dict[str, Any] = field(default_factory=dict)
    lmms_eval_specific_kwargs: dict[str, Any] = field(default_factory=dict)
    modality: str = "mm"  # "text": send no image
    image_size: tuple[int, int] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # what pipelines/reports query (TaskIndex.find)

    def __post_init__(self) -> None:
        where = f"{self.path}: " if self.path else f"task {self.task}: "
        if isinstance(self.tag, str):
            self.tag = [self.tag]
        for name in ("dataset_kwargs", "generation_kwargs", "lmms_eval_specific_kwargs", "metadata"):
            value = getattr(self, name)
            if value is None:
                setattr(self, name, {})
            elif not isinstance(value, dict):
                raise TaskError(f"{where}{name} must be a mapping, got {value!r}")
        if self.modality not in MODALITIES:
            raise TaskError(f"{where}modality must be mm or text, got {self.modality!r}")
        if self.image_size is not None:
            self.image_size = tuple(self.image_size)

    @property
    def source(self) -> str:
        return str(self.path) if self.path else f"task {self.task}"


@dataclass
class GroupConfig:
    group: str
    task: list[Any]  # names, or {task: name} mappings
    path: Path | None = None
    aggregate_metric_list: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def subtasks(self) -> list[str]:
        return [t if isinstance(t, str) else t.get("task") for t in self.task]


_NOT_KEYS = {"path"}
TASK_KEYS = {f.name for f in dataclasses.fields(TaskConfig)} - _NOT_KEYS
GROUP_KEYS = {f.name for f in dataclasses.fields(GroupConfig)} - _NOT_KEYS
VALID_KEYS = TASK_KEYS | GROUP_KEYS | {"include"}


def check_keys(data: dict[str, Any], path: Path) -> None:
    """Every key of one YAML file (before includes merge) is a known one; else name the closest."""
    for key in data:
        if key not in VALID_KEYS:
            close = difflib.get_close_matches(str(key), sorted(VALID_KEYS), n=1, cutoff=0.0)
            raise TaskError(f"{path}: unknown key {key!r} (did you mean {close[0]!r}?)")


def make_config(data: dict[str, Any], path: Path) -> TaskConfig | GroupConfig | None:
    """The typed config of a merged YAML mapping: a group, a task, or None (neither, e.g. a fragment)."""
    if "group" in data and isinstance(data.get("task"), list):
        extra = sorted(set(data) - GROUP_KEYS)
        if extra:
            raise TaskError(f"{path}: group {data['group']!r} cannot have task key(s) {', '.join(extra)}")
        return GroupConfig(**{**data, "group": str(data["group"])}, path=path)
    if isinstance(data.get("task"), str):
        extra = sorted(set(data) - TASK_KEYS)
        if extra:
            raise TaskError(f"{path}: task {data['task']!r} cannot have group key(s) {', '.join(extra)}")
        return TaskConfig(**data, path=path)
    return None
