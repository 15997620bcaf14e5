"""OFFSIDE's paper-style report of a run: tables 2-4, the unimodal comparison, the unlearning-metrics and
robustness tables, plots, analyses.

Input is a list of `Entry` records (one per evaluated checkpoint, `offside_run.run_folder` builds them
from results.json / samples files). Everything here is a pure function of those records, so the
report can be rebuilt any time with `offside report RUN_DIR`.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from offside_data.fileio import atomic_write_text
from offside_run.display import method_label
from offside_run.entries import (
    Entry,
    metric_error,
    metric_value,
    overall_group,
    sample_sizes,
    table_cells,
)
from offside_run.report import failed_section, plots_section, write_tables
from offside_run.seeds import BOLD_NOTE, decorate, seeded
from offside_run.tables import FORGET_ROLES, ROLE_LABELS, Table, declare_role, to_markdown

from .analyses import analysis_md
from .plots import plot_all
from .robustness_report import robustness_analysis, robustness_plot, robustness_table
from .unlearning_report import unlearning_analysis, unlearning_plot, unlearning_table

declare_role("forget_private", "Private Info", forgotten=True)  # the selective setting's forget set
declare_role("forget_shared", "Shared Info")  # what the selective setting keeps of the forget players
MAIN_METRICS = ("acc", "gen_score", "fact_score")  # the paper's columns per set, in its order


def _role_groups(roles: Iterable[str], metrics: list[str]):
    return [(ROLE_LABELS[r], [(f"{r}:{m}", r not in FORGET_ROLES) for m in metrics]) for r in roles]


def _utility_group(entries: list[Entry]) -> list:
    """The experiment's utility tasks (general-ability tasks, lmms-eval benchmarks...) as one column group."""
    names = sorted({task for e in entries for task in e.metrics.get("utility", {})
                    if not task.endswith(("_stderr", "_n"))})
    return [("Utility", [(f"utility:{task}", True) for task in names])] if names else []


def _present_metrics(entries: list[Entry]) -> list[str]:
    found = {m for e in entries for role in e.metrics.values() for m in role}
    return [m for m in MAIN_METRICS if m in found]


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
    attacked, entries = entries, [e for e in entries if not e.attack]  # attacked evaluations: robustness only
    tables = build_tables(entries, protocol)
    tables += [t for t in (unlearning_table(entries), robustness_table(attacked)) if t]
    md = [f"# {title}", "", *header]
    # table2, table3, table4, figure3, ...
    write_tables(out_dir, {t.title.split(":")[0].lower().replace(" ", ""): t for t in tables})
    md += [to_markdown(table) for table in tables]
    bold = (f"{BOLD_NOTE} (Tables 2-4; elsewhere the best value)" if seeded(entries)
            else "**bold** marks the best unlearning method per column")
    md.append(f"Arrows give the better direction (→0: closest to zero); {bold}; Overall Model Utility is the harmonic "
              "mean of the retain- and test-set classification accuracy and generation score (open-unlearning's "
              "aggregation).\n")
    md.append("## Analyses\n")
    md.append(analysis_md(entries) + unlearning_analysis(entries) + robustness_analysis(attacked))
    md += failed_section(attacked)
    plots = (plot_all(entries, out_dir / "plots") + unlearning_plot(entries, out_dir / "plots")
             + robustness_plot(attacked, out_dir / "plots") + list(extra_plots))
    md += plots_section(plots, "none (means over seeds; the tables give their 95% CIs)" if seeded(entries)
                        else "one standard error")
    path = out_dir / "report.md"
    atomic_write_text(path, "\n".join(md))
    return path
