"""The report's plots (matplotlib, Agg): forget efficacy vs utility, bounce-back after relearning,
multimodal vs unimodal unlearning. Camera-ready by construction: each method keeps its colour
(`display.method_color`) and display name in every figure, error bars are one standard error (the
evaluation's stderr) wherever results.json has one, legends sit outside the data, and every figure is
written atomically as a PDF and a 300-dpi PNG (the report embeds the PNG)."""
from __future__ import annotations

from pathlib import Path

from offside_eval.metrics import metric_display
from offside_run.display import method_color, method_label
from offside_run.entries import Entry, metric_error, metric_value
from offside_run.figures import pyplot, save_figure
from offside_run.tables import ROLE_LABELS

from .analyses import bounce_back

SECOND_HATCH = "//"  # the second bar of a pair (after relearning; text-only): hatched, in the method's colour


def plot_all(entries: list[Entry], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    ok = [e for e in entries if not e.error]
    written = [tradeoff_plot(ok, out_dir), bounce_back_plot(entries, out_dir), unimodal_plot(ok, out_dir)]
    return [p for p in written if p is not None]


def tradeoff_plot(ok: list[Entry], out_dir: Path) -> Path | None:
    """Forget vs retain generation score per complete-setting checkpoint, one colour per method, stderr bars
    both ways, names in the legend (labels next to points overlap when methods land close)."""
    points = [e for e in ok if e.phase in ("vanilla", "unlearned") and e.setting == "complete"
              and None not in (metric_value(e, "forget", "gen_score"), metric_value(e, "retain", "gen_score"))]
    if not points:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for e in points:
        ax.errorbar(metric_value(e, "forget", "gen_score"), metric_value(e, "retain", "gen_score"),
                    xerr=metric_error(e, "forget", "gen_score"), yerr=metric_error(e, "retain", "gen_score"),
                    fmt="s" if e.method == "vanilla" else "o", color=method_color(e.method), ms=6, capsize=3,
                    label=method_label(e.method))
    ax.set_xlabel(f"{ROLE_LABELS['forget']} {metric_display('gen_score').label} (lower = more forgotten)")
    ax.set_ylabel(f"{ROLE_LABELS['retain']} {metric_display('gen_score').label} (utility)")
    ax.set_title("Forget efficacy vs utility")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    return save_figure(fig, out_dir / "tradeoff.png")


def bounce_back_plot(entries: list[Entry], out_dir: Path) -> Path | None:
    """Forget-set generation score after unlearning (solid) and after relearning (hatched), per method."""
    bb = bounce_back(entries)
    if not bb:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    names = list(bb)
    for i, method in enumerate(names):
        for k, phase in enumerate(("unlearned", "relearned")):
            ax.bar(i + 0.4 * k, bb[method][phase], 0.38, yerr=bb[method][f"{phase}_stderr"], capsize=3,
                   color=method_color(method), alpha=1.0 if k == 0 else 0.45, edgecolor="black", linewidth=0.5,
                   hatch=SECOND_HATCH if k else None, error_kw={"elinewidth": 0.8})
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor="lightgrey", edgecolor="black", hatch=h) for h in (None, SECOND_HATCH)]
    labels = ["after unlearning", "after relearning"]
    if bb[names[0]]["vanilla"] is not None:
        handles.append(ax.axhline(bb[names[0]]["vanilla"], color="black", ls="--", lw=1))
        labels.append("vanilla")
    ax.set_xticks([i + 0.2 for i in range(len(names))], [method_label(n) for n in names])
    ax.set_ylabel(f"{ROLE_LABELS['forget']} {metric_display('gen_score').label}")
    ax.set_title("Bounce-back after relearning")
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    return save_figure(fig, out_dir / "bounce_back.png")


def unimodal_plot(ok: list[Entry], out_dir: Path) -> Path | None:
    """Per set, each method unlearned on image + text (solid) vs on text only (hatched)."""
    uni = {e.method: e for e in ok if e.setting == "unimodal" and e.phase == "unlearned"}
    mm = {e.method: e for e in ok if e.setting == "complete" and e.phase == "unlearned" and e.method in uni}
    if not mm:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 3.0), sharey=True)
    names = sorted(mm)
    for ax, role in zip(axes, ("retain", "test", "forget")):
        for i, method in enumerate(names):
            for k, src in enumerate((mm, uni)):
                ax.bar(i + 0.4 * k, metric_value(src[method], role, "gen_score") or 0, 0.38,
                       yerr=metric_error(src[method], role, "gen_score"), capsize=2, color=method_color(method),
                       alpha=1.0 if k == 0 else 0.45, edgecolor="black", linewidth=0.5,
                       hatch=SECOND_HATCH if k else None, error_kw={"elinewidth": 0.8})
        ax.set_xticks([i + 0.2 for i in range(len(names))], [method_label(n) for n in names])
        ax.set_title(ROLE_LABELS[role])
    axes[0].set_ylabel(metric_display("gen_score").label)
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor="lightgrey", edgecolor="black", hatch=h) for h in (None, SECOND_HATCH)]
    fig.legend(handles, ["unlearned on image + text", "unlearned on text only"], loc="lower center", ncol=2,
               bbox_to_anchor=(0.5, -0.06), frameon=False)
    fig.suptitle("Multimodal vs unimodal unlearning", y=1.04)  # above the panels' titles
    return save_figure(fig, out_dir / "unimodal.png")
