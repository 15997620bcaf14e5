"""`--reference_results DIR`: compare this run with a reference model's run (e.g. one trained on the
retain set only, the paper's NPO reference) task by task.

- `forget_quality` on forget-set truth-ratio tasks: the KS-test p-value between this model's and the
  reference's per-item truth ratios (1 = indistinguishable from never having seen the forget set);
- `privleak_<attack>` on MIA tasks: the relative AUC difference to the reference's AUC, in percent
  (0 = as private as the reference).
Formulas: `offside_eval.unlearning_metrics.forget_quality` / `privleak`. The reference folder must
hold results.json and the samples files of the same tasks (run it with --log_samples).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import unlearning_metrics as um
from .results import EvalError

MIA_PREFIX, MIA_SUFFIX = "mia_", "_auc"


def _reference_values(folder: Path, task: str, metric: str) -> list[Any]:
    path = folder / f"samples_{task}.jsonl"
    if not path.exists():
        raise EvalError(f"--reference_results {folder}: no {path.name} (evaluate the reference on {task} "
                        "with --log_samples)")
    values = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        values.append(row[metric])
    return values


def add_reference_comparison(results: dict[str, dict], samples: dict[str, list[dict]], metadata: dict[str, dict],
                             reference_dir: str | Path) -> list[str]:
    """Add forget_quality / privleak_* to `results` in place; returns the tasks compared."""
    folder = Path(reference_dir)
    ref_file = folder / "results.json"
    if not ref_file.is_file():
        raise EvalError(f"--reference_results {folder}: no results.json")
    reference = json.loads(ref_file.read_text(encoding="utf-8"))["results"]
    compared = []
    for task, metrics in results.items():
        meta = metadata.get(task) or {}
        if "truth_ratio" in metrics and meta.get("role") == "forget":
            if task not in reference:
                raise EvalError(f"--reference_results {folder}: the reference did not run {task}")
            mine = [row["truth_ratio"] for row in samples[task]]
            metrics["forget_quality"] = um.forget_quality(mine, _reference_values(folder, task, "truth_ratio"))
            compared.append(task)
        attacks = [m for m in metrics if m.startswith(MIA_PREFIX) and m.endswith(MIA_SUFFIX)]
        if attacks:
            if task not in reference:
                raise EvalError(f"--reference_results {folder}: the reference did not run {task}")
            for metric in attacks:
                attack = metric[len(MIA_PREFIX):-len(MIA_SUFFIX)]
                metrics[f"privleak_{attack}"] = um.privleak(metrics[metric], reference[task][metric])
            compared.append(task)
    return compared
