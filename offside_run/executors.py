"""Running a plan's stages: one after another in this process (`sequential`, the default), or the
independent ones at once through submitit -- worker processes on this machine (`local`) or SLURM jobs
(`slurm`).

The scheduler knows a stage only by the protocol of offside_run/stages.py (`deps`, `soft_deps`, `kind`,
`gpus`, `label`): it starts every stage whose deps are done, as many at a time as there are workers,
skips finished ones, retries failures, and skips (reporting them failed with the cause) the stages
downstream of a failure. A worker gets the pickled Runner and stage and sends back an Outcome; the
parent alone writes the manifest and the report, from the outcomes in plan order, so every executor
leaves the same run folder. With one slot the scheduler starts the stages in exactly the plan's order.
"""
from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from offside_data.extras import require
from offside_data.options import did_you_mean

from .errors import ExperimentError

log = logging.getLogger("offside_run")
KINDS = ("sequential", "local", "slurm")
# AutoExecutor's own parameters; any other key of the experiment's `slurm:` mapping is an sbatch option
# and gets submitit's `slurm_` prefix (partition -> slurm_partition)
AUTO_PARAMETERS = {"name", "timeout_min", "mem_gb", "nodes", "cpus_per_task", "gpus_per_node", "tasks_per_node",
                   "stderr_to_stdout"}


@dataclass(frozen=True)
class ExecutorSpec:
    """The experiment's `executor:` mapping (the command line's --executor / --workers override it)."""
    kind: str = "sequential"
    workers: int = 1  # stages at once
    retries: int = 0  # extra attempts of a failing stage
    gpus_per_stage: dict[str, int] = field(default_factory=dict)  # stage kind -> GPUs (default: its `gpus`, 1)
    timeout_min: int = 24 * 60  # one stage's wall-clock limit (local and slurm)
    # torch threads per stage (default: torch's own; a local worker's: the CPUs shared among the workers). CPU
    # reductions depend on it, so bit-identical numbers across executors need the same value on each
    threads: int | None = None
    slurm: dict[str, Any] = field(default_factory=dict)  # sbatch options: partition, account, mem_gb, ...


def executor_spec(data: Any, source: str, kind: str | None = None, workers: int | None = None) -> ExecutorSpec:
    """The checked spec: unknown keys and bad values are one line naming the experiment file."""
    where = f"{source}: executor"
    if not isinstance(data, dict):
        raise ExperimentError(f"{where} must be a mapping")
    known = sorted(f.name for f in fields(ExecutorSpec))
    for key in data:
        if key not in known:
            raise ExperimentError(f"{where}: unknown key {key!r}{did_you_mean(str(key), known)}")
    data = {**data, **({"kind": kind} if kind else {}), **({"workers": workers} if workers is not None else {})}
    if kind is None and data.get("workers", 1) != 1 and data.get("kind", "sequential") == "sequential":
        data["kind"] = "local"  # --workers N alone means N local workers
    spec = ExecutorSpec(**data)
    if spec.kind not in KINDS:
        raise ExperimentError(f"{where}: kind {spec.kind!r} is not one of {', '.join(KINDS)}")
    for name, low in (("workers", 1), ("retries", 0), ("timeout_min", 1)):
        _check_int(getattr(spec, name), f"{where}: {name}", low)
    if spec.threads is not None:
        _check_int(spec.threads, f"{where}: threads", 1)
    if spec.kind == "sequential" and spec.workers != 1:
        raise ExperimentError(f"{where}: kind sequential runs one stage at a time (workers: {spec.workers}); "
                              "use kind local or slurm")
    for name in ("gpus_per_stage", "slurm"):
        if not isinstance(getattr(spec, name), dict):
            raise ExperimentError(f"{where}: {name} must be a mapping")
    for stage_kind, gpus in spec.gpus_per_stage.items():
        _check_int(gpus, f"{where}: gpus_per_stage.{stage_kind}", 0)
    if spec.kind != "sequential":  # before anything is planned or written
        require("submitit", f"executor kind {spec.kind!r}")
    return spec


def _check_int(value: Any, where: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ExperimentError(f"{where} must be an integer >= {low}, got {value!r}")


def stage_gpus(spec: ExecutorSpec, stage: Any) -> int:
    """The GPUs a stage's job asks for: the experiment's gpus_per_stage for its kind, else what it declares."""
    return spec.gpus_per_stage.get(stage.kind, stage.gpus)


def slurm_options(spec: ExecutorSpec) -> dict[str, Any]:
    """The experiment's `slurm:` mapping as AutoExecutor parameters, with the run's time limit."""
    params: dict[str, Any] = {"timeout_min": spec.timeout_min}
    for key, value in spec.slurm.items():
        params[key if key in AUTO_PARAMETERS or key.startswith("slurm_") else f"slurm_{key}"] = value
    return params


def slurm_parameters(spec: ExecutorSpec, stage: Any) -> dict[str, Any]:
    """AutoExecutor parameters of one stage's SLURM job: its name and GPUs on top of slurm_options."""
    return {**slurm_options(spec), "name": f"offside-{stage.label.replace(' ', '-')}",
            "gpus_per_node": stage_gpus(spec, stage)}


@dataclass
class Outcome:
    """What became of one stage: ran, cached (finished before), failed (after its retries), or blocked (a
    stage it needs failed; `error` is that cause)."""
    status: str
    error: str | None = None
    trace: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("ran", "cached")


def run_stage(runner: Any, stage: Any, threads: int | None = None, worker: bool = False) -> Outcome:
    """One stage's work in whichever process runs it, on `threads` torch threads if given. An exception
    comes back as a failed outcome (its message and traceback as text), so a worker's failure reads
    exactly as the sequential run's."""
    import torch

    if worker:  # a process of its own: its log lines go to its submitit log
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        runner.execute(stage)
    except Exception as exc:  # a failing stage is reported; the scheduler decides what it stops
        return Outcome("failed", f"{type(exc).__name__}: {exc}", traceback.format_exc())
    finally:
        torch.set_num_threads(before)
    return Outcome("ran")


class InProcess:
    """sequential: a stage runs here, when the scheduler first asks for its outcome."""
    slots, poll_s = 1, 0.0

    def __init__(self, runner: Any, threads: int | None = None):
        self.runner, self.threads = runner, threads

    def can_start(self, stage: Any) -> bool:
        return True

    def submit(self, stage: Any) -> Any:
        return stage

    def poll(self, stage: Any) -> Outcome:
        return run_stage(self.runner, stage, self.threads)

    def cancel(self, stage: Any) -> None:
        """Nothing runs between two polls."""


class Submitit:
    """local and slurm: each stage is a submitit job (a process on this machine, or a SLURM job). Local jobs
    get distinct GPUs of this machine (a stage waits for its share) and an equal share of its CPUs."""
    poll_s = 0.5

    def __init__(self, runner: Any, spec: ExecutorSpec):
        submitit = require("submitit", f"executor kind {spec.kind!r}")
        self.runner, self.spec, self.slots = runner, spec, spec.workers
        folder = runner.run_dir / "jobs"
        self.free_gpus: list[int] | None = None  # local: this machine's GPUs no job holds
        self.threads = spec.threads
        if spec.kind == "local":
            import torch

            self.executor = submitit.LocalExecutor(folder)
            self.machine_gpus = torch.cuda.device_count()
            self.free_gpus = list(range(self.machine_gpus))
            self.threads = spec.threads or max(1, (os.cpu_count() or 1) // spec.workers)
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin on shared cores
            return
        try:
            self.executor = submitit.AutoExecutor(folder, cluster="slurm")
            self.executor.update_parameters(**slurm_options(spec))  # a bad sbatch option fails before any job
        except (RuntimeError, ValueError, AssertionError) as exc:  # no srun; an unknown option; a mistyped one
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ExperimentError(f"{runner.exp.source}: executor kind slurm: {first}") from None

    def _wanted(self, stage: Any) -> int:
        return min(stage_gpus(self.spec, stage), self.machine_gpus)

    def can_start(self, stage: Any) -> bool:
        return self.free_gpus is None or len(self.free_gpus) >= self._wanted(stage)

    def submit(self, stage: Any) -> Any:
        gpus: list[int] = []
        if self.free_gpus is None:
            self.executor.update_parameters(**slurm_parameters(self.spec, stage))
        else:
            wanted = self._wanted(stage)
            gpus, self.free_gpus = self.free_gpus[:wanted], self.free_gpus[wanted:]
            self.executor.update_parameters(timeout_min=self.spec.timeout_min, gpus_per_node=len(gpus),
                                            visible_gpus=tuple(gpus))
        return self.executor.submit(run_stage, self.runner, stage, self.threads, True), gpus

    def poll(self, handle: Any) -> Outcome | None:
        job, gpus = handle
        if not job.done():
            return None
        if self.free_gpus is not None:
            self.free_gpus = sorted(self.free_gpus + gpus)
        try:
            return job.result()
        except Exception as exc:  # the job itself died (killed, out of memory, timed out): no outcome came back
            text = str(exc).strip()
            return Outcome("failed", f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}", text)

    def cancel(self, handle: Any) -> None:
        handle[0].cancel()


def backend(runner: Any, spec: ExecutorSpec) -> InProcess | Submitit:
    return InProcess(runner, spec.threads) if spec.kind == "sequential" else Submitit(runner, spec)


class StageFailed(RuntimeError):
    """A stage the whole run needs failed: the run stops (the jobs still running are cancelled)."""

    def __init__(self, stage: Any, outcome: Outcome):
        super().__init__(f"{stage.label} failed: {outcome.error}")
        self.stage, self.outcome = stage, outcome


def _dep_positions(stages: list) -> list[list[int]]:
    """Each stage's deps as plan positions; a dep must be planned, and planned before the stage."""
    position = {id(st): i for i, st in enumerate(stages)}
    out = []
    for i, st in enumerate(stages):
        deps = [position.get(id(d), -1) for d in st.deps]
        for d, j in zip(st.deps, deps):
            if not 0 <= j < i:
                raise ValueError(f"{st.label} depends on {d.label}, which the plan does not put before it")
        out.append(deps)
    return out


def waves(stages: list, cached: Callable[[Any], bool]) -> list[int]:
    """Each stage's wave (0 for a finished one): the stages of one wave can all run at once, after the
    waves before them."""
    out: list[int] = []
    for st, deps in zip(stages, _dep_positions(stages)):
        out.append(0 if cached(st) else 1 + max((out[j] for j in deps), default=0))
    return out


def schedule(stages: list, runner_backend: Any, retries: int = 0, cached: Callable[[Any], bool] = lambda st: False,
             fatal: Callable[[Any], bool] = lambda st: False) -> list[Outcome]:
    """Every stage's outcome, in plan order. A stage starts once its deps are settled: blocked if a dep
    outside its soft_deps failed, skipped if `cached`, else run (again, up to `retries` times, if it
    fails). A `fatal` stage's failure cancels what runs and raises StageFailed."""
    return _Schedule(stages, runner_backend, retries, cached, fatal).run()


class _Schedule:
    """One run of the scheduler: which stages wait, run and are settled."""

    def __init__(self, stages: list, runner_backend: Any, retries: int, cached: Callable, fatal: Callable):
        self.stages, self.backend, self.retries, self.cached, self.fatal = stages, runner_backend, retries, cached, fatal
        self.deps = _dep_positions(stages)
        self.outcomes: list[Outcome | None] = [None] * len(stages)
        self.attempts = [0] * len(stages)
        self.pending, self.running = list(range(len(stages))), {}

    def run(self) -> list[Outcome]:
        try:
            while self.pending or self.running:
                self.start_ready()
                if not self.collect_finished() and self.running:
                    time.sleep(self.backend.poll_s)
        except BaseException:  # a fatal stage, Ctrl-C, a lost scheduler: no job outlives the run that started it
            for handle in self.running.values():
                self.backend.cancel(handle)
            raise
        return [o for o in self.outcomes if o is not None]

    def start_ready(self) -> None:
        """Settle or start, in plan order, each waiting stage whose deps are settled (while slots are free)."""
        for i in list(self.pending):
            stage, outcomes = self.stages[i], self.outcomes
            if any(outcomes[j] is None for j in self.deps[i]):
                continue
            soft = {id(d) for d in stage.soft_deps}
            broken = next((outcomes[j] for j, d in zip(self.deps[i], stage.deps)
                           if not outcomes[j].ok and id(d) not in soft), None)
            if broken is not None or self.cached(stage):
                self.pending.remove(i)
                self.settle(i, Outcome("blocked", broken.error) if broken else Outcome("cached"))
            elif len(self.running) < self.backend.slots and self.backend.can_start(stage):
                self.pending.remove(i)
                self.start(i)

    def collect_finished(self) -> bool:
        """Settle (or retry) the running stages that finished; whether any did."""
        any_finished = False
        for i, handle in list(self.running.items()):
            outcome = self.backend.poll(handle)
            if outcome is None:
                continue
            any_finished = True
            del self.running[i]
            if not outcome.ok and self.attempts[i] <= self.retries:
                log.warning("%s failed (%s); retrying", self.stages[i].label, outcome.error)
                self.start(i)
                continue
            self.settle(i, outcome)
            if not outcome.ok and self.fatal(self.stages[i]):
                raise StageFailed(self.stages[i], outcome)
        return any_finished

    def start(self, i: int) -> None:
        self.attempts[i] += 1
        self.running[i] = self.backend.submit(self.stages[i])
        again = f", attempt {self.attempts[i]} of {self.retries + 1}" if self.attempts[i] > 1 else ""
        self.progress(i, "started", again)

    def settle(self, i: int, outcome: Outcome) -> None:
        self.outcomes[i] = outcome
        self.progress(i, {"ran": "finished", "cached": "skipped (finished before)", "failed": f"FAILED: {outcome.error}",
                          "blocked": f"not run: {outcome.error}"}[outcome.status])

    def progress(self, i: int, what: str, extra: str = "") -> None:
        """One line per stage start and finish, with the run's counts."""
        done = sum(o is not None for o in self.outcomes)
        log.info("%s %s (%d running, %d done, %d left%s)", self.stages[i].label, what, len(self.running), done,
                 len(self.stages) - done - len(self.running), extra)
