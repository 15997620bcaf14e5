"""`offside compare RUN_OR_RESULTS...`: every checkpoint x task x metric of any mix of pipeline run
folders and offside-eval results (a results.json, or the folder holding one) in one long CSV and one
markdown table, each value with its standard error and n."""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offside_data.fileio import atomic_write_text
from offside_eval.unlearning_metrics import DEFAULT_TOKEN_SET

from .display import checkpoint_label
from .experiment import ExperimentError
from .run_folder import MANIFEST

NOT_METRICS = ("n", "output_type")
DIRECTIONS = {True: "higher", False: "lower", None: "closest_to_zero"}  # results.json's higher_is_better values


@dataclass(frozen=True)
class Value:
    checkpoint: str
    task: str
    metric: str
    value: float
    stderr: float | None
    n: int | None  # samples the value is over (the task's n less the metric's missing ones)
    better: str  # higher | lower | closest_to_zero | "" (not recorded)
    token_set: str
    source: str  # the results.json it came from


def _which(record: dict) -> str:
    """' [its eval folder]' for a record a label alone does not tell apart (a seed, a search candidate)."""
    return f" [{Path(record['eval_dir']).name}]" if record.get("seed") is not None or record["phase"] == "candidate" \
        else ""


def _results_files(path: Path) -> list[tuple[str, Path]]:
    """(checkpoint name, results.json) of one argument: a run folder gives each evaluated checkpoint."""
    if (path / MANIFEST).is_file():
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        return [(f"{manifest['name']}: {checkpoint_label(r['method'], r['setting'], r['phase'])}{_which(r)}",
                 path / r["eval_dir"] / "results.json") for r in manifest["records"] if r.get("eval_dir")]
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise ExperimentError(f"compare: {path}: neither a run folder ({MANIFEST}) nor results.json (or a folder "
                              "holding one)")
    return [(file.parent.name, file)]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _values(checkpoint: str, file: Path) -> list[Value]:
    out = json.loads(file.read_text(encoding="utf-8"))
    token_set = (out.get("config") or {}).get("token_set", DEFAULT_TOKEN_SET)
    rows = []
    for task, metrics in out.get("results", {}).items():
        directions = (out.get("higher_is_better") or {}).get(task, {})
        for metric, value in metrics.items():
            if metric in NOT_METRICS or metric.endswith(("_stderr", "_missing")) or not _finite(value):
                continue
            stderr = metrics.get(f"{metric}_stderr")
            n = metrics.get("n")
            rows.append(Value(checkpoint, task, metric, float(value), stderr if _finite(stderr) else None,
                              None if n is None else int(n - metrics.get(f"{metric}_missing", 0)),
                              DIRECTIONS[directions[metric]] if metric in directions else "", token_set, str(file)))
    return rows


def collect(paths: list[str | Path]) -> list[Value]:
    """Every value of every checkpoint the paths name, in argument order."""
    if not paths:
        raise ExperimentError("compare: name at least one run folder or results.json")
    found = [pair for p in paths for pair in _results_files(Path(p))]
    missing = [str(f) for _c, f in found if not f.is_file()]
    if missing:
        raise ExperimentError(f"compare: {missing[0]}: no such results.json (a stage the run has not finished?)")
    return [v for checkpoint, file in found for v in _values(checkpoint, file)]


def values_csv(values: list[Value]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["checkpoint", "task", "metric", "value", "stderr", "n", "better", "token_set", "source"])
    for v in values:
        writer.writerow([v.checkpoint, v.task, v.metric, f"{v.value:.6g}", "" if v.stderr is None else f"{v.stderr:.6g}",
                         "" if v.n is None else v.n, v.better, v.token_set, v.source])
    return buf.getvalue()


def _cell(v: Value | None) -> str:
    if v is None:
        return "–"
    text = f"{v.value:.4g}" + ("" if v.stderr is None else f" ± {v.stderr:.2g}")
    return text + ("" if v.n is None else f" (n={v.n})")


def values_markdown(values: list[Value]) -> str:
    """Rows: task / metric (with its better direction); columns: checkpoints; cells: value ± stderr (n)."""
    checkpoints = list(dict.fromkeys(v.checkpoint for v in values))
    keys = list(dict.fromkeys((v.task, v.metric) for v in values))
    better = {(v.task, v.metric): v.better for v in values if v.better}
    by_cell = {(v.checkpoint, v.task, v.metric): v for v in values}
    arrows = {"higher": " ↑", "lower": " ↓", "closest_to_zero": " →0"}
    lines = ["| task | metric | " + " | ".join(checkpoints) + " |", "|---|---|" + "---|" * len(checkpoints)]
    for task, metric in keys:
        cells = [_cell(by_cell.get((c, task, metric))) for c in checkpoints]
        lines.append(f"| {task} | {metric}{arrows.get(better.get((task, metric), ''), '')} | " + " | ".join(cells) + " |")
    token_sets = sorted({v.token_set for v in values})
    note = (f"Cells: value ± standard error (n samples). Token set of the unlearning metrics: {', '.join(token_sets)}"
            + (" — **mixed: probability-based unlearning metrics do not compare across them**" if len(token_sets) > 1
               else "") + ".")
    return "\n".join(lines + ["", note]) + "\n"


def compare(paths: list[str | Path], out_dir: str | Path = ".") -> tuple[Path, Path]:
    """Write comparison.csv and comparison.md under out_dir; returns their paths."""
    values = collect(paths)
    out_dir = Path(out_dir)
    csv_path, md_path = out_dir / "comparison.csv", out_dir / "comparison.md"
    atomic_write_text(csv_path, values_csv(values))
    atomic_write_text(md_path, values_markdown(values))
    return csv_path, md_path
