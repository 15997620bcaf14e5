"""`!function` hooks of the lmms-eval copies of a benchmark's tasks (its `lmms_dir`, e.g. `benchmarks/offside/lmms_tasks/`).

Each lmms-eval row is only {"offside_task", "offside_index"}: the hooks hand the real doc to the
same `offside_eval.task.Task` that `offside-eval` runs, so prompts, images (resized as the YAML
says), choices, gold answers and per-sample metrics come from one implementation. Docs are read
from the benchmark's data root: `OFFSIDE_DATA_ROOT` (its env variable), else its synthetic fixture.
"""
from __future__ import annotations

import logging
from functools import cache, lru_cache
from typing import Any

from ..task import Task
from ..tasks_index import TaskIndex

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _index() -> TaskIndex:
    return TaskIndex()


@cache
def offside_task(name: str) -> Task:
    return Task(_index().get(name).config)


@cache
def task_docs(name: str) -> list[dict[str, Any]]:
    task = offside_task(name)
    bench = task.benchmark
    root = None
    if bench is not None:
        info = bench.resolve()
        if info["synthetic"]:
            log.warning("%s (set %s)", bench.synthetic_warning(), bench.env_var)
        root = info["root"]
    return task.docs(root)


def _doc(row: dict) -> tuple[Task, dict]:
    name = row["offside_task"]
    return offside_task(name), task_docs(name)[row["offside_index"]]


def process_docs(dataset):
    """The stub file names the task; its docs become rows that point into `task_docs`."""
    import datasets

    names = sorted(set(dataset["offside_task"]))
    rows = [{"offside_task": n, "offside_index": i} for n in names for i in range(len(task_docs(n)))]
    return datasets.Dataset.from_list(rows)


def doc_to_visual(row):
    task, doc = _doc(row)
    return task.visuals(doc)


def doc_to_text(row, lmms_eval_specific_kwargs=None):
    task, doc = _doc(row)
    return task.text(doc)


def doc_to_choice(row):
    task, doc = _doc(row)
    return task.choices(doc)


def doc_to_target(row):
    """Gold choice index for multiple_choice tasks, the reference text for generation tasks."""
    task, doc = _doc(row)
    if task.output_type == "multiple_choice":
        return task.gold_index(doc, task.choices(doc))
    return task.target(doc)


def process_results(row, results):
    task, doc = _doc(row)
    values, _extra = task.score(doc, list(results))
    return values
