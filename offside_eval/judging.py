"""The LLM judge inside an evaluation: which client, which tasks run without one, the verdicts, and
what results.json says about it (never the key)."""
from __future__ import annotations

import logging
from typing import Any

from .results import EvalError
from .task import Task, judge_metrics
from .tasks_index import TaskIndex

log = logging.getLogger("offside_eval")
JUDGE_HINT = ("pass --judge_args base_url=URL,model=NAME (an OpenAI-compatible server; the key is read from "
              "$OPENAI_API_KEY) or --judge_args judge=hf,pretrained=PATH (a local model)")


def judge_client(judge_args: Any):
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
        raise EvalError(str(exc)) from None


def select_leaves(index: TaskIndex, requested: list[str], have_judge: bool) -> tuple[list[str], list[str]]:
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


def run_judge(client, task_objs: dict[str, Task], docs: dict[str, list[dict]], slots, gen_out: list[str],
               progress: bool) -> dict[str, dict[int, dict[str, Any]]]:
    """Judge every judge task's responses in one batch per prompt template; {task: {sample: {metric: Verdict}}}."""
    from .judge import JudgeSample, Verdict, judge, parse_reply
    from .metrics import METRICS

    jobs: dict[tuple, dict[JudgeSample, list[tuple[str, int, str]]]] = {}  # (template, parser) -> sample -> users
    verdicts: dict[str, dict[int, dict[str, Any]]] = {}
    for name, task in task_objs.items():
        for metric in task.judge_metrics:
            spec = METRICS[metric]
            for i, (doc, (_kind, positions)) in enumerate(zip(docs[name], slots[name])):
                generated = str(gen_out[positions[0]])
                if spec.get("drop_empty") and not generated:
                    verdicts.setdefault(name, {}).setdefault(i, {})[metric] = Verdict(
                        None, error="empty generation: not judged (left out, as the protocol does)")
                    continue
                question, reference, *image_id = task.judge_inputs(doc)
                sample = JudgeSample(question=question, generated=generated, ground_truth=reference,
                                     image_id=image_id[0] if image_id else None)
                job = (spec["judge"], spec.get("parser") or parse_reply)
                jobs.setdefault(job, {}).setdefault(sample, []).append((name, i, metric))
    for (template, parser), unique in jobs.items():
        log.info("LLM judge (%s): %d answers to rate with %s", template, len(unique), client.model)
        report = judge(client, list(unique), template=template, progress=progress, parser=parser)
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


def judge_info(client, task_objs: dict[str, Task], skipped: list[str]) -> dict[str, Any]:
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
