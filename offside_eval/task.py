"""A configured task: docs -> requests -> per-sample metrics -> aggregated metrics.

Docs come from a registered benchmark (`offside_data.benchmarks`, e.g. `dataset_path: offside`),
a local json/jsonl/parquet/tsv file or folder, or a hub dataset; requests and per-sample scores
come from the task's output type (`offside_eval.output_types`).
"""
from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from offside_data.benchmarks import Benchmark, BenchmarkError, get_benchmark

from .metrics import AGGREGATIONS, METRICS, MetricError, is_judge_metric, is_missing, stderr
from .output_types import OUTPUT_TYPES
from .task_config import TaskConfig
from .tasks_index import FunctionRef, TaskError
from .unlearning_metrics import DEFAULT_TOKEN_SET, check_token_set

_LOWER_IS_BETTER = {"perplexity"}


def _perplexity(values):
    return math.exp(-sum(values) / len(values))


AGGREGATIONS.setdefault("perplexity", _perplexity)


def judge_metrics(config: TaskConfig) -> list[str]:
    """Names of the LLM-judge metrics (e.g. fact_score) in a task config's metric_list."""
    return [spec["metric"] for spec in config.metric_list or []
            if isinstance(spec, dict) and is_judge_metric(spec.get("metric"))]


def _resolve(value: Any) -> Any:
    return value.resolve() if isinstance(value, FunctionRef) else value


def _call(fn: Callable, doc: dict, extra: Any) -> Any:
    try:
        n = len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        n = 1
    return fn(doc, extra) if n >= 2 else fn(doc)


def _render(template: str, doc: dict) -> Any:
    if template in doc:
        return doc[template]
    if "{{" in template or "{%" in template:
        import jinja2

        return jinja2.Template(template).render(**doc)
    return template


class Task:
    def __init__(self, config: TaskConfig, model_name: str = "", gen_kwargs: dict[str, Any] | None = None,
                 token_set: str = DEFAULT_TOKEN_SET):
        self.config, self.name, self.path = config, config.task, config.path
        self.token_set = check_token_set(token_set)  # which answer tokens token_scores' probabilities cover
        self.base_dir = self.path.parent if self.path else Path.cwd()
        self.output_type = config.output_type
        if self.output_type not in OUTPUT_TYPES:
            raise TaskError(f"task {self.name}: output_type {self.output_type!r} not one of {', '.join(OUTPUT_TYPES)}")
        self.kind = OUTPUT_TYPES[self.output_type]
        self.modality, self.image_size = config.modality, config.image_size
        self.prompt_kwargs = self._prompt_kwargs(config.lmms_eval_specific_kwargs, model_name)
        self.gen_kwargs = {**config.generation_kwargs, **(gen_kwargs or {})}
        self.metric_list = config.metric_list or [{"metric": m} for m in self.kind.default_metrics]
        self.process_results = _resolve(config.process_results)
        self.judge_metrics = judge_metrics(config)
        if self.judge_metrics and self.kind.stream != "generate_until":
            raise TaskError(f"task {self.name}: judge metric(s) {', '.join(self.judge_metrics)} need output_type "
                            "generate_until (the judge rates generated answers)")
        self._resized: dict[int, tuple[Any, Any]] = {}
        for spec in self.metric_list:
            metric = spec.get("metric")
            if isinstance(metric, FunctionRef) or self.process_results is not None:
                continue
            if metric not in METRICS and metric not in self.kind.builtin_metrics:
                raise TaskError(f"task {self.name}: unknown metric {metric!r} (no process_results defines it)")
            agg = spec.get("aggregation", METRICS.get(metric, {}).get("aggregation", "mean"))
            if isinstance(agg, str) and agg not in AGGREGATIONS:
                raise TaskError(f"task {self.name}: unknown aggregation {agg!r}")

    @staticmethod
    def _prompt_kwargs(spec: dict[str, Any], model_name: str) -> dict[str, Any]:
        out = dict(spec.get("default") or {})
        out.update(spec.get(model_name) or {})
        return out

    # ---- data ---------------------------------------------------------------------------
    @property
    def benchmark(self) -> Benchmark | None:
        """The registered benchmark the task's dataset_path names (None: a file or hub dataset)."""
        return get_benchmark(self.config.dataset_path)

    def docs(self, data_root: str | Path | None = None) -> list[dict[str, Any]]:
        """The task's docs; `data_root` is its benchmark's resolved root (`Benchmark.resolve`)."""
        path = self.config.dataset_path
        if not path:
            raise TaskError(f"task {self.name}: no dataset_path")
        benchmark = self.benchmark
        if benchmark is None:
            docs = self._file_or_hub_docs(str(path), dict(self.config.dataset_kwargs))
        elif data_root is None:
            raise TaskError(f"task {self.name}: benchmark {benchmark.name!r} needs its data root")
        else:
            try:
                docs = benchmark.load_docs(Path(data_root), dict(self.config.dataset_kwargs))
            except BenchmarkError as exc:
                raise TaskError(f"task {self.name} ({self.config.source}): {exc}") from None
        process = _resolve(self.config.process_docs)
        if process is not None:  # lmms-eval hook: raw rows -> the docs the task iterates over
            docs = list(process(docs))
        return docs

    def local_path(self, path: str | Path) -> Path | None:
        """A relative path of the task (dataset_path, data_files, image fields): next to the YAML
        first, then the working directory (lmms-eval's rule), so a task folder runs from anywhere."""
        for candidate in (self.base_dir / path, Path.cwd() / path):
            if candidate.exists():
                return candidate
        return None

    def _data_files(self, spec: Any) -> Any:
        """`dataset_kwargs.data_files` (a path, a list, or split -> path(s)) with local paths resolved."""
        if isinstance(spec, dict):
            return {key: self._data_files(value) for key, value in spec.items()}
        if isinstance(spec, (list, tuple)):
            return [self._data_files(value) for value in spec]
        found = self.local_path(str(spec))
        return str(found) if found else spec

    def _file_or_hub_docs(self, path: str, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
        split = self.config.test_split
        if "data_files" in kwargs:
            kwargs["data_files"] = self._data_files(kwargs["data_files"])
        local = self.local_path(path) if "data_files" not in kwargs else None
        if local is not None:
            if local.is_dir():
                found = [local / f"{split}{ext}" for ext in (".jsonl", ".json", ".parquet", ".tsv")]
                local = next((f for f in found if f.exists()), None)
                if local is None:
                    raise TaskError(f"task {self.name}: no {split}.jsonl/.json/.parquet/.tsv in {path}")
            return self._read_file(local, split)
        try:
            import datasets

            ds = datasets.load_dataset(path, self.config.dataset_name, split=split, **kwargs)
        except Exception as exc:
            raise TaskError(f"task {self.name}: dataset {path!r} is no local file and could not be loaded "
                            f"from the hub ({exc.__class__.__name__}: {str(exc).splitlines()[0][:200]})") from None
        return [dict(row) for row in ds]

    def _read_file(self, path: Path, split: str) -> list[dict[str, Any]]:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                data = data.get(split)
            if not isinstance(data, list):
                raise TaskError(f"task {self.name}: {path} must hold a list of records (or {{{split!r}: [...]}})")
            return data
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        if path.suffix == ".tsv":  # e.g. official benchmark files (large base64 image cells)
            from offside_data.tables import read_tsv_rows

            return read_tsv_rows(path)
        raise TaskError(f"task {self.name}: unsupported dataset file {path} (json, jsonl, parquet, tsv)")

    # ---- doc -> prompt pieces ---------------------------------------------------------------
    def doc_id(self, doc: dict, index: int) -> Any:
        return doc.get("id", index)

    def visuals(self, doc: dict) -> list[Any]:
        if self.modality == "text":
            return []
        spec = _resolve(self.config.doc_to_visual)
        if spec is None:
            return []
        visuals = _call(spec, doc, self.prompt_kwargs) if callable(spec) else doc.get(spec)
        if visuals is None:
            return []
        visuals = list(visuals) if isinstance(visuals, (list, tuple)) else [visuals]
        return [self._resize(self._open(v) if isinstance(v, (str, Path)) else v) for v in visuals]

    def _open(self, path: str | Path) -> Any:
        """An image named by a relative or absolute path in the doc, decoded as RGB."""
        from PIL import Image

        from offside_data.chat import to_rgb

        found = self.local_path(path)
        if found is None:
            raise TaskError(f"task {self.name}: image {str(path)!r} not found next to {self.base_dir} or in "
                            f"{Path.cwd()}")
        with Image.open(found) as img:
            return to_rgb(img)

    def _resize(self, image: Any) -> Any:
        if self.image_size is None or getattr(image, "size", None) == self.image_size:
            return image
        key = id(image)
        if key not in self._resized:
            from PIL import Image

            self._resized[key] = (image, image.convert("RGB").resize(self.image_size, Image.Resampling.BICUBIC))
        return self._resized[key][1]

    def text(self, doc: dict) -> str:
        spec = _resolve(self.config.doc_to_text)
        if spec is None:
            raise TaskError(f"task {self.name}: no doc_to_text")
        text = _call(spec, doc, self.prompt_kwargs) if callable(spec) else _render(str(spec), doc)
        return str(text)

    def target(self, doc: dict) -> Any:
        spec = _resolve(self.config.doc_to_target)
        if spec is None:
            return None
        if callable(spec):
            return _call(spec, doc, self.prompt_kwargs)
        return spec if isinstance(spec, int) else _render(str(spec), doc)

    def choices(self, doc: dict) -> list[str]:
        spec = _resolve(self.config.doc_to_choice)
        if spec is None:
            raise TaskError(f"task {self.name}: multiple_choice needs doc_to_choice")
        choices = _call(spec, doc, self.prompt_kwargs) if callable(spec) else (
            spec if isinstance(spec, list) else _render(str(spec), doc))
        if not isinstance(choices, list) or not choices:
            raise TaskError(f"task {self.name}: doc_to_choice must give a non-empty list, got {choices!r}")
        return [str(c) for c in choices]

    def gold_index(self, doc: dict, choices: list[str]) -> int:
        target = self.target(doc)
        if isinstance(target, int) and not isinstance(target, bool):
            if not 0 <= target < len(choices):
                raise TaskError(f"task {self.name}: target index {target} out of range")
            return target
        if isinstance(target, str) and target.isdigit():
            return int(target)
        if target in choices:
            return choices.index(target)
        raise TaskError(f"task {self.name}: target {target!r} is neither a choice index nor a choice")

    def messages(self, doc: dict, n_visuals: int) -> list[dict]:
        content = [{"type": "image"} for _ in range(n_visuals)] + [{"type": "text", "text": self.text(doc)}]
        return [{"role": "user", "content": content}]

    # ---- requests and scores: by output type ---------------------------------------------------
    def requests(self, doc: dict, index: int) -> list[Any]:
        visuals = self.visuals(doc)
        return self.kind.requests(self, doc, self.doc_id(doc, index), visuals, self.messages(doc, len(visuals)))

    def judge_inputs(self, doc: dict) -> tuple[str, ...]:
        """(question, reference answer) the LLM judge sees next to the model's response, plus the
        image id when the task names one (`doc_to_image_id`, for judge prompts that show it)."""
        inputs = (self.text(doc), str(self.target(doc)))
        spec = _resolve(self.config.doc_to_image_id)
        if spec is None:
            return inputs
        return (*inputs, str(_call(spec, doc, self.prompt_kwargs) if callable(spec) else _render(str(spec), doc)))

    def score(self, doc: dict, results: list[Any],
              verdicts: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """(per-sample metric values, extra fields for the samples file).

        `verdicts`: judge metric name -> `offside_eval.judge.Verdict` for this sample (judge tasks).
        """
        return self.kind.score(self, doc, results, verdicts or {})

    def judge_values(self, verdicts: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        values = {}
        for name in self.judge_metrics:
            verdict = verdicts.get(name)
            if verdict is None:
                raise MetricError(f"task {self.name}: no judge verdict for metric {name!r}")
            values[name] = verdict.score  # None = missing: skipped by nanmean, counted in <name>_missing
            record = {"score": verdict.score, "cached": verdict.cached}
            if verdict.score is None:
                record["missing_reason"] = verdict.error
            else:
                record["justification"] = verdict.justification
            extra.setdefault("judge", {})[name] = record
        return values

    @staticmethod
    def metric_name(spec: dict) -> str:
        metric = spec["metric"]
        return metric.spec.rpartition(".")[2] if isinstance(metric, FunctionRef) else str(metric)

    def aggregate(self, per_sample: list[dict[str, Any]], bootstrap_iters: int = 100) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in self.metric_list:
            name = self.metric_name(spec)
            if any(name not in values for values in per_sample):
                raise MetricError(f"task {self.name}: metric {name!r} missing from some samples' results")
            values = [v[name] for v in per_sample]
            agg = spec.get("aggregation") or METRICS.get(name, {}).get("aggregation") or (
                "perplexity" if name == "perplexity" else "mean")
            fn = _resolve(agg) if isinstance(agg, FunctionRef) else AGGREGATIONS[agg]
            agg_key = agg if isinstance(agg, str) else fn
            out[name] = fn(values)
            if callable(getattr(fn, "stderr", None)):  # a corpus-level aggregation that knows its own stderr
                out[f"{name}_stderr"] = fn.stderr(values)
            else:
                out[f"{name}_stderr"] = stderr(agg_key, values, bootstrap_iters) if values else float("nan")
            missing = sum(1 for v in values if is_missing(v))
            if missing or name in self.judge_metrics:  # judge metrics always say how many went unjudged
                out[f"{name}_missing"] = missing
        out["n"] = len(per_sample)
        return out

    def higher_is_better(self) -> dict[str, bool]:
        out = {}
        for spec in self.metric_list:
            name = self.metric_name(spec)
            default = METRICS.get(name, {}).get("higher_is_better", name not in _LOWER_IS_BETTER)
            out[name] = bool(spec.get("higher_is_better", default))
        return out
