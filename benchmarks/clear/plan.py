"""CLEAR's `offside run` profile: the authors' pipeline (README of github.com/somvy/multimodal_unlearning)
as stages -- vanilla fine-tune on full+tofu, the "gold" retain-only model on retain{100-N}+tofu (forget
quality needs it), each method unlearning forgetN+tofu (setting `unimodal`: its text-only TOFU rows),
every checkpoint evaluated on the six clear_* splits -- and a report in calculate_metrics.py's terms:
per split ROUGE, Prob. and Truth Ratio, then Model Utility and Forget Quality."""
from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import TYPE_CHECKING

from offside_data.fileio import atomic_write_text
from offside_eval.metrics import declare_metric
from offside_eval.unlearning_metrics import model_utility
from offside_run.display import checkpoint_label
from offside_run.entries import Entry, metric_error
from offside_run.errors import ExperimentError
from offside_run.profiles import RunProfile, register_profile, text_when_unimodal
from offside_run.report import failed_section, plots_section, write_tables
from offside_run.stages import EvalStage, TrainStage
from offside_run.tables import Table, to_markdown

from .protocol import UTILITY_SPLITS, forget_quality

if TYPE_CHECKING:
    from offside_run.pipeline import Runner

KINDS = ("gen", "tr")
KIND_METRICS = {"gen": ["rougeL_recall"], "tr": ["clear_prob", "clear_truth_ratio"]}
METRICS = ("rougeL_recall", "clear_prob", "clear_truth_ratio")  # calculate_metrics.METRIC_NAMES' order
SPLIT_LABELS = {"forget": "Forget", "forget_facerec": "Forget FaceRec", "retain": "Retain",
                "retain_facerec": "Retain FaceRec", "real_faces": "Real Faces", "real_world": "Real World"}
SUMMARY = "summary"
for _metric, _label in (("clear_prob", "Prob."), ("clear_truth_ratio", "Truth Ratio"), ("clear_js", "JS distance")):
    declare_metric(_metric, _label)


def clear_tasks(runner: Runner) -> dict[str, dict[str, str]]:
    """split -> kind -> task, found by the tasks' metadata (exactly one each)."""
    out: dict[str, dict[str, str]] = {}
    for split in SPLIT_LABELS:
        for kind in KINDS:
            query = dict(benchmark="clear", role=split, kind=kind)
            found = runner.index.find(**query)
            if len(found) != 1:
                raise ExperimentError(f"{runner.exp.source}: {len(found)} tasks have metadata {query}; the report "
                                      "needs exactly one")
            out.setdefault(split, {})[kind] = found[0]
    return out


def plan_clear(runner: Runner) -> list[TrainStage | EvalStage]:
    exp, stages = runner.exp, []
    tasks = clear_tasks(runner)
    train = functools.partial(runner.add_train, stages)
    vanilla = train("vanilla", "sft", exp.vanilla, method="vanilla", setting="complete", phase="vanilla")
    runner.add_eval(stages, vanilla, list(tasks), tasks)
    if exp.unlearning_metrics:
        gold = train("reference", "retain_only", {**exp.vanilla, **exp.reference},
                     method="retain-only reference", setting="complete", phase="reference")
        runner.add_eval(stages, gold, list(tasks), tasks)
    for method, setting, options, _relearn in exp.method_runs():
        unlearned = train(f"{method}-{setting}", method, options,
                          parent=vanilla, method=method, setting=setting, phase="unlearned")
        runner.add_eval(stages, unlearned, list(tasks), tasks)
    return stages


def check_clear(exp, data: dict) -> None:
    """A forget split the release has; complete (image + text rows) or unimodal (text rows) only; no
    relearning (CLEAR has no relearn split) and none of OFFSIDE's sections."""
    if "selective" in exp.settings:
        raise ExperimentError(f"{exp.source}: settings: selective does not apply to benchmark clear "
                              "(complete = image + text rows, unimodal = the text rows)")
    if exp.relearn_vanilla or exp.relearn_settings:
        raise ExperimentError(f"{exp.source}: CLEAR has no relearn split: set relearn_vanilla: false and "
                              "relearn_settings: []")
    for key in ("utility_tasks", "judge", "robustness", "seeds", "search", "select"):
        if data.get(key):
            raise ExperimentError(f"{exp.source}: {key} does not apply to benchmark clear")


# ---- report ---------------------------------------------------------------------------------
def _value(entry: Entry, split: str, metric: str) -> float | None:
    value = entry.metrics.get(split, {}).get(metric)
    return None if value is None or math.isnan(value) else value


def _forget_rows(entry: Entry) -> tuple[list[str], list]:
    rows = [s for s in entry.samples.get("forget", []) if "clear_truth_ratio" in s]
    return [s["id"] for s in rows], [s["clear_truth_ratio"] for s in rows]


def summary(entry: Entry, gold: Entry | None) -> dict[str, float | None]:
    """Model Utility (hmean of the non-forget values) and, against the gold model, Forget Quality / JS."""
    values = [_value(entry, s, m) for s in UTILITY_SPLITS for m in METRICS]
    out: dict[str, float | None] = {
        "model_utility": model_utility(values) if values and None not in values else None,
        "forget_quality": None, "clear_js": None}
    if gold is not None and entry is not gold and not entry.error:
        (ids, mine), (gold_ids, theirs) = _forget_rows(entry), _forget_rows(gold)
        if ids and ids == gold_ids:
            fq = forget_quality(mine, theirs)
            out.update(forget_quality=fq["forget_quality"], clear_js=fq["js"])
    return out


def clear_table(entries: list[Entry]) -> Table:
    """A row per checkpoint (vanilla and the gold model first): per split ROUGE / Prob. / Truth Ratio, then
    the summary; forget columns are better lower except Truth Ratio (closer to 1 = forgotten)."""
    entries = sorted(entries, key=lambda e: (e.method != "vanilla", e.phase != "reference"))
    gold = next((e for e in entries if e.phase == "reference" and not e.error), None)
    groups = [(label, [(f"{split}:{m}", "forget" not in split or m == "clear_truth_ratio") for m in METRICS])
              for split, label in SPLIT_LABELS.items()]
    groups.append(("Summary", [(f"{SUMMARY}:model_utility", True), (f"{SUMMARY}:forget_quality", True),
                               (f"{SUMMARY}:clear_js", False)]))
    rows, errors = [], []
    for e in entries:
        sums = summary(e, gold)
        rows.append((checkpoint_label(e.method, e.setting, e.phase),
                     [_value(e, s, m) for s in SPLIT_LABELS for m in METRICS] + list(sums.values())))
        errors.append([metric_error(e, s, m) for s in SPLIT_LABELS for m in METRICS] + [None] * len(sums))
    return Table("CLEAR", groups, rows, errors, "± one standard error where known; Forget Quality and JS distance "
                 "against the retain-only (gold) model, on the forget captions")


def write_clear_report(entries: list[Entry], out_dir: str | Path, title: str = "CLEAR run",
                       protocol: str = "reference", header: list[str] = (), extra_plots: list[Path] = ()) -> Path:
    """report.md and tables/clear.csv|.tex under out_dir; returns report.md."""
    out_dir = Path(out_dir)
    table = clear_table(entries)
    write_tables(out_dir, {"clear": table})
    md = [f"# {title}", "", *header, "Tasks: the authors' six evaluation tasks (config/mm/eval.yaml); metrics as "
          "their mm/calculate_metrics.py computes them (offside_benchmarks.clear.protocol).", "", to_markdown(table),
          "ROUGE: ROUGE-L recall of the greedy answer; Prob.: exp(-loss) on captions, normalised against the "
          "perturbed answers elsewhere; Truth Ratio: forget sets mean min(tr, 1/tr), others mean max(0, 1 - 1/tr); "
          "Model Utility: harmonic mean of the non-forget values. **Bold** marks the best method per column.", ""]
    md += [*failed_section(entries), *plots_section(list(extra_plots))]
    path = out_dir / "report.md"
    atomic_write_text(path, "\n".join(md))
    return path


register_profile(RunProfile("clear", "CLEAR run", plan_clear, KIND_METRICS, write_clear_report, check=check_clear,
                            configs_dir=Path(__file__).parent / "configs", settings=("complete", "unimodal"),
                            setting_options=text_when_unimodal))
