"""One entry per `output_type`: which model call answers its requests, how a doc becomes requests,
and how the model's answers become per-sample metric values. A new output type is one
`OUTPUT_TYPES[name] = OutputType(...)`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .metrics import METRICS, MetricError, is_judge_metric
from .requests import GenerationRequest, LoglikelihoodRequest
from .results import json_safe
from .tasks_index import FunctionRef
from .unlearning_metrics import apply_token_set

if TYPE_CHECKING:
    from .task import Task

Scored = tuple[dict[str, Any], dict[str, Any]]  # (per-sample metric values, extra fields for the samples file)


@dataclass(frozen=True)
class OutputType:
    stream: str  # the LMM method answering its requests: "loglikelihood" or "generate_until"
    default_metrics: tuple[str, ...]  # metric_list when the task gives none
    builtin_metrics: frozenset[str]  # metrics its scorer computes itself (not from metrics.METRICS)
    requests: Callable[[Task, dict, Any, list, list], list]  # (task, doc, doc_id, visuals, messages)
    score: Callable[[Task, dict, list, dict], Scored]  # (task, doc, model results, judge verdicts)


# ---- generate_until -------------------------------------------------------------------------
def _generation_requests(task, doc, doc_id, visuals, messages):
    return [GenerationRequest(messages, visuals, dict(task.gen_kwargs), task.name, doc_id)]


def _score_generation(task, doc, results, verdicts) -> Scored:
    response, target = results[0], task.target(doc)
    extra = {"response": response, "target": json_safe(target)}
    judged = task.judge_values(verdicts, extra)
    if task.process_results is not None:
        return {**dict(task.process_results(doc, [response])), **judged}, extra
    values = {}
    for spec in task.metric_list:
        name = spec["metric"]
        if is_judge_metric(name):
            continue
        fn = name.resolve() if isinstance(name, FunctionRef) else METRICS[name]["fn"]
        values[task.metric_name(spec)] = fn(response, target, doc)
    return {**values, **judged}, extra


# ---- loglikelihood --------------------------------------------------------------------------
def _loglikelihood_requests(task, doc, doc_id, visuals, messages):
    return [LoglikelihoodRequest(messages, visuals, str(task.target(doc)), (task.name, doc_id), task.name, doc_id)]


def _score_loglikelihood(task, doc, results, verdicts) -> Scored:
    ll, greedy = results[0]
    extra = {"target": json_safe(task.target(doc)), "loglikelihood": ll, "is_greedy": greedy}
    if task.process_results is not None:
        return dict(task.process_results(doc, results)), extra
    return {"loglikelihood": ll, "perplexity": ll, "acc": float(greedy)}, extra


# ---- multiple_choice ------------------------------------------------------------------------
def _choice_requests(task, doc, doc_id, visuals, messages):
    return [LoglikelihoodRequest(messages, visuals, choice, (task.name, doc_id), task.name, doc_id)
            for choice in task.choices(doc)]


def _score_choices(task, doc, results, verdicts) -> Scored:
    """acc: argmax of the summed option log-prob; acc_norm: argmax of log-prob per character."""
    choices = task.choices(doc)
    gold = task.gold_index(doc, choices)
    lls = [r[0] for r in results]
    extra = {"choices": choices, "target": gold, "loglikelihoods": lls, "is_greedy": [bool(r[1]) for r in results]}
    if task.process_results is not None:
        return dict(task.process_results(doc, results)), extra
    pred = max(range(len(lls)), key=lambda k: lls[k])
    norm = [ll / max(len(c), 1) for ll, c in zip(lls, choices)]
    pred_norm = max(range(len(norm)), key=lambda k: norm[k])
    extra.update(pred=pred, pred_norm=pred_norm)
    return {"acc": float(pred == gold), "acc_norm": float(pred_norm == gold)}, extra


# ---- token_scores ---------------------------------------------------------------------------
def _token_requests(task, doc, doc_id, visuals, messages):
    """One detailed request per continuation: the choices when the task has them, else the target."""
    texts = task.choices(doc) if task.config.doc_to_choice is not None else [str(task.target(doc))]
    return [LoglikelihoodRequest(messages, visuals, text, (task.name, doc_id), task.name, doc_id, details=True)
            for text in texts]


def _score_tokens(task, doc, results, verdicts) -> Scored:
    """Per-token answers, read under the run's token set, go to the task's process_results (the
    unlearning metrics need all of them)."""
    if task.process_results is None:
        raise MetricError(f"task {task.name}: output_type token_scores needs a process_results hook")
    results = [apply_token_set(r, task.token_set) for r in results]
    extra = {"logprobs": [r["logprob"] for r in results], "n_tokens": [r["n_tokens"] for r in results]}
    return dict(task.process_results(doc, results)), extra


OUTPUT_TYPES: dict[str, OutputType] = {
    "multiple_choice": OutputType("loglikelihood", ("acc", "acc_norm"), frozenset({"acc", "acc_norm"}),
                                  _choice_requests, _score_choices),
    "loglikelihood": OutputType("loglikelihood", ("loglikelihood", "acc"),
                                frozenset({"loglikelihood", "acc", "perplexity"}),
                                _loglikelihood_requests, _score_loglikelihood),
    "generate_until": OutputType("generate_until", ("exact_match",), frozenset(),
                                 _generation_requests, _score_generation),
    "token_scores": OutputType("loglikelihood", (), frozenset(), _token_requests, _score_tokens),
}
