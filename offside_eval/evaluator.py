"""`offside_eval.evaluate(...)`: the whole evaluation as one function; the CLI is a thin shell.

Order of work: resolve tasks and data (cheap, fails fast on bad input), load the model,
send every task's log-likelihood requests in one length-sorted stream and every
generation request in another, score, aggregate, write results.json (+ samples) atomically.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import os
import random
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

from offside_data.fileio import atomic_write_text
from offside_data.provenance import package_versions

from .models import LMM, ModelError, load_model, parse_model_args
from .requests import GenerationRequest, LoglikelihoodRequest
from .task import Task, json_safe, judge_metrics
from .tasks_index import TaskError, TaskIndex

log = logging.getLogger("offside_eval")
DATA_ENV = "OFFSIDE_DATA_ROOT"
JUDGE_HINT = ("pass --judge_args base_url=URL,model=NAME (an OpenAI-compatible server; the key is read from "
              "$OPENAI_API_KEY) or --judge_args judge=hf,pretrained=PATH (a local model)")
SYNTHETIC_WARNING = ("NO --data_root GIVEN: evaluating on the bundled SYNTHETIC OFFSIDE-mini, not the real "
                     "OFFSIDE release. These numbers say nothing about real models on OFFSIDE.")


class EvalError(ValueError):
    pass


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


def resolve_data(data_root: str | Path | None) -> dict[str, Any]:
    """The data root to use and its identity: --data_root, else $OFFSIDE_DATA_ROOT, else OFFSIDE-mini."""
    from offside_data import data_fingerprint, resolve_data_root

    spec = data_root or os.environ.get(DATA_ENV)
    if spec:
        root = resolve_data_root(spec)
        info = {"root": str(Path(root).resolve()), "synthetic": False}
    else:
        from offside_data.fixtures import ensure_mini

        root = ensure_mini()
        for line in ("=" * 100, SYNTHETIC_WARNING, f"(OFFSIDE-mini at {root}; pass --data_root or set {DATA_ENV})",
                     "=" * 100):
            log.warning(line)
        info = {"root": str(root), "synthetic": True, "warning": SYNTHETIC_WARNING}
    info["fingerprint"] = data_fingerprint(root)
    return info


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


def evaluate(model: str | LMM, model_args: str | dict[str, Any] | None = None,
             tasks: str | Sequence[str] = "offside_forget_mm", *, batch_size: int | None = None,
             device: str | None = None, limit: int | float | None = None, output_path: str | Path | None = None,
             log_samples: bool = False, seed: int = 0, include_path: str | Path | Iterable[str | Path] | None = None,
             data_root: str | Path | None = None, gen_kwargs: str | dict[str, Any] | None = None,
             bootstrap_iters: int = 100, verbosity: str | None = "INFO", progress: bool = True,
             judge_args: str | dict[str, Any] | Any = None) -> dict[str, Any]:
    """Evaluate `model` (a registry name + model_args, or an already-loaded LMM) on `tasks`.

    Returns {"results": {task: {metric: value, metric_stderr: ..., "n": ...}}, "groups": {...},
    "judge", "config", "model", "data", "versions", "timings", "n_samples", "higher_is_better"},
    plus "samples" {task: [rows]} when log_samples. Writes results.json and samples_<task>.jsonl
    under output_path (a folder) when given.

    `judge_args` configures the LLM judge of judge tasks (fact_score): "base_url=...,model=..."
    (OpenAI-compatible; key from the environment), "judge=hf,pretrained=PATH", a dict of the same,
    or a ready `offside_data.llm_client.ChatClient`. Without one, groups run without their judge
    tasks (said in the log and in results["judge"]); a judge task named directly is an error.
    """
    _setup_logging(verbosity)
    t_start = time.perf_counter()
    _seed_everything(seed)
    include_paths = [include_path] if isinstance(include_path, (str, Path)) else list(include_path or [])
    index = TaskIndex(include_paths)
    requested = _task_names(tasks)
    judge_client = _judge_client(judge_args)
    leaves, skipped = _select_leaves(index, requested, judge_client is not None)
    gen_overrides = parse_model_args(gen_kwargs) if isinstance(gen_kwargs, str) else dict(gen_kwargs or {})

    model_name = model if isinstance(model, str) else getattr(model, "name", type(model).__name__)
    entries = {name: index.get(name) for name in leaves}
    needs_offside = any(e.config.get("dataset_path") == "offside" for e in entries.values())
    data = resolve_data(data_root) if (needs_offside or data_root) else None
    root = Path(data["root"]) if data else None
    task_objs = {name: Task(name, e.config, e.path, root, model_name, gen_overrides) for name, e in entries.items()}

    docs: dict[str, list[dict]] = {}
    n_original: dict[str, int] = {}
    for name, task in task_objs.items():
        all_docs = task.docs()
        n_original[name] = len(all_docs)
        docs[name] = _apply_limit(all_docs, limit)
        if not docs[name]:
            raise EvalError(f"task {name}: no documents (data root {root})")

    needs_ll = [n for n, t in task_objs.items() if t.output_type != "generate_until"]
    t_model = time.perf_counter()
    if isinstance(model, str):
        lm = load_model(model, model_args, batch_size=batch_size, device=device)
    else:
        lm = model
        if batch_size is not None and hasattr(lm, "batch_size"):
            lm.batch_size = int(batch_size)
        if model_args:
            raise ModelError("model_args are ignored for an already-loaded model; pass them when creating it")
    if needs_ll and not getattr(lm, "supports_loglikelihood", True):
        raise ModelError(f"model {model_name!r} cannot compute log-likelihoods, needed by: {', '.join(needs_ll)} "
                         "(use generation tasks only, e.g. *_gen / *_mcgen)")
    load_s = time.perf_counter() - t_model

    # Build all requests, then run each kind in one stream (batched, length-sorted by the model).
    # Identical generation requests (same messages, images, generation settings) -- e.g. a judge
    # task and its generation task -- are generated once and shared.
    ll_reqs: list[LoglikelihoodRequest] = []
    gen_reqs: list[GenerationRequest] = []
    gen_index: dict[str, int] = {}
    fingerprints: dict[int, tuple[Any, str]] = {}
    n_gen_wanted = 0
    slots: dict[str, list[tuple[str, list[int]]]] = {}
    for name, task in task_objs.items():
        slots[name] = []
        for i, doc in enumerate(docs[name]):
            reqs = task.requests(doc, i)
            if task.output_type == "generate_until":
                positions = []
                for req in reqs:
                    key = _generation_key(req, fingerprints)
                    if key not in gen_index:
                        gen_index[key] = len(gen_reqs)
                        gen_reqs.append(req)
                    positions.append(gen_index[key])
                n_gen_wanted += len(reqs)
                slots[name].append(("gen", positions))
            else:
                slots[name].append(("ll", list(range(len(ll_reqs), len(ll_reqs) + len(reqs)))))
                ll_reqs.extend(reqs)
    fingerprints.clear()
    if n_gen_wanted > len(gen_reqs):
        log.info("generation: %d requests, %d shared between tasks (generated once)", len(gen_reqs),
                 n_gen_wanted - len(gen_reqs))
    timings: dict[str, float] = {"load_model_s": load_s}
    t0 = time.perf_counter()
    ll_out = _run(lm.loglikelihood, ll_reqs, progress) if ll_reqs else []
    timings["loglikelihood_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    gen_out = _run(lm.generate_until, gen_reqs, progress) if gen_reqs else []
    timings["generate_s"] = time.perf_counter() - t0
    if len(ll_out) != len(ll_reqs) or len(gen_out) != len(gen_reqs):
        raise ModelError(f"model {model_name!r} returned a wrong number of results")
    t0 = time.perf_counter()
    verdicts = _run_judge(judge_client, task_objs, docs, slots, gen_out, progress) if judge_client else {}
    timings["judge_s"] = time.perf_counter() - t0

    results: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[dict]] = {}
    for name, task in task_objs.items():
        per_sample, rows = [], []
        for i, (doc, (kind, positions)) in enumerate(zip(docs[name], slots[name])):
            outs = [(gen_out if kind == "gen" else ll_out)[p] for p in positions]
            values, extra = task.score(doc, outs, verdicts.get(name, {}).get(i))
            per_sample.append(values)
            req = (gen_reqs if kind == "gen" else ll_reqs)[positions[0]]
            rows.append({"doc_id": task.doc_id(doc, i), "doc": json_safe({k: v for k, v in doc.items()
                                                                          if not k.startswith("_")}),
                         "prompt": req.messages[0]["content"][-1]["text"], "n_images": len(req.visuals),
                         **json_safe(extra), "metrics": json_safe(values)})
        results[name] = {"output_type": task.output_type, **task.aggregate(per_sample, bootstrap_iters)}
        samples[name] = rows

    groups = _group_results(index, requested, results)
    judge_info = _judge_info(judge_client, task_objs, skipped)
    timings["total_s"] = time.perf_counter() - t_start
    out: dict[str, Any] = {
        "results": results,
        "groups": groups,
        "judge": judge_info,
        "higher_is_better": {n: t.higher_is_better() for n, t in task_objs.items()},
        "n_samples": {n: {"original": n_original[n], "effective": len(docs[n])} for n in task_objs},
        "config": {"model": model_name, "model_args": json_safe(model_args if isinstance(model_args, dict)
                                                                else parse_model_args(model_args)),
                   "tasks": requested, "batch_size": getattr(lm, "batch_size", batch_size), "device": device,
                   "limit": limit, "seed": seed, "gen_kwargs": json_safe(gen_overrides),
                   "include_path": [str(p) for p in include_paths], "bootstrap_iters": bootstrap_iters,
                   "judge": judge_info.get("model")},
        "model": json_safe(lm.config()),
        "data": data,
        "task_files": {n: str(e.path) for n, e in entries.items()},
        "versions": package_versions(),
        "timings": timings,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if output_path:
        folder = Path(output_path)
        atomic_write_text(folder / "results.json", json.dumps(_finite(out), indent=2, default=str, allow_nan=False))
        if log_samples:
            for name, rows in samples.items():
                atomic_write_text(folder / f"samples_{name}.jsonl",
                              "".join(json.dumps(r, default=str) + "\n" for r in rows))
        log.info("wrote %s", folder / "results.json")
    if log_samples:
        out["samples"] = samples
    return out


def _judge_client(judge_args: Any):
    """The judge's ChatClient from --judge_args (None when no judge is configured)."""
    from offside_data.llm_client import ChatClient, client_from_args

    if judge_args is None or (isinstance(judge_args, (str, dict)) and not judge_args):
        return None
    if isinstance(judge_args, ChatClient):
        return judge_args
    if not isinstance(judge_args, (str, dict)):
        raise EvalError(f"judge_args must be 'k=v,...', a dict or a ChatClient, got {type(judge_args).__name__}")
    try:
        return client_from_args(judge_args)
    except ValueError as exc:
        raise EvalError(f"--judge_args: {exc}") from None


def _select_leaves(index: TaskIndex, requested: list[str], have_judge: bool) -> tuple[list[str], list[str]]:
    """(leaf tasks to run, judge tasks left out of groups/tags because no judge is configured)."""
    leaves: list[str] = []
    skipped: list[str] = []
    for name in requested:
        entry = index.get(name)
        for leaf in index.expand(name):
            if not have_judge and judge_metrics(index.get(leaf).config):
                if entry.kind == "task":
                    raise EvalError(f"task {name} is scored by an LLM judge "
                                    f"({', '.join(judge_metrics(entry.config))}) but no judge is configured: "
                                    f"{JUDGE_HINT}")
                if leaf not in skipped:
                    skipped.append(leaf)
                continue
            if leaf not in leaves:
                leaves.append(leaf)
    if skipped:
        log.warning("no LLM judge configured: running without the judge task(s) %s (no fact_score); to include "
                    "them %s", ", ".join(skipped), JUDGE_HINT)
    if not leaves:
        raise EvalError(f"nothing to run: {', '.join(requested)} only hold LLM-judge tasks; {JUDGE_HINT}")
    return leaves, skipped


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


def _run_judge(client, task_objs: dict[str, Task], docs: dict[str, list[dict]], slots, gen_out: list[str],
               progress: bool) -> dict[str, dict[int, dict[str, Any]]]:
    """Judge every judge task's responses in one batch per prompt template; {task: {sample: {metric: Verdict}}}."""
    from .judge import JudgeSample, judge
    from .metrics import METRICS

    jobs: dict[str, dict[JudgeSample, list[tuple[str, int, str]]]] = {}  # template -> unique sample -> users
    for name, task in task_objs.items():
        for metric in task.judge_metrics:
            template = METRICS[metric]["judge"]
            for i, (doc, (_kind, positions)) in enumerate(zip(docs[name], slots[name])):
                question, reference = task.judge_inputs(doc)
                sample = JudgeSample(question=question, generated=str(gen_out[positions[0]]), ground_truth=reference)
                jobs.setdefault(template, {}).setdefault(sample, []).append((name, i, metric))
    verdicts: dict[str, dict[int, dict[str, Any]]] = {}
    for template, unique in jobs.items():
        log.info("LLM judge (%s): %d answers to rate with %s", template, len(unique), client.model)
        report = judge(client, list(unique), template=template, progress=progress)
        for users, verdict in zip(unique.values(), report.verdicts):
            for name, i, metric in users:
                verdicts.setdefault(name, {}).setdefault(i, {})[metric] = verdict
    return verdicts


def _redact_url(url: Any) -> Any:
    """A base_url without any user:password part."""
    if not isinstance(url, str) or "@" not in url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")))


def _judge_info(client, task_objs: dict[str, Task], skipped: list[str]) -> dict[str, Any]:
    """What results.json says about the judge: who judged and how the requests went, never the key."""
    judged = [n for n, t in task_objs.items() if t.judge_metrics]
    if client is None:
        info: dict[str, Any] = {"configured": False}
        if skipped:
            info["skipped_tasks"] = skipped
            info["note"] = "no LLM judge configured (--judge_args); judge tasks were not run, no fact_score"
        return info
    desc = {k: (_redact_url(v) if k == "base_url" else v) for k, v in client.describe().items()
            if "key" not in k.lower() or k == "api_key_env"}
    return {"configured": True, **desc, "tasks": judged, "stats": client.stats.as_dict()}


def _finite(value: Any) -> Any:
    """NaN / inf -> null, so results.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _run(fn, requests, progress):
    try:
        return fn(requests, progress=progress)
    except TypeError as exc:
        if "progress" not in str(exc):
            raise
        return fn(requests)


def _group_results(index: TaskIndex, requested: list[str], results: dict[str, dict]) -> dict[str, dict]:
    """Every requested group/tag: its leaf tasks and any `aggregate_metric_list` (size-weighted mean)."""
    groups: dict[str, dict] = {}
    for name in requested:
        entry = index.get(name)
        if entry.kind == "task":
            continue
        leaves = [t for t in index.expand(name) if t in results]
        info: dict[str, Any] = {"tasks": leaves}
        left_out = [t for t in index.expand(name) if t not in results]
        if left_out:
            info["skipped"] = left_out
        for spec in entry.config.get("aggregate_metric_list") or []:
            metric = spec["metric"]
            have = [t for t in leaves if metric in results[t]]
            if not have:
                raise EvalError(f"group {name}: no subtask reports metric {metric!r}")
            weights = [results[t]["n"] if spec.get("weight_by_size", True) else 1 for t in have]
            total = sum(weights)
            info[metric] = sum(w * results[t][metric] for w, t in zip(weights, have)) / total
            info[f"{metric}_stderr"] = math.sqrt(sum((w * results[t].get(f"{metric}_stderr", 0.0)) ** 2
                                                     for w, t in zip(weights, have))) / total
        info["n"] = sum(results[t]["n"] for t in leaves)
        groups[name] = info
    return groups


def make_table(out: dict[str, Any]) -> str:
    rows = [("task", "metric", "value", "stderr", "n")]
    for task, res in out["results"].items():
        for key, value in res.items():
            if key in ("n", "output_type") or key.endswith("_stderr") or key.endswith("_missing"):
                continue
            se = res.get(f"{key}_stderr")
            fmt = lambda v: f"{v:.4f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)  # noqa: E731
            note = f" ({res[f'{key}_missing']} missing)" if f"{key}_missing" in res else ""
            rows.append((task, key, fmt(value) + note, fmt(se) if se is not None else "", str(res["n"])))
            task = ""
    for group, res in out.get("groups", {}).items():
        for key, value in res.items():
            if key in ("tasks", "n") or key.endswith("_stderr") or not isinstance(value, (int, float)):
                continue
            rows.append((f"[{group}]", key, f"{value:.4f}", f"{res.get(key + '_stderr', float('nan')):.4f}",
                         str(res["n"])))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    if out.get("data") and out["data"].get("synthetic"):
        lines.append("NOTE: " + SYNTHETIC_WARNING)
    judge_info = out.get("judge") or {}
    if judge_info.get("skipped_tasks"):
        lines.append(f"NOTE: no LLM judge configured; not run: {', '.join(judge_info['skipped_tasks'])}")
    elif judge_info.get("configured") and judge_info.get("tasks"):
        lines.append(f"judge: {judge_info.get('model')} at {judge_info.get('base_url', judge_info.get('backend'))}; "
                     f"requests {judge_info['stats'].get('requests')}, cache hits {judge_info['stats'].get('cache_hits')}")
    return "\n".join(lines)
