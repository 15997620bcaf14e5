"""Figures of every report: matplotlib on the file-only Agg backend, each written atomically as a PDF and
a 300-dpi PNG (the report embeds the PNG)."""
from __future__ import annotations

from pathlib import Path

DPI = 300


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend, with print-friendly defaults."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "legend.fontsize": 8, "savefig.dpi": DPI})
    return plt


def save_figure(fig, png: Path) -> Path:
    """`png` at 300 dpi and the same figure as vector PDF next to it, both atomically, cropped to what is
    drawn (nothing clipped); returns the PNG's path."""
    plt = pyplot()
    for path in (png, png.with_suffix(".pdf")):
        tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight", pad_inches=0.05)
        tmp.replace(path)
    plt.close(fig)
    return png
