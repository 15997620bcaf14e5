"""Loading the model to train and writing checkpoint folders that `offside-eval` reads.

A folder holds the LoRA adapter (or full weights), the processor, `offside_lineage.json`
(parent, stage, method, hyperparameters, data identity, versions, git revision, final
losses, steps) and `train_log.jsonl`. Adapters name their parent, so
`offside_data.lineage.load_model` rebuilds any stage from its folder alone.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from offside_data.benchmarks import get_benchmark
from offside_data.lineage import load_model, processor_source, write_lineage
from offside_data.provenance import git_revision, package_versions

from .config import STAGES, ConfigError, TrainConfig

LOG_FILE = "train_log.jsonl"


def load_processor(path: str, prompt_format: str = "chat"):
    from transformers import AutoProcessor

    from offside_data.encode import use_prompt_format

    return use_prompt_format(AutoProcessor.from_pretrained(processor_source(path)), prompt_format)


def language_model_name(model) -> str:
    """Qualified name of the model's language model (`get_decoder()`: language_model, text_model, ...)."""
    decoder = model.get_decoder()
    name = next((n for n, m in model.named_modules() if m is decoder and n), None)
    if name is None:
        raise ConfigError(f"{type(model).__name__}: no language model apart from the whole model; "
                          "give --lora_target / --finetune full")
    return name


def language_lora_targets(model) -> str:
    """Regex of the language model's linear projections (the vision tower's share their names)."""
    import torch

    prefix = language_model_name(model)
    leaves = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                     if n.startswith(prefix + ".") and isinstance(m, torch.nn.Linear)})
    return rf"{re.escape(prefix)}\..*\.({'|'.join(leaves)})"


def freeze_all_but_language(model):
    """Train the language model and output head only; the vision tower and projector keep their
    weights and need no gradients."""
    head = next(n for n, m in model.named_modules() if m is model.get_output_embeddings())
    language = (language_model_name(model) + ".", head + ".")
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith(language))
    return model


def load_trainable(cfg: TrainConfig, model_path: str | None = None):
    """The model at `model_path` (adapter chains merged), wrapped in a fresh LoRA adapter unless full FT."""
    import torch

    model = load_model(model_path or cfg.model, dtype=torch.bfloat16 if cfg.bf16 else torch.float32)
    if cfg.finetune == "full":
        return model
    if cfg.finetune == "language":
        return freeze_all_but_language(model)
    from peft import LoraConfig, get_peft_model
    from transformers import set_seed

    # The adapter's random init must depend on the run's seed alone, not on what ran earlier in the
    # same process (the pipeline trains every method in one process).
    set_seed(cfg.seed)
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.lora_target or language_lora_targets(model), task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def resume_from(cfg: TrainConfig) -> str | None:
    """--resume_from_checkpoint: `last` is the newest `checkpoint-N` in output_dir (None: start from scratch)."""
    if cfg.resume_from_checkpoint != "last":
        return cfg.resume_from_checkpoint
    return get_last_checkpoint(cfg.output_dir) if Path(cfg.output_dir).is_dir() else None


class LogFileCallback(TrainerCallback):
    """Append every log entry (loss per term, lr, step) to OUT/train_log.jsonl as it happens."""

    def __init__(self, out: str):
        self.file = Path(out) / LOG_FILE

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            with self.file.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"step": state.global_step, **logs}) + "\n")


def final_losses(log_history: list[dict[str, Any]]) -> dict[str, float]:
    """The last logged value of every loss-like entry (loss, per-term losses, train_loss)."""
    out: dict[str, float] = {}
    for entry in log_history:
        for key, value in entry.items():
            if ("loss" in key or key.startswith(("forget_", "retain_"))) and isinstance(value, (int, float)):
                out[key] = float(value)
    return out


def _parent(path: str) -> str:
    return str(Path(path).resolve()) if Path(path).exists() else path


def save_checkpoint(cfg: TrainConfig, processor, stage: str, items: dict[str, int], extra: dict[str, Any] | None = None,
                    *, trainer=None, model=None) -> Path:
    """Write weights/adapter, processor and lineage to output_dir (and OUT/merged with --merge).

    `trainer` after training; `model` (and no trainer) for a weight edit, which has no steps or losses.
    """
    out = Path(cfg.output_dir)
    if trainer is not None:
        trainer.save_model(str(out))
        main, state = trainer.is_world_process_zero(), trainer.state
        history, steps, epochs = state.log_history, state.global_step, state.epoch
        model = trainer.accelerator.unwrap_model(trainer.model)
    else:
        from accelerate import PartialState

        main, history, steps, epochs = PartialState().is_main_process, [], 0, None
        if main:
            model.save_pretrained(str(out))
    if not main:
        return out
    processor.save_pretrained(str(out))
    record = {
        "stage": stage, "parent": _parent(cfg.model),
        "method": stage if stage in STAGES else None,
        "benchmark": cfg.benchmark, "setting": cfg.setting, "modality": cfg.modality, "finetune": cfg.finetune,
        "hyperparameters": cfg.to_dict(),
        "data": {"root": str(Path(cfg.data).resolve()), "fingerprint": get_benchmark(cfg.benchmark).fingerprint(cfg.data),
                 "items": items},
        "versions": package_versions(), "git_revision": git_revision(),
        "final_losses": final_losses(history), "steps": steps, "epochs": epochs,
        **(extra or {}),
    }
    write_lineage(out, record)
    if cfg.merge:
        merged = model.merge_and_unload()
        merged.save_pretrained(str(out / "merged"))
        processor.save_pretrained(str(out / "merged"))
        write_lineage(out / "merged", {**record, "merged_from": str(out.resolve()), "finetune": "merged"})
    return out
