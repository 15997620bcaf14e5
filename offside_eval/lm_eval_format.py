"""lm-eval-harness-compatible copies of an evaluation's output, written next to offside's own files.

results.json and samples_<task>.jsonl keep offside's names (`acc`, the record id as doc_id); beside
them go `results_<time>.json` and `samples_<task>_<time>.jsonl` as lm-eval writes them, so its
readers (and tools built on them) load an offside run as is: metrics keyed `metric,filter` (filter
`none`), an `alias` per task, groups (sample-weighted means, as `group_results` computes them) both
under `groups` and `results`, `group_subtasks`, `n-samples`; samples with the integer position of the
doc as `doc_id` (offside's id stays in `id`), `filter`, `metrics`, and the prompt as the model saw
it (its chat template applied, when the model can render it) in `arguments` and `prompt_hash`.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
from typing import Any

FILTER = "none"  # offside applies no lm-eval filters: every metric is on the raw response
NOT_METRICS = ("n", "output_type", "tasks", "skipped")


def timestamp() -> str:
    """lm-eval's file-name timestamp, e.g. 2026-12-06T08-30-00.123456."""
    return _dt.datetime.now().isoformat().replace(":", "-")


def sha256_hex(value: Any) -> str:
    """lm-eval's doc / prompt / target hash: SHA-256 of the text (of sorted-key JSON for anything else)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def metric_keys(metrics: dict[str, Any]) -> dict[str, Any]:
    """offside's {acc, acc_stderr, ...} as lm-eval's {'acc,none', 'acc_stderr,none', ...}; keys that
    already name a filter (lmms-eval's) are kept, counts and text left out."""
    out = {}
    for key, value in metrics.items():
        if key in NOT_METRICS or key.endswith("_missing") or isinstance(value, (str, list, dict)):
            continue
        out[key if "," in key else f"{key},{FILTER}"] = value
    return out


def results_view(out: dict[str, Any]) -> dict[str, Any]:
    """The results file lm-eval would write for `out` (offside's results dict)."""
    results = {task: {"alias": task, **metric_keys(metrics)} for task, metrics in out["results"].items()}
    groups = {name: {"alias": name, **metric_keys(info)} for name, info in (out.get("groups") or {}).items()}
    return {"results": {**results, **groups}, "groups": groups,
            "group_subtasks": {name: list(info.get("tasks", [])) for name, info in (out.get("groups") or {}).items()},
            "configs": {task: info for task, info in (out.get("tasks") or {}).items()},
            "versions": {task: (info.get("metadata") or {}).get("version") for task, info in
                         (out.get("tasks") or {}).items()},
            "n-shot": {task: 0 for task in out["results"]},
            "higher_is_better": out.get("higher_is_better", {}), "n-samples": out.get("n_samples", {}),
            "config": out.get("config", {}), "git_hash": out.get("git_revision"), "date": out.get("date"),
            "model_name": (out.get("config") or {}).get("model")}


def sample_view(index: int, row: dict[str, Any]) -> dict[str, Any]:
    """One line of lm-eval's samples file from one of offside's rows (`results.sample_row`)."""
    prompt = row.get("chat_prompt") or row["prompt"]
    arguments = [[prompt, arg] for _question, arg in row["arguments"]]
    return {**row, "doc_id": index, "id": row["doc_id"], "arguments": arguments, "filter": FILTER,
            "prompt_hash": sha256_hex(prompt)}
