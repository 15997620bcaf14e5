"""FIUBench's `offside run` profile: the authors' two stages as offside stages, and their results table.

Plan (README "Learning" / "Unlearning"): vanilla = SFT on every person (finetune.py, split full) ->
evaluate; with `unlearning_metrics` the retain-only reference (finetune.yaml split "retain": every
person outside the forget splits) -> evaluate the forget set's truth ratios, the KS test's other
sample; each method unlearns forget<N> (forget.py) -> evaluate the forget set (generation, APE,
probability / truth ratio / Min-K) and the retain set (generation, probability / truth ratio), forget
quality against the reference; with a judge (`judge:`, --judge_args) the GPT score of both sets too.
FIUBench has no relearn split: relearning is refused.

Report (aggregate_eval_stat.py): per checkpoint the forget set's ROUGE-L, probability, truth ratio,
forget quality (KS-test p-value), keyword EM, APE and Min-K++, the retain set's ROUGE-L, probability,
truth ratio and keyword EM (and both sets' GPT score when judged), and the model utility: the harmonic
mean of the retain-set values (`get_model_utility`: ROUGE, Prob., Truth Ratio, EM and, where judged,
GPT of the retain set).
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from offside_data.fileio import atomic_write_text
from offside_eval.metrics import declare_metric
from offside_eval.unlearning_metrics import MetricError, model_utility
from offside_run.display import checkpoint_label
from offside_run.entries import Entry, metric_error
from offside_run.experiment import ExperimentError
from offside_run.profiles import RunProfile, register_profile
from offside_run.report import failed_section, plots_section, write_tables
from offside_run.stages import EvalStage, TrainStage
from offside_run.tables import Table, to_markdown

from . import NAME

if TYPE_CHECKING:
    from offside_run.pipeline import Runner

ROLE_KINDS = {"forget": ("gen", "ape", "tr"), "retain": ("gen", "tr")}
JUDGED = "judge"  # the GPT-score tasks' kind, planned when the experiment configures a judge
KIND_METRICS = {"gen": ["rougeL_recall", "keyword_em"], "ape": ["ape"],
                "tr": ["prob", "truth_ratio", "forget_quality", "minkpp"], JUDGED: ["fiubench_gpt"]}
# role -> (metric, higher is better): the columns of aggregate_eval_stat.py's csv (ROUGE, Prob., Truth Ratio,
# KS-Test, Exact Match; APE and Min-K++ from the same evaluation logs)
COLUMNS = {"forget": [("rougeL_recall", False), ("prob", False), ("truth_ratio", True), ("forget_quality", True),
                      ("keyword_em", False), ("ape", False), ("minkpp", False), ("fiubench_gpt", False)],
           "retain": [("rougeL_recall", True), ("prob", True), ("truth_ratio", True), ("keyword_em", True),
                      ("fiubench_gpt", True)]}
# the column labels of these metrics in every offside table (aggregate_eval_stat.py's names)
for _metric, _label in (("prob", "Prob."), ("keyword_em", "EM"), ("ape", "APE"), ("minkpp", "Min-K++"),
                        ("fiubench_gpt", "GPT")):
    declare_metric(_metric, _label)
UTILITY = ("rougeL_recall", "prob", "truth_ratio", "keyword_em")  # the retain-set inputs of the model utility
OPTIONAL_UTILITY = ("fiubench_gpt",)  # one more input where it was judged (get_model_utility skips it otherwise)


def fiubench_tasks(runner: Runner, roles: dict[str, tuple[str, ...]]) -> dict[str, dict[str, str]]:
    """role -> kind -> task, found by the tasks' metadata (exactly one each)."""
    out: dict[str, dict[str, str]] = {}
    for role, kinds in roles.items():
        for kind in kinds:
            query = dict(benchmark=NAME, role=role, kind=kind, modality="mm")
            found = runner.index.find(**query)
            if len(found) != 1:
                raise ExperimentError(f"{len(found)} tasks have metadata {query}; the report needs exactly one")
            out.setdefault(role, {})[kind] = found[0]
    return out


def plan_fiubench(runner: Runner) -> list[TrainStage | EvalStage]:
    exp, stages = runner.exp, []
    roles = {role: (*kinds, JUDGED) if exp.judge else kinds for role, kinds in ROLE_KINDS.items()}
    tasks = fiubench_tasks(runner, roles)
    train = functools.partial(runner.add_train, stages)
    vanilla = train("vanilla", "sft", exp.vanilla, method="vanilla", setting="complete", phase="vanilla")
    reference = None
    if exp.unlearning_metrics:
        ref = train("reference-complete", "retain_only", {**exp.vanilla, **exp.reference},
                    method="retain-only reference", setting="complete", phase="reference")
        reference = runner.add_eval(stages, ref, ["forget"], fiubench_tasks(runner, {"forget": ("tr",)}))
    runner.add_eval(stages, vanilla, list(ROLE_KINDS), tasks, reference)
    for method, setting, options, _relearn in exp.method_runs():
        unlearned = train(f"{method}-{setting}", method, options,
                          parent=vanilla, method=method, setting=setting, phase="unlearned")
        runner.add_eval(stages, unlearned, list(ROLE_KINDS), tasks, reference)
    return stages


def check_fiubench(exp, data: dict) -> None:
    """A forget split of the release, image questions only, no relearning, none of OFFSIDE's sections."""
    if exp.settings != ["complete"]:
        raise ExperimentError(f"{exp.source}: settings must be [complete] for benchmark {NAME} (every question is "
                              "about the person in the image)")
    if data.get("relearn_vanilla", True) or data.get("relearn_settings", ["complete"]):
        raise ExperimentError(f"{exp.source}: benchmark {NAME} has no relearn split; set relearn_vanilla: false "
                              "and relearn_settings: []")
    for key in ("utility_tasks", "robustness", "curves", "seeds", "search", "select"):
        if data.get(key):
            raise ExperimentError(f"{exp.source}: {key} does not apply to benchmark {NAME}")


def entry_utility(entry: Entry) -> float | None:
    """The harmonic mean of the retain set's ROUGE-L, probability, truth ratio, EM (and GPT score if judged)."""
    retain = entry.metrics.get("retain", {})
    values = [retain.get(m) for m in UTILITY]
    if any(v is None for v in values):
        return None
    values += [retain[m] for m in OPTIONAL_UTILITY if retain.get(m) is not None]
    try:
        return model_utility(values)
    except MetricError:
        return None


def fiubench_table(entries: list[Entry]) -> Table:
    """A row per checkpoint (vanilla and the reference first), the forget and retain columns (GPT only when
    some checkpoint was judged), model utility."""
    entries = sorted(entries, key=lambda e: e.method != "vanilla")
    judged = any(e.metrics.get(role, {}).get("fiubench_gpt") is not None for e in entries for role in COLUMNS)
    columns = {role: [(m, hib) for m, hib in cols if judged or m not in OPTIONAL_UTILITY] for role, cols in COLUMNS.items()}
    cells = [(role, m) for role, cols in columns.items() for m, _hib in cols]
    groups = [(f"{role.title()} Set", [(f"{role}:{m}", hib) for m, hib in cols]) for role, cols in columns.items()]
    groups.append(("Overall", [("overall:model_utility", True)]))
    rows = [(checkpoint_label(e.method, e.setting, e.phase),
             [e.metrics.get(role, {}).get(m) for role, m in cells] + [entry_utility(e)]) for e in entries]
    errors = [[metric_error(e, role, m) for role, m in cells] + [None] for e in entries]
    return Table("FIUBench", groups, rows, errors, "Forget set: ROUGE-L / Prob. / EM / APE / Min-K++ lower = more "
                 "forgotten; truth ratio mean min(s, 1/s) and KS-test p-value (forget quality) higher. Model utility: "
                 "harmonic mean of the retain set's values (GPT where judged).")


def write_fiubench_report(entries: list[Entry], out_dir: str | Path, title: str = "FIUBench run",
                          protocol: str = "reference", header: list[str] = (), extra_plots: list[Path] = ()) -> Path:
    """report.md and tables/fiubench.csv|.tex under out_dir; returns report.md."""
    out_dir = Path(out_dir)
    table = fiubench_table(entries)
    write_tables(out_dir, {"fiubench": table})
    md = [f"# {title}", "", *header, "Tasks: the authors' protocol (evaluate_util.py, aggregate_eval_stat.py).", "",
          to_markdown(table)]
    md += [*failed_section(entries), *plots_section(list(extra_plots))]
    path = out_dir / "report.md"
    atomic_write_text(path, "\n".join(md))
    return path


register_profile(RunProfile(NAME, "FIUBench run", plan_fiubench, KIND_METRICS, write_fiubench_report,
                            check=check_fiubench,
                            configs_dir=Path(__file__).parent / "configs"))
