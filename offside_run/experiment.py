"""The experiment file: what `offside run` trains and evaluates, validated before any work starts."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from offside_data.benchmarks import BENCHMARKS, declared_train_options, get_benchmark
from offside_data.fileio import read_yaml_mapping
from offside_data.options import did_you_mean

from .errors import ExperimentError
from .profiles import run_profile
from .selection import with_defaults

PROTOCOLS = ("clean", "reference")
PIPELINE_KEYS = {"settings": "settings this method runs in (default: all)",
                 "relearn": "false: skip this method's relearning stage"}


@dataclass
class Experiment:
    name: str = field(metadata={"help": "run name (default: the file's stem)"})
    output_dir: Path = field(metadata={"help": "run folder: checkpoints/, evals/, report/"})
    benchmark: str = field(default="offside", metadata={
        "help": "a registered benchmark with a run profile (`offside-data synth --help` lists the benchmarks)"})
    benchmark_options: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "the benchmark's own offside-train options (e.g. a forget_ratio), given to every "
                "training stage and to the tasks' --metadata; each may also be written as a top-level key"})
    base_model: str = field(default="tiny", metadata={"help": "'tiny' (the cached tiny Qwen2.5-VL), a path or hub id"})
    data_root: str = field(default="mini", metadata={
        "help": "'mini' / 'mini:N' (the benchmark's cached fixture: N players / profiles), or a path"})
    settings: list[str] = field(default_factory=lambda: ["complete"], metadata={"help": "unlearning settings"})
    vanilla: dict[str, Any] = field(default_factory=dict, metadata={"help": "offside-train sft options"})
    unlearn: dict[str, Any] = field(default_factory=dict, metadata={"help": "options shared by every method"})
    methods: dict[str, dict[str, Any]] = field(default_factory=dict, metadata={"help": "method -> its options"})
    relearn: dict[str, Any] = field(default_factory=dict, metadata={"help": "offside-train relearn options"})
    relearn_settings: list[str] = field(default_factory=lambda: ["complete"], metadata={"help": "settings relearned"})
    relearn_vanilla: bool = field(default=True, metadata={"help": "also relearn the vanilla model (the control)"})
    eval: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "evaluate() options: model (default hf_vlm), model_args, batch_size, limit, gen_kwargs, ..."})
    unlearning_metrics: bool = field(default=True, metadata={
        "help": "also train the retain-only reference once per setting and evaluate the unlearning metrics "
                "(truth ratio, forget quality, correction rate, memorization, MIA/privleak) on every checkpoint"})
    reference: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "offside-train retain_only options for the reference model (default: the vanilla options)"})
    utility_tasks: list[str] = field(default_factory=list, metadata={
        "help": "general-utility tasks beyond OFFSIDE on vanilla and every unlearned checkpoint (a registered task "
                "or lmms:<task> run by lmms-eval with the lmms extra); the report's Utility columns"})
    protocol: str = field(default="clean", metadata={
        "help": "clean: offside's tasks; reference: the "
                "benchmark authors' scripts' protocol (its benchmark's tasks say which)"})
    judge: str | None = field(default=None, metadata={"help": "--judge_args string when an LLM judge is configured"})
    curves: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "curves during unlearning: {every: N optimiser steps, tasks: [...], limit: docs per task (16), "
                "stop: {metric: TASK/METRIC, at_most|at_least: VALUE}} -- each method's train_log.jsonl gets the "
                "tasks' scores every N steps (the report plots them); stop ends a method early once it holds"})
    robustness: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "attacks on the unlearned checkpoints (complete setting): {attacks: [NAME[:k=v,...], ...] as "
                "offside-eval --attack takes them, relearn_steps: [K, ...] (the relearning attack: K steps of the "
                "relearn options on the retain set), methods: [...] (default: every method)}; the report's "
                "Robustness table"})
    executor: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "how the stages run: {kind: sequential (default) | local | slurm, workers: N stages at once, "
                "retries: extra attempts of a failing stage, gpus_per_stage: {train: 1, eval: 1}, timeout_min: "
                "per stage, threads: torch threads per stage, slurm: {partition: ..., account: ..., "
                "mem_gb: ..., ...} (submitit's sbatch options)}; `offside run --workers N --executor KIND` "
                "overrides it; the numbers do not depend on it, given the same threads"})
    seeds: list[int] = field(default_factory=list, metadata={
        "help": "training seeds of the unlearning runs (and their relearning, attacks): one chain per seed "
                "(<method>-<setting>-s<N>), the report's main tables as mean [95% CI over seeds and items], bold "
                "only where paired tests on the same items are significant; vanilla and the reference are trained "
                "once (default: no axis, the unlearn options' seed)"})
    search: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "hyperparameter search: {mode: grid|random, trials: N, seed: S, methods: [...] (default: every "
                "method), space: {METHOD: {OPTION: [values...]}} (default: the method's declared search_space)}; "
                "every point and seed is a candidate evaluated on the validation sets, the `select` rule picks one"})
    select: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "how a searched method's checkpoint is chosen: {rule: utility_floor (best forget efficacy with "
                "model utility >= share x vanilla's) | mean_quality_utility (max mean of forget quality and model "
                "utility), share: 0.9, forget: forget:gen_score, utility: [retain:acc, retain:gen_score], quality: "
                "unlearning:forget_quality}; never the test set; selection.json and the report's Selection section"})
    source: str = "<dict>"

    @classmethod
    def from_yaml(cls, path: str | Path, output_dir: str | Path | None = None) -> Experiment:
        try:
            data = read_yaml_mapping(path, str(path))
        except ValueError as exc:
            raise ExperimentError(str(exc)) from None
        return cls.from_dict(data, str(path), output_dir)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>", output_dir: str | Path | None = None):
        if not isinstance(data, dict):
            raise ExperimentError(f"{source}: top level must be a mapping")
        known = {f.name for f in fields(cls)} - {"source"}
        declared = declared_train_options()
        data = dict(data)
        for key in list(data):
            if key in declared and key not in known:
                data["benchmark_options"] = {**(data.get("benchmark_options") or {}), key: data.pop(key)}
            elif key not in known:
                raise ExperimentError(f"{source}: unknown key {key!r}{did_you_mean(key, sorted(known))}")
        data.setdefault("name", Path(source).stem)
        if output_dir is not None:
            data["output_dir"] = output_dir
        if "output_dir" not in data:
            raise ExperimentError(f"{source}: 'output_dir' is required")
        data["output_dir"] = Path(data["output_dir"])
        exp = cls(**data, source=source)
        exp._check_benchmark(data)
        for s in exp.settings + exp.relearn_settings:
            if s not in exp.profile.settings:
                raise ExperimentError(f"{source}: setting {s!r} is not one of {', '.join(exp.profile.settings)}")
        if exp.protocol not in PROTOCOLS:
            raise ExperimentError(f"{source}: protocol {exp.protocol!r} is not one of {', '.join(PROTOCOLS)}")
        if not exp.methods:
            raise ExperimentError(f"{source}: 'methods' must name at least one unlearning method")
        for key in ("vanilla", "unlearn", "relearn", "eval", "reference", "executor"):
            if not isinstance(getattr(exp, key), dict):
                raise ExperimentError(f"{source}: '{key}' must be a mapping of options")
        for method, opts in exp.methods.items():
            if not isinstance(opts or {}, dict):
                raise ExperimentError(f"{source}: methods.{method} must be a mapping of options")
            for s in (opts or {}).get("settings", []):
                if s not in exp.profile.settings:
                    raise ExperimentError(f"{source}: methods.{method}.settings: {s!r} is not one of "
                                          f"{', '.join(exp.profile.settings)}")
        exp._check_search()
        return exp

    def _check_search(self) -> None:
        """The seeds, search and select sections (select completed with its defaults)."""
        from .sweep import check_search  # loads the trainers (their declared search spaces): not at import

        check_search(self)
        if self.select and not self.search:
            raise ExperimentError(f"{self.source}: select needs a search section (there is nothing to select from)")
        self.select = with_defaults(self.select, self.source, self.unlearning_metrics) if self.search else {}

    def _check_benchmark(self, data: dict[str, Any]) -> None:
        """The benchmark is registered and trainable and has a run profile, whose own check sees the file's keys."""
        trainable = sorted(n for n, b in BENCHMARKS.items() if b.train_records)
        if self.benchmark not in trainable:
            raise ExperimentError(f"{self.source}: benchmark {self.benchmark!r} is not one of {', '.join(trainable)}"
                                  f"{did_you_mean(str(self.benchmark), trainable)}")
        try:
            BENCHMARKS[self.benchmark].train_values(self.benchmark_options, flag="")
        except ValueError as exc:
            raise ExperimentError(f"{self.source}: {exc}") from None
        run_profile(self.benchmark, self.source).check(self, data)

    @property
    def profile(self):
        """The benchmark's run profile (its planner, report, settings)."""
        return run_profile(self.benchmark, self.source)

    def benchmark_option(self, name: str) -> Any:
        """A benchmark option's value in this experiment: the given one, else the benchmark's default."""
        return get_benchmark(self.benchmark).train_values(self.benchmark_options, flag="")[name]

    def task_metadata(self) -> dict[str, Any]:
        """The benchmark options its tasks also take (`Benchmark.metadata_keys`): every evaluation's --metadata,
        so training and evaluation see the same split (e.g. a forget ratio)."""
        bench = get_benchmark(self.benchmark)
        return {k: v for k, v in bench.train_values(self.benchmark_options, flag="").items() if k in bench.metadata_keys}

    def method_runs(self) -> list[tuple[str, str, dict[str, Any], bool]]:
        """(method, setting, its trainer options, relearned?) in run order."""
        runs = []
        for setting in self.settings:
            for method, opts in self.methods.items():
                opts = dict(opts or {})
                if setting not in opts.pop("settings", self.settings):  # a method may run in fewer settings
                    continue
                relearn = bool(opts.pop("relearn", True)) and setting in self.relearn_settings
                options = {**self.unlearn, **opts, **self.profile.setting_options(setting)}
                runs.append((method, setting, options, relearn))
        return runs
