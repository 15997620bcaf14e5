"""Paper-style report of a pipeline run: tables 2-4, the unimodal comparison, plots, analyses.

Input is a list of `Entry` records (one per evaluated checkpoint); the pipeline builds them
from results.json / samples files. Everything here is a pure function of those records, so
the report can be rebuilt any time with `offside report RUN_DIR`.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from offside_data.fileio import atomic_write_text
from offside_eval.unlearning_metrics import DEFAULT_TOKEN_SET, MetricError, model_utility

from .display import checkpoint_label, method_label
from .seeds import BOLD_NOTE, decorate, seeded
from .tables import ROLE_LABELS, Table, column_label, to_csv, to_latex, to_markdown

FORGET_ROLES = {"forget", "forget_private"}  # lower is better there: the rumor should be gone
OVERALL = "overall"  # the role of metrics derived from several sets (model utility)
MAIN_METRICS = ("acc", "gen_score", "fact_score")  # the paper's columns per set, in its order
# model utility: OU's harmonic mean, over the sets a checkpoint should keep (retain, test) and OFFSIDE's two
# [0, 1] scores of each; a checkpoint lacking some takes the harmonic mean of those it has
UTILITY_INPUTS = (("retain", "acc"), ("retain", "gen_score"), ("test", "acc"), ("test", "gen_score"))


@dataclass
class Entry:
    method: str  # "vanilla" or a method name
    setting: str  # complete | selective | unimodal
    phase: str  # vanilla | unlearned | relearned | reference
    metrics: dict[str, dict[str, float]]  # role -> metric -> value (and <metric>_stderr, <metric>_n when known)
    samples: dict[str, list[dict]] = field(default_factory=dict)  # role -> [{"id", "visual_rumor", metric...}]
    error: str | None = None  # a failed stage is reported, not dropped
    attack: str | None = None  # evaluated under this attack (robustness); None: clean inputs and weights
    token_set: str = DEFAULT_TOKEN_SET  # the unlearning metrics' answer tokens (results.json config.token_set)
    seed: int | None = None  # the training seed of a run with a `seeds` axis (one seed's checkpoint)
    seeds: tuple[int, ...] = ()  # the seeds whose means these metrics are (seeds.aggregate)

    def __post_init__(self):
        utility = entry_model_utility(self)
        if utility is not None:
            self.metrics.setdefault(OVERALL, {})["model_utility"] = utility


def entry_model_utility(entry: Entry) -> float | None:
    """Model utility of a checkpoint (`unlearning_metrics.model_utility` over `UTILITY_INPUTS`), None
    without any of them."""
    values = [v for role, m in UTILITY_INPUTS if (v := metric_value(entry, role, m)) is not None and not math.isnan(v)]
    try:
        return model_utility(values) if values else None
    except MetricError:  # a negative score: not a utility
        return None


def metric_value(entry: Entry | None, role: str, metric: str) -> float | None:
    return entry.metrics.get(role, {}).get(metric) if entry else None


def metric_error(entry: Entry | None, role: str, metric: str) -> float | None:
    """The evaluation's standard error of a value, None when results.json had none (or NaN)."""
    err = metric_value(entry, role, f"{metric}_stderr")
    return err if err is not None and not math.isnan(err) else None


def _role_groups(roles: Iterable[str], metrics: list[str]):
    return [(ROLE_LABELS[r], [(f"{r}:{m}", r not in FORGET_ROLES) for m in metrics]) for r in roles]


def _utility_group(entries: list[Entry]) -> list:
    """The experiment's utility tasks (general-ability tasks, lmms-eval benchmarks...) as one column group."""
    names = sorted({task for e in entries for task in e.metrics.get("utility", {})
                    if not task.endswith(("_stderr", "_n"))})
    return [("Utility", [(f"utility:{task}", True) for task in names])] if names else []


def table_cells(entries: list[Entry], groups) -> tuple[list[tuple[str, list[float | None]]], list[list[float | None]]]:
    """(rows named by display name, their standard errors) of `entries` over the columns of `groups`."""
    keys = [k.split(":") for _g, cols in groups for k, _h in cols]
    rows = [(method_label(e.method), [metric_value(e, *k) for k in keys]) for e in entries]
    return rows, [[metric_error(e, *k) for k in keys] for e in entries]


def _first_n(entries: list[Entry], key: str) -> float | None:
    role, metric = key.split(":", 1)
    return next((n for e in entries if (n := metric_value(e, role, f"{metric}_n")) is not None), None)


def sample_sizes(entries: list[Entry], groups) -> str:
    """'n per set: Forget Set 84, Test Set 84; ± one standard error where known' (a set whose columns
    differ in n lists them), from the first checkpoint that records each n."""
    parts = []
    for label, cols in groups:
        sizes = {k: n for k, _h in cols if (n := _first_n(entries, k)) is not None}
        if len(set(sizes.values())) == 1:
            parts.append(f"{label} {int(next(iter(sizes.values())))}")
        elif sizes:
            parts.append(f"{label}: " + ", ".join(f"{column_label(k)} {int(n)}" for k, n in sizes.items()))
    return ("n per set: " + ", ".join(parts) + "; " if parts else "") + "± one standard error where known"


def _present_metrics(entries: list[Entry]) -> list[str]:
    found = {m for e in entries for role in e.metrics.values() for m in role}
    return [m for m in MAIN_METRICS if m in found]


def overall_group(entries: list[Entry]) -> list:
    """The Overall column group (model utility) when any of `entries` has it."""
    has = any(metric_value(e, OVERALL, "model_utility") is not None for e in entries)
    return [(ROLE_LABELS[OVERALL], [(f"{OVERALL}:model_utility", True)])] if has else []


PROTOCOL_CAPTIONS = {"clean": "clean protocol: offside's prompts, as the model was trained",
                     "reference": "reference protocol: the OFFSIDE authors' evaluation scripts"}
TABLE_SPECS = [  # title, setting, phase, roles, why it can be empty
    ("Table 2: complete unlearning", "complete", "unlearned", ["forget", "test", "retain"],
     "no checkpoint was unlearned in the complete setting (the experiment's `settings` lack `complete`)"),
    ("Table 3: selective unlearning", "selective", "unlearned", ["forget_private", "test", "forget_shared"],
     "no checkpoint was unlearned in the selective setting (add `selective` to the experiment's `settings`)"),
    ("Table 4: corrective relearning", "complete", "relearned", ["forget", "test", "retain", "relearn"],
     "no unlearned checkpoint was relearned (the experiment's `relearn_settings` lack `complete`, or every method "
     "has `relearn: false`)"),
]


def build_tables(entries: list[Entry], protocol: str = "clean") -> list[Table]:
    """The paper's Table 2 (complete), 3 (selective), 4 (relearning) and the Figure 3 comparison; every
    caption names the evaluation protocol its numbers come from; a table nothing ran for comes back empty,
    its note saying why (failed stages are listed apart)."""
    metrics = _present_metrics(entries)
    ok = [e for e in entries if not e.error]
    vanilla = [e for e in ok if e.phase == "vanilla"][:1]
    tables = []
    for title, setting, phase, roles, why_empty in TABLE_SPECS:
        chosen = [e for e in ok if e.setting == setting and e.phase == phase and e.method != "vanilla"]
        caption = f"{title} ({PROTOCOL_CAPTIONS[protocol]})"
        if not chosen:
            failed = any(e.setting == setting and e.phase == phase for e in entries)
            tables.append(Table(caption, [], [], note="every such stage failed (see Failed stages)" if failed
                                else why_empty))
            continue
        groups = _role_groups(roles, metrics)
        if phase == "unlearned":
            groups += _utility_group(chosen) + overall_group(vanilla + chosen)
        shown = vanilla + chosen
        rows, errors = table_cells(shown, groups)
        if phase == "relearned":  # the paper's control: vanilla relearned without unlearning
            control = [e for e in ok if e.method == "vanilla" and e.phase == "relearned"][:1]
            control_rows, control_errors = table_cells(control, groups)
            rows = [("Vanilla (relearned only)", vals) for _n, vals in control_rows] + rows[1:]
            errors = control_errors + errors[1:]
            shown = control + chosen
        tables.append(Table(caption, groups, rows, errors, sample_sizes(chosen, groups)))
        decorate(tables[-1], shown)
    tables.append(unimodal_table(ok, vanilla, metrics, protocol))
    return tables


def unimodal_table(ok: list[Entry], vanilla: list[Entry], metrics: list[str], protocol: str) -> Table:
    """Figure 3 as a table: each method unlearned on image + text beside the same method on text only."""
    title = f"Figure 3: multimodal vs unimodal (text-only) unlearning ({PROTOCOL_CAPTIONS[protocol]})"
    uni = [e for e in ok if e.setting == "unimodal" and e.phase == "unlearned"]
    if not uni:
        return Table(title, [], [], note="no checkpoint was unlearned text-only (add `unimodal` to the experiment's "
                                         "`settings`)")
    mm = {e.method: e for e in ok if e.setting == "complete" and e.phase == "unlearned"}
    groups = [(f"{ROLE_LABELS[r]} ({mod} unlearning)", [(f"{r}:{m}", r != "forget") for m in metrics])
              for r in ("retain", "test", "forget") for mod in ("mm", "text")]
    rows, errors = [], []
    for e in vanilla + uni:
        partner = e if e.method == "vanilla" else mm.get(e.method)
        values, errs = [], []
        for r in ("retain", "test", "forget"):
            for mod in ("mm", "text"):
                src = partner if mod == "mm" else e
                values.extend(metric_value(src, r, m) for m in metrics)
                errs.extend(metric_error(src, r, m) for m in metrics)
        rows.append((method_label(e.method), values))
        errors.append(errs)
    return Table(title, groups, rows, errors, sample_sizes(uni, groups))


# ----------------------------------------------------------------------------- writing

def write_report(entries: list[Entry], out_dir: str | Path, title: str = "OFFSIDE run", protocol: str = "clean",
                 header: list[str] = (), extra_plots: list[Path] = ()) -> Path:
    """Write report.md (header: provenance lines under the title), tables/*.csv|.tex (of the tables that
    have rows) and plots/*.png|.pdf under out_dir; returns report.md."""
    out_dir = Path(out_dir)
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    from .analyses import analysis_md
    from .plots import plot_all
    from .robustness_report import robustness_analysis, robustness_plot, robustness_table
    from .unlearning_report import unlearning_analysis, unlearning_plot, unlearning_table

    attacked, entries = entries, [e for e in entries if not e.attack]  # attacked evaluations: robustness only
    tables = build_tables(entries, protocol)
    tables += [t for t in (unlearning_table(entries), robustness_table(attacked)) if t]
    md = [f"# {title}", "", *header]
    for table in tables:
        if table.rows:
            stem = table.title.split(":")[0].lower().replace(" ", "")  # table2, table3, table4, figure3
            atomic_write_text(out_dir / "tables" / f"{stem}.csv", to_csv(table))
            atomic_write_text(out_dir / "tables" / f"{stem}.tex", to_latex(table))
        md.append(to_markdown(table))
    bold = (f"{BOLD_NOTE} (Tables 2-4; elsewhere the best value)" if seeded(entries)
            else "**bold** marks the best unlearning method per column")
    md.append(f"Arrows give the better direction (→0: closest to zero); {bold}; Overall Model Utility is the harmonic "
              "mean of the retain- and test-set classification accuracy and generation score (open-unlearning's "
              "aggregation).\n")
    md.append("## Analyses\n")
    md.append(analysis_md(entries) + unlearning_analysis(entries) + robustness_analysis(attacked))
    failed = [e for e in attacked if e.error]
    if failed:
        md.append("## Failed stages\n")
        md.extend(f"- {checkpoint_label(e.method, e.setting, e.phase)}{f' / {e.attack}' if e.attack else ''}: "
                  f"{e.error}" for e in failed)
        md.append("")
    plots = (plot_all(entries, out_dir / "plots") + unlearning_plot(entries, out_dir / "plots")
             + robustness_plot(attacked, out_dir / "plots") + list(extra_plots))
    if plots:
        md.append("## Plots\n")
        bars = "none (means over seeds; the tables give their 95% CIs)" if seeded(entries) else "one standard error"
        md.append(f"Each figure also as a PDF next to its PNG; error bars: {bars}.\n")
        md.extend(f"![{p.stem}](plots/{p.name})" for p in plots)
        md.append("")
    path = out_dir / "report.md"
    atomic_write_text(path, "\n".join(md))
    return path
