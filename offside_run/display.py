"""How the report names and colours a method: one display name and one colour per method id, the same
in every table, caption and figure (so GA is "GA" and the same blue everywhere)."""
from __future__ import annotations

# ids whose display name is not simply the id in capitals (ga -> GA, npo -> NPO, rmu -> RMU, ...)
DISPLAY_NAMES = {"vanilla": "Vanilla", "reference": "Retain-only reference", "simnpo": "SimNPO",
                 "idkdpo": "IdkDPO", "mmu": "MMUnlearner", "manu": "MANU"}
# a fixed colour per known method id (matplotlib's tab10 / tab20 hues); others take the next free one in turn
METHOD_COLORS = {"vanilla": "#4d4d4d", "reference": "#000000", "ga": "#1f77b4", "gd": "#ff7f0e", "kl": "#2ca02c",
                 "po": "#d62728", "npo": "#9467bd", "simnpo": "#8c564b", "idkdpo": "#e377c2", "rmu": "#bcbd22",
                 "mmu": "#17becf", "manu": "#393b79", "undial": "#aec7e8", "wga": "#ffbb78"}
SPARE_COLORS = ("#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5")
SETTING_SUFFIX = {"complete": "", "selective": " (selective)", "unimodal": " (text-only)"}


def method_label(method: str) -> str:
    """'ga' -> 'GA', 'vanilla' -> 'Vanilla', 'simnpo' -> 'SimNPO'."""
    return DISPLAY_NAMES.get(method, method.upper())


def checkpoint_label(method: str, setting: str = "complete", phase: str = "unlearned") -> str:
    """A checkpoint in words: 'GA', 'NPO (text-only)', 'GA relearned', 'Vanilla', 'Retain-only reference'."""
    label = method_label("reference" if phase == "reference" else method) + SETTING_SUFFIX.get(setting, f" ({setting})")
    return label + (" relearned" if phase == "relearned" else "")


def method_color(method: str) -> str:
    """The method's colour in every figure; an unknown id gets a spare colour fixed by its name."""
    if method in METHOD_COLORS:
        return METHOD_COLORS[method]
    return SPARE_COLORS[sum(map(ord, method)) % len(SPARE_COLORS)]
