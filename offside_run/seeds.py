"""Reporting a run with a `seeds` axis: every checkpoint kind's seeds become one entry of means with 95%
confidence intervals, and a main table bolds a method only where paired tests say it is better.

Each interval is a two-way bootstrap over seeds and items (stats.seed_item_ci) where the evaluation kept
per-item values, a bootstrap over seeds otherwise (forget quality, model utility: no per-item values).
Entries trained once (vanilla, the reference) get intervals over their items. A run without the axis
is reported exactly as before: nothing here applies."""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from .stats import ALPHA, PERMUTATIONS, RESAMPLES, holm, paired_test, seed_ci, seed_item_ci
from .tables import NOT_RANKED, Table

if TYPE_CHECKING:
    from .entries import Entry

SUFFIXES = ("_stderr", "_n", "_lo", "_hi", "_missing")
CI_NOTE = (f"mean over seeds [95% CI: two-way percentile bootstrap over seeds and items, {RESAMPLES} resamples; "
           "over seeds alone where a number has no per-item values]; n = seeds x items")
BOLD_NOTE = (f"**bold**: the best method of a column, only where a paired sign-flip permutation test on the same "
             f"items (per-item means over seeds, {PERMUTATIONS} resamples, exact below 14 items) finds it different "
             f"from every other method at two-sided α = {ALPHA} after Holm's correction over the column's "
             "comparisons; columns without per-item values are never bold")


def seeded(entries: list[Entry]) -> bool:
    return any(e.seed is not None or e.seeds for e in entries)


def aggregate(entries: list[Entry]) -> list[Entry]:
    """One entry per (method, setting, phase, attack) of a seeded run, in first-seen order: its seeds'
    means with intervals (failed seeds stay apart, as errors); `entries` unchanged without seeds."""
    if not seeded(entries):
        return entries
    groups: dict[tuple, list[Entry]] = {}
    out: list[Entry | tuple] = []
    for e in entries:
        if e.error:
            out.append(e)
            continue
        key = (e.method, e.setting, e.phase, e.attack)
        if key not in groups:
            out.append(key)
        groups.setdefault(key, []).append(e)
    return [_combine(groups[x]) if isinstance(x, tuple) else x for x in out]


def item_values(entry: Entry, role: str, metric: str) -> dict[str, float]:
    """Item id -> the entry's value of `metric` on `role` (a seeded entry: the mean over its seeds)."""
    return {r["id"]: r[metric] for r in entry.samples.get(role, [])
            if isinstance(r.get(metric), (int, float)) and not math.isnan(r[metric])}


def _combine(group: list[Entry]) -> Entry:
    first = group[0]
    samples = {role: _mean_samples([e.samples.get(role, []) for e in group]) for role in first.samples}
    metrics: dict[str, dict[str, float]] = {}
    for role, values in first.metrics.items():
        out = metrics.setdefault(role, {})
        for metric in (m for m in values if not m.endswith(SUFFIXES)):
            seen = [v for e in group if isinstance(v := e.metrics.get(role, {}).get(metric), (int, float))
                    and not math.isnan(v)]
            if not seen:
                continue
            out[metric] = sum(seen) / len(seen)
            if f"{metric}_n" in values:
                out[f"{metric}_n"] = values[f"{metric}_n"]
            interval = _interval(group, role, metric, seen)
            if interval:
                out[f"{metric}_lo"], out[f"{metric}_hi"] = interval
    seeds = tuple(e.seed for e in group if e.seed is not None)
    return dataclasses.replace(first, metrics=metrics, samples=samples, seed=None, seeds=seeds)


def _interval(group: list[Entry], role: str, metric: str, seen: list[float]) -> tuple[float, float] | None:
    per_seed = [item_values(e, role, metric) for e in group]
    common = sorted(set.intersection(*(set(v) for v in per_seed))) if per_seed else []
    if common:
        return seed_item_ci([[v[i] for i in common] for v in per_seed])
    return seed_ci(seen)


def _mean_samples(per_seed: list[list[dict]]) -> list[dict]:
    """Per item (by id, the first seed's order), each numeric value's mean over the seeds holding it."""
    rows: dict[str, dict] = {}
    values: dict[str, dict[str, list[float]]] = {}
    for seed_rows in per_seed:
        for row in seed_rows:
            rows.setdefault(row["id"], dict(row))
            for k, v in row.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v):
                    values.setdefault(row["id"], {}).setdefault(k, []).append(v)
    for item, by_key in values.items():
        rows[item].update({k: sum(vs) / len(vs) for k, vs in by_key.items()})
    return list(rows.values())


def decorate(table: Table, entries: list[Entry]) -> None:
    """A main table of a seeded run (rows: `entries`): intervals instead of standard errors, and bold only
    where significant; nothing changes for a run without seeds."""
    if not seeded(entries) or not table.rows:
        return
    keys = [k.split(":", 1) for _g, k, _h in table.columns()]
    table.intervals = [[_bounds(e, role, metric) for role, metric in keys] for e in entries]
    table.errors = None
    table.marks = [_significant(table, entries, j, role, metric) for j, (role, metric) in enumerate(keys)]
    seeds = sorted({s for e in entries for s in e.seeds})
    spread = f"{CI_NOTE} ({len(seeds)} seeds: {', '.join(map(str, seeds))})"
    stderr = "± one standard error where known"
    note = table.note.replace(stderr, spread) if stderr in table.note else f"{table.note} {spread}"
    table.note = f"{note.rstrip('.')}. {BOLD_NOTE}."


def _bounds(entry: Entry, role: str, metric: str) -> tuple[float, float] | None:
    values = entry.metrics.get(role, {})
    if f"{metric}_lo" in values:
        return values[f"{metric}_lo"], values[f"{metric}_hi"]
    items = item_values(entry, role, metric)
    return seed_item_ci([list(items.values())]) if items and metric in values else None


def _significant(table: Table, entries: list[Entry], j: int, role: str, metric: str) -> set[int]:
    """{the best ranked row} when it differs from every other ranked row (Holm-corrected paired tests)."""
    higher = table.columns()[j][2]
    ranked = {i: v[j] for i, (name, v) in enumerate(table.rows)
              if not name.lower().startswith(NOT_RANKED) and v[j] is not None and not math.isnan(v[j])}
    if len(ranked) < 2:
        return set()
    goodness = {i: (v if higher else -v) if higher is not None else -abs(v) for i, v in ranked.items()}
    best = max(goodness, key=goodness.get)
    mine = item_values(entries[best], role, metric)
    pvalues = []
    for i in (i for i in ranked if i != best):
        other = item_values(entries[i], role, metric)
        common = sorted(set(mine) & set(other))
        if not common:
            return set()
        pvalues.append(paired_test([mine[k] for k in common], [other[k] for k in common]))
    return {best} if all(p < ALPHA for p in holm(pvalues)) else set()
