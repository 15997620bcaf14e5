"""`--reference_results DIR`: compare this run with a reference model's run (e.g. one trained on the
retain set only, the paper's NPO reference) task by task.

- `forget_quality` on forget-set truth-ratio tasks: the KS-test p-value between this model's and the
  reference's per-item truth ratios (1 = indistinguishable from never having seen the forget set);
- `privleak_<attack>` on MIA tasks: the relative AUC difference to the reference's AUC, in percent
  (0 = as private as the reference).
Formulas: `offside_eval.unlearning_metrics.forget_quality` / `privleak`. The reference folder must
hold results.json and the samples files of the same tasks (run it with --log_samples), over the same
documents (compared by the samples' doc hashes: a reference at another --limit is refused) and under
the same --token_set.
"""
from __future__ import annotations

import json
from pathlib import Path

from . import unlearning_metrics as um
from .results import EvalError
from .unlearning_metrics import DEFAULT_TOKEN_SET

MIA_PREFIX, MIA_SUFFIX = "mia_", "_auc"


def comparison_directions(metrics: dict) -> dict[str, bool | None]:
    """higher_is_better of the metrics this module adds to a task's `metrics`: forget_quality higher,
    privleak_* closest to zero (null in results.json)."""
    return {m: (True if m == "forget_quality" else None) for m in metrics
            if m == "forget_quality" or m.startswith("privleak_")}


def _reference_rows(folder: Path, task: str, mine: list[dict]) -> list[dict]:
    """The reference's sample rows of `task`, refused unless they cover exactly this run's documents."""
    path = folder / f"samples_{task}.jsonl"
    if not path.exists():
        raise EvalError(f"--reference_results {folder}: no {path.name} (evaluate the reference on {task} "
                        "with --log_samples)")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    theirs, ours = {r.get("doc_hash") for r in rows}, {r["doc_hash"] for r in mine}
    if theirs != ours:
        raise EvalError(f"--reference_results {folder}: {task} covers other documents than this run "
                        f"({len(ours - theirs)} of this run's {len(ours)} missing, {len(theirs - ours)} extra; "
                        "evaluate both with the same data and --limit)")
    return rows


def _check_token_set(folder: Path, reference: dict, token_set: str) -> None:
    theirs = reference.get("config", {}).get("token_set", DEFAULT_TOKEN_SET)
    if theirs != token_set:
        raise EvalError(f"--reference_results {folder}: the reference ran with --token_set {theirs}, this run "
                        f"with {token_set}")


def add_reference_comparison(results: dict[str, dict], samples: dict[str, list[dict]], metadata: dict[str, dict],
                             reference_dir: str | Path, token_set: str = DEFAULT_TOKEN_SET) -> list[str]:
    """Add forget_quality / privleak_* to `results` in place; returns the tasks compared."""
    folder = Path(reference_dir)
    ref_file = folder / "results.json"
    if not ref_file.is_file():
        raise EvalError(f"--reference_results {folder}: no results.json")
    ref_out = json.loads(ref_file.read_text(encoding="utf-8"))
    _check_token_set(folder, ref_out, token_set)
    reference = ref_out["results"]
    compared = []
    for task, metrics in results.items():
        meta = metadata.get(task) or {}
        if "truth_ratio" in metrics and meta.get("role") == "forget":
            if task not in reference:
                raise EvalError(f"--reference_results {folder}: the reference did not run {task}")
            theirs = [row["truth_ratio"] for row in _reference_rows(folder, task, samples[task])]
            metrics["forget_quality"] = um.forget_quality([row["truth_ratio"] for row in samples[task]], theirs)
            compared.append(task)
        attacks = [m for m in metrics if m.startswith(MIA_PREFIX) and m.endswith(MIA_SUFFIX)]
        if attacks:
            if task not in reference:
                raise EvalError(f"--reference_results {folder}: the reference did not run {task}")
            _reference_rows(folder, task, samples[task])
            for metric in attacks:
                attack = metric[len(MIA_PREFIX):-len(MIA_SUFFIX)]
                metrics[f"privleak_{attack}"] = um.privleak(metrics[metric], reference[task][metric])
            compared.append(task)
    return compared
