"""Run configuration: one dataclass per stage, filled from defaults < YAML file < command line.

The dataclasses hold only what offside decides (paper defaults); `training_args()` turns them
into the transformers / TRL argument objects, so every other Trainer knob keeps its default.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# LoRA on the language model's projections only; the vision tower's MLPs share these names.
LANGUAGE_LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


class ConfigError(ValueError):
    """Bad option or config file; the CLI prints it as one line and exits non-zero."""


@dataclass
class TrainConfig:
    """Options shared by every stage (paper defaults: LoRA r=8, alpha=32, dropout 0.05, lr 1e-4)."""

    model: str = ""
    data: str = ""
    out: str = ""
    setting: str = "complete"  # complete | selective
    modality: str = "mm"  # mm | text (unimodal: no image, name-substituted question)
    finetune: str = "lora"  # lora | full
    lora_r: int = 8
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target: str = LANGUAGE_LORA_TARGETS
    learning_rate: float = 1e-4
    lr_scheduler_type: str = "linear"
    warmup_steps: float = 0  # a fraction of all steps when below 1
    weight_decay: float = 0.0
    num_train_epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4
    gradient_accumulation_steps: int = 1
    max_length: int = 128
    image_size: int = 256
    precision: str = "fp32"  # fp32 | bf16
    seed: int = 0
    logging_steps: int = 10
    save_steps: int = 0  # 0: no intermediate checkpoints
    resume: bool = False
    merge: bool = False
    progress: bool = True

    def validate(self) -> None:
        for name in ("model", "data", "out"):
            if not getattr(self, name):
                raise ConfigError(f"--{name} is required")
        choices = {"setting": ("complete", "selective"), "modality": ("mm", "text"),
                   "finetune": ("lora", "full"), "precision": ("fp32", "bf16")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"--{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.merge and self.finetune != "lora":
            raise ConfigError("--merge applies to LoRA runs only (--finetune full already saves full weights)")
        for name in ("batch_size", "gradient_accumulation_steps", "max_length", "image_size", "logging_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if not Path(self.data).is_dir():
            raise ConfigError(f"--data {self.data}: not a directory")

    def training_kwargs(self) -> dict[str, Any]:
        """Keyword arguments shared by TrainingArguments and TRL's SFTConfig."""
        return dict(
            output_dir=self.out, learning_rate=self.learning_rate, lr_scheduler_type=self.lr_scheduler_type,
            warmup_steps=self.warmup_steps, weight_decay=self.weight_decay, num_train_epochs=self.num_train_epochs,
            max_steps=self.max_steps, per_device_train_batch_size=self.batch_size,
            gradient_accumulation_steps=self.gradient_accumulation_steps, bf16=self.precision == "bf16",
            seed=self.seed, data_seed=self.seed, logging_steps=self.logging_steps,
            save_strategy="steps" if self.save_steps > 0 else "no", save_steps=self.save_steps or 500,
            remove_unused_columns=False, report_to=[], disable_tqdm=not self.progress,
            dataloader_num_workers=0,
        )


@dataclass
class SFTRunConfig(TrainConfig):
    """Vanilla SFT (role `train`: forget + retain) and relearning (role `relearn`)."""

    role: str = "train"


def _parse_bool(text: str) -> bool:
    lowered = str(text).lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _field_type(cls: type, f: dataclasses.Field) -> Any:
    hint = typing.get_type_hints(cls)[f.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def add_dataclass_options(parser: argparse.ArgumentParser, classes: list[type], skip: tuple[str, ...] = ()) -> None:
    """One `--name` option per field of `classes` (first definition wins); defaults stay unset."""
    seen = set(skip)
    for cls in classes:
        for f in dataclasses.fields(cls):
            if f.name in seen:
                continue
            seen.add(f.name)
            kind = _field_type(cls, f)
            if kind is bool:
                parser.add_argument(f"--{f.name}", nargs="?", const=True, type=_parse_bool, default=argparse.SUPPRESS)
            elif kind in (list, tuple) or typing.get_origin(kind) in (list, tuple):
                parser.add_argument(f"--{f.name}", nargs="+", default=argparse.SUPPRESS)
            else:
                parser.add_argument(f"--{f.name}", type=kind, default=argparse.SUPPRESS)


def load_yaml(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    import yaml

    file = Path(path)
    if not file.exists():
        raise ConfigError(f"--config {path}: file not found")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config {path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: top level must be a mapping of option names to values")
    return data


def build_config(cls: type, file_values: dict[str, Any], cli_values: dict[str, Any]):
    """cls(**defaults updated by the YAML file, then by the command line); unknown keys are errors."""
    names = {f.name for f in dataclasses.fields(cls)}
    merged = {**file_values, **cli_values}
    unknown = sorted(set(merged) - names)
    if unknown:
        raise ConfigError(f"unknown option {unknown[0]!r} for {cls.__name__}")
    hints = typing.get_type_hints(cls)
    for key, value in file_values.items():
        if key in cli_values:
            continue
        kind = _field_type(cls, next(f for f in dataclasses.fields(cls) if f.name == key))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            merged[key] = float(value)
        elif kind in (int, float, str, bool) and not isinstance(value, kind):
            raise ConfigError(f"config value {key}={value!r} should be {hints[key]}")
    return cls(**merged)


__all__ = ["ConfigError", "LANGUAGE_LORA_TARGETS", "SFTRunConfig", "TrainConfig", "add_dataclass_options",
           "build_config", "load_yaml"]
