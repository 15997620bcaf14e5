"""The experiment's `select:` section: which search candidate becomes a method's checkpoint.

Every candidate is evaluated on the validation sets only -- the forget set (how much is forgotten) and the
retain set (what is kept); never the test set, which the selected checkpoint alone is evaluated on. The
rule compares the search points by their mean over seeds:

utility_floor         the highest forget efficacy (1 - the forget metric) among the points whose model
                      utility is at least `share` x vanilla's on the same sets (the usual "best forgetting
                      at a bounded utility cost"); when none keeps that much, the point keeping the most
mean_quality_utility  the highest mean of forget quality and model utility (as issue #27 describes
                      Open-MMUnlearning's choice; needs unlearning_metrics: true for forget quality)

select:
  rule: utility_floor
  share: 0.9                            utility_floor's share of vanilla's model utility
  forget: forget:gen_score              ROLE:METRIC, lower = more forgotten
  utility: [retain:acc, retain:gen_score]   ROLE:METRICs whose harmonic mean is the model utility
  quality: unlearning:forget_quality    mean_quality_utility's forget quality

A selection stage writes checkpoints/<method>-<setting>[-sN]/selection.json (the rule, vanilla's utility,
every candidate's numbers per seed, the points' means, the winner and why) and links the winning
candidate's files there; the report's Selection section is built from these files.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from offside_eval.unlearning_metrics import MetricError, model_utility

from .errors import ExperimentError
from .markers import STAGE_FILE, STARTED_FILE, finished, write_json

if TYPE_CHECKING:  # a selection stage runs run_selection: the stages module imports this one
    from .stages import EvalStage, SelectStage

RULES = ("utility_floor", "mean_quality_utility")
DEFAULTS = {"rule": "utility_floor", "share": 0.9, "forget": "forget:gen_score",
            "utility": ["retain:acc", "retain:gen_score"], "quality": "unlearning:forget_quality"}
SELECTION_FILE = "selection.json"
NUMBERS = ("forget_efficacy", "model_utility", "forget_quality")


class SelectionError(RuntimeError):
    """No candidate of the selection stage's seed can be chosen (every one failed)."""


def with_defaults(spec: dict[str, Any], source: str, unlearning_metrics: bool) -> dict[str, Any]:
    """The `select` section completed with DEFAULTS; one line naming the key when it is malformed."""
    where = f"{source}: select"
    if not isinstance(spec, dict):
        raise ExperimentError(f"{where} must be a mapping, got {spec!r}")
    for key in spec:
        if key not in DEFAULTS:
            raise ExperimentError(f"{where}: unknown key {key!r} (keys: {', '.join(DEFAULTS)})")
    out = {**DEFAULTS, **spec}
    if out["rule"] not in RULES:
        raise ExperimentError(f"{where}.rule: {out['rule']!r} is not one of {', '.join(RULES)}")
    if not isinstance(out["share"], (int, float)) or not 0 <= out["share"] <= 1:
        raise ExperimentError(f"{where}.share: a number in [0, 1], got {out['share']!r}")
    if isinstance(out["utility"], str):
        out["utility"] = [out["utility"]]
    for ref in [out["forget"], out["quality"], *out["utility"]]:
        role, _, metric = str(ref).partition(":")
        if not metric:
            raise ExperimentError(f"{where}: {ref!r} is not ROLE:METRIC")
        if role == "test":
            raise ExperimentError(f"{where}: {ref!r}: candidates are chosen on validation sets, never the test set")
    if out["rule"] == "mean_quality_utility" and not unlearning_metrics:
        raise ExperimentError(f"{where}.rule: mean_quality_utility needs forget quality (unlearning_metrics: true)")
    return out


def validation_roles(spec: dict[str, Any]) -> list[str]:
    """The roles a candidate is evaluated on: those the rule reads."""
    refs = [spec["forget"], *spec["utility"]] + ([spec["quality"]] if spec["rule"] == "mean_quality_utility" else [])
    return list(dict.fromkeys(ref.partition(":")[0] for ref in refs))


def _value(results: dict, tasks: dict[str, dict[str, str]], ref: str) -> float | None:
    """ROLE:METRIC of one evaluation: the first of the role's tasks that reports the metric."""
    role, _, metric = ref.partition(":")
    for task in (tasks.get(role) or {}).values():
        value = (results.get(task) or {}).get(metric)
        if isinstance(value, (int, float)) and not math.isnan(value):
            return float(value)
    return None


def measure(results: dict, tasks: dict[str, dict[str, str]], spec: dict[str, Any]) -> dict[str, float | None]:
    """Forget efficacy (1 - the forget metric), model utility (harmonic mean of the utility metrics) and
    forget quality of one evaluation's results."""
    forget = _value(results, tasks, spec["forget"])
    parts = [v for ref in spec["utility"] if (v := _value(results, tasks, ref)) is not None]
    try:
        utility = model_utility(parts) if len(parts) == len(spec["utility"]) else None
    except MetricError:
        utility = None
    return {"forget_efficacy": None if forget is None else 1 - forget, "model_utility": utility,
            "forget_quality": _value(results, tasks, spec["quality"])}


def choose(means: dict[str, dict[str, float | None]], baseline_utility: float | None,
           spec: dict[str, Any]) -> tuple[str, str]:
    """(the winning point, why) among `means` (point -> its numbers' means over seeds)."""
    def num(point: str, name: str) -> float:
        value = means[point].get(name)
        return -math.inf if value is None else value

    if not means:
        raise SelectionError("no candidate finished its validation evaluation")
    if spec["rule"] == "mean_quality_utility":
        best = max(means, key=lambda p: ((num(p, "forget_quality") + num(p, "model_utility")) / 2,
                                         num(p, "model_utility")))
        return best, "the highest mean of forget quality and model utility"
    floor = spec["share"] * baseline_utility if baseline_utility is not None else None
    kept = [p for p in means if floor is not None and num(p, "model_utility") >= floor]
    if kept:
        best = max(kept, key=lambda p: (num(p, "forget_efficacy"), num(p, "model_utility")))
        return best, (f"the highest forget efficacy among the {len(kept)} of {len(means)} points keeping model "
                      f"utility >= {spec['share']:g} x vanilla's ({floor:.3f})")
    best = max(means, key=lambda p: (num(p, "model_utility"), num(p, "forget_efficacy")))
    return best, (f"no point keeps model utility >= {spec['share']:g} x vanilla's"
                  f"{f' ({floor:.3f})' if floor is not None else ' (vanilla has none)'}: the one keeping the most")


def _read(ev: EvalStage, folder_of: Callable) -> dict | None:
    """An evaluation's results, None when it did not finish (a failed candidate)."""
    folder = folder_of(ev)
    if not finished(folder, ev.key):
        return None
    return json.loads((folder / "results.json").read_text(encoding="utf-8"))["results"]


def _means(rows: list[dict]) -> dict[str, dict[str, float | None]]:
    by_point: dict[str, list[dict]] = {}
    for row in rows:
        if row.get("numbers"):
            by_point.setdefault(row["point"], []).append(row["numbers"])
    out = {}
    for point, numbers in by_point.items():
        out[point] = {name: (sum(vals) / len(vals) if (vals := [n[name] for n in numbers if n[name] is not None])
                             else None) for name in NUMBERS}
        out[point]["seeds"] = len(numbers)
    return out


def run_selection(stage: SelectStage, folder_of: Callable) -> dict[str, Any]:
    """Choose by the stage's rule, write selection.json and link the winner of the stage's seed into the
    stage's folder (its markers and checkpoint-N folders excepted); returns what selection.json holds."""
    spec, rows = stage.rule, []
    for point, ev in stage.candidates:
        results = _read(ev, folder_of)
        rows.append({"point": point, "seed": ev.checkpoint.seed, "checkpoint": ev.checkpoint.name,
                     "options": stage.points[point],
                     "numbers": measure(results, ev.tasks, spec) if results is not None else None})
    base = _read(stage.baseline, folder_of) if stage.baseline else None
    # vanilla read on the candidates' own validation tasks (selective: the private and shared information)
    validation_tasks = stage.candidates[0][1].tasks
    baseline = measure(base, validation_tasks, spec)["model_utility"] if base is not None else None
    means = _means(rows)
    winner, why = choose(means, baseline, spec)
    own = next((ev for point, ev in stage.candidates if point == winner and ev.checkpoint.seed == stage.seed
                and _read(ev, folder_of) is not None), None)
    if own is None:
        raise SelectionError(f"point {winner} won, but its seed-{stage.seed} candidate failed")
    out = {"method": stage.method, "setting": stage.setting, "seed": stage.seed, "rule": spec,
           "vanilla_model_utility": baseline, "candidates": rows, "means": means, "winner": winner,
           "winner_options": stage.points[winner], "checkpoint": own.checkpoint.name, "why": why}
    target = folder_of(stage)
    link_checkpoint(folder_of(own.checkpoint), target)
    write_json(target / SELECTION_FILE, out)
    return out


def link_checkpoint(source: Path, target: Path) -> None:
    """`target` becomes the checkpoint in `source`: a relative link per file or folder of it."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.name in (STAGE_FILE, STARTED_FILE, SELECTION_FILE) or entry.name.startswith("checkpoint-"):
            continue
        link = target / entry.name
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(os.path.relpath(entry, target), link)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def selection_md(run_dir: Path) -> str:
    """The report's Selection section: per searched method and setting, the rule, every search point's
    validation numbers (means over seeds) and the winner; '' when the run searched nothing."""
    files = sorted((run_dir / "checkpoints").glob(f"*/{SELECTION_FILE}"))
    done: dict[tuple[str, str], dict] = {}
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        done.setdefault((data["method"], data["setting"]), data)  # every seed's stage chose the same point
    if not done:
        return ""
    lines = ["## Selection", "",
             "Each searched method's candidates were evaluated on the validation sets (never the test set); the "
             "rule compares the search points by their mean over seeds. Every candidate's numbers are in "
             f"`checkpoints/*/{SELECTION_FILE}`.", ""]
    for (method, setting), data in done.items():
        spec, means = data["rule"], data["means"]
        lines += [f"**{method} ({setting})**: validation sets {', '.join(validation_roles(spec))}; rule "
                  f"`{spec['rule']}` — {data['why']}; winner {data['winner']} "
                  f"{json.dumps(data['winner_options'])}; vanilla's model utility "
                  f"{_fmt(data['vanilla_model_utility'])} (forget efficacy = 1 − {spec['forget']}; model utility: "
                  f"harmonic mean of {', '.join(spec['utility'])}).", "",
                  "| point | options | seeds | forget efficacy ↑ | model utility ↑ | forget quality ↑ | |",
                  "|---|---|---|---|---|---|---|"]
        for point, options in dict.fromkeys((r["point"], json.dumps(r["options"])) for r in data["candidates"]):
            m = means.get(point)
            cells = ([str(m["seeds"])] + [_fmt(m[n]) for n in NUMBERS]) if m else ["0 (failed)", "–", "–", "–"]
            lines.append(f"| {point} | `{options}` | " + " | ".join(cells)
                         + f" | {'**selected**' if point == data['winner'] else ''} |")
        lines.append("")
    return "\n".join(lines) + "\n"
