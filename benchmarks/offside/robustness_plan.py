"""The experiment's `robustness:` section, checked when the experiment is read (its stages: `plan.plan_attacks`)."""
from __future__ import annotations

from offside_data.options import did_you_mean
from offside_run.experiment import Experiment, ExperimentError

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
