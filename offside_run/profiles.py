"""How `offside run` drives one benchmark, registered by the benchmark's own planner module: its stage
planner, the metrics its report takes per task kind, its report writer, and what every training
stage and evaluation of its runs is told about the data. The pipeline, the run folder reader and the
report name no benchmark: they look its profile up here. A profile module is named by an
`offside.run_profiles` entry point (offside's own in setup.cfg; a third party ships its own)."""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from offside_data.options import did_you_mean, register_once

from .errors import ExperimentError

if TYPE_CHECKING:
    from .experiment import Experiment


@dataclass(frozen=True)
class RunProfile:
    benchmark: str  # the registered benchmark (offside_data.benchmarks) it plans runs of
    title: str  # the report's title: "<title>: <run name>"
    plan: Callable[[Any], list]  # Runner -> its stages in run order (Runner.add_train / add_eval build them)
    kind_metrics: dict[str, list[str]]  # task kind (task metadata `kind`) -> the metrics the report takes
    write_report: Callable[..., Path]  # (entries, out_dir, title, protocol, header, extra_plots) -> report.md
    # every evaluation's --metadata (default: the benchmark options its tasks take, Experiment.task_metadata)
    eval_metadata: Callable[[Experiment], dict[str, Any]] = lambda exp: exp.task_metadata()
    settings: tuple[str, ...] = ("complete",)  # the experiment's `settings` it can run
    setting_options: Callable[[str], dict[str, Any]] = lambda setting: {}  # an experiment setting's train options
    # (experiment, the file's keys) -> raises ExperimentError for what this benchmark cannot run
    check: Callable[[Experiment, dict[str, Any]], None] = lambda exp, data: None
    configs_dir: Path | None = None  # its shipped experiments: `offside run NAME` finds NAME.yaml there


PROFILES: dict[str, RunProfile] = {}


def text_when_unimodal(setting: str) -> dict[str, str]:
    """Train options of a benchmark whose `unimodal` setting trains its text-only rows (complete: image + text)."""
    return {"modality": "text" if setting == "unimodal" else "mm"}


def register_profile(profile: RunProfile) -> RunProfile:
    return register_once(PROFILES, profile.benchmark, profile, ExperimentError, "run profile")


@functools.cache
def load_profiles() -> dict[str, RunProfile]:
    """Every registered profile, loading the `offside.run_profiles` entry points on first use (a profile
    module imported earlier has registered itself already; loading it again is a no-op)."""
    for entry in metadata.entry_points(group="offside.run_profiles"):
        entry.load()
    return PROFILES


def run_profile(benchmark: str, source: str = "experiment") -> RunProfile:
    """The profile of `benchmark`."""
    load_profiles()
    if benchmark not in PROFILES:
        raise ExperimentError(f"{source}: benchmark {benchmark!r} has no offside run profile (registered: "
                              f"{', '.join(sorted(PROFILES)) or 'none'}){did_you_mean(benchmark, sorted(PROFILES))}")
    return PROFILES[benchmark]
