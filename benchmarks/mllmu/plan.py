"""The MLLMU-Bench stage plan: vanilla on ft_Data, each method on forget_N (image + text, or text only
with setting `unimodal`), optional relearning on forget_N, every checkpoint evaluated on the MLLMU tasks
of both modalities (the paper's main table has a block per modality): the mllmu_bench group under
`protocol: reference`; under `clean` its generation tasks are the `_clean` ones."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from offside_run.experiment import ExperimentError
from offside_run.profiles import RunProfile, register_profile, text_when_unimodal
from offside_run.stages import EvalStage, TrainStage

from .release import MODALITIES, SPLITS
from .report import write_mllmu_report

if TYPE_CHECKING:
    from offside_run.pipeline import Runner

KINDS = ("cls", "cls_ll", "gen", "cloze")  # the task kinds (cls_ll: the log-likelihood classification tasks)
# task kind -> the metrics the report reads (the paper: classification accuracy, ROUGE-L, cloze accuracy)
MLLMU_KIND_METRICS = {"cls": ["acc"], "cls_ll": ["acc_ll"], "gen": ["rougeL", "bleu", "gen_score"],
                      "cloze": ["cloze_acc"]}


def mllmu_tasks(index, protocol: str = "reference") -> dict[str, dict[str, str]]:
    """role `{split}_{modality}` -> kind -> task, found by the tasks' metadata (exactly one each).
    protocol clean: generation asked as the model was fine-tuned; classification and cloze, which
    fine-tuning has no form of, stay the authors'."""
    out: dict[str, dict[str, str]] = {}
    for split in SPLITS:
        for modality in MODALITIES:
            for kind in KINDS:
                query = dict(benchmark="mllmu", role=split, kind=kind, modality=modality,
                             protocol=protocol if kind == "gen" else "reference")
                found = index.find(**query)
                if len(found) != 1:
                    raise ExperimentError(f"{len(found)} tasks have metadata {query}; the report needs exactly one")
                out.setdefault(f"{split}_{modality}", {})[kind] = found[0]
    return out


def plan_mllmu(runner: Runner) -> list[TrainStage | EvalStage]:
    exp, stages = runner.exp, []
    tasks = mllmu_tasks(runner.index, exp.protocol)
    roles = list(tasks)

    train = functools.partial(runner.add_train, stages)
    vanilla = train("vanilla", "sft", exp.vanilla, method="vanilla", setting="complete", phase="vanilla")
    runner.add_eval(stages, vanilla, roles, tasks)
    if exp.relearn_vanilla:
        relearned = train("vanilla-relearned", "relearn", exp.relearn,
                          parent=vanilla, method="vanilla", setting="complete", phase="relearned")
        runner.add_eval(stages, relearned, roles, tasks)
    for method, setting, options, relearn in exp.method_runs():
        name = f"{method}-{setting}"
        unlearned = train(name, method, options, parent=vanilla, method=method, setting=setting, phase="unlearned")
        runner.add_eval(stages, unlearned, roles, tasks)
        if relearn:
            relearned = train(f"{name}-relearned", "relearn", exp.relearn,
                              parent=unlearned, method=method, setting=setting, phase="relearned")
            runner.add_eval(stages, relearned, roles, tasks)
    return stages


def check_mllmu(exp, data: dict) -> None:
    """A forget split the release has; none of OFFSIDE's settings or sections."""
    if "selective" in exp.settings + exp.relearn_settings:
        raise ExperimentError(f"{exp.source}: settings: selective does not apply to benchmark mllmu "
                              "(complete = image + text, unimodal = text only)")
    for key in ("unlearning_metrics", "utility_tasks", "reference", "judge", "robustness", "seeds", "search", "select"):
        if data.get(key):
            raise ExperimentError(f"{exp.source}: {key} does not apply to benchmark mllmu")


register_profile(RunProfile("mllmu", "MLLMU-Bench run", plan_mllmu, MLLMU_KIND_METRICS, write_mllmu_report,
                            check=check_mllmu,
                            configs_dir=Path(__file__).parent / "configs", settings=("complete", "unimodal"),
                            setting_options=text_when_unimodal))
