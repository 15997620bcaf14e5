"""Benchmark registry: what a task's `dataset_path: NAME` means (lm-eval's `custom_dataset` idea).

A registered benchmark says how to turn (data root, the task's `dataset_kwargs`) into docs, where
its data root comes from (the `data_root` option, then its environment variable, then its offline
fixture, which is synthetic and said so loudly), how to fingerprint a root for results.json, and
what `offside-train` trains on (`train_records`: neutral `TrainRecord`s per training role).
The harness knows no benchmark by name: each registers itself from its own folder (benchmarks/NAME,
or another package) through an `offside.benchmarks` entry point.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .options import register_once
from .provenance import is_synthetic
from .records import TrainRecord

log = logging.getLogger("offside_data")
DEFAULT_BENCHMARK = "offside"  # what --benchmark means when not given (offside's own benchmark)
TRAIN_ROLES = ("train", "forget", "retain", "relearn")  # train: the vanilla model's fine-tuning data


class BenchmarkError(ValueError):
    """Bad benchmark name, data root option or dataset_kwargs."""


@dataclass(frozen=True)
class TrainOption:
    """An `offside-train` option a benchmark declares; its value goes to the benchmark's train_records hook."""
    default: Any
    help: str
    choices: tuple = ()

    def check(self, name: str, value: Any) -> Any:
        """`value` as the default's type, one of `choices` if any; ValueError naming `name` otherwise."""
        kind = type(self.default)
        try:
            value = kind(value) if not isinstance(value, kind) else value
        except (TypeError, ValueError):
            raise ValueError(f"{name} should be {kind.__name__}, got {value!r}") from None
        if self.choices and value not in self.choices:
            raise ValueError(f"{name} must be one of {', '.join(map(str, self.choices))}, got {value}")
        return value


@dataclass(frozen=True)
class Benchmark:
    name: str  # the tasks' dataset_path
    title: str  # how the log and the warnings call it
    load_docs: Callable[[Path, dict[str, Any]], list[dict[str, Any]]]  # (root, dataset_kwargs) -> docs
    env_var: str  # data root when no data_root option is given
    # synthetic offline stand-in when neither is given; an optional first argument sizes it (OFFSIDE
    # players, profiles, persons)
    fixture: Callable[..., Path] | None = None
    fixture_title: str = ""
    locate: Callable[[str], Path] = Path  # a data root option (folder, hub id, ...) -> local folder
    fingerprint: Callable[[Path], str] | None = None
    metadata_keys: tuple[str, ...] = ()  # `--metadata k=v` keys passed into the tasks' dataset_kwargs
    # (root, role, modality, **train_options) -> TrainRecords; role is one of TRAIN_ROLES
    train_records: Callable[..., list[TrainRecord]] | None = None
    train_options: Mapping[str, TrainOption] = field(default_factory=dict)  # the options its train_records takes
    audit: Callable[[Path], dict[str, Any]] | None = None  # root -> what results.json says of its anomalies
    tasks_dir: Path | None = None  # its task YAMLs: offside-eval indexes them with the built-in ones
    lmms_dir: Path | None = None  # lmms-eval copies of its tasks (`python -m offside_eval.lmms export`)
    # (out, size=None, seed=0) -> {what: count}: writes the offline fixture (`offside-data synth --benchmark`)
    generate: Callable[..., dict[str, int]] | None = None
    # (root, **options) -> exit code: checks a data root and prints its counts (`offside-data validate`)
    validate: Callable[..., int] | None = None

    def train_values(self, given: Mapping[str, Any], flag: str = "--") -> dict[str, Any]:
        """Every declared train option's value (the given one, checked, else its default); ValueError for a
        given option this benchmark does not declare. `flag` prefixes option names in messages."""
        for name in given:
            if name not in self.train_options:
                raise ValueError(f"{flag}{name} does not apply to {flag}benchmark {self.name}")
        return {name: opt.check(flag + name, given[name]) if name in given else opt.default
                for name, opt in self.train_options.items()}

    def data_id(self, root: str | Path) -> str | None:
        """The root's fingerprint for results and lineage; None for a benchmark that declares none."""
        return self.fingerprint(Path(root)) if self.fingerprint else None

    def synthetic_warning(self, given: bool = False) -> str:
        source = ("the data root given is SYNTHETIC (made by an offside fixture generator)" if given else
                  f"NO --data_root GIVEN: evaluating on the bundled SYNTHETIC {self.fixture_title}")
        return (f"{source}, not the real {self.title} release. These numbers say nothing about real models on "
                f"{self.title}.")

    def resolve(self, data_root: str | Path | None = None) -> dict[str, Any]:
        """Where this run's data is and what it is: {benchmark, root, synthetic, fingerprint[, warning]}
        and what `audit` says of it (OFFSIDE: anomalous_images).

        `data_root` wins, then ${env_var}, then the fixture; without any of them it is an error.
        """
        spec = data_root or os.environ.get(self.env_var)
        if spec:
            root = Path(self.locate(str(spec))).resolve()
        elif self.fixture is not None:
            root = Path(self.fixture())
        else:
            raise BenchmarkError(f"benchmark {self.name}: no data root; pass --data_root or set {self.env_var}")
        # a fixture is synthetic by definition; a root given by name is when a generator marked it
        info: dict[str, Any] = {"benchmark": self.name, "root": str(root), "synthetic": not spec or is_synthetic(root)}
        if info["synthetic"]:
            info["warning"] = self.synthetic_warning(given=bool(spec))
        info["fingerprint"] = self.data_id(root)
        info.update(self.audit(root) if self.audit else {})
        return info


BENCHMARKS: dict[str, Benchmark] = {}
TASK_FOLDERS: dict[str, Path] = {}  # name -> a folder of task YAMLs offside-eval indexes as built-in


def register_benchmark(benchmark: Benchmark) -> Benchmark:
    if benchmark.tasks_dir:
        register_task_folder(benchmark.name, benchmark.tasks_dir)
    return register_once(BENCHMARKS, benchmark.name, benchmark, BenchmarkError, "benchmark")


def register_task_folder(name: str, folder: Path) -> Path:
    """Task YAMLs shipped without a benchmark of their own (e.g. general-utility tasks over a hub dataset);
    a user task includes one of them as `NAME/file.yaml`."""
    return register_once(TASK_FOLDERS, name, Path(folder), BenchmarkError, "task folder")


def declared_train_options() -> dict[str, dict[str, TrainOption]]:
    """option name -> {benchmark: its declaration}, over every registered benchmark (offside-train's extra flags)."""
    out: dict[str, dict[str, TrainOption]] = {}
    for bench in BENCHMARKS.values():
        for name, opt in bench.train_options.items():
            out.setdefault(name, {})[bench.name] = opt
    return out


def add_train_option_flags(parser) -> None:
    """Every registered benchmark's declared options as --flags of an argparse parser (absent unless given)."""
    import argparse

    for name, by_benchmark in sorted(declared_train_options().items()):
        first = next(iter(by_benchmark.values()))
        choices = first.choices or None if len(by_benchmark) == 1 else None  # else each benchmark checks its own
        parser.add_argument(f"--{name}", type=type(first.default), default=argparse.SUPPRESS, choices=choices,
                            help="; ".join(f"{bench}: {opt.help} (default {opt.default})"
                                           for bench, opt in by_benchmark.items()).replace("%", "%%"))


def get_benchmark(name: Any) -> Benchmark | None:
    """The benchmark a `dataset_path` names, or None (then it is a file or a hub dataset)."""
    return BENCHMARKS.get(name) if isinstance(name, str) else None


def data_root_for(name: str, data_root: str | Path | Mapping[str, str | Path] | None) -> str | Path | None:
    """One benchmark's root from the data_root option: a path (every benchmark) or {benchmark: path}."""
    if isinstance(data_root, Mapping):
        unknown = sorted(set(data_root) - set(BENCHMARKS))
        if unknown:
            raise BenchmarkError(f"data_root: unknown benchmark(s) {', '.join(unknown)} "
                                 f"(registered: {', '.join(sorted(BENCHMARKS))})")
        return data_root.get(name)
    return data_root


def load_plugins() -> None:
    """Benchmarks (offside's own and other packages'): each `offside.benchmarks` entry point names a module
    that registers its benchmark, task folder or offside-data commands when imported. One that fails to
    load is named in the log, not fatal."""
    for entry in metadata.entry_points(group="offside.benchmarks"):
        try:
            entry.load()
        except Exception as exc:  # a third party's bug must not stop offside: say which plugin and why
            log.warning("benchmark plugin %s (%s) failed to load: %s: %s", entry.name, entry.value,
                        type(exc).__name__, exc)


load_plugins()
