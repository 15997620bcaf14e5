"""The plan of an evaluation: which tasks run, their benchmarks' data (resolved once each) and their
docs, all before any model loads."""
from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offside_data.benchmarks import BENCHMARKS, data_root_for, get_benchmark
from offside_data.options import parse_kv

from .checks import check_doc_images, check_gen_kwargs
from .judging import judge_client, select_leaves
from .results import EvalError
from .task import Task
from .tasks_index import TaskError, TaskIndex
from .unlearning_metrics import DEFAULT_TOKEN_SET

log = logging.getLogger("offside_eval")


@dataclass
class Plan:
    """What one evaluation will do, decided before any model is loaded."""
    index: TaskIndex
    requested: list[str]
    tasks: dict[str, Task]
    docs: dict[str, list[dict]]  # after --limit
    n_original: dict[str, int]
    data: dict[str, dict[str, Any]]  # benchmark name -> Benchmark.resolve() info
    skipped: list[str]  # judge tasks left out of groups (no judge configured)
    judge: Any  # the judge's ChatClient, or None
    gen_kwargs: dict[str, Any]
    include_paths: list[Path]




def with_metadata(config, metadata: dict[str, Any]):
    """The task config with the --metadata keys its benchmark takes merged into dataset_kwargs."""
    bench = get_benchmark(config.dataset_path)
    taken = {k: v for k, v in metadata.items() if bench is not None and k in bench.metadata_keys}
    return dataclasses.replace(config, dataset_kwargs={**config.dataset_kwargs, **taken}) if taken else config


def plan(tasks: str | Sequence[str], *, model_name: str = "", include_path: Any = None, data_root: Any = None,
         gen_kwargs: str | dict[str, Any] | None = None, judge_args: Any = None,
         limit: int | float | None = None, metadata: str | dict[str, Any] | None = None,
         token_set: str = DEFAULT_TOKEN_SET) -> Plan:
    """Tasks to run, their benchmarks' data (resolved once each) and their docs; no model needed.

    `metadata` (lm-eval's --metadata, "k=v,..." or a dict) goes into the dataset_kwargs of every task
    whose benchmark declares the key (e.g. forget_ratio=10); a key no task takes is
    an error. `token_set` (`unlearning_metrics.TOKEN_SETS`): the answer tokens token_scores tasks'
    probabilities cover."""
    include_paths = [include_path] if isinstance(include_path, (str, Path)) else list(include_path or [])
    index = TaskIndex(include_paths)
    requested = task_names(tasks)
    client = judge_client(judge_args)
    leaves, skipped = select_leaves(index, requested, client is not None)
    overrides = parse_kv(gen_kwargs, "--gen_kwargs") if isinstance(gen_kwargs, str) else dict(gen_kwargs or {})
    check_gen_kwargs(overrides)
    extra = parse_kv(metadata, "--metadata") if isinstance(metadata, str) else dict(metadata or {})
    task_objs = {name: Task(with_metadata(index.get(name).config, extra), model_name, overrides, token_set)
                 for name in leaves}
    unused = sorted(set(extra) - {k for t in task_objs.values() if t.benchmark for k in t.benchmark.metadata_keys})
    if unused:
        raise EvalError(f"--metadata {unused[0]}: no task to run takes it (benchmark keys: "
                        f"{', '.join(f'{b.name}: {list(b.metadata_keys)}' for b in BENCHMARKS.values()) or 'none'})")
    data: dict[str, dict[str, Any]] = {}
    for task in task_objs.values():
        bench = task.benchmark
        if bench is not None and bench.name not in data:
            data[bench.name] = bench.resolve(data_root_for(bench.name, data_root))
            if data[bench.name]["synthetic"]:
                for line in ("=" * 100, data[bench.name]["warning"], f"(data root {data[bench.name]['root']}; "
                             f"pass the real release with --data_root or set {bench.env_var})", "=" * 100):
                    log.warning(line)
    docs: dict[str, list[dict]] = {}
    n_original: dict[str, int] = {}
    for name, task in task_objs.items():
        root = data[task.benchmark.name]["root"] if task.benchmark else None
        all_docs = task.docs(root)
        n_original[name] = len(all_docs)
        docs[name] = _apply_limit(all_docs, limit)
        if not docs[name]:
            raise EvalError(f"task {name}: no documents" + (f" (data root {root})" if root else ""))
    check_doc_images(task_objs, docs)
    return Plan(index, requested, task_objs, docs, n_original, data, skipped, client, overrides,
                [Path(x) for x in include_paths])




def task_names(tasks: str | Sequence[str]) -> list[str]:
    """The names of a --tasks value (comma-separated text or a list); none is an error."""
    names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t and t.strip()]
    if not names:
        raise TaskError("no tasks given")
    return names




def _apply_limit(docs: list, limit: int | float | None) -> list:
    if limit is None:
        return docs
    if isinstance(limit, float) and 0 < limit < 1:
        return docs[: max(1, int(math.ceil(len(docs) * limit)))]
    if float(limit) < 1:
        raise EvalError(f"--limit must be a positive count or a fraction in (0, 1), got {limit}")
    return docs[: int(limit)]
