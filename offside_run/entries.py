"""What a report is made of: one `Entry` per evaluated checkpoint (built from the run folder by
`run_folder.load_entries`), with the lookups every benchmark's tables use."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from offside_eval.unlearning_metrics import DEFAULT_TOKEN_SET, MetricError, model_utility

from .display import method_label
from .tables import ROLE_LABELS, column_label

OVERALL = "overall"  # the role of metrics derived from several sets (model utility)
# model utility: OU's harmonic mean, over the sets a checkpoint should keep (retain, test) and OFFSIDE's two
# [0, 1] scores of each; a checkpoint lacking some takes the harmonic mean of those it has
UTILITY_INPUTS = (("retain", "acc"), ("retain", "gen_score"), ("test", "acc"), ("test", "gen_score"))


@dataclass
class Entry:
    method: str  # "vanilla" or a method name
    setting: str  # complete | selective | unimodal
    phase: str  # vanilla | unlearned | relearned | reference
    metrics: dict[str, dict[str, float]]  # role -> metric -> value (and <metric>_stderr, <metric>_n when known)
    samples: dict[str, list[dict]] = field(default_factory=dict)  # role -> [{"id", "visual_rumor", metric...}]
    error: str | None = None  # a failed stage is reported, not dropped
    attack: str | None = None  # evaluated under this attack (robustness); None: clean inputs and weights
    token_set: str = DEFAULT_TOKEN_SET  # the unlearning metrics' answer tokens (results.json config.token_set)
    seed: int | None = None  # the training seed of a run with a `seeds` axis (one seed's checkpoint)
    seeds: tuple[int, ...] = ()  # the seeds whose means these metrics are (seeds.aggregate)

    def __post_init__(self):
        utility = entry_model_utility(self)
        if utility is not None:
            self.metrics.setdefault(OVERALL, {})["model_utility"] = utility


def entry_model_utility(entry: Entry) -> float | None:
    """Model utility of a checkpoint (`unlearning_metrics.model_utility` over `UTILITY_INPUTS`), None
    without any of them."""
    values = [v for role, m in UTILITY_INPUTS if (v := metric_value(entry, role, m)) is not None and not math.isnan(v)]
    try:
        return model_utility(values) if values else None
    except MetricError:  # a negative score: not a utility
        return None


def metric_value(entry: Entry | None, role: str, metric: str) -> float | None:
    return entry.metrics.get(role, {}).get(metric) if entry else None


def metric_error(entry: Entry | None, role: str, metric: str) -> float | None:
    """The evaluation's standard error of a value, None when results.json had none (or NaN)."""
    err = metric_value(entry, role, f"{metric}_stderr")
    return err if err is not None and not math.isnan(err) else None


def table_cells(entries: list[Entry], groups) -> tuple[list[tuple[str, list[float | None]]], list[list[float | None]]]:
    """(rows named by display name, their standard errors) of `entries` over the columns of `groups`."""
    keys = [k.split(":") for _g, cols in groups for k, _h in cols]
    rows = [(method_label(e.method), [metric_value(e, *k) for k in keys]) for e in entries]
    return rows, [[metric_error(e, *k) for k in keys] for e in entries]


def _first_n(entries: list[Entry], key: str) -> float | None:
    role, metric = key.split(":", 1)
    return next((n for e in entries if (n := metric_value(e, role, f"{metric}_n")) is not None), None)


def sample_sizes(entries: list[Entry], groups) -> str:
    """'n per set: Forget Set 84, Test Set 84; ± one standard error where known' (a set whose columns
    differ in n lists them), from the first checkpoint that records each n."""
    parts = []
    for label, cols in groups:
        sizes = {k: n for k, _h in cols if (n := _first_n(entries, k)) is not None}
        if len(set(sizes.values())) == 1:
            parts.append(f"{label} {int(next(iter(sizes.values())))}")
        elif sizes:
            parts.append(f"{label}: " + ", ".join(f"{column_label(k)} {int(n)}" for k, n in sizes.items()))
    return ("n per set: " + ", ".join(parts) + "; " if parts else "") + "± one standard error where known"


def overall_group(entries: list[Entry]) -> list:
    """The Overall column group (model utility) when any of `entries` has it."""
    has = any(metric_value(e, OVERALL, "model_utility") is not None for e in entries)
    return [(ROLE_LABELS[OVERALL], [(f"{OVERALL}:model_utility", True)])] if has else []
