"""The experiment's `robustness:` section: its validation and the stages it adds to a run (attacked
evaluations of the unlearned checkpoints, and the relearning attack's fine-tunes)."""
from __future__ import annotations

from typing import Any

from offside_data.options import did_you_mean

from .experiment import Experiment, ExperimentError
from .stages import TrainStage

KEYS = ["attacks", "relearn_steps", "methods"]


def check_robustness(exp: Experiment) -> None:
    """Known keys, positive step counts, methods of this run, attacks offside-eval takes (extras installed)."""
    from offside_eval.attacks import parse_attack  # the evaluator: loaded when a run is validated, as pipeline does

    section, where = exp.robustness, f"{exp.source}: robustness"
    for key in section:
        if key not in KEYS:
            raise ExperimentError(f"{where}: unknown key {key!r}{did_you_mean(key, KEYS)}")
    steps = section.get("relearn_steps", [])
    if not isinstance(steps, list) or not all(isinstance(k, int) and k > 0 for k in steps):
        raise ExperimentError(f"{where}.relearn_steps: a list of positive step counts, got {steps!r}")
    for method in section.get("methods", []):
        if method not in exp.methods:
            raise ExperimentError(f"{where}.methods: {method!r} is not a method of this run"
                                  f"{did_you_mean(method, sorted(exp.methods))}")
    for attack in section.get("attacks", []):
        try:
            parse_attack(attack)
        except (ValueError, ImportError) as exc:
            raise ExperimentError(f"{where}.attacks: {exc}") from None


def plan_attacks(runner: Any, stages: list, unlearned: TrainStage) -> None:
    """On one unlearned checkpoint: each input/weight attack is an evaluation of the forget set; the
    relearning attack a K-step fine-tune on the retain set (`offside-train relearn_attack`), then that
    evaluation. `runner`: the pipeline's Runner (add_train, add_eval, tasks_for)."""
    forget = runner.tasks_for(["forget"])
    for attack in runner.exp.robustness.get("attacks", []):
        runner.add_eval(stages, unlearned, ["forget"], forget, attack=attack)
    for steps in runner.exp.robustness.get("relearn_steps", []):
        attacked = runner.add_train(stages, f"{unlearned.name}-relearnattack{steps}", "relearn_attack",
                                    {**runner.exp.relearn, "max_steps": steps}, unlearned, unlearned.method,
                                    unlearned.setting, "unlearned", "relearn_attack")
        attacked.attack = f"relearn:steps={steps}"
        runner.add_eval(stages, attacked, ["forget"], forget)
