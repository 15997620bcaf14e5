"""The report's "Unlearning metrics" table, plot and analysis (forget set, image + question).

Beyond the paper's accuracy / generation columns: the truth ratio (is the rumor still preferred
over its distractors?), forget quality against the retain-only reference, the correction rate and
share (does the model now prefer the relearn split's corrected fact over the rumor?), exact
memorization / extraction strength, the MIA AUCs and PrivLeak (the AUC's relative difference from the
reference's, in percent: 0 = as private as never having seen the forget set). Rows: the retain-only reference, vanilla, and
every unlearned checkpoint.
"""
from __future__ import annotations

import math
from pathlib import Path

from offside_eval.metrics import metric_display
from offside_eval.unlearning_metrics import TOKEN_SETS
from offside_run.display import checkpoint_label, method_color
from offside_run.entries import Entry, metric_error, metric_value, overall_group, sample_sizes, table_cells
from offside_run.seeds import decorate
from offside_run.tables import ROLE_LABELS, Table

ROLE = "unlearning"
METRICS = ("truth_ratio", "forget_quality", "correction_rate", "correction_share", "exact_memorization",
           "extraction_strength", "mia_loss_auc", "mia_minkpp_auc", "privleak_loss", "privleak_minkpp")
COLUMNS = [(m, metric_display(m).higher_is_better) for m in METRICS]  # as declared (privleak: 0 = as the reference)


def _rows_of(entries: list[Entry]) -> list[Entry]:
    ok = [e for e in entries if not e.error and ROLE in e.metrics]
    order = {"reference": 0, "vanilla": 1, "unlearned": 2}
    return sorted((e for e in ok if e.phase in order), key=lambda e: order[e.phase])


def _name(e: Entry) -> str:
    return checkpoint_label(e.method, e.setting, e.phase)


def token_set_caption(entries: list[Entry]) -> str:
    """The answer tokens the probabilities were taken over (`--token_set`), as the captions state it."""
    sets = sorted({e.token_set for e in entries})
    return "; ".join(f"token set '{s}': {TOKEN_SETS.get(s, 'unknown')}" for s in sets)


def unlearning_table(entries: list[Entry]) -> Table | None:
    rows = _rows_of(entries)
    if not rows:
        return None
    present = [(m, h) for m, h in COLUMNS if any(metric_value(e, ROLE, m) is not None for e in rows)]
    groups = [("Forget Set", [(f"{ROLE}:{m}", h) for m, h in present])] + overall_group(rows)
    cells, errors = table_cells(rows, groups)
    table = Table("Unlearning metrics: forget set, image + question (truth ratio: 1 = rumor no longer preferred; "
                  "forget quality: KS p-value against the retain-only reference)", groups,
                  [(_name(e), values) for e, (_n, values) in zip(rows, cells)], errors,
                  f"{sample_sizes(rows, groups)}; {token_set_caption(rows)}.")
    decorate(table, rows)  # a seeded run: mean [95% CI], bold only where significant
    return table


Move = tuple[float, float, Entry]


def _moves(entries: list[Entry]) -> tuple[dict[str, Move], dict[str, Move]]:
    """(name -> (truth ratio, correction share, entry) of the complete-setting unlearned models,
    the same for the comparison rows "Vanilla" and "Retain-only reference")."""
    rows = [e for e in _rows_of(entries) if e.setting == "complete"]
    points = {}
    for e in rows:
        tr, share = metric_value(e, ROLE, "truth_ratio"), metric_value(e, ROLE, "correction_share")
        if tr is not None and share is not None and not (math.isnan(tr) or math.isnan(share)):
            points[_name(e)] = (tr, share, e)
    fixed = ("Vanilla", "Retain-only reference")
    return {k: v for k, v in points.items() if k not in fixed}, {k: v for k, v in points.items() if k in fixed}


def unlearning_analysis(entries: list[Entry]) -> str:
    moved, fixed = _moves(entries)
    if not moved or "Vanilla" not in fixed:
        return ""
    vanilla = fixed["Vanilla"]
    toward = [m for m, (_tr, share, _e) in moved.items() if share > 0.5]
    away = [m for m, (tr, share, _e) in moved.items() if tr > vanilla[0] and share <= 0.5]
    ref = fixed.get("Retain-only reference")
    context = f"; the retain-only reference, which never saw the rumor: {ref[0]:.3f} / {ref[1]:.3f}" if ref else ""
    lines = ["**Toward the corrected fact or only away from the rumor** (forget set: truth ratio and the share "
             f"of probability on the relearn split's corrected fact vs the rumor; vanilla {vanilla[0]:.3f} / "
             f"{vanilla[1]:.3f}{context}):", ""]
    lines += [f"- {m}: truth ratio {tr:.3f}, correction share {share:.3f}" for m, (tr, share, _e) in moved.items()]
    lines += ["", f"Prefer the corrected fact (share > 0.5): {', '.join(toward) or 'none'}. Only away from the rumor "
                  f"(truth ratio up, the corrected fact not preferred): {', '.join(away) or 'none'}.", ""]
    return "\n".join(lines) + "\n"


def unlearning_plot(entries: list[Entry], out_dir: Path) -> list[Path]:
    """Truth ratio vs correction share, one colour per method (squares: vanilla and the reference), stderr
    bars both ways, names in the legend."""
    moved, fixed = _moves(entries)
    if not moved or "Vanilla" not in fixed:
        return []
    from offside_run.figures import pyplot, save_figure

    plt = pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, (tr, share, e) in {**fixed, **moved}.items():
        ax.errorbar(tr, share, xerr=metric_error(e, ROLE, "truth_ratio"), yerr=metric_error(e, ROLE, "correction_share"),
                    fmt="s" if name in fixed else "o", ms=6, capsize=3, label=name,
                    color=method_color("reference" if e.phase == "reference" else e.method))
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")  # above: the corrected fact is preferred
    ax.set_xlabel(f"{ROLE_LABELS['forget']} {metric_display('truth_ratio').label} (higher = rumor less preferred)")
    ax.set_ylabel(f"{metric_display('correction_share').label}\nP(corrected) / (P(corrected) + P(rumor))")
    ax.set_title("Away from the rumor vs toward the correction")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    return [save_figure(fig, out_dir / "correction.png")]
