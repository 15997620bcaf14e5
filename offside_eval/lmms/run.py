"""`offside-eval --tasks lmms:<task>[,...]`: lmms-eval tasks (MMMU, POPE, ...) run by
lmms-eval itself with our model behind the adapter, results returned in offside-eval's shape."""
from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

import lmms_eval
from lmms_eval.evaluator import simple_evaluate
from lmms_eval.tasks import TaskManager

from offside_data.provenance import package_versions

from ..models import parse_model_args
from ..results import json_safe
from .adapter import OffsideHFVLM, OffsideQwen25VL
from .export import tasks_dirs
from .routing import PREFIX

ADAPTERS = {"qwen2_5_vl": OffsideQwen25VL, "hf_vlm": OffsideHFVLM}


def _metrics(raw: dict[str, Any], n: int) -> dict[str, Any]:
    """{"acc,none": v, "acc_stderr,none": s, "alias": ...} -> {"acc": v, "acc_stderr": s, "n": n}."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name, _, _filter = key.partition(",")
        if name != "alias" and isinstance(value, (int, float)):
            out[name] = value
    out["n"] = n
    return out


def run_lmms_tasks(model_name: str, model_args: str | dict[str, Any] | None, tasks: Sequence[str], *,
                   limit: int | float | None = None, batch_size: int | None = None, device: str | None = None,
                   include_path: Sequence[str] | None = None, seed: int = 0) -> dict[str, Any]:
    """Run lmms-eval `tasks` ("lmms:" prefix optional) on one of our models; returns
    {"results": {"lmms:<task>": {metric, metric_stderr, n}}, "higher_is_better": {...},
     "n_samples": {...}, "versions": {"lmms_eval": ...}} to merge into offside-eval's results.json.
    Every registered benchmark's lmms-eval task copies (`Benchmark.lmms_dir`) are always on the include path."""
    if model_name not in ADAPTERS:
        raise ValueError(f"lmms tasks: model {model_name!r} has no lmms-eval adapter (one of {', '.join(ADAPTERS)})")
    names = [t[len(PREFIX):] if t.startswith(PREFIX) else t for t in tasks]
    args = dict(model_args) if isinstance(model_args, dict) else parse_model_args(model_args)
    for key, value in (("batch_size", batch_size), ("device", device)):
        if value is not None:
            args.setdefault(key, value)  # model_args win, as in offside-eval's load_model
    lm = ADAPTERS[model_name](**args)
    manager = TaskManager(include_path=[*map(str, tasks_dirs()), *map(str, include_path or [])])
    unknown = [n for n in names if n not in manager.all_tasks]
    if unknown:
        raise ValueError(f"lmms tasks: unknown lmms-eval task(s) {', '.join(unknown)}")
    raw = simple_evaluate(model=lm, tasks=names, limit=limit, task_manager=manager, log_samples=False,
                          random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed, verbosity="WARNING")
    counts = raw.get("n-samples", {})
    return {
        "results": {PREFIX + t: _metrics(r, counts.get(t, {}).get("effective")) for t, r in raw["results"].items()},
        "higher_is_better": {PREFIX + t: json_safe(h) for t, h in raw.get("higher_is_better", {}).items()},
        "n_samples": {PREFIX + t: json_safe(c) for t, c in counts.items()},
        "versions": {"lmms_eval": getattr(lmms_eval, "__version__", None)},
    }


def lmms_results(model_name: str, model_args: Any, tasks: Sequence[str], **kwargs) -> dict[str, Any]:
    """A results.json-shaped dict of lmms-eval tasks alone."""
    got = run_lmms_tasks(model_name, model_args, tasks, **kwargs)
    return {"results": got["results"], "tasks": {}, "groups": {}, "higher_is_better": got["higher_is_better"],
            "n_samples": got["n_samples"], "config": {"model": model_name, "model_args": json_safe(
                model_args if isinstance(model_args, dict) else parse_model_args(model_args)), "tasks": list(tasks),
                **json_safe(kwargs)},
            "versions": {**package_versions(), **got["versions"]},
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
