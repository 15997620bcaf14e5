"""The two kinds of stage a run plans: a checkpoint to train and a checkpoint's evaluation."""
from __future__ import annotations

from dataclasses import dataclass
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
