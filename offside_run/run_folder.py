"""Reading a finished (or partly finished) run folder: its manifest, each checkpoint's results.json
and samples files, as the report's `Entry` records; `offside report` and `offside compare` start here."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from offside_data.fileio import atomic_write_text
from offside_eval.unlearning_metrics import DEFAULT_TOKEN_SET

from .entries import Entry
from .experiment import ExperimentError
from .profiles import run_profile
from .seeds import aggregate
from .selection import selection_md

MANIFEST = "run_manifest.json"



def provenance_lines(run_dir: Path) -> list[str]:
    """The report's header: what was run on what, and by which code (from the manifest and the first
    evaluation's results.json)."""
    manifest = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
    evaluated = next((run_dir / r["eval_dir"] / "results.json" for r in manifest["records"] if r.get("eval_dir")), None)
    result = json.loads(evaluated.read_text(encoding="utf-8")) if evaluated and evaluated.is_file() else {}
    synthetic = manifest.get("synthetic", (result.get("data") or {}).get("synthetic"))
    data = f"`{manifest.get('data_root', '?')}`" + (" — **SYNTHETIC data: these numbers say nothing about real "
                                                     "models**" if synthetic else " (real data)")
    config = result.get("config", {})
    return [f"- Data root: {data}", f"- Base model: `{manifest.get('base_model', '?')}`",
            f"- Limit per task: {config.get('limit') or 'none'}; seed: {manifest.get('seed', config.get('seed'))}"
            + (f"; unlearning seeds: {', '.join(map(str, manifest['seeds']))}" if manifest.get("seeds") else ""),
            f"- Token set of the unlearning metrics: `{config.get('token_set', DEFAULT_TOKEN_SET)}` (offside-eval "
            "--token_set)",
            f"- offside {result.get('versions', {}).get('offside', '?')}, commit "
            f"`{result.get('git_revision') or 'unknown'}`", ""]


def load_entries(run_dir: str | Path) -> tuple[str, str, str, list[Entry]]:
    """Rebuild report entries from a run folder's manifest, results.json and samples files."""
    run_dir = Path(run_dir)
    manifest_path = run_dir / MANIFEST
    if not manifest_path.exists():
        raise ExperimentError(f"{run_dir}: no {MANIFEST} (not a pipeline run folder, or it never finished a stage)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    benchmark = manifest.get("benchmark", "offside")
    kind_metrics = run_profile(benchmark, str(run_dir)).kind_metrics
    entries = []
    for rec in manifest["records"]:
        if rec["phase"] == "candidate":  # a search candidate: the Selection section reports it
            continue
        metrics: dict[str, dict[str, float]] = {}
        samples: dict[str, list[dict]] = {}
        token_set = DEFAULT_TOKEN_SET
        if rec.get("eval_dir"):
            folder = run_dir / rec["eval_dir"]
            out = json.loads((folder / "results.json").read_text(encoding="utf-8"))
            results, token_set = out["results"], out["config"].get("token_set", DEFAULT_TOKEN_SET)
            for role, tasks in rec["tasks"].items():
                metrics[role], samples[role] = _role_metrics(folder, results, tasks, kind_metrics)
        entries.append(Entry(rec["method"], rec["setting"], rec["phase"], metrics, samples, rec.get("error"),
                             token_set=token_set, attack=rec.get("attack"), seed=rec.get("seed")))
    return manifest["name"], manifest["protocol"], benchmark, entries


def _main_metric(metrics: dict[str, Any]) -> str:
    """A utility task's headline metric: its first reported value."""
    return next((m for m, v in metrics.items() if isinstance(v, (int, float)) and m != "n"
                 and not m.endswith(("_stderr", "_missing"))), "acc")


def _with_uncertainty(result: dict[str, Any], wanted: list[str]) -> dict[str, float]:
    """The `wanted` metrics of one task's results, each with its `_stderr` when known and its `_n` (the
    task's n less the samples the metric is missing on)."""
    out = {k: result[k] for m in wanted for k in (m, f"{m}_stderr") if result.get(k) is not None}
    if result.get("n") is not None:
        out.update({f"{m}_n": result["n"] - result.get(f"{m}_missing", 0) for m in wanted if m in out})
    return out


def _role_metrics(folder: Path, results: dict, tasks: dict[str, str],
                  kind_metrics: dict[str, list[str]]) -> tuple[dict[str, float], list[dict]]:
    """The report's numbers of one role, by task kind (OFFSIDE: classification acc, gen_score, fact_score)."""
    metrics: dict[str, float] = {}
    per_id: dict[str, dict] = {}
    for kind, task in tasks.items():
        wanted = kind_metrics.get(kind) or [_main_metric(results.get(task, {}))]
        metrics.update(_with_uncertainty(results.get(task, {}), wanted))
        samples_file = folder / f"samples_{task}.jsonl"
        if samples_file.exists():
            for line in samples_file.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                doc = row.get("doc", {})
                rec = per_id.setdefault(row["doc_id"], {"id": row["doc_id"], "fact": doc.get("fact"),
                                                        "visual_rumor": doc.get("visual_rumor", False)})
                rec.update({m: row[m] for m in wanted if m in row})
    return metrics, list(per_id.values())


def build_report(run_dir: str | Path) -> Path:
    """The run's report, written by its benchmark's run profile, with the provenance header, the curves
    plot (when the run measured curves) and the Selection section (when it searched); a run with a
    `seeds` axis is reported as its seeds' means (seeds.aggregate)."""
    from .curves import plot_curves  # loads the trainer and the evaluator: only when a report is built

    run_dir = Path(run_dir)
    name, protocol, benchmark, entries = load_entries(run_dir)
    profile = run_profile(benchmark, str(run_dir))
    path = profile.write_report(aggregate(entries), run_dir / "report", title=f"{profile.title}: {name}",
                                protocol=protocol, header=provenance_lines(run_dir),
                                extra_plots=plot_curves(unlearning_curves(run_dir), run_dir / "report" / "plots"))
    selection = selection_md(run_dir)
    if selection:  # before the analyses, after the tables it explains
        text = path.read_text(encoding="utf-8")
        head, sep, tail = text.partition("## Analyses\n")
        atomic_write_text(path, head + selection + "\n" + sep + tail if sep else text + "\n" + selection)
    return path


def unlearning_curves(run_dir: Path) -> dict[str, list[dict]]:
    """Method -> the curve points its complete-setting unlearning run logged (offside run's `curves:`; a
    run with seeds: its first seed's; a searched method: its selected candidate's)."""
    from .curves import read_curves

    manifest = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
    runs: dict[str, Path] = {}
    for r in manifest["records"]:
        if r["phase"] == "unlearned" and r["setting"] == "complete" and not r.get("attack"):
            runs.setdefault(r["method"], Path(r["checkpoint"]))
    return {method: points for method, path in runs.items() if (points := read_curves(path))}
