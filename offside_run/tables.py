"""A report table and its three renderings (markdown, CSV, LaTeX with booktabs); each metric's column
label and number format come from where the metric is declared (`offside_eval.metrics.declare_metric`)."""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

from offside_data.options import register_once
from offside_eval.metrics import metric_display

NOT_RANKED = ("vanilla", "retain-only reference")  # rows shown for comparison, never bold
# an evaluated set's column group label; a benchmark declares its own sets (`declare_role`)
ROLE_LABELS = {"forget": "Forget Set", "test": "Test Set", "retain": "Retain Set", "relearn": "Relearn Set",
               "overall": "Overall", "unlearning": "Forget Set"}
FORGET_ROLES = {"forget"}  # sets whose scores are better lower: what was there should be gone


def declare_role(name: str, label: str, forgotten: bool = False) -> None:
    """A benchmark's own evaluated set: its label in every table, and whether it is to be forgotten."""
    register_once(ROLE_LABELS, name, label, ValueError, "role label of")
    if forgotten:
        FORGET_ROLES.add(name)
ARROWS = {True: "↑", False: "↓", None: "→0"}  # a column's better direction, as Table.groups gives it
BETTER = {True: "higher", False: "lower", None: "closest_to_zero"}
LATEX_ARROWS = {True: "$\\uparrow$", False: "$\\downarrow$", None: "$\\to 0$"}

Cell = float | None


@dataclass
class Table:
    title: str
    # (group label, [(metric key "role:metric", higher_is_better)]); None instead of a bool: closest to zero is best
    groups: list[tuple[str, list[tuple[str, bool | None]]]]
    rows: list[tuple[str, list[Cell]]]
    errors: list[list[Cell]] | None = None  # one standard error per cell (None: not known), rows' shape
    note: str = ""  # printed under the table (n per set, conventions); an empty table's reason for being empty
    intervals: list[list[tuple[float, float] | None]] | None = None  # a seeded run's 95% CIs, rows' shape
    marks: list[set[int]] | None = None  # rows bold per column (a seeded run: significant only); None: best()

    def columns(self) -> list[tuple[str, str, bool | None]]:
        return [(g, m, hib) for g, cols in self.groups for m, hib in cols]

    def error(self, i: int, j: int) -> Cell:
        return self.errors[i][j] if self.errors else None

    def best(self) -> list[set[int]]:
        """Rows holding the best non-vanilla value per column (ties all count)."""
        out = []
        for j, (_g, _m, hib) in enumerate(self.columns()):
            cands = {i: v[j] for i, (name, v) in enumerate(self.rows)
                     if not name.lower().startswith(NOT_RANKED) and v[j] is not None and not math.isnan(v[j])}
            if hib is None:  # closest to zero
                cands = {i: abs(v) for i, v in cands.items()}
            top = (max if hib else min)(cands.values()) if cands else None
            out.append({i for i, v in cands.items() if v == top})
        return out


def fmt_value(metric: str, value: Cell) -> str:
    if value is None or math.isnan(value):
        return "–"
    return {"percent": f"{100 * value:.1f}%", "signed": f"{value:+.1f}", "score": f"{value:.2f}"}.get(
        metric_display(metric).unit, f"{value:.3f}")


def fmt_error(metric: str, error: Cell) -> str:
    """A standard error in its metric's unit ('' when unknown)."""
    if error is None or math.isnan(error):
        return ""
    return {"percent": f"{100 * error:.1f}", "signed": f"{error:.1f}"}.get(metric_display(metric).unit,
                                                                            f"{error:.3f}")


def fmt_interval(metric: str, bounds: tuple[float, float] | None) -> str:
    """'lo, hi' of a confidence interval in its metric's unit ('' when unknown)."""
    if bounds is None:
        return ""
    return ", ".join(fmt_error(metric, b) for b in bounds)


def column_label(key: str) -> str:
    role, _, metric = key.partition(":")
    return metric if role == "utility" else metric_display(metric).label


def _cells(table: Table, bold: str, plus_minus: str, interval: str) -> list[tuple[str, list[str]]]:
    """(row name, formatted cells): value ± stderr (or its `interval`), the best per column (or the marked
    rows) in `bold` ('{}' templates)."""
    best = table.marks if table.marks is not None else table.best()
    out = []
    for i, (name, values) in enumerate(table.rows):
        cells = []
        for j, ((_g, key, _h), v) in enumerate(zip(table.columns(), values)):
            metric = key.split(":")[1]
            text = fmt_value(metric, v)
            text = bold.format(text) if i in best[j] else text
            err = fmt_error(metric, table.error(i, j))
            ci = fmt_interval(metric, table.intervals[i][j]) if table.intervals else ""
            cells.append(text + (plus_minus.format(err) if err and v is not None else "")
                         + (interval.format(ci) if ci and v is not None else ""))
        out.append((name, cells))
    return out


def to_markdown(table: Table) -> str:
    lines = [f"### {table.title}", ""]
    if not table.rows:
        return "\n".join(lines + [f"_Empty: {table.note}_", ""]) + "\n"
    header = ["Method"] + [f"{g} {column_label(m)} {ARROWS[h]}" for g, m, h in table.columns()]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([name] + cells) + " |" for name, cells in _cells(table, "**{}**", " ± {}", " [{}]")]
    return "\n".join(lines + ([""] + [table.note] if table.note else [])) + "\n"


def to_csv(table: Table) -> str:
    """One row per checkpoint: each column's value, then its standard error (empty when unknown), then (a
    seeded run) its 95% CI's bounds."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    header = ["method"]
    for g, k, h in table.columns():
        header += [f"{g}/{k}/{BETTER[h]}_is_better", f"{g}/{k}/stderr"]
        header += [f"{g}/{k}/ci95_low", f"{g}/{k}/ci95_high"] if table.intervals else []
    writer.writerow(header)
    for i, (name, values) in enumerate(table.rows):
        cells = [name]
        for j, v in enumerate(values):
            err = table.error(i, j)
            cells += ["" if v is None else f"{v:.6g}", "" if err is None else f"{err:.6g}"]
            bounds = table.intervals[i][j] if table.intervals else None
            cells += [f"{b:.6g}" for b in bounds] if bounds else ["", ""] if table.intervals else []
        writer.writerow(cells)
    return buf.getvalue()


def latex_escape(text: str) -> str:
    for char in "\\&%$#_{}":
        text = text.replace(char, "\\" + char if char != "\\" else "\\textbackslash{}")
    return text.replace("→", "$\\to$").replace("±", "$\\pm$").replace("–", "--")


def to_latex(table: Table) -> str:
    """A table float with booktabs rules (\\usepackage{booktabs}), one \\cmidrule under each column group."""
    cols = table.columns()
    out = ["% needs \\usepackage{booktabs}", "\\begin{table}[t]", "\\centering", "\\small",
           f"\\caption{{{latex_escape(table.title)}{'. ' + latex_escape(table.note) if table.note else ''}}}",
           "\\begin{tabular}{l" + "c" * len(cols) + "}", "\\toprule"]
    out.append("Method & " + " & ".join(
        f"\\multicolumn{{{len(c)}}}{{c}}{{{latex_escape(g)}}}" for g, c in table.groups) + " \\\\")
    start, rules = 2, []
    for _g, c in table.groups:
        rules.append(f"\\cmidrule(lr){{{start}-{start + len(c) - 1}}}")
        start += len(c)
    out.append(" ".join(rules))
    out.append(" & " + " & ".join(f"{latex_escape(column_label(k))} {LATEX_ARROWS[h]}" for _g, k, h in cols) + " \\\\")
    out.append("\\midrule")
    for name, cells in _cells(table, "\\textbf{{{}}}", " {{\\scriptsize $\\pm${}}}",
                              " {{\\scriptsize [{}]}}"):
        out.append(" & ".join([latex_escape(name)] + [c.replace("%", "\\%").replace("–", "--") for c in cells]) + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(out) + "\n"
