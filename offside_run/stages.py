"""The kinds of stage a run plans: a checkpoint to train, a checkpoint's evaluation, and the choice of one
checkpoint among a search's candidates. Each stage names the stages it waits for (`deps`); what one
stage hands the next goes through files in the run folder only, so an executor may run stages whose
dependencies are finished in any order."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainStage:
    """One checkpoint to train: `stage` is what offside_train.build_config takes (sft, relearn, a method)."""
    name: str
    stage: str
    options: dict[str, Any]
    parent: TrainStage | None
    key: str
    method: str
    setting: str
    phase: str
    config: Any = None  # the validated trainer config (set by Runner.validate)
    attack: str | None = None  # an attack checkpoint (relearning attack): the report's attack label
    seed: int | None = None  # the experiment's `seeds` axis: the training seed of this chain (None: no axis)

    @property
    def deps(self) -> list:
        return [self.parent] if self.parent else []


@dataclass
class EvalStage:
    checkpoint: TrainStage
    roles: list[str]
    tasks: dict[str, dict[str, str]]  # role -> kind -> task name
    key: str
    reference: EvalStage | None = None  # the retain-only model's evaluation (--reference_results)
    attack: str | None = None  # evaluated under this `offside-eval --attack` (the robustness section)

    @property
    def task_names(self) -> list[str]:
        return [t for kinds in self.tasks.values() for t in kinds.values()]

    @property
    def deps(self) -> list:
        return [self.checkpoint] + ([self.reference] if self.reference else [])


@dataclass
class SelectStage(TrainStage):
    """The checkpoint the experiment's `select` rule picks among a method's search candidates (validation
    evaluations of every candidate of every seed; the rule compares the search points' means over seeds).
    Its folder holds `selection.json` and links to the winning candidate of its own seed, so the stages
    after it (the full evaluation, attacks, relearning) treat it as any trained checkpoint."""
    # (search point id, the validation evaluation of its candidate) for every point and seed
    candidates: list[tuple[str, EvalStage]] = field(default_factory=list)
    points: dict[str, dict[str, Any]] = field(default_factory=dict)  # search point id -> its options
    baseline: EvalStage | None = None  # vanilla's evaluation: the utility a floor rule compares with
    rule: dict[str, Any] = field(default_factory=dict)  # the experiment's `select` section

    @property
    def deps(self) -> list:
        return super().deps + [ev for _p, ev in self.candidates] + ([self.baseline] if self.baseline else [])
