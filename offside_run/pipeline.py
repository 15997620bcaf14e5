"""The paper's whole protocol as one resumable run.

vanilla SFT -> evaluate -> for each setting x method: unlearn -> evaluate -> relearn -> evaluate;
vanilla relearned without unlearning (the control) -> evaluate; report.

Every stage has a key: a hash of its own configuration and its parent's key. A stage whose
folder holds a finished marker with the same key is skipped, so rerunning a finished run
trains nothing, and changing one method's hyperparameters re-runs only that method's chain.
A failing stage is recorded (and shown in the report); the other methods go on. The stages run in
plan order here, or the independent ones at once on local workers or SLURM (offside_run/executors.py).
"""
from __future__ import annotations

import functools
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from offside_data.options import did_you_mean
from offside_data.provenance import is_synthetic

from .executors import ExecutorSpec, Outcome, StageFailed, backend, executor_spec, schedule, waves
from .experiment import Experiment, ExperimentError
from .markers import STAGE_FILE, STARTED_FILE, finished, stage_key, write_json
from .profiles import run_profile
from .run_folder import MANIFEST, build_report
from .stages import EvalStage, SelectStage, Stage, TrainStage

log = logging.getLogger("offside_run")
TRAIN_STAGES = ("sft", "relearn", "retain_only", "relearn_attack")  # offside-train's stages besides the methods


class Runner:
    """Plans every stage, validates all of them in seconds, then runs (or skips) them in order."""

    def __init__(self, exp: Experiment, progress: bool = True, executor: ExecutorSpec | None = None):
        self.exp, self.progress = exp, progress
        self.executor = executor or executor_spec(exp.executor, exp.source)
        self.run_dir = exp.output_dir
        self.trained: list[str] = []
        self.evaluated: list[str] = []
        self.records: list[dict[str, Any]] = []
        self.base_model = self._base_model()
        self.data_root = self._data_root()
        from offside_data.benchmarks import get_benchmark

        self.data_id = get_benchmark(exp.benchmark).data_id(self.data_root)

    def _base_model(self) -> str:
        if self.exp.base_model == "tiny":
            from offside_data.tiny_model import ensure_tiny_model

            return str(ensure_tiny_model())
        return self.exp.base_model

    def _data_root(self) -> str:
        if self.exp.data_root == "mini" or self.exp.data_root.startswith("mini:"):
            from offside_data.benchmarks import get_benchmark

            count = self.exp.data_root.partition(":")[2]  # the fixture's subjects (players, profiles, ...)
            if count and not count.isdigit():
                raise ExperimentError(f"{self.exp.source}: data_root 'mini:N' needs a count, got {count!r}")
            fixture = get_benchmark(self.exp.benchmark).fixture
            return str(fixture(int(count)) if count else fixture())
        if not Path(self.exp.data_root).is_dir():
            raise ExperimentError(f"{self.exp.source}: data_root {self.exp.data_root!r} is not a directory")
        return self.exp.data_root

    # ------------------------------------------------------------------ plan
    def plan(self) -> list[TrainStage | EvalStage]:
        """Every stage in run order (the benchmark's run profile plans them); nothing is trained or evaluated."""
        return run_profile(self.exp.benchmark, self.exp.source).plan(self)

    def add_train(self, stages: list, name: str, stage: str, options: dict[str, Any], *,
                  parent: TrainStage | None = None, method: str, setting: str = "complete", phase: str) -> TrainStage:
        """Plan checkpoint `name`: offside-train `stage` (sft, relearn, retain_only, relearn_attack or a method)
        with `options` from `parent` (None: the base model); `method`, `setting` and `phase` are what the report
        calls it. Its key hashes its options with its parent's key (the base model's and data's)."""
        parent_key = parent.key if parent else stage_key(self.base_model, self.data_id)
        kind = stage if stage in TRAIN_STAGES else "unlearn"
        st = TrainStage(name, stage, dict(options), parent, stage_key(kind, parent_key, method if kind == "unlearn"
                        else None, options), method, setting, phase, seed=parent.seed if parent else None)
        stages.append(st)
        return st

    def add_eval(self, stages: list, ckpt: TrainStage, roles: list[str], tasks: dict[str, dict[str, str]],
                 reference: EvalStage | None = None, attack: str | None = None) -> EvalStage:
        """Plan one checkpoint's evaluation on `tasks` (role -> kind -> task), under `attack` if given."""
        opts = dict(self.exp.eval)
        names = [t for kinds in tasks.values() for t in kinds.values()]
        stages.append(EvalStage(ckpt, roles, tasks, stage_key("eval", ckpt.key, names, opts, self.exp.judge,
                                                         reference.key if reference else None, attack),
                                reference, attack))
        return stages[-1]

    @functools.cache  # noqa: B019 -- one Runner per run: the cache lives as long as the plan it serves
    def count_docs(self, task: str) -> int:
        """A task's documents (the same for every stage of the run)."""
        from offside_eval.planning import with_metadata
        from offside_eval.task import Task

        return len(Task(with_metadata(self.index.get(task).config, self.metadata)).docs(self.data_root))

    @property
    def metadata(self) -> dict[str, Any]:
        """evaluate()'s --metadata for every evaluation of this run (e.g. a forget ratio)."""
        return run_profile(self.exp.benchmark, self.exp.source).eval_metadata(self.exp)

    @property
    def index(self):
        if not hasattr(self, "_index"):
            from offside_eval.tasks_index import TaskIndex

            paths = self.exp.eval.get("include_path") or []
            self._index = TaskIndex([paths] if isinstance(paths, str) else list(paths))  # as evaluate() sees them
        return self._index

    def __getstate__(self) -> dict[str, Any]:
        """What a worker process gets: the task index is rebuilt there on demand."""
        return {k: v for k, v in self.__dict__.items() if k != "_index"}

    def folder(self, stage: TrainStage | EvalStage) -> Path:
        return stage.folder(self.run_dir)

    def validate(self, stages: list[TrainStage | EvalStage]) -> None:
        """Every trainer config and evaluation option checked before anything runs (seconds)."""
        from offside_train import ConfigError, build_config

        for st in stages:
            if not isinstance(st, TrainStage) or isinstance(st, SelectStage):  # a selection trains nothing
                continue
            parent = str(self.folder(st.parent)) if st.parent else self.base_model
            try:
                data_options = {"benchmark": self.exp.benchmark, **self.exp.benchmark_options}
                st.config = build_config(st.stage, {**st.options, **data_options,
                                                    "model": parent, "data": self.data_root,
                                                    "output_dir": str(self.folder(st)),
                                                    "disable_tqdm": not self.progress}, self._section(st))
            except ConfigError as exc:
                raise ExperimentError(str(exc)) from None
        self._validate_eval_options()

    def _section(self, st: TrainStage) -> str:
        where = {"sft": "vanilla", "relearn": "relearn", "retain_only": "reference (+ vanilla)"}.get(
            st.stage, f"methods.{st.stage} (+ unlearn)")
        return f"{self.exp.source}: {where}"

    def _validate_eval_options(self) -> None:
        import inspect

        from offside_eval.evaluator import evaluate
        from offside_eval.lmms.routing import PREFIX as LMMS_PREFIX
        from offside_eval.lmms.routing import require_lmms

        for task in self.exp.utility_tasks:
            try:
                if not task.startswith(LMMS_PREFIX):
                    self.index.get(task)
                else:
                    require_lmms(task)
            except ImportError as exc:
                raise ExperimentError(f"{self.exp.source}: utility_tasks: {exc}") from None
            except ValueError as exc:
                raise ExperimentError(f"{self.exp.source}: utility_tasks: {exc}") from None
        known = set(inspect.signature(evaluate).parameters) - {"tasks", "output_path", "log_samples", "data_root",
                                                                 "progress", "verbosity", "judge_args", "attack"}
        for key in self.exp.eval:
            if key not in known:
                raise ExperimentError(f"{self.exp.source}: eval: unknown option {key!r}"
                                      f"{did_you_mean(key, sorted(known))}")
        if self.exp.curves:
            from .curves import check_curves

            check_curves(self.exp.curves, self.exp.source, self.index)

    def describe(self, stages: list[TrainStage | EvalStage]) -> str:
        """The dry-run table: each stage, whether a finished copy is cached (else the wave it runs in: the
        stages of a wave can run at once), and the work it implies."""
        from offside_train.data import load_records

        limit = self.exp.eval.get("limit")
        wave = waves(stages, self.cached)
        rows = [("stage", "status", "work")]
        for st, w in zip(stages, wave):
            status = f"to run (wave {w})" if w else "cached"
            if isinstance(st, SelectStage):
                rows.append((st.label, status, f"{st.rule['rule']} among {len(st.points)} search points "
                             f"x {len(st.candidates) // len(st.points)} seed(s)"))
            elif isinstance(st, TrainStage):
                cfg = st.config
                roles = [cfg.role] if getattr(cfg, "role", None) else \
                    ["forget"] + (["retain"] if getattr(cfg, "uses_retain", False) else [])
                n = sum(len(load_records(cfg, role)) for role in roles)
                steps = (f"{cfg.max_steps} steps" if cfg.max_steps > 0 else f"{cfg.num_train_epochs:g} epoch(s)")
                work = f"{st.stage}: {n} items ({'+'.join(roles)}), {steps}, batch {cfg.per_device_train_batch_size}"
            elif isinstance(st, EvalStage):
                docs = sum(min(self.count_docs(t), limit or 10**9) for t in st.task_names if not t.startswith("lmms:"))
                work = f"{len(st.task_names)} tasks ({', '.join(st.roles)}), {docs} records"
            else:
                work = st.kind
            rows.append((st.label, status, work))
        width = [max(len(r[i]) for r in rows) for i in range(2)]
        lines = [f"{r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]}" for r in rows]
        todo = sum(1 for w in wave if w)
        widest = max((wave.count(w) for w in set(wave) if w), default=0)
        spec = self.executor
        return "\n".join(lines + [f"{todo} of {len(rows) - 1} stages to run ({self.exp.source}, protocol "
                                   f"{self.exp.protocol}) in {max(wave, default=0)} waves, at most {widest} "
                                   f"at once; executor {spec.kind}, {spec.workers} worker(s)"])

    # ------------------------------------------------------------------ run
    def cached(self, st: Stage) -> bool:
        return finished(self.folder(st), st.key)

    def fatal(self, st: Stage) -> bool:
        """Vanilla's training or evaluation: every table compares against it, so its failure stops the run."""
        return self.folder(st).name == "vanilla"

    def run(self) -> Path:
        """Every stage through the executor; the records follow the plan's order whatever ran first."""
        stages = self.plan()
        self.validate(stages)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            outcomes = schedule(stages, backend(self, self.executor), self.executor.retries, self.cached, self.fatal)
        except StageFailed as exc:
            self._write_error(exc.stage, exc.outcome)
            raise
        for st, outcome in zip(stages, outcomes):
            self._collect(st, outcome)
        write_manifest(self.run_dir, self.exp, self.records, self.data_root)
        return build_report(self.run_dir)

    def execute(self, st: Stage) -> None:
        """One stage, in whichever process runs it: skipped when finished with the same key, resumed when a
        killed attempt left work behind, else run from scratch; its finished marker written last."""
        folder = self.folder(st)
        if finished(folder, st.key):
            log.info("skip %s (finished, same configuration)", folder.relative_to(self.run_dir))
            return
        resume = st.interrupted(folder, st.key)
        if folder.exists() and not resume:
            shutil.rmtree(folder)  # stale or from another configuration
        log.info("%s %s", "resume" if resume else "run", folder.relative_to(self.run_dir))
        start = time.perf_counter()
        write_json(folder / STARTED_FILE, {"key": st.key})
        st.execute(self, folder, resume)
        write_json(folder / STAGE_FILE, {"key": st.key, "seconds": round(time.perf_counter() - start, 1)})

    def _collect(self, st: Stage, outcome: Outcome) -> None:
        """One stage's outcome into the run's lists, its error file and (an evaluation) its manifest record."""
        if outcome.status == "ran":
            done = {"train": self.trained, "select": self.trained, "eval": self.evaluated}.get(st.kind)
            if done is not None:
                done.append(str(self.folder(st).relative_to(self.run_dir)))
        elif outcome.status == "failed":
            self._write_error(st, outcome)
        if isinstance(st, EvalStage):
            self._record(st, error=None if outcome.ok else outcome.error)

    def _write_error(self, st: Stage, outcome: Outcome) -> None:
        log.error("%s failed: %s", st.label, outcome.error)
        (self.run_dir / "errors").mkdir(parents=True, exist_ok=True)
        (self.run_dir / "errors" / f"{self.folder(st).name}.txt").write_text(outcome.trace)

    def _record(self, st: EvalStage, error: str | None = None) -> None:
        ckpt = st.checkpoint
        entry: dict[str, Any] = {"method": ckpt.method, "setting": ckpt.setting, "phase": ckpt.phase,
                                 "checkpoint": str(self.folder(ckpt)), "error": error,
                                 "protocol": self.exp.protocol, "attack": st.attack or ckpt.attack}
        if ckpt.seed is not None:  # the experiment's seeds axis: the report takes means over seeds
            entry["seed"] = ckpt.seed
        if error is None:
            entry["eval_dir"] = str(self.folder(st).relative_to(self.run_dir))
            entry["tasks"] = st.tasks
        self.records.append(entry)


def write_manifest(run_dir: Path, exp: Experiment, records: list[dict], data_root: str) -> None:
    write_json(run_dir / MANIFEST, {"name": exp.name, "source": exp.source, "protocol": exp.protocol,
                                     "benchmark": exp.benchmark, "base_model": exp.base_model,
                                     "data_root": str(Path(data_root).resolve()), "synthetic": is_synthetic(data_root),
                                     "seed": exp.vanilla.get("seed", 0), "records": records,
                                     **({"seeds": exp.seeds} if exp.seeds else {})})
