"""OFFSIDE's run profile: the paper's protocol as stages (vanilla SFT -> evaluate -> per setting x method:
unlearn -> evaluate -> [attacks] -> relearn -> evaluate; the retain-only reference; vanilla relearned
as the control), the tasks each role is evaluated on (found by their metadata) and the report."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from offside_run.experiment import ExperimentError
from offside_run.profiles import RunProfile, register_profile
from offside_run.selection import validation_roles
from offside_run.stages import EvalStage, TrainStage
from offside_run.sweep import plan_method

from . import SETTINGS
from .report import write_report
from .robustness_plan import check_robustness

if TYPE_CHECKING:
    from offside_run.pipeline import Runner

ROLES_BY_SETTING = {"complete": ["forget", "test", "retain"], "unimodal": ["forget", "test", "retain"],
                    "selective": ["forget_private", "test", "forget_shared"]}
RELEARNED_ROLES = ["forget", "test", "retain", "relearn"]
# task kinds each protocol reports (task metadata `kind`): classification, generation, judge
KINDS = {"clean": ("mc", "gen", "judge"), "reference": ("mcgen", "gen", "judge")}
# task kind -> the metrics the report takes from it
KIND_METRICS = {"mc": ["acc", "acc_norm"], "mcgen": ["acc", "acc_gen", "n_dropped"], "gen": ["gen_score", "n_dropped"],
                "judge": ["fact_score", "fact_score_missing"], "tr": ["truth_ratio", "forget_quality"],
                "correction": ["correction_rate", "correction_share"], "mem": ["exact_memorization", "extraction_strength"],
                "mia": ["mia_loss_auc", "mia_minkpp_auc", "privleak_loss", "privleak_minkpp"]}
UNLEARNING = "unlearning"  # the report role of the unlearning-metric tasks (forget set, image + question)
UNLEARNING_KINDS = ("tr", "correction", "mem", "mia")
UTILITY = "utility"  # the report role of the experiment's utility_tasks
SELECTIVE_VALIDATION = {"forget": "forget_private", "retain": "forget_shared"}  # what a selection reads there


def offside_tasks(runner: Runner, roles: list[str]) -> dict[str, dict[str, str]]:
    """role -> kind -> task name, found by the tasks' metadata (benchmark, role, kind, protocol)."""
    exp = runner.exp
    kinds = [k for k in KINDS[exp.protocol] if k != "judge" or exp.judge]
    out: dict[str, dict[str, str]] = {}
    if UTILITY in roles:  # a utility task is its own kind; the report shows its first metric
        out[UTILITY] = {task: task for task in exp.utility_tasks}
        roles = [r for r in roles if r != UTILITY]
    for role in roles:
        for kind in (UNLEARNING_KINDS if role == UNLEARNING else kinds):
            query = dict(benchmark="offside", role=role, kind=kind, modality="mm", protocol=exp.protocol)
            if role == UNLEARNING:
                query.update(role="forget", protocol="clean")
            found = runner.index.find(**query)
            if len(found) != 1:
                raise ExperimentError(f"{exp.source}: {len(found)} tasks have metadata {query} "
                                      f"({', '.join(found) or 'none'}); the report needs exactly one")
            out.setdefault(role, {})[kind] = found[0]
    return out


def plan_attacks(runner: Runner, stages: list, unlearned: TrainStage) -> None:
    """The robustness section on one unlearned checkpoint: each input/weight attack is an evaluation of
    the forget set; the relearning attack a K-step fine-tune on the retain set (`offside-train
    relearn_attack`), then that evaluation."""
    forget = offside_tasks(runner, ["forget"])
    for attack in runner.exp.robustness.get("attacks", []):
        runner.add_eval(stages, unlearned, ["forget"], forget, attack=attack)
    for steps in runner.exp.robustness.get("relearn_steps", []):
        attacked = runner.add_train(stages, f"{unlearned.name}-relearnattack{steps}", "relearn_attack",
                                    {**runner.exp.relearn, "max_steps": steps}, parent=unlearned,
                                    method=unlearned.method, setting=unlearned.setting, phase="unlearned")
        attacked.attack = f"relearn:steps={steps}"
        runner.add_eval(stages, attacked, ["forget"], forget)


def plan_validation(runner: Runner, stages: list, ckpt: TrainStage, reference: EvalStage | None) -> EvalStage:
    """A search candidate's evaluation on the sets the `select` rule reads (never the test set); in the
    selective setting its forget set is the private information, its retain set the shared one."""
    roles = validation_roles(runner.exp.select)
    actual = {r: SELECTIVE_VALIDATION.get(r, r) if ckpt.setting == "selective" else r for r in roles}
    found = offside_tasks(runner, list(actual.values()))
    return runner.add_eval(stages, ckpt, roles, {r: found[actual[r]] for r in roles},
                           reference if UNLEARNING in roles else None)


def plan_offside(runner: Runner) -> list[TrainStage | EvalStage]:
    exp, stages = runner.exp, []
    train = functools.partial(runner.add_train, stages)

    def evaluate(ckpt, roles, reference=None):
        if exp.unlearning_metrics and ckpt.phase != "relearned":
            roles = roles + [UNLEARNING]
        if exp.utility_tasks and ckpt.phase in ("vanilla", "unlearned"):
            roles = roles + [UTILITY]
        return runner.add_eval(stages, ckpt, roles, offside_tasks(runner, roles), reference)

    vanilla = train("vanilla", "sft", exp.vanilla, method="vanilla", phase="vanilla")
    references = {}  # setting -> the retain-only model's evaluation
    if exp.unlearning_metrics:
        for setting in dict.fromkeys("selective" if s == "selective" else "complete" for s in exp.settings):
            options = {**exp.vanilla, **exp.reference, "setting": setting}
            ref = train(f"reference-{setting}", "retain_only", options, method="retain-only reference", setting=setting,
                        phase="reference")
            references[setting] = evaluate(ref, [])
    vanilla_eval = evaluate(vanilla, ["forget", "test", "retain", "relearn"]
                            + (["forget_private", "forget_shared"] if "selective" in exp.settings else []),
                            references.get("complete"))
    if exp.relearn_vanilla:
        evaluate(train("vanilla-relearned", "relearn", exp.relearn, parent=vanilla, method="vanilla",
                       phase="relearned"), RELEARNED_ROLES)
    for method, setting, options, relearn in exp.method_runs():
        reference = references.get("selective" if setting == "selective" else "complete")
        validate = functools.partial(plan_validation, runner, stages, reference=reference)
        for unlearned in plan_method(runner, stages, f"{method}-{setting}", method, setting, options, vanilla,
                                     validate, vanilla_eval):
            evaluate(unlearned, ROLES_BY_SETTING[setting], reference)
            if setting == "complete" and method in exp.robustness.get("methods", exp.methods):
                plan_attacks(runner, stages, unlearned)
            if relearn:
                evaluate(train(f"{unlearned.name}-relearned", "relearn", exp.relearn, parent=unlearned, method=method,
                               setting=setting, phase="relearned"), RELEARNED_ROLES)
    return stages


def setting_options(setting: str) -> dict[str, str]:
    """The unimodal setting trains the complete setting's forget set on its text-only variants."""
    return {"setting": "complete" if setting == "unimodal" else setting,
            "modality": "text" if setting == "unimodal" else "mm"}


register_profile(RunProfile("offside", "OFFSIDE run", plan_offside, KIND_METRICS, write_report,
                            check=lambda exp, data: check_robustness(exp), configs_dir=Path(__file__).parent / "configs",
                            settings=SETTINGS, setting_options=setting_options))
