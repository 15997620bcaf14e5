"""The stage scheduler on fake stages (order, concurrency, retries, failures), the executor spec, and the
SLURM parameters submitit gets; the real thing on the tiny model is tests/test_scale_out.py."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from offside_data.extras import MissingExtra
from offside_run.errors import ExperimentError
from offside_run.executors import (
    ExecutorSpec,
    Outcome,
    StageFailed,
    Submitit,
    executor_spec,
    schedule,
    slurm_parameters,
    waves,
)


@dataclass(eq=False)
class Fake:
    name: str
    deps: list = field(default_factory=list)
    soft_deps: list = field(default_factory=list)
    kind: str = "train"
    gpus: int = 1

    @property
    def label(self) -> str:
        return self.name


class FakeBackend:
    """A stage takes `polls[name]` polls to finish and fails its first `failures[name]` attempts."""
    poll_s = 0.0

    def __init__(self, slots: int, polls: dict | None = None, failures: dict | None = None):
        self.slots, self.polls, self.failures = slots, polls or {}, dict(failures or {})
        self.started: list[str] = []
        self.running: set[str] = set()
        self.widest, self.cancelled = 0, []
        self.finished: set[str] = set()

    def can_start(self, stage):
        return True

    def submit(self, stage):
        assert not any(d.name in self.running for d in stage.deps), f"{stage.name} started before its deps"
        assert all(d.name in self.finished for d in stage.deps if d.name in self.started), stage.name
        self.started.append(stage.name)
        self.running.add(stage.name)
        self.widest = max(self.widest, len(self.running))
        return [stage, self.polls.get(stage.name, 1)]

    def poll(self, handle):
        handle[1] -= 1
        if handle[1] > 0:
            return None
        name = handle[0].name
        self.running.discard(name)
        self.finished.add(name)
        if self.failures.get(name, 0) > 0:
            self.failures[name] -= 1
            return Outcome("failed", f"RuntimeError: {name} broke", "Traceback ...")
        return Outcome("ran")

    def cancel(self, handle):
        self.cancelled.append(handle[0].name)


def plan():
    """vanilla -> (ga -> ga-eval, ga-relearned), (npo -> npo-eval); ref -> ref-eval, a soft dep of ga-eval."""
    vanilla = Fake("vanilla")
    ref = Fake("ref")
    ref_eval = Fake("ref-eval", [ref], kind="eval")
    ga = Fake("ga", [vanilla])
    ga_eval = Fake("ga-eval", [ga, ref_eval], [ref_eval], kind="eval")
    ga_relearned = Fake("ga-relearned", [ga])
    npo = Fake("npo", [vanilla])
    npo_eval = Fake("npo-eval", [npo], kind="eval")
    return [vanilla, ref, ref_eval, ga, ga_eval, ga_relearned, npo, npo_eval]


def test_one_slot_runs_the_plan_in_order_and_two_run_independent_stages_at_once():
    stages = plan()
    one = FakeBackend(1)
    assert all(o.status == "ran" for o in schedule(stages, one))
    assert one.started == [st.name for st in stages] and one.widest == 1
    two = FakeBackend(2, polls={"vanilla": 3, "ga": 2})
    assert all(o.status == "ran" for o in schedule(stages, two))  # FakeBackend asserts deps settled first
    assert two.widest == 2 and two.started[:2] == ["vanilla", "ref"]
    assert sorted(two.started) == sorted(st.name for st in stages)


def test_a_failure_blocks_its_branch_only_and_a_soft_dep_does_not_block():
    stages = plan()
    backend = FakeBackend(2, failures={"ga": 1, "ref": 1})
    outcomes = dict(zip([st.name for st in stages], schedule(stages, backend)))
    assert outcomes["ga"].status == "failed" and outcomes["ga"].error == "RuntimeError: ga broke"
    for blocked in ("ga-eval", "ga-relearned"):  # downstream: not run, reported with the cause
        assert outcomes[blocked].status == "blocked" and outcomes[blocked].error == "RuntimeError: ga broke"
    assert outcomes["ref-eval"].status == "blocked"
    assert [outcomes[n].status for n in ("vanilla", "npo", "npo-eval")] == ["ran"] * 3
    assert "ga-eval" not in backend.started and "npo-eval" in backend.started

    stages = plan()
    outcomes = dict(zip([st.name for st in stages], schedule(stages, FakeBackend(2, failures={"ref": 1}))))
    assert outcomes["ga-eval"].status == "ran"  # the reference is a soft dep: evaluated without it


def test_retries_and_cached_stages():
    stages = plan()
    backend = FakeBackend(2, failures={"npo": 2})
    outcomes = schedule(stages, backend, retries=2, cached=lambda st: st.name in ("ref", "ref-eval"))
    assert [o.status for o in outcomes] == ["ran", "cached", "cached", "ran", "ran", "ran", "ran", "ran"]
    assert backend.started.count("npo") == 3 and "ref" not in backend.started
    stages = plan()
    outcomes = schedule(stages, FakeBackend(2, failures={"npo": 2}), retries=1)
    assert outcomes[6].status == "failed" and outcomes[7].status == "blocked"


def test_a_fatal_failure_cancels_the_running_stages_and_stops():
    stages = plan()
    backend = FakeBackend(2, polls={"ref": 5}, failures={"vanilla": 1})
    with pytest.raises(StageFailed, match="vanilla failed: RuntimeError: vanilla broke"):
        schedule(stages, backend, fatal=lambda st: st.name == "vanilla")
    assert backend.cancelled == ["ref"] and "ga" not in backend.started


def test_waves_and_a_dep_missing_from_the_plan():
    stages = plan()
    assert waves(stages, lambda st: False) == [1, 1, 2, 2, 3, 3, 2, 3]
    assert waves(stages, lambda st: st.name == "vanilla") == [0, 1, 2, 1, 3, 2, 1, 2]
    with pytest.raises(ValueError, match="ga depends on vanilla, which the plan does not put before it"):
        schedule(stages[1:], FakeBackend(1))


@pytest.mark.parametrize("data,kind,workers,message", [
    ({"kind": "ray"}, None, None, "executor: kind 'ray' is not one of sequential, local, slurm"),
    ({"worker": 2}, None, None, "executor: unknown key 'worker' (did you mean 'workers'?)"),
    ({}, None, 0, "executor: workers must be an integer >= 1, got 0"),
    ({"retries": -1}, None, None, "executor: retries must be an integer >= 0"),
    ({"gpus_per_stage": {"train": "one"}}, None, None, "gpus_per_stage.train must be an integer >= 0"),
    ({}, "sequential", 2, "kind sequential runs one stage at a time"),
    ([], None, None, "executor must be a mapping"),
])
def test_a_bad_executor_is_one_line_naming_the_file(data, kind, workers, message):
    with pytest.raises(ExperimentError, match="^exp.yaml: ") as err:
        executor_spec(data, "exp.yaml", kind, workers)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_workers_alone_mean_local_workers_and_the_command_line_wins():
    assert executor_spec({}, "x", None, 2) == ExecutorSpec(kind="local", workers=2)
    assert executor_spec({"kind": "slurm", "workers": 8}, "x", None, 4).kind == "slurm"
    assert executor_spec({"kind": "local", "workers": 3}, "x", "sequential", 1).kind == "sequential"


def test_slurm_jobs_ask_for_the_stage_gpus_and_the_experiment_sbatch_options(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    spec = executor_spec({"kind": "slurm", "workers": 4, "gpus_per_stage": {"eval": 2}, "timeout_min": 90,
                          "slurm": {"partition": "gpu", "account": "unlearn", "mem_gb": 64,
                                    "slurm_qos": "high"}}, "exp.yaml")
    train, evaluation = Fake("train vanilla"), Fake("evaluate vanilla", kind="eval")
    assert slurm_parameters(spec, train) == {"timeout_min": 90, "slurm_partition": "gpu", "slurm_account": "unlearn",
                                             "mem_gb": 64, "slurm_qos": "high", "name": "offside-train-vanilla",
                                             "gpus_per_node": 1}
    assert slurm_parameters(spec, evaluation)["gpus_per_node"] == 2
    runner = SimpleNamespace(run_dir=tmp_path, exp=SimpleNamespace(source="exp.yaml"))
    with pytest.raises(ExperimentError, match='exp.yaml: executor kind slurm: Could not detect "srun"'):
        Submitit(runner, spec)  # this machine is no SLURM cluster
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "srun").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{sys.base_prefix}/bin")
    backend = Submitit(runner, spec)  # submitit accepts every parameter (it rejects unknown ones)
    backend.executor.update_parameters(**slurm_parameters(spec, evaluation))
    from submitit.core.utils import UncompletedJobError

    class OutOfMemory:  # a job SLURM killed: no outcome came back, the scheduler sees a failure (and may retry)
        def done(self):
            return True

        def result(self):
            raise UncompletedJobError("Job 12 has not produced any output (state: OUT_OF_MEMORY)\nlog: ...")

    died = backend.poll((OutOfMemory(), []))
    assert died.status == "failed" and died.error == ("UncompletedJobError: Job 12 has not produced any output "
                                                      "(state: OUT_OF_MEMORY)") and "log: ..." in died.trace
    bad = executor_spec({"kind": "slurm", "slurm": {"mem_gb": "lots"}}, "exp.yaml")
    with pytest.raises(ExperimentError, match="^exp.yaml: executor kind slurm: "):
        Submitit(runner, bad)


def test_without_the_cluster_extra_local_workers_say_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)
    assert executor_spec({}, "exp.yaml").kind == "sequential"  # the default needs nothing
    with pytest.raises(MissingExtra, match=r"executor kind 'local' needs submitit.*pip install 'offside\[cluster\]'"):
        executor_spec({}, "exp.yaml", None, 2)


def test_local_workers_get_distinct_gpus_and_a_stage_waits_for_its_share(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    runner = SimpleNamespace(run_dir=tmp_path, exp=SimpleNamespace(source="exp.yaml"))
    backend = Submitit(runner, executor_spec({"workers": 3, "gpus_per_stage": {"eval": 2}}, "exp.yaml", "local"))
    calls = []

    class Recorder:  # stands in for submitit's LocalExecutor: what each job would be started with
        def update_parameters(self, **params):
            calls.append(params)

        def submit(self, fn, *args):
            return SimpleNamespace(done=lambda: True, result=lambda: Outcome("ran"))

    backend.executor = Recorder()
    first, second, evaluation = Fake("a"), Fake("b"), Fake("c", kind="eval")
    handles = [backend.submit(first), backend.submit(second)]
    assert [c["visible_gpus"] for c in calls] == [(0,), (1,)]
    assert not backend.can_start(evaluation) and not backend.can_start(Fake("d"))
    assert backend.poll(handles[1]).status == "ran"
    assert backend.can_start(Fake("d")) and not backend.can_start(evaluation)  # it needs both GPUs
    backend.poll(handles[0])
    backend.submit(evaluation)
    assert calls[-1]["visible_gpus"] == (0, 1) and calls[-1]["gpus_per_node"] == 2
