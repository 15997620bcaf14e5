"""Task index: YAML task/group files from the registered task folders (each benchmark's) and any `--include_path`.

lmms-eval-compatible YAML: `include:` (one file or a list, merged in order) deep-merges templates
under the file (nested mappings merge, the including file wins; a file without `.yaml` suffix is
a template, never a task; a relative include is looked up next to the file, then among the
built-in tasks), `!function file.fn` names a Python hook relative to the YAML, a file with
`group:` and `task: [...]` is a group, `tag:` adds a task to a named collection. Keys are
checked per file (`offside_eval.task_config`). A task in an include path overrides a built-in
of the same name (with a warning). `TaskIndex.find(**metadata)` selects tasks by their metadata.
"""
from __future__ import annotations

import difflib
import importlib.util
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from offside_data.benchmarks import TASK_FOLDERS

from .task_config import GroupConfig, TaskConfig, TaskError, check_keys, make_config

log = logging.getLogger("offside_eval")


@dataclass(frozen=True)
class FunctionRef:
    """`!function utils.doc_to_text` -> (module file utils.py next to the YAML, attribute)."""
    spec: str
    base_dir: str

    def resolve(self):
        module, _, attr = self.spec.rpartition(".")
        if not module:
            raise TaskError(f"!function {self.spec!r}: expected file.function")
        path = Path(self.base_dir) / (module.replace(".", "/") + ".py")
        if not path.exists():
            raise TaskError(f"!function {self.spec!r}: {path} not found")
        mod = _load_module(str(path))
        if not hasattr(mod, attr):
            raise TaskError(f"!function {self.spec!r}: {path} has no {attr!r}")
        return getattr(mod, attr)


_MODULES: dict[str, Any] = {}


def _load_module(path: str):
    if path not in _MODULES:
        name = "offside_task_hooks_" + str(abs(hash(path)))
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        _MODULES[path] = module
    return _MODULES[path]


def _loader_for(base_dir: Path):
    class Loader(yaml.SafeLoader):
        pass

    def function(loader, node):
        return FunctionRef(loader.construct_scalar(node), str(base_dir))

    Loader.add_constructor("!function", function)
    return Loader


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`base` updated by `top`, nested mappings merged key by key (lists and scalars: `top` wins)."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_yaml(path: str | Path, _seen: tuple = ()) -> dict[str, Any]:
    """Read one task/group YAML with its `include` chain deep-merged (the including file wins)."""
    path = Path(path).resolve()
    if path in _seen:
        raise TaskError(f"{path}: include loop")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_loader_for(path.parent)) or {}
    except yaml.YAMLError as exc:
        raise TaskError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise TaskError(f"{path}: top level must be a mapping")
    check_keys(data, path)
    include = data.pop("include", None)
    merged: dict[str, Any] = {}
    for name in [include] if isinstance(include, str) else include or []:
        merged = deep_merge(merged, load_yaml(_include_path(path, str(name)), _seen + (path,)))
    return deep_merge(merged, data)


def _include_path(path: Path, include: str) -> Path:
    base = Path(include) if Path(include).is_absolute() else path.parent / include
    if not base.exists() and not Path(include).is_absolute():
        # a user task may build on a built-in one: include: NAME/file.yaml (registered folder NAME's file)
        name, _, rest = include.partition("/")
        candidates = [TASK_FOLDERS[name] / rest] if name in TASK_FOLDERS else []
        base = next((c for c in candidates + [d / include for d in builtin_dirs()] if c.exists()), base)
    if not base.exists():
        raise TaskError(f"{path}: include {include!r} not found (next to the file or among the built-in tasks)")
    return base


@dataclass
class Entry:
    name: str
    kind: str  # "task" | "group" | "tag"
    path: Path | None
    config: TaskConfig | GroupConfig | None = None  # None for a tag
    subtasks: list[str] = field(default_factory=list)
    builtin: bool = True


def builtin_dirs() -> list[Path]:
    """The registered task folders: each benchmark's `tasks_dir`, each utility task folder."""
    return list(TASK_FOLDERS.values())


class TaskIndex:
    def __init__(self, include_paths: Iterable[str | Path] | None = None):
        self.entries: dict[str, Entry] = {}
        for folder in builtin_dirs():
            self._scan(folder, builtin=True)
        for extra in include_paths or []:
            extra = Path(extra)
            if not extra.is_dir():
                raise TaskError(f"--include_path {extra}: not a directory")
            self._scan(extra, builtin=False)
        self._add_tags()

    def _scan(self, root: Path, builtin: bool) -> None:
        for path in sorted(root.rglob("*.yaml")):
            if "__pycache__" in path.parts:
                continue
            config = make_config(load_yaml(path), path)
            if isinstance(config, GroupConfig):
                self._add(Entry(config.group, "group", path, config, config.subtasks, builtin))
            elif isinstance(config, TaskConfig):
                self._add(Entry(config.task, "task", path, config, [], builtin))
            else:
                log.debug("skipping %s: neither a task nor a group", path)

    def _add(self, entry: Entry) -> None:
        old = self.entries.get(entry.name)
        if old is not None:
            if old.builtin and not entry.builtin:
                log.warning("task %r from %s overrides the built-in one (%s)", entry.name, entry.path, old.path)
            elif old.builtin == entry.builtin:
                raise TaskError(f"task name {entry.name!r} defined twice: {old.path} and {entry.path}")
            else:
                return
        self.entries[entry.name] = entry

    def _add_tags(self) -> None:
        tags: dict[str, list[str]] = {}
        for entry in list(self.entries.values()):
            for t in entry.config.tag if entry.kind == "task" else []:
                tags.setdefault(t, []).append(entry.name)
        for tag, names in tags.items():
            if tag not in self.entries:
                self.entries[tag] = Entry(tag, "tag", None, None, sorted(names))

    # ---- queries ------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self.entries)

    def get(self, name: str) -> Entry:
        if name not in self.entries:
            close = difflib.get_close_matches(name, self.entries, n=5, cutoff=0.5)
            hint = f"; did you mean: {', '.join(close)}?" if close else "; run `offside-eval --tasks list`"
            raise TaskError(f"unknown task {name!r}{hint}")
        return self.entries[name]

    def find(self, **metadata: Any) -> list[str]:
        """Sorted names of the tasks whose `metadata` has every given key=value.

        find(benchmark="offside", role="forget", kind="mc", modality="mm") -> ["offside_forget_mm_mc"].
        A key no task's metadata has is an error (a typo would otherwise select nothing).
        """
        tasks = [e for e in self.entries.values() if e.kind == "task"]
        known = {k for e in tasks for k in e.config.metadata}
        unknown = sorted(set(metadata) - known)
        if unknown:
            raise TaskError(f"no task has metadata key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return sorted(e.name for e in tasks if all(k in e.config.metadata and e.config.metadata[k] == v
                                                   for k, v in metadata.items()))

    def expand(self, name: str, _stack: tuple = ()) -> list[str]:
        """Leaf task names of a task, group or tag (in order, without duplicates)."""
        if name in _stack:
            raise TaskError(f"group {name!r} contains itself")
        entry = self.get(name)
        if entry.kind == "task":
            return [name]
        out: list[str] = []
        for sub in entry.subtasks:
            for leaf in self.expand(sub, _stack + (name,)):
                if leaf not in out:
                    out.append(leaf)
        return out

    def table(self) -> str:
        rows = [("name", "kind", "output_type / members", "source")]
        for name in self.names():
            e = self.entries[name]
            what = e.config.output_type if e.kind == "task" else ", ".join(e.subtasks[:3])
            if e.kind != "task" and len(e.subtasks) > 3:
                what += f", ... ({len(e.subtasks)} tasks)"
            rows.append((name, e.kind, what, "built-in" if e.builtin else str(e.path)))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<5}  {r[2]:<{widths[2]}}  {r[3]}" for r in rows)
