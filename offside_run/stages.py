"""The kinds of stage a run plans: a checkpoint to train, a checkpoint's evaluation and the choice of one
checkpoint among a search's candidates, all speaking
the Stage protocol the executors (offside_run/executors.py) schedule by, and nothing else. Stages talk
to each other only through files in the run folder, so any stage can run in its own process or on
another machine."""
from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .markers import finished, interrupted_evaluation, interrupted_training
from .selection import run_selection

if TYPE_CHECKING:
    from .pipeline import Runner

log = logging.getLogger("offside_run")
SLUG = re.compile(r"[^\w=.-]+")  # what an attack spec may not keep in a folder name


class Stage(ABC):
    """What a stage kind declares. A new kind (say, a selection among checkpoints) subclasses this: the
    scheduler, the dry run and the executors then handle it with no change."""
    key: str  # a hash of its configuration and its deps' keys: a finished marker with this key is reused
    kind = "stage"  # names its resources in the experiment's executor.gpus_per_stage
    gpus = 0  # GPUs its job asks for unless gpus_per_stage names its kind
    soft_deps: tuple | list = ()  # deps whose failure it survives (it still waits for them)

    @property
    @abstractmethod
    def deps(self) -> list[Stage]:
        """The stages that must finish first."""

    @property
    @abstractmethod
    def label(self) -> str:
        """How progress lines and the dry run name it."""

    @abstractmethod
    def folder(self, run_dir: Path) -> Path:
        """Where its outputs and markers go."""

    @abstractmethod
    def execute(self, runner: Runner, folder: Path, resume: bool) -> None:
        """The work itself, in whichever process runs it (`resume`: continue a killed attempt)."""

    def interrupted(self, folder: Path, key: str) -> bool:
        """Whether a killed earlier attempt left work this one continues (default: start afresh)."""
        return False


@dataclass
class TrainStage(Stage):
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
    kind = "train"
    gpus = 1

    @property
    def deps(self) -> list[TrainStage]:
        return [self.parent] if self.parent else []

    @property
    def label(self) -> str:
        return f"train {self.name}"

    def folder(self, run_dir: Path) -> Path:
        return run_dir / "checkpoints" / self.name

    def interrupted(self, folder: Path, key: str) -> bool:
        return interrupted_training(folder, key)

    def execute(self, runner: Runner, folder: Path, resume: bool) -> None:
        """offside-train's SFT-style stages or an unlearning method (with the curve callback if asked)."""
        from offside_train.config import STAGES
        from offside_train.sft import run_sft
        from offside_train.unlearn import run_unlearn

        from .curves import curve_callback

        if resume:
            self.config.resume_from_checkpoint = "last"
        if self.stage in STAGES:
            run_sft(self.config)
            return
        curves = runner.exp.curves
        callbacks = [curve_callback(curves, self.config.model, self.config.output_dir, runner.data_root)] \
            if curves and self.phase in ("unlearned", "candidate") and not self.attack else []
        run_unlearn(self.config, callbacks)


@dataclass
class EvalStage(Stage):
    checkpoint: TrainStage
    roles: list[str]
    tasks: dict[str, dict[str, str]]  # role -> kind -> task name
    key: str
    reference: EvalStage | None = None  # the retain-only model's evaluation (--reference_results)
    attack: str | None = None  # evaluated under this `offside-eval --attack` (the robustness section)
    kind = "eval"
    gpus = 1

    @property
    def task_names(self) -> list[str]:
        return [t for kinds in self.tasks.values() for t in kinds.values()]

    @property
    def deps(self) -> list[TrainStage | EvalStage]:
        return [self.checkpoint] + ([self.reference] if self.reference else [])

    @property
    def soft_deps(self) -> list[EvalStage]:
        """A failed reference costs this evaluation its forget quality / privleak, not its other numbers."""
        return [self.reference] if self.reference else []

    @property
    def label(self) -> str:
        return f"evaluate {self.folder(Path()).name}"

    def folder(self, run_dir: Path) -> Path:
        if self.attack:  # quantize:bits=4 -> evals/ga-complete@quantize-bits=4
            return run_dir / "evals" / f"{self.checkpoint.name}@{SLUG.sub('-', self.attack)}"
        return run_dir / "evals" / self.checkpoint.name

    def interrupted(self, folder: Path, key: str) -> bool:
        return interrupted_evaluation(folder, key)

    def execute(self, runner: Runner, folder: Path, resume: bool) -> None:
        """offside-eval on the checkpoint, with the reference's results when the reference finished."""
        import offside_eval

        opts = dict(runner.exp.eval)
        model = opts.pop("model", "hf_vlm")
        model_args = {**dict(opts.pop("model_args", None) or {}),
                      "pretrained": str(self.checkpoint.folder(runner.run_dir))}
        extra: dict[str, Any] = {"judge_args": runner.exp.judge} if runner.exp.judge else {}
        if runner.metadata:
            extra["metadata"] = runner.metadata
        if self.reference is not None:
            ref_folder = self.reference.folder(runner.run_dir)
            if finished(ref_folder, self.reference.key):  # the marker, not the parent's memory: works in any process
                extra["reference_results"] = str(ref_folder)
            else:
                log.warning("%s: evaluated without forget quality / privleak (the reference failed)",
                            self.checkpoint.name)
        if self.attack:
            extra["attack"] = self.attack
        offside_eval.evaluate(model, model_args, self.task_names, output_path=folder, log_samples=True,
                              data_root=runner.data_root, progress=runner.progress, verbosity="WARNING",
                              **opts, **extra)


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
    kind = "select"
    gpus = 0

    @property
    def deps(self) -> list:
        return super().deps + [ev for _p, ev in self.candidates] + ([self.baseline] if self.baseline else [])

    @property
    def label(self) -> str:
        return f"select {self.name}"

    def interrupted(self, folder: Path, key: str) -> bool:
        return False

    def execute(self, runner: Runner, folder: Path, resume: bool) -> None:
        """Read the candidates' results, write selection.json and link the winner (no training)."""
        run_selection(self, lambda stage: stage.folder(runner.run_dir))
