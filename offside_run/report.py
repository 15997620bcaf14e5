"""Paper-style report of a pipeline run: tables 2-4, the unimodal comparison, plots, analyses.

Input is a list of `Entry` records (one per evaluated checkpoint); the pipeline builds them
from results.json / samples files. Everything here is a pure function of those records, so
the report can be rebuilt any time with `offside report RUN_DIR`.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from offside_data.fileio import atomic_write_text

# metric key -> (column label, higher is better on a set we want to keep)
METRICS = {"acc": "Class. Acc.", "gen_score": "Gen. Score", "fact_score": "Fact. Score"}
UNLEARNING_LABELS = {"truth_ratio": "Truth Ratio", "forget_quality": "Forget Quality", "correction_rate": "Correction Rate",
                     "correction_share": "Correction Share", "exact_memorization": "Exact Mem.",
                     "extraction_strength": "Extraction Str.", "mia_loss_auc": "MIA AUC (LOSS)",
                     "mia_minkpp_auc": "MIA AUC (Min-K%++)", "privleak_loss": "PrivLeak (LOSS)",
                     "privleak_minkpp": "PrivLeak (Min-K%++)"}
MLLMU_LABELS = {"rougeL": "ROUGE-L", "cloze_acc": "Cloze Acc.", "acc_ll": "Class. Acc. (LL)"}
ROBUSTNESS_LABELS = {"recovered_acc": "Recovered Class. Acc.", "recovered_gen_score": "Recovered Gen. Score"}
LABELS = {**METRICS, **UNLEARNING_LABELS, **MLLMU_LABELS, **ROBUSTNESS_LABELS}
NOT_RANKED = ("vanilla", "retain-only reference")  # rows shown for comparison, never bold
ROLE_LABELS = {"forget": "Forget Set", "test": "Test Set", "retain": "Retain Set", "relearn": "Relearn Set",
               "forget_private": "Private Info", "forget_shared": "Shared Info", "celebrity": "Real Celebrity"}
FORGET_ROLES = {"forget", "forget_private"}  # lower is better there: the rumor should be gone
ARROWS = {True: "↑", False: "↓", None: "→0"}  # a column's better direction, as Table.groups gives it
BETTER = {True: "higher", False: "lower", None: "closest_to_zero"}


@dataclass
class Entry:
    method: str  # "vanilla" or a method name
    setting: str  # complete | selective | unimodal
    phase: str  # vanilla | unlearned | relearned
    metrics: dict[str, dict[str, float]]  # role -> metric -> value
    samples: dict[str, list[dict]] = field(default_factory=dict)  # role -> [{"id", "visual_rumor", metric...}]
    error: str | None = None  # a failed stage is reported, not dropped
    attack: str | None = None  # evaluated under this attack (robustness); None: clean inputs and weights


@dataclass
class Table:
    title: str
    # (group label, [(metric key, higher_is_better)]); None instead of a bool: closest to zero is best
    groups: list[tuple[str, list[tuple[str, bool | None]]]]
    rows: list[tuple[str, list[float | None]]]

    def columns(self) -> list[tuple[str, str, bool | None]]:
        return [(g, m, hib) for g, cols in self.groups for m, hib in cols]

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


def _fmt(metric: str, value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    if metric in ("acc", "acc_ll", "cloze_acc"):
        return f"{100 * value:.1f}%"
    if metric.startswith("privleak"):
        return f"{value:+.1f}"  # a relative AUC difference in percent
    return f"{value:.2f}" if metric == "fact_score" else f"{value:.3f}"


def _value(entry: Entry, role: str, metric: str) -> float | None:
    return entry.metrics.get(role, {}).get(metric)


def _role_groups(roles: Iterable[str], metrics: list[str]):
    return [(ROLE_LABELS[r], [(f"{r}:{m}", r not in FORGET_ROLES) for m in metrics]) for r in roles]


def _utility_group(entries: list[Entry]) -> list:
    """The experiment's utility tasks (MM-Bench, lmms-eval benchmarks...) as one column group."""
    names = sorted({task for e in entries for task in e.metrics.get("utility", {})})
    return [("Utility", [(f"utility:{task}", True) for task in names])] if names else []


def _rows(entries: list[Entry], groups) -> list[tuple[str, list[float | None]]]:
    keys = [m for _g, cols in groups for m, _h in cols]
    return [(e.method if e.method != "vanilla" else "Vanilla",
             [_value(e, *k.split(":")) for k in keys]) for e in entries]


def _present_metrics(entries: list[Entry]) -> list[str]:
    found = {m for e in entries for role in e.metrics.values() for m in role}
    return [m for m in METRICS if m in found]


PROTOCOL_CAPTIONS = {"clean": "clean protocol: offside's prompts, as the model was trained",
                     "reference": "reference protocol: the OFFSIDE authors' evaluation scripts"}


def build_tables(entries: list[Entry], protocol: str = "clean") -> list[Table]:
    """The paper's Table 2 (complete), 3 (selective), 4 (relearning) and the Figure 3 comparison;
    every caption names the evaluation protocol its numbers come from."""
    metrics = _present_metrics(entries)
    ok = [e for e in entries if not e.error]
    vanilla = [e for e in ok if e.phase == "vanilla"][:1]
    tables = []
    specs = [
        ("Table 2: complete unlearning", "complete", "unlearned", ["forget", "test", "retain"]),
        ("Table 3: selective unlearning", "selective", "unlearned", ["forget_private", "test", "forget_shared"]),
        ("Table 4: corrective relearning", "complete", "relearned", ["forget", "test", "retain", "relearn"]),
    ]
    for title, setting, phase, roles in specs:
        chosen = [e for e in ok if e.setting == setting and e.phase == phase and e.method != "vanilla"]
        if not chosen:
            continue
        groups = _role_groups(roles, metrics) + _utility_group(chosen) if phase == "unlearned" else _role_groups(
            roles, metrics)
        rows = _rows(vanilla + chosen, groups)
        if phase == "relearned":  # the paper's control: vanilla relearned without unlearning
            control = [e for e in ok if e.method == "vanilla" and e.phase == "relearned"][:1]
            rows = [("Vanilla (relearned only)", vals) for _n, vals in _rows(control, groups)] + rows[1:]
        tables.append(Table(f"{title} ({PROTOCOL_CAPTIONS[protocol]})", groups, rows))
    uni = [e for e in ok if e.setting == "unimodal" and e.phase == "unlearned"]
    if uni:
        mm = {e.method: e for e in ok if e.setting == "complete" and e.phase == "unlearned"}
        groups = [(f"{ROLE_LABELS[r]} ({mod} unlearning)", [(f"{r}:{m}", r != "forget") for m in metrics])
                  for r in ("retain", "test", "forget") for mod in ("mm", "text")]
        rows = []
        for e in vanilla + uni:
            partner = e if e.method == "vanilla" else mm.get(e.method)
            values = []
            for r in ("retain", "test", "forget"):
                for mod in ("mm", "text"):
                    src = partner if mod == "mm" else e
                    values.extend(_value(src, r, m) if src else None for m in metrics)
            rows.append(("Vanilla" if e.method == "vanilla" else e.method, values))
        tables.append(Table(f"Figure 3: multimodal vs unimodal (text-only) unlearning ({PROTOCOL_CAPTIONS[protocol]})",
                            groups, rows))
    return tables


def _label(key: str) -> str:
    role, _, metric = key.partition(":")
    return metric if role == "utility" else LABELS.get(metric, "Acc.")


def to_markdown(table: Table) -> str:
    best = table.best()
    header = ["Method"] + [f"{g} {_label(m)} {ARROWS[h]}" for g, m, h in table.columns()]
    lines = [f"### {table.title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, (name, values) in enumerate(table.rows):
        cells = []
        for j, ((_g, key, _h), v) in enumerate(zip(table.columns(), values)):
            text = _fmt(key.split(":")[1], v)
            cells.append(f"**{text}**" if i in best[j] else text)
        lines.append("| " + " | ".join([name] + cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["method"] + [f"{g}/{k}/{BETTER[h]}_is_better" for g, k, h in table.columns()])
    for name, values in table.rows:
        writer.writerow([name] + ["" if v is None else f"{v:.6g}" for v in values])
    return buf.getvalue()


def to_latex(table: Table) -> str:
    best = table.best()
    cols = table.columns()
    out = [f"% {table.title}", "\\begin{tabular}{l" + "c" * len(cols) + "}", "\\toprule"]
    out.append("Method & " + " & ".join(
        f"\\multicolumn{{{len(c)}}}{{c}}{{{g}}}" for g, c in table.groups) + " \\\\")
    arrows = {True: "$\\uparrow$", False: "$\\downarrow$", None: "$\\to 0$"}
    out.append(" & " + " & ".join(
        f"{_label(k)} ({arrows[h]})" for _g, k, h in cols) + " \\\\")
    out.append("\\midrule")
    for i, (name, values) in enumerate(table.rows):
        cells = []
        for j, ((_g, key, _h), v) in enumerate(zip(cols, values)):
            text = _fmt(key.split(":")[1], v).replace("%", "\\%")
            cells.append(f"\\textbf{{{text}}}" if i in best[j] else text)
        out.append(" & ".join([name.replace("_", "\\_")] + cells) + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- analyses

def _lookup(entries: list[Entry], method: str, setting: str, phase: str) -> Entry | None:
    return next((e for e in entries if e.method == method and e.setting == setting and e.phase == phase
                 and not e.error), None)


def prompt_attack_gap(entries: list[Entry], setting: str = "complete") -> dict[str, float]:
    """Share of vanilla's forget-set classification accuracy kept minus share of its generation score kept.

    Positive: the model still picks the rumor among options while no longer generating it.
    """
    vanilla = next((e for e in entries if e.phase == "vanilla" and not e.error), None)
    if vanilla is None:
        return {}
    va, vg = _value(vanilla, "forget", "acc"), _value(vanilla, "forget", "gen_score")
    out = {}
    for e in entries:
        if e.setting == setting and e.phase == "unlearned" and not e.error:
            a, g = _value(e, "forget", "acc"), _value(e, "forget", "gen_score")
            defined = None not in (va, vg, a, g) and va > 0 and vg > 0
            out[e.method] = a / va - g / vg if defined else float("nan")
    return out


def visual_rumor_breakdown(entries: list[Entry], metric: str = "gen_score") -> dict[str, dict[str, float]]:
    """Mean forget-set `metric` on items whose rumor is visible in the image vs not, per checkpoint."""
    out = {}
    for e in entries:
        rows = e.samples.get("forget", [])
        split = {"visual": [r[metric] for r in rows if r.get("visual_rumor") and r.get(metric) is not None],
                 "non_visual": [r[metric] for r in rows if not r.get("visual_rumor") and r.get(metric) is not None]}
        if rows:
            out[f"{e.method}/{e.setting}/{e.phase}"] = {k: (sum(v) / len(v) if v else float("nan"))
                                                        for k, v in split.items()}
    return out


def forgotten_ids(known: list[dict], after: list[dict], metric: str, threshold: float) -> set[str]:
    """Items the reference model knew (score >= threshold) that the other model no longer does."""
    before = {r["id"]: r.get(metric) for r in known}
    return {r["id"] for r in after
            if before.get(r["id"]) is not None and r.get(metric) is not None
            and before[r["id"]] >= threshold > r[metric]}


def forgotten_overlap(entries: list[Entry], metric: str = "gen_score", threshold: float = 0.5,
                      setting: str = "complete") -> dict[str, float]:
    """Share of forget items a method forgot that plain relearning of vanilla also 'forgets'.

    High overlap means the method's forgetting looks like catastrophic forgetting.
    """
    vanilla = next((e for e in entries if e.phase == "vanilla" and not e.error), None)
    control = _lookup(entries, "vanilla", setting, "relearned") or next(
        (e for e in entries if e.method == "vanilla" and e.phase == "relearned" and not e.error), None)
    if vanilla is None or control is None:
        return {}
    base = vanilla.samples.get("forget", [])
    ctrl = forgotten_ids(base, control.samples.get("forget", []), metric, threshold)
    out = {}
    for e in entries:
        if e.setting == setting and e.phase == "unlearned" and not e.error and e.samples.get("forget"):
            mine = forgotten_ids(base, e.samples["forget"], metric, threshold)
            out[e.method] = len(mine & ctrl) / len(mine) if mine else float("nan")
    return out


def bounce_back(entries: list[Entry], metric: str = "gen_score", setting: str = "complete") -> dict[str, dict]:
    """Forget-set `metric` after unlearning vs after relearning, and the share of the drop recovered."""
    vanilla = next((e for e in entries if e.phase == "vanilla" and not e.error), None)
    v = _value(vanilla, "forget", metric) if vanilla else None
    out = {}
    for e in entries:
        if e.setting != setting or e.phase != "unlearned" or e.error:
            continue
        relearned = _lookup(entries, e.method, setting, "relearned")
        u = _value(e, "forget", metric)
        r = _value(relearned, "forget", metric) if relearned else None
        if u is None or r is None:
            continue
        drop = (v - u) if v is not None else None
        out[e.method] = {"vanilla": v, "unlearned": u, "relearned": r,
                         "recovered_share": (r - u) / drop if drop else float("nan")}
    return out


# ----------------------------------------------------------------------------- writing

def write_report(entries: list[Entry], out_dir: str | Path, title: str = "OFFSIDE run", protocol: str = "clean",
                 header: list[str] = ()) -> Path:
    """Write report.md (header: provenance lines under the title), tables/*.csv|.tex and plots/*.png
    under out_dir; returns report.md."""
    out_dir = Path(out_dir)
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    from .plots import plot_all
    from .robustness_report import robustness_analysis, robustness_table
    from .unlearning_report import unlearning_analysis, unlearning_plot, unlearning_table

    attacked, entries = entries, [e for e in entries if not e.attack]  # attacked evaluations: robustness only
    tables = build_tables(entries, protocol)
    tables += [t for t in (unlearning_table(entries), robustness_table(attacked)) if t]
    md = [f"# {title}", "", *header]
    for table in tables:
        stem = table.title.split(":")[0].lower().replace(" ", "")  # table2, table3, table4, figure3
        atomic_write_text(out_dir / "tables" / f"{stem}.csv", to_csv(table))
        atomic_write_text(out_dir / "tables" / f"{stem}.tex", to_latex(table))
        md.append(to_markdown(table))
    md.append("Arrows give the better direction (→0: closest to zero); **bold** marks the best unlearning method per "
              "column.\n")
    md.append("## Analyses\n")
    md.append(_analysis_md(entries) + unlearning_analysis(entries) + robustness_analysis(attacked))
    failed = [e for e in attacked if e.error]
    if failed:
        md.append("## Failed stages\n")
        md.extend(f"- {e.method} / {e.setting} / {e.phase}{f' / {e.attack}' if e.attack else ''}: {e.error}"
                  for e in failed)
        md.append("")
    plots = plot_all(entries, out_dir / "plots") + unlearning_plot(entries, out_dir / "plots")
    if plots:
        md.append("## Plots\n")
        md.extend(f"![{p.stem}](plots/{p.name})" for p in plots)
        md.append("")
    path = out_dir / "report.md"
    atomic_write_text(path, "\n".join(md))
    return path


def _analysis_md(entries: list[Entry]) -> str:
    lines = []
    gap = prompt_attack_gap(entries)
    if gap:
        lines += ["**Prompt-attack gap** (share of vanilla forget-set classification accuracy kept minus share "
                  "of its generation score kept; > 0 = the rumor is still recognised among options):", ""]
        lines += [f"- {m}: {v:+.3f}" if not math.isnan(v) else f"- {m}: – (vanilla scores 0 on the forget set)"
                  for m, v in gap.items()] + [""]
    vis = visual_rumor_breakdown(entries)
    if vis:
        lines += ["**Visual-rumor breakdown** (forget-set generation score, rumor visible in the image vs not):",
                  "", "| checkpoint | visual | not visual |", "|---|---|---|"]
        lines += [f"| {k} | {v['visual']:.3f} | {v['non_visual']:.3f} |" for k, v in vis.items()] + [""]
    overlap = forgotten_overlap(entries)
    if overlap:
        lines += ["**Forgotten-ID overlap** (share of forget items a method forgot that relearning the vanilla "
                  "model alone also loses — catastrophic-forgetting evidence):", ""]
        lines += [f"- {m}: {v:.0%}" if not math.isnan(v) else f"- {m}: – (nothing forgotten)"
                  for m, v in overlap.items()] + [""]
    bb = bounce_back(entries)
    if bb:
        lines += ["**Bounce-back** (forget-set generation score: vanilla → unlearned → relearned):", ""]
        lines += [f"- {m}: {d['vanilla']:.3f} → {d['unlearned']:.3f} → {d['relearned']:.3f} "
                  f"(recovered {d['recovered_share']:.0%} of the drop)" for m, d in bb.items()
                  if d["vanilla"] is not None] + [""]
    return "\n".join(lines) + "\n"
