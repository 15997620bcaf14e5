"""The report's Robustness table: is it unlearned, or only hidden? For each unlearned method (complete
setting) and each attack of the experiment's `robustness:` section, the share of what unlearning
removed from the forget set that the attack brings back:

    recovered = (attacked - unlearned) / (vanilla - unlearned)

on the forget set's classification accuracy and generation score (0: nothing comes back, 1: the
vanilla model's score is back, < 0: the attack removes even more). The worst case is the largest
share over the attacks; bold marks the most robust method (lowest share). For weight quantization
the analysis also gives Open-MMUnlearning's robustness Q = min(before / after, 1) (1: the attack
raises nothing), written here for a forget score where higher means more is still known.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from offside_eval.metrics import declare_metric, metric_display
from offside_run.display import method_label
from offside_run.entries import Entry
from offside_run.figures import pyplot, save_figure
from offside_run.tables import Table

METRICS = ("acc", "gen_score")  # the forget set's classification and generation scores
for _metric in METRICS:  # the share of it an attack brings back
    declare_metric(f"recovered_{_metric}", f"Recovered {metric_display(_metric).label}", higher_is_better=False)


def recovered_share(vanilla: float | None, unlearned: float | None, attacked: float | None) -> float | None:
    """None when a score is missing or unlearning removed nothing (no share to recover)."""
    if vanilla is None or unlearned is None or attacked is None or vanilla <= unlearned:
        return None
    return (attacked - unlearned) / (vanilla - unlearned)


def quantization_q(before: float | None, after: float | None) -> float | None:
    if before is None or after is None:
        return None
    return 1.0 if after <= 0 else min(before / after, 1.0)


def _forget(entry: Entry | None, metric: str) -> float | None:
    return entry.metrics.get("forget", {}).get(metric) if entry is not None else None


def _runs(entries: list[Entry]) -> tuple[Entry | None, dict[str, Entry], dict[tuple[str, str], Entry], list[str]]:
    """(clean vanilla, clean unlearned by method, attacked by (method, attack), attacks in run order)."""
    ok = [e for e in entries if not e.error and e.setting == "complete"]
    vanilla = next((e for e in ok if e.phase == "vanilla" and not e.attack), None)
    unlearned = {e.method: e for e in ok if e.phase == "unlearned" and not e.attack}
    attacked = {(e.method, e.attack): e for e in ok if e.attack}
    return vanilla, unlearned, attacked, list(dict.fromkeys(a for _m, a in attacked))


def robustness_table(entries: list[Entry]) -> Table | None:
    vanilla, unlearned, attacked, attacks = _runs(entries)
    methods = [m for m in unlearned if any((m, a) in attacked for a in attacks)]
    if not methods:
        return None
    columns = [(f"robustness:recovered_{m}", False) for m in METRICS]
    rows = []
    for method in methods:
        shares = [[recovered_share(_forget(vanilla, m), _forget(unlearned[method], m),
                                   _forget(attacked.get((method, a)), m)) for m in METRICS] for a in attacks]
        worst = [max((s[i] for s in shares if s[i] is not None), default=None) for i in range(len(METRICS))]
        rows.append((method_label(method), [v for s in shares for v in s] + worst))
    return Table("Robustness: share of the forgotten forget-set score each attack restores",
                 [(a, columns) for a in attacks] + [("Worst case", columns)], rows)


def robustness_plot(entries: list[Entry], out_dir: Path) -> list[Path]:
    """plots/robustness.png (+ .pdf): methods x attacks, the share of forget-set classification accuracy
    each attack restores (0: robust, 1: all back), written in each cell."""
    table = robustness_table(entries)
    if table is None:
        return []
    attacks = [g for g, _ in table.groups][:-1]  # not the worst case
    values = np.array([[np.nan if v is None else v for v in row[0:2 * len(attacks):2]] for _n, row in table.rows])
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(attacks), 0.9 + 0.45 * len(table.rows)))
    image = ax.imshow(np.clip(values, 0, 1), cmap="Reds", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(attacks)), attacks, rotation=20, ha="right")
    ax.set_yticks(range(len(table.rows)), [name for name, _ in table.rows])
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, "–" if np.isnan(v) else f"{v:.0%}", ha="center", va="center", fontsize=8,
                color="white" if not np.isnan(v) and v > 0.6 else "black")
    fig.colorbar(image, ax=ax, label="share of forgotten accuracy restored")
    ax.set_title("Robustness: what each attack brings back")
    out_dir.mkdir(parents=True, exist_ok=True)
    return [save_figure(fig, out_dir / "robustness.png")]


def robustness_analysis(entries: list[Entry]) -> str:
    vanilla, unlearned, attacked, attacks = _runs(entries)
    if not attacks:
        return ""
    lines = ["**Robustness** (complete setting; share of the forget-set classification accuracy that unlearning "
             "removed and the attack restores):", ""]
    for attack in attacks:
        shares = {m: recovered_share(_forget(vanilla, "acc"), _forget(e, "acc"), _forget(attacked.get((m, attack)), "acc"))
                  for m, e in unlearned.items() if (m, attack) in attacked}
        known = {m: s for m, s in shares.items() if s is not None}
        if not known:
            lines.append(f"- {attack}: no method removed any accuracy to recover")
            continue
        q = ""
        if attack.startswith("quantize"):
            qs = {m: quantization_q(_forget(unlearned[m], "acc"), _forget(attacked[(m, attack)], "acc")) for m in known}
            q = "; Q = " + ", ".join(f"{method_label(m)} {v:.2f}" for m, v in qs.items() if v is not None)
        worst, best = max(known, key=known.get), min(known, key=known.get)
        lines.append(f"- {attack}: restores {known[worst]:.0%} for {method_label(worst)} (least robust) and "
                     f"{known[best]:.0%} for {method_label(best)} (most robust){q}")
    return "\n".join(lines) + "\n\n"
