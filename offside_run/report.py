"""The report of any benchmark's run that does not write its own: one table of every checkpoint's numbers
per evaluated set, each metric under its declared label and direction, then the failed stages and the
plots. A benchmark's own writer (a paper's own tables) reuses
`write_tables`, `failed_section` and `plots_section`."""
from __future__ import annotations

from pathlib import Path

from offside_data.fileio import atomic_write_text
from offside_eval.metrics import metric_display

from .display import checkpoint_label
from .entries import Entry, metric_error, metric_value, sample_sizes
from .tables import FORGET_ROLES, ROLE_LABELS, Table, to_csv, to_latex, to_markdown

NOT_COLUMNS = ("_stderr", "_n", "_missing", "_lo", "_hi")  # a value's companions, not values of their own


def results_table(entries: list[Entry], title: str = "Results") -> Table:
    """Rows: checkpoints; columns: each set's metrics in the order first met. On a forget set a metric whose
    higher value means more known is better lower."""
    ok = [e for e in entries if not e.error]
    keys = list(dict.fromkeys((role, m) for e in ok for role, values in e.metrics.items() for m in values
                              if not m.endswith(NOT_COLUMNS)))
    groups = []
    for role in dict.fromkeys(r for r, _m in keys):
        cols = []
        for r, m in keys:
            better = metric_display(m).higher_is_better
            if r == role:
                cols.append((f"{r}:{m}", (not better) if r in FORGET_ROLES and better is not None else better))
        groups.append((ROLE_LABELS.get(role, role), cols))
    rows = [(checkpoint_label(e.method, e.setting, e.phase), [metric_value(e, r, m) for r, m in keys]) for e in ok]
    errors = [[metric_error(e, r, m) for r, m in keys] for e in ok]
    return Table(title, groups, rows, errors, sample_sizes(ok, groups))


def write_tables(out_dir: Path, tables: dict[str, Table]) -> None:
    """tables/<stem>.csv and .tex of each table with rows."""
    for stem, table in tables.items():
        if table.rows:
            atomic_write_text(out_dir / "tables" / f"{stem}.csv", to_csv(table))
            atomic_write_text(out_dir / "tables" / f"{stem}.tex", to_latex(table))


def failed_section(entries: list[Entry]) -> list[str]:
    """Markdown lines naming every failed stage and why (a failure is reported, never dropped)."""
    failed = [e for e in entries if e.error]
    if not failed:
        return []
    return ["## Failed stages", "", *(f"- {checkpoint_label(e.method, e.setting, e.phase)}"
                                      f"{f' / {e.attack}' if e.attack else ''}: {e.error}" for e in failed), ""]


def plots_section(plots: list[Path], bars: str | None = None) -> list[str]:
    """Markdown embedding each figure's PNG (`bars`: what its error bars are, when it has any)."""
    if not plots:
        return []
    note = [f"Each figure also as a PDF next to its PNG; error bars: {bars}.", ""] if bars else []
    return ["## Plots", "", *note, *(f"![{p.stem}](plots/{p.name})" for p in plots), ""]


def write_report(entries: list[Entry], out_dir: str | Path, title: str = "offside run", protocol: str = "clean",
                 header: list[str] = (), extra_plots: list[Path] = ()) -> Path:
    """report.md and tables/results.csv|.tex under out_dir; returns report.md."""
    out_dir = Path(out_dir)
    table = results_table(entries)
    write_tables(out_dir, {"results": table})
    md = [f"# {title}", "", *header, to_markdown(table),
          "Arrows give the better direction (→0: closest to zero); **bold** marks the best value per column.", "",
          *failed_section(entries), *plots_section(list(extra_plots))]
    path = out_dir / "report.md"
    atomic_write_text(path, "\n".join(md))
    return path
