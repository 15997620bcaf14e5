"""Benchmark registry: what a task's `dataset_path: NAME` means (lm-eval's `custom_dataset` idea).

A registered benchmark says how to turn (data root, the task's `dataset_kwargs`) into docs, where
its data root comes from (the `data_root` option, then its environment variable, then its offline
fixture, which is synthetic and said so loudly) and how to fingerprint a root for results.json.
The harness knows no benchmark by name: a new one is one `register_benchmark(Benchmark(...))`
next to its loader, in this file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping


class BenchmarkError(ValueError):
    """Bad benchmark name, data root option or dataset_kwargs."""


@dataclass(frozen=True)
class Benchmark:
    name: str  # the tasks' dataset_path
    title: str  # how the log and the warnings call it
    load_docs: Callable[[Path, dict[str, Any]], list[dict[str, Any]]]  # (root, dataset_kwargs) -> docs
    env_var: str  # data root when no data_root option is given
    fixture: Callable[[], Path] | None = None  # synthetic offline stand-in when neither is given
    fixture_title: str = ""
    locate: Callable[[str], Path] = Path  # a data root option (folder, hub id, ...) -> local folder
    fingerprint: Callable[[Path], str] | None = None

    def synthetic_warning(self) -> str:
        return (f"NO --data_root GIVEN: evaluating on the bundled SYNTHETIC {self.fixture_title}, not the real "
                f"{self.title} release. These numbers say nothing about real models on {self.title}.")

    def resolve(self, data_root: str | Path | None = None) -> dict[str, Any]:
        """Where this run's data is and what it is: {benchmark, root, synthetic, fingerprint[, warning]}.

        `data_root` wins, then ${env_var}, then the fixture; without any of them it is an error.
        """
        spec = data_root or os.environ.get(self.env_var)
        if spec:
            root = Path(self.locate(str(spec))).resolve()
            info: dict[str, Any] = {"benchmark": self.name, "root": str(root), "synthetic": False}
        elif self.fixture is not None:
            root = Path(self.fixture())
            info = {"benchmark": self.name, "root": str(root), "synthetic": True, "warning": self.synthetic_warning()}
        else:
            raise BenchmarkError(f"benchmark {self.name}: no data root; pass --data_root or set {self.env_var}")
        info["fingerprint"] = self.fingerprint(root) if self.fingerprint else None
        return info


BENCHMARKS: dict[str, Benchmark] = {}


def register_benchmark(benchmark: Benchmark) -> Benchmark:
    if benchmark.name in BENCHMARKS:
        raise BenchmarkError(f"benchmark {benchmark.name!r} registered twice")
    BENCHMARKS[benchmark.name] = benchmark
    return benchmark


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


# ---- OFFSIDE --------------------------------------------------------------------------------
def _offside_docs(root: Path, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """OffsideItem dicts of one view; `_root` lets the task hooks find the images.

    dataset_kwargs: role, setting, modality (as `offside_data.view`), info (private/shared only),
    require_options (only items with MC options), require_text_question (only items with a
    text-only rewrite: the reference protocol asks those with the image). Each doc keeps `extra`
    (the questions exactly as the release files store them).
    """
    from .loader import load_items
    from .views import view

    kwargs = dict(kwargs)
    info = kwargs.pop("info", None)
    need_options = bool(kwargs.pop("require_options", False))
    need_text = bool(kwargs.pop("require_text_question", False))
    role, setting, modality = kwargs.pop("role", "forget"), kwargs.pop("setting", "complete"), kwargs.pop("modality", None)
    if kwargs:
        raise BenchmarkError(f"unknown dataset_kwargs for offside: {', '.join(kwargs)} "
                             "(role, setting, modality, info, require_options, require_text_question)")
    try:
        items = view(load_items(root), role, setting, modality)
    except ValueError as exc:
        if exc.__class__ is not ValueError:  # DataError: names the file already
            raise
        raise BenchmarkError(str(exc)) from None
    docs = []
    for item in items:
        if (info and item.info != info) or (need_options and not item.options) or (
                need_text and not item.text_question):
            continue
        doc = item.to_dict()
        doc["_root"] = str(root)
        docs.append(doc)
    return docs


def _offside_fixture() -> Path:
    from .fixtures import ensure_mini

    return ensure_mini()


def _offside_locate(spec: str) -> Path:
    from .loader import resolve_data_root

    return resolve_data_root(spec)


def _offside_fingerprint(root: Path) -> str:
    from .loader import data_fingerprint

    return data_fingerprint(root)


OFFSIDE = register_benchmark(Benchmark(
    name="offside", title="OFFSIDE", load_docs=_offside_docs, env_var="OFFSIDE_DATA_ROOT",
    fixture=_offside_fixture, fixture_title="OFFSIDE-mini", locate=_offside_locate,
    fingerprint=_offside_fingerprint))
