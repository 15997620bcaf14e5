"""`offside_eval.evaluate(...)`: plan -> run -> judge -> score -> write; the CLI is a thin shell.

plan checks the model name and args and the output folders, resolves tasks, benchmark data and docs,
header-checks the images the docs reference and builds every request (decoding the images): bad input
fails in one line before any model loads. run loads the model and answers every task's log-likelihood
requests in one length-sorted stream and every generation request in another, batch by batch through
the journal (`offside_eval.journal`: a rerun resumes); judge rates the judge tasks' answers; score turns
answers into per-task metrics; write puts results.json (+ samples) in place atomically.
"""
from __future__ import annotations

import datetime as _dt
import logging
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from offside_data.options import parse_kv
from offside_data.provenance import git_revision, package_versions
from offside_data.schema import DataError

from .attacks import AttackSpec, parse_attack
from .batching import answer, verify_batch_invariance
from .checks import check_device, check_folder, check_model, check_output_run
from .distributed import DataParallel, data_parallel
from .journal import (
    Interrupted,
    Journal,
    deferred_sigint,
    model_fingerprint,
    request_identity,
    task_fingerprint,
)
from .judging import judge_info, run_judge
from .lmms.routing import merge_lmms, split_lmms_tasks
from .logs import setup_logging
from .models import LMM, ModelError, load_model, parse_model_args
from .planning import Plan, plan
from .reference_results import add_reference_comparison, comparison_directions
from .requests import GenerationRequest, LoglikelihoodRequest
from .results import (
    EvalError,
    data_field,
    group_results,
    json_safe,
    sample_row,
    write_results,
)
from .tasks_index import TaskError
from .tracking import log_to_wandb, wandb_options
from .unlearning_metrics import DEFAULT_TOKEN_SET

log = logging.getLogger("offside_eval")
__all__ = ["EvalError", "Plan", "evaluate", "plan"]


@dataclass
class Outputs:
    """The requests sent and the model's answers; `slots[task][i]` = (stream, positions) of doc i."""
    ll_reqs: list[LoglikelihoodRequest] = field(default_factory=list)
    gen_reqs: list[GenerationRequest] = field(default_factory=list)
    slots: dict[str, list[tuple[str, list[int]]]] = field(default_factory=dict)
    ll_out: list[Any] = field(default_factory=list)
    gen_out: list[Any] = field(default_factory=list)
    keys: dict[str, list[str]] = field(default_factory=dict)  # stream -> journal key per request
    resumed: int = 0  # answers taken from the journal
    image_hashes: dict[int, tuple[Any, str]] = field(default_factory=dict)  # request_identity's memo: one hash an image


def _args_of(model_args: str | dict[str, Any] | None) -> dict[str, Any]:
    """--model_args as results.json records it."""
    return json_safe(model_args if isinstance(model_args, dict) else parse_model_args(model_args))


def _lmms_results(*args, **kwargs) -> dict[str, Any]:
    """lmms-eval's run of its tasks; its module needs the `lmms` extra, so it loads only when asked for
    (split_lmms_tasks has checked the extra is installed)."""
    from .lmms.run import lmms_results

    return lmms_results(*args, **kwargs)


def evaluate(model: str | LMM, model_args: str | dict[str, Any] | None = None,
             tasks: str | Sequence[str] = "offside_forget_mm", *, batch_size: int | None = None,
             device: str | None = None, limit: int | float | None = None, output_path: str | Path | None = None,
             log_samples: bool = False, seed: int = 0, include_path: str | Path | Iterable[str | Path] | None = None,
             data_root: str | Path | dict[str, str | Path] | None = None, gen_kwargs: str | dict[str, Any] | None = None,
             bootstrap_iters: int = 100, verbosity: str | None = "INFO", progress: bool = True,
             judge_args: str | dict[str, Any] | Any = None, use_cache: str | Path | None = None,
             check_batch_invariance: int = 0, batch_invariance_tol: float = 1e-4,
             reference_results: str | Path | None = None,
             metadata: str | dict[str, Any] | None = None, attack: str | None = None,
             token_set: str = DEFAULT_TOKEN_SET, wandb_args: str | dict[str, Any] | None = None
             ) -> dict[str, Any] | None:
    """Evaluate `model` (a registry name + model_args, or an already-loaded LMM) on `tasks`.

    Returns (and writes as results.json under output_path, a folder, when given):
      results[task]   {metric: value, metric_stderr, [metric_missing], "n", "output_type"}
      tasks[task]     {"metadata": the task's YAML metadata, "output_type", "benchmark" (registered
                       dataset_path or None), "n" (docs scored), "n_original" (before --limit),
                       "task_file", "samples_file" (path of samples_<task>.jsonl, or None)}
      groups[name]    {"tasks": [...], ["skipped"], aggregate metrics, "n"} per requested group/tag
      data            None, the benchmark's {"benchmark", "root", "synthetic", "fingerprint",
                      ["warning"]}, or {"synthetic", "benchmarks": {name: info}} for several
      judge, higher_is_better, n_samples, config, model, task_files, versions, timings, date,
      resumed_samples (answers taken from the journal), journal ({path, model_fingerprint} or None),
      batch_invariance (None, or {checked, max_abs_diff, tol})
    plus "samples" {task: [rows]} (not in results.json) when log_samples.

    `data_root`: a path for the tasks' benchmark, or {benchmark: path}; unset, each benchmark uses its
    environment variable, then its synthetic fixture (said loudly; `data.synthetic`).
    `token_set`: which answer tokens the unlearning metrics' probabilities cover ("answer", offside's
    default, or "open_unlearning"; `offside_eval.unlearning_metrics.TOKEN_SETS`), in config.token_set.
    `judge_args` configures the LLM judge of judge tasks (fact_score): "base_url=...,model=..."
    (OpenAI-compatible; key from the environment), "judge=hf,pretrained=PATH", a dict of the same,
    or a ready `offside_data.llm_client.ChatClient`. Without one, groups run without their judge
    tasks (said in the log and in results["judge"]); a judge task named directly is an error.

    Answers are journaled per batch under output_path/journal, or in `use_cache` (a store shared by
    runs); the same call again resumes (results["resumed_samples"]). Ctrl-C finishes the current batch
    and raises `offside_eval.journal.Interrupted`. `check_batch_invariance=N` re-answers up to N
    contexts per stream alone and raises `BatchVarianceError` if one differs (beyond
    `batch_invariance_tol` for log-likelihoods).

    Launched data-parallel (`accelerate launch -m offside_eval`, WORLD_SIZE > 1; `offside_eval.distributed`)
    each rank answers a share of the batches on its own device; rank 0 returns (and writes) the results,
    the other ranks return None.
    """
    setup_logging(verbosity)
    dp = data_parallel()
    if dp is not None and not dp.is_main:
        log.setLevel(logging.ERROR)  # one rank speaks
    t_start = time.perf_counter()
    _seed_everything(seed)
    model_name = model if isinstance(model, str) else getattr(model, "name", type(model).__name__)
    check_model(model, model_args)
    folder = check_folder(output_path, "--output_path")
    store = check_folder(use_cache, "--use_cache") or (folder / "journal" if folder else None)
    check_device(device)
    tasks, lmms_tasks = split_lmms_tasks(tasks, model)
    spec = parse_attack(attack)
    tracking = wandb_options(wandb_args)
    if spec is not None and lmms_tasks:
        raise EvalError(f"--attack {spec.label}: lmms-eval tasks ({', '.join(lmms_tasks)}) run inside lmms-eval, "
                        "which takes no attack")
    check_output_run(folder, {"model": model_name, "model_args": _args_of(model_args), "tasks": tasks + lmms_tasks,
                              "attack": spec.label if spec else None,
                              "limit": limit})
    if dp is not None and lmms_tasks:
        raise EvalError(f"lmms-eval tasks ({', '.join(lmms_tasks)}) do not run data-parallel inside offside-eval: "
                        "run them with `accelerate launch -m lmms_eval` or in one process")
    if not tasks:  # only lmms-eval tasks: lmms-eval runs them all
        out = _lmms_results(model_name, model_args, lmms_tasks, limit=limit, batch_size=batch_size, device=device,
                            seed=seed)
        write_results(out, {}, folder)
        return out
    p = plan(tasks, model_name=model_name, include_path=include_path, data_root=data_root, gen_kwargs=gen_kwargs,
             judge_args=judge_args, limit=limit, metadata=metadata, token_set=token_set)
    if reference_results is not None and not (Path(reference_results) / "results.json").is_file():
        raise EvalError(f"--reference_results {reference_results}: no results.json there")
    outputs = build_requests(p, spec)
    journal = None
    try:
        t0 = time.perf_counter()
        lm = _load(model, model_args, p, batch_size, dp.device_for(device) if dp else device)
        timings = {"load_model_s": time.perf_counter() - t0}
        if spec is not None:
            spec.attack_loaded(lm)
        journal = open_journal(model, model_args, lm, store, dp, spec)
        run(p, outputs, lm, journal, progress and (dp is None or dp.is_main), timings, dp)
        if dp is not None and not dp.is_main:
            return None
        invariance = verify_batch_invariance(lm, {"ll": (outputs.ll_reqs, outputs.ll_out), "gen": (
            outputs.gen_reqs, outputs.gen_out)}, _batch_size(lm), check_batch_invariance, batch_invariance_tol,
            seed) if check_batch_invariance else None
        t0 = time.perf_counter()
        verdicts = judge(p, outputs, progress)
        timings["judge_s"] = time.perf_counter() - t0
    except KeyboardInterrupt:
        saved = sum(k in journal.answers for keys in outputs.keys.values() for k in keys) if journal else 0
        raise Interrupted(saved) from None
    results, samples = score(p, outputs, verdicts, bootstrap_iters, getattr(lm, "chat_prompt", _no_chat_prompt))
    if reference_results is not None:  # forget_quality / privleak against a reference model's run
        add_reference_comparison(results, samples, {n: t.config.metadata for n, t in p.tasks.items()},
                                 reference_results, token_set)
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
        "higher_is_better": {n: {**t.higher_is_better(), **comparison_directions(results[n])} for n, t in p.tasks.items()},
        "n_samples": {n: {"original": p.n_original[n], "effective": len(p.docs[n])} for n in p.tasks},
        "config": {"model": model_name, "model_args": _args_of(model_args),
                   "tasks": p.requested, "batch_size": getattr(lm, "batch_size", batch_size), "device": device,
                   "limit": limit, "seed": seed, "gen_kwargs": json_safe(p.gen_kwargs),
                   "include_path": [str(x) for x in p.include_paths], "bootstrap_iters": bootstrap_iters,
                   "use_cache": str(use_cache) if use_cache else None,
                   "check_batch_invariance": check_batch_invariance,
                   "reference_results": str(reference_results) if reference_results else None,
                   "attack": spec.label if spec else None,
                   "token_set": token_set,
                   "metadata": json_safe(metadata if isinstance(metadata, dict) else parse_kv(metadata, "--metadata"))},
        "attack": spec.record() if spec else None,
        "resumed_samples": outputs.resumed,
        "journal": {"path": str(journal.path), "model_fingerprint": journal.model_fp} if journal else None,
        "batch_invariance": invariance,
        "model": json_safe(lm.config()),
        "data": data_field(p.data),
        "task_files": {n: str(t.path) for n, t in p.tasks.items()},
        "versions": package_versions(),
        "git_revision": git_revision(),
        "timings": timings,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    out["config"]["judge"] = out["judge"].get("model")
    if lmms_tasks:
        merge_lmms(out, _lmms_results(model_name, model_args, lmms_tasks, limit=limit, batch_size=batch_size,
                                      device=device, seed=seed))
    write_results(out, samples if log_samples else {}, folder)
    if tracking is not None:
        log.info("wandb run: %s", log_to_wandb(out, tracking))
    if log_samples:
        out["samples"] = samples
    return out


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


def build_requests(p: Plan, attack: AttackSpec | None = None) -> Outputs:
    """Every task's requests (decoding their images); identical generation requests (same messages,
    images, generation settings) -- e.g. a judge task and its generation task -- are generated once."""
    o = Outputs()
    gen_index: dict[str, int] = {}
    n_gen_wanted = 0
    for name, task in p.tasks.items():
        o.slots[name] = []
        for i, doc in enumerate(p.docs[name]):
            try:
                reqs = task.requests(doc, i)
                if attack is not None:
                    reqs = [attack.attack_request(r, task.target(doc), f"{name}|{task.doc_id(doc, i)}") for r in reqs]
            except (DataError, TaskError):
                raise
            except Exception as exc:  # a task hook failing on this doc: name the doc, not a traceback
                raise EvalError(f"{task.config.source} [doc {i}, id {task.doc_id(doc, i)!r}]: "
                                f"{type(exc).__name__}: {exc}") from None
            if task.kind.stream == "generate_until":
                positions = []
                for req in reqs:
                    key = request_identity(req, o.image_hashes)
                    if key not in gen_index:
                        gen_index[key] = len(o.gen_reqs)
                        o.gen_reqs.append(req)
                    positions.append(gen_index[key])
                n_gen_wanted += len(reqs)
                o.slots[name].append(("gen", positions))
            else:
                o.slots[name].append(("ll", list(range(len(o.ll_reqs), len(o.ll_reqs) + len(reqs)))))
                o.ll_reqs.extend(reqs)
    if n_gen_wanted > len(o.gen_reqs):
        log.info("generation: %d requests, %d shared between tasks (generated once)", len(o.gen_reqs),
                 n_gen_wanted - len(o.gen_reqs))
    return o


def _batch_size(lm: LMM) -> int:
    return max(1, int(getattr(lm, "batch_size", 1) or 1))


def open_journal(model: str | LMM, model_args: Any, lm: LMM, store: Path | None,
                 dp: DataParallel | None = None, attack: AttackSpec | None = None) -> Journal | None:
    """The journal of this model in `store`, or None (said in the log) when there is no store or the model
    has no weight files to fingerprint it by. Data-parallel: rank 0 fingerprints the model (device by its
    type: cuda:1 answers as cuda:0 does), every rank opens its own file, and all have read the journal
    before any rank appends, so they agree on the batches left."""
    if store is None:
        log.info("no --output_path or --use_cache: answers are not journaled (an interrupted run starts over)")
        return None
    if not isinstance(model, str):
        log.warning("model passed as an object: no journal (no weight files to fingerprint it by)")
        return None
    args = dict(model_args) if isinstance(model_args, dict) else parse_model_args(model_args)
    args.update(batch_size=_batch_size(lm), device=str(getattr(lm, "device", "")).split(":")[0])
    if attack is not None:  # an attacked model answers differently: never the clean model's journal
        args["attack"] = attack.label
    fingerprint = model_fingerprint(model, args, store) if dp is None or dp.is_main else None
    if dp is not None:
        fingerprint = dp.broadcast(fingerprint)
    if fingerprint is None:
        log.warning("model %s: its weights are no local files; no journal (an interrupted run starts over)", model)
        return None
    journal = Journal(store, fingerprint, dp.rank if dp else 0)
    if dp is not None:
        dp.barrier()
    log.info("journal %s (%d answers stored)", journal.path, len(journal.answers))
    return journal


def run(p: Plan, o: Outputs, lm: LMM, journal: Journal | None, progress: bool, timings: dict[str, float],
        dp: DataParallel | None = None) -> None:
    """Answer both streams batch by batch; batches found in the journal are not sent again; with `dp`,
    this rank's share of them, and all answers are gathered on every rank."""
    from tqdm.auto import tqdm

    if journal is not None:
        task_fps = {name: task_fingerprint(task.config) for name, task in p.tasks.items()}
        for stream, reqs in (("ll", o.ll_reqs), ("gen", o.gen_reqs)):
            o.keys[stream] = [journal.key(task_fps[r.task], r.doc_id, request_identity(r, o.image_hashes))
                              for r in reqs]
    bar = tqdm(total=len(o.ll_reqs) + len(o.gen_reqs), desc="requests", disable=not progress, leave=False)
    with deferred_sigint() as stop:
        t0 = time.perf_counter()
        o.ll_out, resumed_ll = answer(lm.loglikelihood, o.ll_reqs, "ll", _batch_size(lm), o.keys.get("ll"), journal,
                                      bar, stop, dp)
        timings["loglikelihood_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        o.gen_out, resumed_gen = answer(lm.generate_until, o.gen_reqs, "gen", _batch_size(lm), o.keys.get("gen"),
                                        journal, bar, stop, dp)
        timings["generate_s"] = time.perf_counter() - t0
    bar.close()
    o.resumed = resumed_ll + resumed_gen
    if o.resumed:
        log.info("resumed %d of %d answers from the journal", o.resumed, len(o.ll_reqs) + len(o.gen_reqs))


def judge(p: Plan, o: Outputs, progress: bool) -> dict[str, dict[int, dict[str, Any]]]:
    """{task: {doc index: {judge metric: Verdict}}}; empty without a judge."""
    return run_judge(p.judge, p.tasks, p.docs, o.slots, o.gen_out, progress) if p.judge else {}


def _no_chat_prompt(messages: list[dict]) -> None:
    """A model object without `LMM.chat_prompt` shows no rendered prompt."""
    return None


def score(p: Plan, o: Outputs, verdicts: dict, bootstrap_iters: int,
          chat_prompt=_no_chat_prompt) -> tuple[dict[str, dict], dict[str, list]]:
    """(results {task: aggregated metrics}, samples {task: per-doc rows for samples_<task>.jsonl});
    `chat_prompt` renders a request's messages as the model saw them (`LMM.chat_prompt`)."""
    results: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[dict]] = {}
    for name, task in p.tasks.items():
        per_sample, rows = [], []
        for i, (doc, (stream, positions)) in enumerate(zip(p.docs[name], o.slots[name])):
            outs = [(o.gen_out if stream == "gen" else o.ll_out)[k] for k in positions]
            values, extra = task.score(doc, outs, verdicts.get(name, {}).get(i))
            per_sample.append(values)
            reqs = [(o.gen_reqs if stream == "gen" else o.ll_reqs)[k] for k in positions]
            rows.append(sample_row(task.doc_id(doc, i), {k: v for k, v in doc.items() if not k.startswith("_")},
                                   reqs, outs, extra, values, chat_prompt(reqs[0].messages)))
        results[name] = {"output_type": task.output_type, **task.aggregate(per_sample, bootstrap_iters)}
        samples[name] = rows
    return results, samples


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
