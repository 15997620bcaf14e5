"""The report's plots (matplotlib, Agg): forget efficacy vs utility, bounce-back after relearning,
multimodal vs unimodal unlearning. Each is written atomically as a PNG."""
from __future__ import annotations

from pathlib import Path

from .report import ROLE_LABELS, Entry, _value, bounce_back


def plot_all(entries: list[Entry], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    ok = [e for e in entries if not e.error]

    unlearned = [e for e in ok if e.phase in ("vanilla", "unlearned") and e.setting == "complete"]
    if unlearned:
        fig, ax = plt.subplots(figsize=(5, 4))
        for e in unlearned:
            x, y = _value(e, "forget", "gen_score"), _value(e, "retain", "gen_score")
            if x is not None and y is not None:
                ax.scatter(x, y, s=40)
                ax.annotate(e.method, (x, y), textcoords="offset points", xytext=(4, 4))
        ax.set_xlabel("forget-set generation score (lower = more forgotten)")
        ax.set_ylabel("retain-set generation score (utility)")
        ax.set_title("Forget efficacy vs utility")
        written.append(_save(fig, out_dir / "tradeoff.png"))

    bb = bounce_back(entries)
    if bb:
        fig, ax = plt.subplots(figsize=(6, 4))
        names = list(bb)
        for k, (phase, color) in enumerate((("unlearned", "tab:red"), ("relearned", "tab:green"))):
            ax.bar([i + 0.4 * k for i in range(len(names))], [bb[n][phase] for n in names], 0.4,
                   label=f"after {phase[:-2]}ing", color=color)
        if bb[names[0]]["vanilla"] is not None:
            ax.axhline(bb[names[0]]["vanilla"], color="k", ls="--", lw=1, label="vanilla")
        ax.set_xticks([i + 0.2 for i in range(len(names))], names)
        ax.set_ylabel("forget-set generation score")
        ax.set_title("Bounce-back after relearning")
        ax.legend()
        written.append(_save(fig, out_dir / "bounce_back.png"))

    uni = {e.method: e for e in ok if e.setting == "unimodal" and e.phase == "unlearned"}
    mm = {e.method: e for e in ok if e.setting == "complete" and e.phase == "unlearned" and e.method in uni}
    if uni and mm:
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.5), sharey=True)
        names = sorted(mm)
        for ax, role in zip(axes, ("retain", "test", "forget")):
            for k, (src, label) in enumerate(((mm, "multimodal"), (uni, "text-only"))):
                ax.bar([i + 0.4 * k for i in range(len(names))],
                       [_value(src[n], role, "gen_score") or 0 for n in names], 0.4, label=label)
            ax.set_xticks([i + 0.2 for i in range(len(names))], names)
            ax.set_title(ROLE_LABELS[role])
        axes[0].set_ylabel("generation score")
        axes[0].legend()
        fig.suptitle("Multimodal vs unimodal unlearning")
        written.append(_save(fig, out_dir / "unimodal.png"))
    return written


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
