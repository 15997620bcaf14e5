"""The MLLMU-Bench report in the layout of the paper's main table: a row per checkpoint, columns
forget / test / retain / celebrity x classification / generation / cloze; one table per modality."""
from __future__ import annotations

from pathlib import Path

from offside_data.fileio import atomic_write_text
from offside_run.display import checkpoint_label
from offside_run.entries import Entry, metric_error
from offside_run.report import failed_section, plots_section, write_tables
from offside_run.tables import ROLE_LABELS, Table, declare_role, to_markdown

from .release import MODALITIES, SPLITS

declare_role("celebrity", "Real Celebrity")  # Retain_Set: real celebrities the model should keep
COLUMNS = ("acc", "rougeL", "cloze_acc")  # classification, generation, cloze: the paper's three per set
COLUMN_LABELS = ("classification", "ROUGE-L", "cloze")
SUMMARY_GROUPS = {"forget": ("forget",), "test": ("test",), "retain/celebrity": ("retain", "celebrity")}
FORGETTING = ("forget", "test")  # lower is better: efficacy and generalisability of the forgetting
MODALITY_TITLES = {"mm": "image + text (multimodal)", "text": "text only (unimodal)"}


def row_label(entry: Entry) -> str:
    return checkpoint_label(entry.method, entry.setting, entry.phase)


def mllmu_tables(entries: list[Entry]) -> list[Table]:
    """One Table per modality; vanilla first, then the methods in run order."""
    entries = sorted(entries, key=lambda e: e.method != "vanilla")  # stable: run order otherwise
    tables = []
    for mod in MODALITIES:
        groups = [(ROLE_LABELS[s], [(f"{s}_{mod}:{m}", s not in FORGETTING) for m in COLUMNS]) for s in SPLITS]
        rows = [(row_label(e), [e.metrics.get(f"{s}_{mod}", {}).get(m) for s in SPLITS for m in COLUMNS])
                for e in entries]
        errors = [[metric_error(e, f"{s}_{mod}", m) for s in SPLITS for m in COLUMNS] for e in entries]
        tables.append(Table(f"MLLMU {mod}: {MODALITY_TITLES[mod]}", groups, rows, errors,
                            "± one standard error where known"))
    return tables


def forgetting_summary(entries: list[Entry]) -> list[str]:
    """Per unlearned checkpoint and task kind: the mean change from vanilla on the forget set, the test
    set (the forget profiles, new images and paraphrases) and the retain + celebrity sets, over both
    modalities; forgetting = the forget set falls further than the retained ones."""
    vanilla = next((e for e in entries if e.method == "vanilla" and e.phase == "vanilla" and not e.error), None)
    if vanilla is None:
        return []
    lines = []
    for e in entries:
        if e.phase != "unlearned" or e.error:
            continue
        parts = []
        for metric, label in zip(COLUMNS, COLUMN_LABELS):
            deltas = []
            for splits in SUMMARY_GROUPS.values():
                pairs = [(e.metrics.get(f"{s}_{mod}", {}).get(metric), vanilla.metrics.get(f"{s}_{mod}", {}).get(metric))
                         for s in splits for mod in MODALITIES]
                diffs = [a - b for a, b in pairs if a is not None and b is not None]
                deltas.append(sum(diffs) / len(diffs) if diffs else float("nan"))
            parts.append(f"{label} " + ", ".join(f"{group} {d:+.3f}" for group, d in zip(SUMMARY_GROUPS, deltas)))
        lines.append(f"- {row_label(e)}: " + "; ".join(parts))
    return lines


PROTOCOL_NOTES = {
    "reference": "every task under the authors' protocol (eval.py prompts)",
    "clean": "generation asked inside the prompt the model was fine-tuned on (clean protocol); classification "
             "and cloze under the authors' protocol (eval.py prompts)"}


def write_mllmu_report(entries: list[Entry], out_dir: str | Path, title: str = "MLLMU-Bench run",
                       protocol: str = "reference", header: list[str] = (), extra_plots: list[Path] = ()) -> Path:
    """report.md and tables/mllmu_{mm,text}.csv|.tex under out_dir (`extra_plots` under Plots); returns
    report.md."""
    out_dir = Path(out_dir)
    md = [f"# {title}", "", *header, f"Tasks: {PROTOCOL_NOTES[protocol]}.", ""]
    tables = dict(zip((f"mllmu_{mod}" for mod in MODALITIES), mllmu_tables(entries)))
    write_tables(out_dir, tables)
    md += [to_markdown(table) for table in tables.values()]
    md.append("Classification and cloze: accuracy; generation: ROUGE-L. Arrows give the better direction (forget "
              "and test sets: lower, the profiles should be forgotten); **bold** marks the best method per column.\n")
    summary = forgetting_summary(entries)
    if summary:
        md += ["## Forgetting (mean change from vanilla over both modalities)", "",
               *summary, ""]
    md += [*failed_section(entries), *plots_section(list(extra_plots))]
    path = out_dir / "report.md"
    atomic_write_text(path, "\n".join(md))
    return path
