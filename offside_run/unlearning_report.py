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

from .plots import _save
from .report import Entry, Table, _value

ROLE = "unlearning"
COLUMNS = [("truth_ratio", True), ("forget_quality", True), ("correction_rate", True), ("correction_share", True),
           ("exact_memorization", False), ("extraction_strength", False), ("mia_loss_auc", False),
           ("mia_minkpp_auc", False), ("privleak_loss", None), ("privleak_minkpp", None)]  # privleak: 0 = as the reference


def _rows_of(entries: list[Entry]) -> list[Entry]:
    ok = [e for e in entries if not e.error and ROLE in e.metrics]
    order = {"reference": 0, "vanilla": 1, "unlearned": 2}
    return sorted((e for e in ok if e.phase in order), key=lambda e: order[e.phase])


def _name(e: Entry) -> str:
    if e.phase == "reference":
        return "Retain-only reference" + ("" if e.setting == "complete" else f" ({e.setting})")
    if e.method == "vanilla":
        return "Vanilla"
    return e.method if e.setting == "complete" else f"{e.method} ({e.setting})"


def unlearning_table(entries: list[Entry]) -> Table | None:
    rows = _rows_of(entries)
    if not rows:
        return None
    present = [(m, h) for m, h in COLUMNS if any(_value(e, ROLE, m) is not None for e in rows)]
    groups = [("Forget Set", [(f"{ROLE}:{m}", h) for m, h in present])]
    return Table("Unlearning metrics: forget set, image + question (truth ratio: 1 = rumor no longer preferred; "
                 "forget quality: KS p-value against the retain-only reference)", groups,
                 [(_name(e), [_value(e, ROLE, m) for m, _h in present]) for e in rows])


def _moves(entries: list[Entry]) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    """(method -> (truth ratio, correction share) of the complete-setting unlearned models,
    the same for the comparison rows "Vanilla" and "Retain-only reference")."""
    rows = [e for e in _rows_of(entries) if e.setting == "complete"]
    points = {}
    for e in rows:
        tr, share = _value(e, ROLE, "truth_ratio"), _value(e, ROLE, "correction_share")
        if tr is not None and share is not None and not (math.isnan(tr) or math.isnan(share)):
            points[_name(e)] = (tr, share)
    fixed = ("Vanilla", "Retain-only reference")
    return {k: v for k, v in points.items() if k not in fixed}, {k: v for k, v in points.items() if k in fixed}


def unlearning_analysis(entries: list[Entry]) -> str:
    moved, fixed = _moves(entries)
    if not moved or "Vanilla" not in fixed:
        return ""
    vanilla = fixed["Vanilla"]
    toward = [m for m, (_tr, share) in moved.items() if share > 0.5]
    away = [m for m, (tr, share) in moved.items() if tr > vanilla[0] and share <= 0.5]
    ref = fixed.get("Retain-only reference")
    context = f"; the retain-only reference, which never saw the rumor: {ref[0]:.3f} / {ref[1]:.3f}" if ref else ""
    lines = ["**Toward the corrected fact or only away from the rumor** (forget set: truth ratio and the share "
             f"of probability on the relearn split's corrected fact vs the rumor; vanilla {vanilla[0]:.3f} / "
             f"{vanilla[1]:.3f}{context}):", ""]
    lines += [f"- {m}: truth ratio {tr:.3f}, correction share {share:.3f}" for m, (tr, share) in moved.items()]
    lines += ["", f"Prefer the corrected fact (share > 0.5): {', '.join(toward) or 'none'}. Only away from the rumor "
                  f"(truth ratio up, the corrected fact not preferred): {', '.join(away) or 'none'}.", ""]
    return "\n".join(lines) + "\n"


def unlearning_plot(entries: list[Entry], out_dir: Path) -> list[Path]:
    moved, fixed = _moves(entries)
    if not moved or "Vanilla" not in fixed:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, (tr, share) in {**fixed, **moved}.items():
        ax.scatter(tr, share, s=40, marker="s" if name in fixed else "o")
        ax.annotate(name, (tr, share), textcoords="offset points", xytext=(4, 4))
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")  # above: the corrected fact is preferred
    ax.set_xlabel("forget truth ratio (higher = rumor less preferred)")
    ax.set_ylabel("correction share (P corrected / (P corrected + P rumor))")
    ax.set_title("Away from the rumor vs toward the correction")
    return [_save(fig, out_dir / "correction.png")]
