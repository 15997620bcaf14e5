"""What an evaluation hands back: JSON-safe values, group aggregates, the printed table, the files."""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from offside_data.fileio import atomic_write_text

from .lm_eval_format import results_view, sample_view, sha256_hex, timestamp
from .tasks_index import TaskIndex

log = logging.getLogger("offside_eval")
_SKIP = object()


class EvalError(ValueError):
    pass


def sample_row(doc_id: Any, doc: dict, reqs: list, outs: list, extra: dict, values: dict,
               chat_prompt: str | None = None) -> dict[str, Any]:
    """One line of samples_<task>.jsonl in lm-eval's layout: doc_id, doc, target, `arguments` (what the
    model was asked, one entry per request), `resps` / `filtered_resps` (its answers), doc / prompt /
    target hashes, `metrics` and the per-sample metric values at the top level; then offside's own
    fields (prompt: the question, chat_prompt: the text the model saw when it can render it, n_images,
    per-option log-likelihoods, response, ...)."""
    prompt = reqs[0].messages[0]["content"][-1]["text"]
    arguments = [[prompt, r.continuation] if hasattr(r, "continuation") else [prompt, r.gen_kwargs] for r in reqs]
    target = extra.get("target")
    return {"doc_id": doc_id, "doc": json_safe(doc), "target": json_safe(target), "arguments": json_safe(arguments),
            "resps": json_safe([[out] for out in outs]), "filtered_resps": json_safe(list(outs)),
            "doc_hash": sha256_hex(json_safe(doc)), "prompt_hash": sha256_hex(prompt),
            "target_hash": sha256_hex(str(target)),
            "metrics": list(values), **json_safe(values), "prompt": prompt, "chat_prompt": chat_prompt,
            "n_images": len(reqs[0].visuals), **{k: v for k, v in json_safe(extra).items() if k != "target"}}


def json_safe(value: Any) -> Any:
    """Plain JSON values only (NaN -> None); anything else (images, objects) is left out."""
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        out = {str(k): json_safe(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _SKIP}
    if isinstance(value, (list, tuple)):
        out = [json_safe(v) for v in value]
        return [v for v in out if v is not _SKIP]
    return _SKIP


def finite(value: Any) -> Any:
    """NaN / inf -> null, so results.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def group_results(index: TaskIndex, requested: list[str], results: dict[str, dict]) -> dict[str, dict]:
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
        for spec in entry.config.aggregate_metric_list if entry.kind == "group" else []:
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


def write_results(out: dict[str, Any], samples: dict[str, list[dict]], folder: Path | None) -> None:
    """results.json (+ samples_<task>.jsonl for the tasks in `samples`) and their lm-eval-compatible
    copies results_<time>.json / samples_<task>_<time>.jsonl (`lm_eval_format`), each written atomically;
    the files of an earlier pass in the folder are removed."""
    if folder is None:
        return
    stamp = timestamp()
    files = {f"samples_{name}.jsonl": rows for name, rows in samples.items()}
    files.update({f"samples_{name}_{stamp}.jsonl": [sample_view(i, r) for i, r in enumerate(rows)]
                  for name, rows in samples.items()})
    for name, rows in files.items():
        atomic_write_text(folder / name, "".join(json.dumps(r, default=str) + "\n" for r in rows))
    for stale in [*folder.glob("samples_*.jsonl"), *folder.glob("results_*.json")]:  # an earlier pass's files
        if stale.name not in files:
            stale.unlink()
    for name, data in ((f"results_{stamp}.json", results_view(out)), ("results.json", out)):
        atomic_write_text(folder / name, json.dumps(finite(data), indent=2, default=str, allow_nan=False))
    log.info("wrote %s (lm-eval layout: results_%s.json)", folder / "results.json", stamp)


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def make_table(out: dict[str, Any]) -> str:
    rows = [("task", "metric", "value", "stderr", "n")]
    for task, res in out["results"].items():
        for key, value in res.items():
            if key in ("n", "output_type") or key.endswith("_stderr") or key.endswith("_missing"):
                continue
            se = res.get(f"{key}_stderr")
            note = f" ({res[f'{key}_missing']} missing)" if f"{key}_missing" in res else ""
            rows.append((task, key, _fmt(value) + note, _fmt(se) if se is not None else "", str(res["n"])))
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
    for info in data_sources(out.get("data")):
        if info.get("synthetic"):
            lines.append("NOTE: " + info["warning"])
    judge_info = out.get("judge") or {}
    if judge_info.get("skipped_tasks"):
        lines.append(f"NOTE: no LLM judge configured; not run: {', '.join(judge_info['skipped_tasks'])}")
    elif judge_info.get("configured") and judge_info.get("tasks"):
        lines.append(f"judge: {judge_info.get('model')} at {judge_info.get('base_url', judge_info.get('backend'))}; "
                     f"requests {judge_info['stats'].get('requests')}, cache hits {judge_info['stats'].get('cache_hits')}")
    return "\n".join(lines)


def data_field(infos: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """results["data"]: None (no benchmark), the one benchmark's info, or {"synthetic", "benchmarks": {...}}."""
    if not infos:
        return None
    if len(infos) == 1:
        return next(iter(infos.values()))
    return {"synthetic": any(i["synthetic"] for i in infos.values()), "benchmarks": infos}


def data_sources(data: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The per-benchmark infos inside a results["data"] value (inverse of `data_field`)."""
    if not data:
        return []
    return list(data["benchmarks"].values()) if "benchmarks" in data else [data]

