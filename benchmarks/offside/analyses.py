"""The report's analyses of a run's checkpoints: prompt-attack gap, visual-rumor and per-fact breakdowns, forgotten-ID
overlap with plain relearning, bounce-back after relearning. Pure functions of `report.Entry` records."""
from __future__ import annotations

import math

from offside_run.display import checkpoint_label, method_label
from offside_run.entries import Entry, metric_error, metric_value

from .facts import FACTS


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
    va, vg = metric_value(vanilla, "forget", "acc"), metric_value(vanilla, "forget", "gen_score")
    out = {}
    for e in entries:
        if e.setting == setting and e.phase == "unlearned" and not e.error:
            a, g = metric_value(e, "forget", "acc"), metric_value(e, "forget", "gen_score")
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
            out[checkpoint_label(e.method, e.setting, e.phase)] = {
                **{k: (sum(v) / len(v) if v else float("nan")) for k, v in split.items()},
                **{f"{k}_n": len(v) for k, v in split.items()}}
    return out


def fact_breakdown(entries: list[Entry], metric: str = "gen_score") -> dict[str, dict[str, tuple[float, int]]]:
    """Fact type -> checkpoint label -> (mean forget-set `metric`, n): which of OFFSIDE's 14 facts resist
    unlearning (vanilla and the complete setting's unlearned checkpoints; samples carry their `fact`)."""
    out: dict[str, dict[str, tuple[float, int]]] = {}
    for e in entries:
        if e.error or e.setting != "complete" or e.phase not in ("vanilla", "unlearned"):
            continue
        by_fact: dict[str, list[float]] = {}
        for row in e.samples.get("forget", []):
            if row.get("fact") and row.get(metric) is not None:
                by_fact.setdefault(row["fact"], []).append(row[metric])
        for fact, values in by_fact.items():
            out.setdefault(fact, {})[checkpoint_label(e.method, e.setting, e.phase)] = (sum(values) / len(values),
                                                                                         len(values))
    order = {fact: i for i, fact in enumerate(FACTS)}  # OFFSIDE's 8 shared, then its 6 private facts
    return dict(sorted(out.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


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
    v = metric_value(vanilla, "forget", metric) if vanilla else None
    out = {}
    for e in entries:
        if e.setting != setting or e.phase != "unlearned" or e.error:
            continue
        relearned = _lookup(entries, e.method, setting, "relearned")
        u = metric_value(e, "forget", metric)
        r = metric_value(relearned, "forget", metric) if relearned else None
        if u is None or r is None:
            continue
        drop = (v - u) if v is not None else None
        out[e.method] = {"vanilla": v, "unlearned": u, "relearned": r,
                         "unlearned_stderr": metric_error(e, "forget", metric),
                         "relearned_stderr": metric_error(relearned, "forget", metric),
                         "recovered_share": (r - u) / drop if drop else float("nan")}
    return out



def _mean_cell(mean: float, n: int) -> str:
    return f"– (n={n})" if math.isnan(mean) else f"{mean:.3f} (n={n})"


def _per_method(heading: str, values: dict[str, float], fmt: str, when_nan: str) -> list[str]:
    """A markdown list of one value per method, under its heading."""
    return [heading, ""] + [f"- {method_label(m)}: " + (when_nan if math.isnan(v) else fmt.format(v))
                            for m, v in values.items()] + [""]


PER_METHOD = (  # (heading, analysis, value format, text when the value is undefined)
    ("**Prompt-attack gap** (share of vanilla forget-set classification accuracy kept minus share of its generation "
     "score kept; > 0 = the rumor is still recognised among options):", prompt_attack_gap, "{:+.3f}",
     "– (vanilla scores 0 on the forget set)"),
    ("**Forgotten-ID overlap** (share of forget items a method forgot that relearning the vanilla model alone also "
     "loses — catastrophic-forgetting evidence):", forgotten_overlap, "{:.0%}", "– (nothing forgotten)"),
)


def analysis_md(entries: list[Entry]) -> str:
    lines = []
    for heading, analysis, fmt, when_nan in PER_METHOD:
        values = analysis(entries)
        if values:
            lines += _per_method(heading, values, fmt, when_nan)
    vis = visual_rumor_breakdown(entries)
    if vis:
        lines += ["**Visual-rumor breakdown** (forget-set generation score, rumor visible in the image vs not; "
                  "n items each):", "", "| checkpoint | visual | not visual |", "|---|---|---|"]
        lines += [f"| {k} | " + " | ".join(_mean_cell(v[side], v[f"{side}_n"]) for side in ("visual", "non_visual"))
                  + " |" for k, v in vis.items()] + [""]
    facts = fact_breakdown(entries)
    if facts:
        columns = list(dict.fromkeys(c for row in facts.values() for c in row))
        lines += ["**Forget set by fact** (generation score per OFFSIDE fact type, n items; which facts resist "
                  "unlearning):", "", "| fact | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
        lines += [f"| {fact} | " + " | ".join(_mean_cell(*row.get(c, (float("nan"), 0))) for c in columns) + " |"
                  for fact, row in facts.items()] + [""]
    bb = bounce_back(entries)
    if bb:
        lines += ["**Bounce-back** (forget-set generation score: vanilla → unlearned → relearned):", ""]
        lines += [f"- {method_label(m)}: {d['vanilla']:.3f} → {d['unlearned']:.3f} → {d['relearned']:.3f} "
                  + ("(no drop to recover)" if math.isnan(d["recovered_share"]) else
                     f"(recovered {d['recovered_share']:.0%} of the drop)") for m, d in bb.items()
                  if d["vanilla"] is not None] + [""]
    return "\n".join(lines) + "\n"
