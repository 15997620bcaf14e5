"""Run configuration: `transformers.TrainingArguments` plus offside's own options, with offside's defaults.

Every option is a dataclass field with help text, so `HfArgumentParser` turns each class into
the `offside-train` command line and any Trainer setting (optim, max_grad_norm,
gradient_checkpointing, ...) is reachable. `build_config(stage, options, source)` is the one
validated way from plain values (YAML, the pipeline, the CLI) to a config.
"""
from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

from transformers import TrainingArguments
from transformers.hf_argparser import string_to_bool

from offside_data.benchmarks import BENCHMARKS, declared_train_options, get_benchmark
from offside_data.options import did_you_mean


class ConfigError(ValueError):
    """Bad option or config file; the CLI prints it as one line and exits non-zero."""


def option(default: Any, help: str, **metadata) -> Any:
    """A dataclass field with its --help text."""
    return field(default=default, metadata={"help": help, **metadata})


@dataclass
class TrainConfig(TrainingArguments):
    """Options of every stage; Trainer defaults replaced by the paper's (LoRA r=8/32/0.05, lr 1e-4, batch 4)."""

    stage: ClassVar[str] = ""

    model: str = option("", "Model to train: a hub id, a folder, or an offside checkpoint (adapters resolved).")
    data: str = option("", "Data root of --benchmark, in its release's layout.")
    benchmark: str = option("offside", "What --data holds and how it is trained on: a registered benchmark (its "
                                       "train_records hook says what each role is).")
    output_dir: str = option("", "Folder the checkpoint, lineage and train_log.jsonl are written to.",
                             aliases=["--out"])
    modality: Literal["mm", "text"] = option(
        "mm", "mm: image + question; text: no image, the question's text-only rewrite (its subject named).")
    finetune: Literal["lora", "full", "language"] = option(
        "lora", "lora: a LoRA adapter; full: all weights; language: all weights of the language model and its "
        "output head, the vision tower and projector frozen (the part the paper's LoRA adapts).")
    lora_r: int = option(8, "LoRA rank.")
    lora_alpha: int = option(32, "LoRA scaling alpha.")
    lora_dropout: float = option(0.05, "Dropout on the LoRA branch.")
    lora_target: str = option("", "Regex of the modules that get LoRA adapters (default: the language model's "
                                  "linear projections, found in the model).")
    max_length: int | None = option(None, "Longest tokenized example allowed (longer ones are an error naming the "
                                          "length needed, never cut; default: no limit, batches as long as their data).")
    prompt_format: Literal["chat", "prefix"] = option(
        "chat", "chat: the checkpoint's chat template; prefix: no chat template (PaliGemma style), the question is "
                "the processor's prompt and the answer its suffix.")
    merge: bool = option(False, "LoRA only: also write OUTPUT_DIR/merged with the adapter merged into full weights.")
    # TrainingArguments fields whose defaults offside changes
    learning_rate: float = option(1e-4, "Peak learning rate (AdamW by default, see --optim).")
    per_device_train_batch_size: int = option(4, "Items per batch and device.")
    num_train_epochs: float = option(1.0, "Passes over the training items (over the forget set when unlearning).")
    seed: int = option(0, "Seed for initialisation, dropout and data order.")
    logging_steps: float = option(10, "Log the loss terms every N optimiser steps.")
    save_strategy: str = option("no", "'steps' writes checkpoint-N folders every --save_steps (for resuming); 'no': none.")
    overwrite_output_dir: bool = option(False, "Replace a checkpoint already in --out (refused otherwise).")
    resume_from_checkpoint: str | None = option(
        None, "'last': continue from the newest checkpoint-N in output_dir (start fresh if none); or a checkpoint folder.")
    remove_unused_columns: bool = option(False, "Kept False: offside's collators build the model inputs themselves.")
    # the options --benchmark declares (Benchmark.train_options), set by build_config
    benchmark_options: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self):
        for name in ("model", "data", "output_dir"):
            if not getattr(self, name):
                raise ConfigError(f"--{name} is required")
        if self.merge and self.finetune != "lora":
            raise ConfigError("--merge applies to LoRA runs only (--finetune full already saves full weights)")
        for name in ("per_device_train_batch_size", "gradient_accumulation_steps", "max_length"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if not Path(self.data).is_dir():
            raise ConfigError(f"--data {self.data}: not a directory")
        if self.data_seed is None:
            self.data_seed = self.seed  # data order follows --seed unless --data_seed says otherwise
        super().__post_init__()

    def set_benchmark_options(self, given: dict[str, Any]) -> None:
        """A registered benchmark that can be trained on, with its declared options (given or default)."""
        bench = get_benchmark(self.benchmark)
        trainable = sorted(name for name, b in BENCHMARKS.items() if b.train_records)
        if bench is None or bench.train_records is None:
            raise ConfigError(f"--benchmark {self.benchmark!r} is not one of {', '.join(trainable)}"
                              f"{did_you_mean(self.benchmark, trainable)}")
        try:
            self.benchmark_options = bench.train_values(given)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


@dataclass
class SFTRunConfig(TrainConfig):
    """`offside-train sft`: the vanilla model, fine-tuned on forget + retain."""

    stage: ClassVar[str] = "sft"
    role: ClassVar[str] = "train"


@dataclass
class RelearnConfig(SFTRunConfig):
    """`offside-train relearn`: fine-tuning on the relearn split."""

    stage: ClassVar[str] = "relearn"
    role: ClassVar[str] = "relearn"


@dataclass
class RetainOnlyConfig(SFTRunConfig):
    """`offside-train retain_only`: the reference model -- the pretrained model fine-tuned on the retain
    set only, never seeing the forget set (the paper's NPO reference; forget quality compares with it)."""

    stage: ClassVar[str] = "retain_only"
    role: ClassVar[str] = "retain"


@dataclass
class RelearnAttackConfig(SFTRunConfig):
    """`offside-train relearn_attack`: the relearning attack -- benign fine-tuning of an unlearned model on
    the retain set (the same players' other facts, never a forget item) for a few steps; does the
    forgotten rumor come back without being shown?"""

    stage: ClassVar[str] = "relearn_attack"
    role: ClassVar[str] = "retain"


STAGES: dict[str, type[TrainConfig]] = {"sft": SFTRunConfig, "relearn": RelearnConfig, "retain_only": RetainOnlyConfig,
                                        "relearn_attack": RelearnAttackConfig}


def config_class(stage: str) -> type[TrainConfig]:
    """The config class of `sft`, `relearn` or an unlearning method name."""
    if stage in STAGES:
        return STAGES[stage]
    from .methods import get_method

    return get_method(stage)


def option_names(cls: type) -> dict[str, str]:
    """Every accepted spelling (field names and --aliases) -> the field name."""
    names = {}
    for f in fields(cls):
        if f.init:
            names[f.name] = f.name
            names.update({alias.lstrip("-"): f.name for alias in f.metadata.get("aliases", [])})
    return names


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))


def _coerce(source: str, name: str, value: Any, hint: Any) -> Any:
    """`value` as the field type wants it: YAML strings parsed ("1e-4" -> 1e-4), ints widened to float."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise ConfigError(f"{source}: {name} must be one of {', '.join(map(str, typing.get_args(hint)))}, "
                              f"got {value!r}")
        return value
    kinds = typing.get_args(hint) if origin in (typing.Union, types.UnionType) else (hint,)
    if value is None and type(None) in kinds:
        return None
    for kind in kinds:
        if kind in (bool, int, float):
            if type(value) is kind or (kind is float and type(value) is int):
                return kind(value)
        elif isinstance(typing.get_origin(kind) or kind, type) and isinstance(value, typing.get_origin(kind) or kind):
            return value
    if isinstance(value, str):
        for kind in kinds:
            try:
                if kind is bool:
                    return string_to_bool(value)
                if kind in (int, float):
                    return kind(value)
            except (ValueError, TypeError):
                continue
    raise ConfigError(f"{source}: option {name}={value!r} should be {_type_name(hint)}")


def build_config(stage: str, options: dict[str, Any], source: str = "options") -> TrainConfig:
    """The validated config of `stage` (sft | relearn | a method) from plain values.

    Unknown options, values of the wrong type and failed checks raise a one-line ConfigError
    that names `source` (a file, 'command line', an experiment section).
    """
    try:
        cls = config_class(stage)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    options = dict(options)
    if options.pop("method", stage) != stage:
        raise ConfigError(f"{source}: method {options.get('method')!r} differs from {stage!r}")
    names, hints, declared = option_names(cls), typing.get_type_hints(cls), declared_train_options()
    values, benchmark_values = {}, {}
    for key, value in options.items():
        if key in declared:
            benchmark_values[key] = value
        elif names.get(key) != key:
            raise ConfigError(f"{source}: unknown option {key!r} for {stage}"
                              f"{did_you_mean(key, {**names, **dict(zip(declared, declared))})}")
        else:
            values[key] = _coerce(source, key, value, hints[key])
    try:
        cfg = cls(**values)
        cfg.set_benchmark_options(benchmark_values)
        return cfg
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: {str(exc).strip().splitlines()[0]}") from None


def load_yaml(path: str | None) -> dict[str, Any]:
    """The option values of a --config file ({} without one)."""
    if not path:
        return {}
    from offside_data.fileio import read_yaml_mapping

    try:
        return read_yaml_mapping(path, f"--config {path}")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


__all__ = ["ConfigError", "RelearnAttackConfig", "RelearnConfig", "RetainOnlyConfig", "SFTRunConfig", "STAGES",
           "TrainConfig", "build_config", "config_class", "load_yaml", "option", "option_names"]
