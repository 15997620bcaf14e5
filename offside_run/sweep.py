"""The experiment's `seeds` axis and `search:` section: which checkpoints one method run becomes.

Without either, a method run is one unlearning checkpoint, named as always (`ga-complete`). `seeds:
[0, 1, 2]` trains one chain per training seed (`ga-complete-s1`, ...; a single seed keeps the plain
name). `search:` trains one candidate per search point and seed (`ga-complete-c3-s1`), evaluates each on
the validation sets the `select:` rule reads, and plans a selection stage per seed that becomes the
method's checkpoint (see selection.py): the full evaluation, attacks and relearning run on it only.

search:
  mode: grid | random      grid: every combination; random: `trials` points drawn without replacement
  trials: N                    from the grid with `seed` (reproducible)
  seed: S
  methods: [ga, npo]       the methods searched (default: every method of the experiment)
  space: {ga: {learning_rate: [...], max_steps: [...]}}   replaces the method's declared search_space
                           (offside_train/methods/*.py) for that method
"""
from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from offside_data.options import did_you_mean
from offside_train.config import option_names
from offside_train.methods import get_method

from .errors import ExperimentError
from .markers import stage_key
from .stages import EvalStage, SelectStage, TrainStage

if TYPE_CHECKING:
    from .experiment import Experiment
    from .pipeline import Runner

MODES = ("grid", "random")
KEYS = ("mode", "trials", "seed", "methods", "space")


def method_space(search: dict[str, Any], method: str) -> dict[str, list]:
    """The search space of `method`: the experiment's `search.space.<method>` or the method's declared one."""
    return dict((search.get("space") or {}).get(method) or get_method(method).search_space)


def expand(space: dict[str, list], mode: str = "grid", trials: int | None = None, seed: int = 0) -> list[dict]:
    """The search points: every combination of the space's values (keys in declared order), or `trials`
    of them drawn without replacement with `seed` (the same points on every run)."""
    grid = [dict(zip(space, combo)) for combo in itertools.product(*space.values())]
    if mode == "grid":
        return grid
    chosen = random.Random(seed).sample(range(len(grid)), min(trials or len(grid), len(grid)))
    return [grid[i] for i in chosen]


def seeded_name(name: str, seed: int | None, seeds: list[int]) -> str:
    """`name` of the chain of `seed`: suffixed `-sN` only when the run has several seeds."""
    return f"{name}-s{seed}" if seed is not None and len(seeds) > 1 else name


def searched(exp: Experiment, method: str) -> bool:
    return bool(exp.search) and method in exp.search.get("methods", exp.methods)


def check_search(exp: Experiment) -> None:
    """One line naming the key of a malformed `seeds` or `search` section."""
    where = f"{exp.source}: search"
    if not isinstance(exp.seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in exp.seeds) \
            or len(set(exp.seeds)) != len(exp.seeds):
        raise ExperimentError(f"{exp.source}: seeds must be a list of distinct integers, got {exp.seeds!r}")
    for where_, opts in [("unlearn", exp.unlearn)] + [(f"methods.{m}", o or {}) for m, o in exp.methods.items()]:
        if exp.seeds and "seed" in opts:
            raise ExperimentError(f"{exp.source}: {where_}.seed: the seeds axis sets every unlearning run's seed")
    spec = exp.search
    if not isinstance(spec, dict):
        raise ExperimentError(f"{where} must be a mapping, got {spec!r}")
    for key in spec:
        if key not in KEYS:
            raise ExperimentError(f"{where}: unknown key {key!r}{did_you_mean(key, list(KEYS))}")
    if spec.get("mode", "grid") not in MODES:
        raise ExperimentError(f"{where}.mode: {spec['mode']!r} is not one of {', '.join(MODES)}")
    if spec.get("mode", "grid") == "grid" and "trials" in spec:
        raise ExperimentError(f"{where}.trials: applies to mode random (a grid tries every point)")
    if spec.get("mode") == "random" and not (isinstance(spec.get("trials"), int) and spec["trials"] > 0):
        raise ExperimentError(f"{where}.trials: random search needs a positive number of trials")
    for method in list(spec.get("methods", [])) + list(spec.get("space") or {}):
        if method not in exp.methods:
            raise ExperimentError(f"{where}: {method!r} is not one of the experiment's methods "
                                  f"({', '.join(exp.methods)}){did_you_mean(method, list(exp.methods))}")
    for method in (m for m in exp.methods if searched(exp, m)):
        _check_space(exp, method, f"{where}.space.{method}")


def _check_space(exp: Experiment, method: str, where: str) -> None:
    space = method_space(exp.search, method)
    names = option_names(get_method(method))
    for key, values in space.items():
        if key not in names:
            raise ExperimentError(f"{where}: {method} has no option {key!r}{did_you_mean(key, sorted(names))}")
        if not isinstance(values, list) or not values:
            raise ExperimentError(f"{where}.{key}: a non-empty list of values, got {values!r}")
    fixed = {**exp.unlearn, **(exp.methods[method] or {})}
    if "num_train_epochs" in space and fixed.get("max_steps", -1) > 0:
        raise ExperimentError(f"{where}: searches num_train_epochs but max_steps={fixed['max_steps']} overrides "
                              "epochs; search max_steps instead")


def plan_method(runner: Runner, stages: list, name: str, method: str, setting: str, options: dict[str, Any],
                parent: TrainStage, validate: Callable[[TrainStage], EvalStage],
                baseline: EvalStage | None) -> list[TrainStage]:
    """The checkpoints of one method run, one per seed: trained directly, or (a searched method) the
    selection stages over its candidates; `validate` plans a candidate's validation evaluation."""
    exp = runner.exp
    seeds = exp.seeds or [None]
    per_seed = {seed: ({**options, "seed": seed} if seed is not None else options) for seed in seeds}

    def train(stage_name: str, opts: dict[str, Any], phase: str, seed: int | None) -> TrainStage:
        st = runner.add_train(stages, stage_name, method, opts, parent=parent, method=method, setting=setting, phase=phase)
        st.seed = seed
        return st

    if not searched(exp, method):
        return [train(seeded_name(name, seed, exp.seeds), per_seed[seed], "unlearned", seed) for seed in seeds]
    search = exp.search
    points = {f"c{i}": p for i, p in enumerate(expand(method_space(search, method), search.get("mode", "grid"),
                                                      search.get("trials"), search.get("seed", 0)))}
    candidates = [(pid, validate(train(seeded_name(f"{name}-{pid}", seed, exp.seeds), {**per_seed[seed], **point},
                                       "candidate", seed)))
                  for pid, point in points.items() for seed in seeds]
    chosen = []
    for seed in seeds:
        key = stage_key("select", parent.key, seed, [ev.key for _p, ev in candidates], exp.select,
                        baseline.key if baseline else None)
        chosen.append(SelectStage(seeded_name(name, seed, exp.seeds), "select", {}, parent, key, method, setting,
                                  "unlearned", seed=seed, candidates=candidates, points=points, baseline=baseline,
                                  rule=exp.select))
        stages.append(chosen[-1])
    return chosen
