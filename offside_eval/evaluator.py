"""`offside_eval.evaluate(...)`: plan -> run -> judge -> score -> write; the CLI is a thin shell.

plan resolves tasks, benchmark data and docs (cheap, fails fast on bad input); run loads the model
and sends every task's log-likelihood requests in one length-sorted stream and every generation
request in another; judge rates the judge tasks' answers; score turns answers into per-task
metrics; write puts results.json (+ samples) in place atomically.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from offside_data.benchmarks import data_root_for
from offside_data.options import parse_kv
from offside_data.provenance import package_versions

from .judging import judge_client, judge_info, run_judge, select_leaves
from .models import LMM, ModelError, load_model, parse_model_args
from .reference_results import add_reference_comparison
from .requests import GenerationRequest, LoglikelihoodRequest
from .results import EvalError, data_field, group_results, json_safe, write_results
from .task import Task
from .tasks_index import TaskError, TaskIndex

log = logging.getLogger("offside_eval")
__all__ = ["EvalError", "Plan", "evaluate", "plan"]


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


@dataclass
class Outputs:
    """The requests sent and the model's answers; `slots[task][i]` = (stream, positions) of doc i."""
    ll_reqs: list[LoglikelihoodRequest] = field(default_factory=list)
    gen_reqs: list[GenerationRequest] = field(default_factory=list)
    slots: dict[str, list[tuple[str, list[int]]]] = field(default_factory=dict)
    ll_out: list[Any] = field(default_factory=list)
    gen_out: list[Any] = field(default_factory=list)


def evaluate(model: str | LMM, model_args: str | dict[str, Any] | None = None,
             tasks: str | Sequence[str] = "offside_forget_mm", *, batch_size: int | None = None,
             device: str | None = None, limit: int | float | None = None, output_path: str | Path | None = None,
             log_samples: bool = False, seed: int = 0, include_path: str | Path | Iterable[str | Path] | None = None,
             data_root: str | Path | dict[str, str | Path] | None = None, gen_kwargs: str | dict[str, Any] | None = None,
             bootstrap_iters: int = 100, verbosity: str | None = "INFO", progress: bool = True,
             judge_args: str | dict[str, Any] | Any = None,
             reference_results: str | Path | None = None) -> dict[str, Any]:
    """Evaluate `model` (a registry name + model_args, or an already-loaded LMM) on `tasks`.

    Returns (and writes as results.json under output_path, a folder, when given):
      results[task]   {metric: value, metric_stderr, [metric_missing], "n", "output_type"}
      tasks[task]     {"metadata": the task's YAML metadata, "output_type", "benchmark" (registered
                       dataset_path or None), "n" (docs scored), "n_original" (before --limit),
                       "task_file", "samples_file" (path of samples_<task>.jsonl, or None)}
      groups[name]    {"tasks": [...], ["skipped"], aggregate metrics, "n"} per requested group/tag
      data            None, the benchmark's {"benchmark", "root", "synthetic", "fingerprint",
                      ["warning"]}, or {"synthetic", "benchmarks": {name: info}} for several
      judge, higher_is_better, n_samples, config, model, task_files, versions, timings, date
    plus "samples" {task: [rows]} (not in results.json) when log_samples.

    `data_root`: a path for the tasks' benchmark, or {benchmark: path}; unset, each benchmark uses its
    environment variable, then its synthetic fixture (said loudly; `data.synthetic`).
    `judge_args` configures the LLM judge of judge tasks (fact_score): "base_url=...,model=..."
    (OpenAI-compatible; key from the environment), "judge=hf,pretrained=PATH", a dict of the same,
    or a ready `offside_data.llm_client.ChatClient`. Without one, groups run without their judge
    tasks (said in the log and in results["judge"]); a judge task named directly is an error.
    """
    _setup_logging(verbosity)
    t_start = time.perf_counter()
    _seed_everything(seed)
    model_name = model if isinstance(model, str) else getattr(model, "name", type(model).__name__)
    p = plan(tasks, model_name=model_name, include_path=include_path, data_root=data_root, gen_kwargs=gen_kwargs,
             judge_args=judge_args, limit=limit)
    if reference_results is not None and not (Path(reference_results) / "results.json").is_file():
        raise EvalError(f"--reference_results {reference_results}: no results.json there")
    t0 = time.perf_counter()
    lm = _load(model, model_args, p, batch_size, device)
    timings = {"load_model_s": time.perf_counter() - t0}
    outputs = run(p, lm, progress, timings)
    t0 = time.perf_counter()
    verdicts = judge(p, outputs, progress)
    timings["judge_s"] = time.perf_counter() - t0
    results, samples = score(p, outputs, verdicts, bootstrap_iters)
    if reference_results is not None:  # forget_quality / privleak against a reference model's run
        add_reference_comparison(results, samples, {n: t.config.metadata for n, t in p.tasks.items()},
                                 reference_results)
    folder = Path(output_path) if output_path else None
    samples_files = {n: str(folder / f"samples_{n}.jsonl") if folder and log_samples else None for n in p.tasks}
    timings["total_s"] = time.perf_counter() - t_start
    out: dict[str, Any] = {
        "results": results,
        "tasks": {n: {"metadata": json_safe(t.config.metadata), "output_type": t.output_type,
                      "benchmark": t.benchmark.name if t.benchmark else None, "n": len(p.docs[n]),
                      "n_original": p.n_original[n], "task_file": str(t.path), "samples_file": samples_files[n]}
                  for n, t in p.tasks.items()},
        "groups": group_results(p.index, p.requested, results),
        "judge": judge_info(p.judge, p.tasks, p.skipped),
        "higher_is_better": {n: t.higher_is_better() for n, t in p.tasks.items()},
        "n_samples": {n: {"original": p.n_original[n], "effective": len(p.docs[n])} for n in p.tasks},
        "config": {"model": model_name, "model_args": json_safe(model_args if isinstance(model_args, dict)
                                                                else parse_model_args(model_args)),
                   "tasks": p.requested, "batch_size": getattr(lm, "batch_size", batch_size), "device": device,
                   "limit": limit, "seed": seed, "gen_kwargs": json_safe(p.gen_kwargs),
                   "include_path": [str(x) for x in p.include_paths], "bootstrap_iters": bootstrap_iters,
                   "reference_results": str(reference_results) if reference_results else None},
        "model": json_safe(lm.config()),
        "data": data_field(p.data),
        "task_files": {n: str(t.path) for n, t in p.tasks.items()},
        "versions": package_versions(),
        "timings": timings,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    out["config"]["judge"] = out["judge"].get("model")
    write_results(out, samples if log_samples else {}, folder)
    if log_samples:
        out["samples"] = samples
    return out


def plan(tasks: str | Sequence[str], *, model_name: str = "", include_path: Any = None, data_root: Any = None,
         gen_kwargs: str | dict[str, Any] | None = None, judge_args: Any = None,
         limit: int | float | None = None) -> Plan:
    """Tasks to run, their benchmarks' data (resolved once each) and their docs; no model needed."""
    include_paths = [include_path] if isinstance(include_path, (str, Path)) else list(include_path or [])
    index = TaskIndex(include_paths)
    requested = _task_names(tasks)
    client = judge_client(judge_args)
    leaves, skipped = select_leaves(index, requested, client is not None)
    overrides = parse_kv(gen_kwargs, "--gen_kwargs") if isinstance(gen_kwargs, str) else dict(gen_kwargs or {})
    task_objs = {name: Task(index.get(name).config, model_name, overrides) for name in leaves}
    data: dict[str, dict[str, Any]] = {}
    for task in task_objs.values():
        bench = task.benchmark
        if bench is not None and bench.name not in data:
            data[bench.name] = bench.resolve(data_root_for(bench.name, data_root))
            if data[bench.name]["synthetic"]:
                for line in ("=" * 100, bench.synthetic_warning(), f"({bench.fixture_title} at "
                             f"{data[bench.name]['root']}; pass --data_root or set {bench.env_var})", "=" * 100):
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
    return Plan(index, requested, task_objs, docs, n_original, data, skipped, client, overrides,
                [Path(x) for x in include_paths])


def _load(model: str | LMM, model_args: Any, p: Plan, batch_size: int | None, device: str | None) -> LMM:
    if isinstance(model, str):
        lm = load_model(model, model_args, batch_size=batch_size, device=device)
    else:
        lm = model
        if batch_size is not None and hasattr(lm, "batch_size"):
            lm.batch_size = int(batch_size)
        if model_args:
            raise ModelError("model_args are ignored for an already-loaded model; pass them when creating it")
    needs_ll = [n for n, t in p.tasks.items() if t.kind.stream == "loglikelihood"]
    if needs_ll and not getattr(lm, "supports_loglikelihood", True):
        name = model if isinstance(model, str) else getattr(model, "name", type(model).__name__)
        raise ModelError(f"model {name!r} cannot compute log-likelihoods, needed by: {', '.join(needs_ll)} "
                         "(use generation tasks only, e.g. *_gen / *_mcgen)")
    return lm


def run(p: Plan, lm: LMM, progress: bool, timings: dict[str, float]) -> Outputs:
    """Build all requests, then answer each stream in one call (batched, length-sorted by the model).

    Identical generation requests (same messages, images, generation settings) -- e.g. a judge task
    and its generation task -- are generated once and shared.
    """
    o = Outputs()
    gen_index: dict[str, int] = {}
    fingerprints: dict[int, tuple[Any, str]] = {}
    n_gen_wanted = 0
    for name, task in p.tasks.items():
        o.slots[name] = []
        for i, doc in enumerate(p.docs[name]):
            reqs = task.requests(doc, i)
            if task.kind.stream == "generate_until":
                positions = []
                for req in reqs:
                    key = _generation_key(req, fingerprints)
                    if key not in gen_index:
                        gen_index[key] = len(o.gen_reqs)
                        o.gen_reqs.append(req)
                    positions.append(gen_index[key])
                n_gen_wanted += len(reqs)
                o.slots[name].append(("gen", positions))
            else:
                o.slots[name].append(("ll", list(range(len(o.ll_reqs), len(o.ll_reqs) + len(reqs)))))
                o.ll_reqs.extend(reqs)
    fingerprints.clear()
    if n_gen_wanted > len(o.gen_reqs):
        log.info("generation: %d requests, %d shared between tasks (generated once)", len(o.gen_reqs),
                 n_gen_wanted - len(o.gen_reqs))
    t0 = time.perf_counter()
    o.ll_out = _run(lm.loglikelihood, o.ll_reqs, progress) if o.ll_reqs else []
    timings["loglikelihood_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    o.gen_out = _run(lm.generate_until, o.gen_reqs, progress) if o.gen_reqs else []
    timings["generate_s"] = time.perf_counter() - t0
    if len(o.ll_out) != len(o.ll_reqs) or len(o.gen_out) != len(o.gen_reqs):
        raise ModelError(f"model {getattr(lm, 'name', type(lm).__name__)!r} returned a wrong number of results")
    return o


def judge(p: Plan, o: Outputs, progress: bool) -> dict[str, dict[int, dict[str, Any]]]:
    """{task: {doc index: {judge metric: Verdict}}}; empty without a judge."""
    return run_judge(p.judge, p.tasks, p.docs, o.slots, o.gen_out, progress) if p.judge else {}


def score(p: Plan, o: Outputs, verdicts: dict, bootstrap_iters: int) -> tuple[dict[str, dict], dict[str, list]]:
    """(results {task: aggregated metrics}, samples {task: per-doc rows for samples_<task>.jsonl})."""
    results: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[dict]] = {}
    for name, task in p.tasks.items():
        per_sample, rows = [], []
        for i, (doc, (stream, positions)) in enumerate(zip(p.docs[name], o.slots[name])):
            outs = [(o.gen_out if stream == "gen" else o.ll_out)[k] for k in positions]
            values, extra = task.score(doc, outs, verdicts.get(name, {}).get(i))
            per_sample.append(values)
            req = (o.gen_reqs if stream == "gen" else o.ll_reqs)[positions[0]]
            rows.append({"doc_id": task.doc_id(doc, i),
                         "doc": json_safe({k: v for k, v in doc.items() if not k.startswith("_")}),
                         "prompt": req.messages[0]["content"][-1]["text"], "n_images": len(req.visuals),
                         **json_safe(extra), "metrics": json_safe(values)})
        results[name] = {"output_type": task.output_type, **task.aggregate(per_sample, bootstrap_iters)}
        samples[name] = rows
    return results, samples


class _StderrHandler(logging.StreamHandler):
    """Writes to the current sys.stderr (not the one at creation time)."""

    @property
    def stream(self):
        import sys

        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def _setup_logging(verbosity: str | None) -> None:
    level = getattr(logging, str(verbosity or "INFO").upper(), None)
    if not isinstance(level, int):
        raise EvalError(f"unknown verbosity {verbosity!r} (DEBUG, INFO, WARNING, ERROR)")
    if not log.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [offside_eval] %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(level)


def _task_names(tasks: str | Sequence[str]) -> list[str]:
    names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t and t.strip()]
    if not names:
        raise TaskError("no tasks given")
    return names


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


def _apply_limit(docs: list, limit: int | float | None) -> list:
    if limit is None:
        return docs
    if isinstance(limit, float) and 0 < limit < 1:
        return docs[: max(1, int(math.ceil(len(docs) * limit)))]
    if float(limit) < 1:
        raise EvalError(f"--limit must be a positive count or a fraction in (0, 1), got {limit}")
    return docs[: int(limit)]


def _image_fingerprint(image: Any, memo: dict[int, tuple[Any, str]]) -> str:
    """Content hash of a visual (memoised per object; the memo keeps the object alive so ids stay unique)."""
    hit = memo.get(id(image))
    if hit is not None:
        return hit[1]
    if hasattr(image, "tobytes") and hasattr(image, "size"):
        digest = hashlib.sha1(f"{getattr(image, 'mode', '')}|{image.size}|".encode())
        digest.update(image.tobytes())
        value = digest.hexdigest()
    else:
        value = "repr:" + repr(image)
    memo[id(image)] = (image, value)
    return value


def _generation_key(req: GenerationRequest, memo: dict[int, tuple[Any, str]]) -> str:
    """What makes two generation requests the same: messages, image contents and sizes, generation settings."""
    return json.dumps({"messages": req.messages, "images": [_image_fingerprint(v, memo) for v in req.visuals],
                       "gen_kwargs": req.gen_kwargs}, sort_keys=True, default=repr)


def _run(fn, requests, progress):
    try:
        return fn(requests, progress=progress)
    except TypeError as exc:
        if "progress" not in str(exc):
            raise
        return fn(requests)


