"""Loading the model to train and writing checkpoint folders that `offside-eval` reads.

A folder holds the LoRA adapter (or full weights), the processor, `offside_lineage.json`
(parent, stage, method, hyperparameters, data identity, versions, git revision, final
losses, steps) and `train_log.jsonl`. Adapters name their parent, so
`offside_data.lineage.load_model` rebuilds any stage from its folder alone.
"""
from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from offside_data.benchmarks import get_benchmark
from offside_data.fileio import atomic_write_text
from offside_data.lineage import load_model, processor_source, write_lineage
from offside_data.options import missing_local_path
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


CHECKPOINT_FILES = ("offside_lineage.json", "config.json", "adapter_config.json", "model.safetensors")


def holds_checkpoint(folder: Path) -> bool:
    """A finished checkpoint or a started run's checkpoint-N is there."""
    return any((folder / name).exists() for name in CHECKPOINT_FILES) or any(folder.glob("checkpoint-*"))


def prepare_output_dir(cfg: TrainConfig) -> None:
    """Before any model loads: a mistyped local --model fails with the closest name (not as a hub id
    after minutes of retries); writing over the model being trained, or unless asked over an
    existing checkpoint, is refused; --overwrite_output_dir clears the folder first so no file of
    the old run (its train_log.jsonl, its checkpoint-N) mixes with the new one. (Checked here, not
    in the config: a planned pipeline stage's parent does not exist yet.)"""
    problem = missing_local_path(cfg.model)
    if problem:
        raise ConfigError(f"--model {cfg.model}: {problem}")
    out = Path(cfg.output_dir).resolve()
    model = Path(cfg.model).expanduser().resolve()
    if model.is_dir() and (out == model or model in out.parents):
        raise ConfigError(f"--out {cfg.output_dir}: it is --model's folder or inside it; training would overwrite "
                          "the model it starts from (and its lineage would name itself); choose another --out")
    if not out.is_dir() or not holds_checkpoint(out) or cfg.resume_from_checkpoint:
        return
    if not cfg.overwrite_output_dir:
        raise ConfigError(f"--out {cfg.output_dir}: already holds a checkpoint; pass --overwrite_output_dir to replace "
                          "it or --resume_from_checkpoint last to continue it")
    for entry in out.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def resume_from(cfg: TrainConfig) -> str | None:
    """--resume_from_checkpoint: `last` is the newest `checkpoint-N` in output_dir (None: start from scratch)."""
    if cfg.resume_from_checkpoint != "last":
        return cfg.resume_from_checkpoint
    return get_last_checkpoint(cfg.output_dir) if Path(cfg.output_dir).is_dir() else None


def finish_tracking(cfg: TrainConfig) -> None:
    """Close the W&B run `--report_to wandb` opened: transformers leaves it open until the process exits,
    and the pipeline trains every stage in one process (each stage must be its own run)."""
    wandb = sys.modules.get("wandb")
    if "wandb" in (cfg.report_to or []) and wandb is not None and wandb.run is not None:
        wandb.finish()


def interrupted_state(cfg: TrainConfig) -> str:
    """What an interrupted run left: its last checkpoint-N and how to continue, or that none was saved."""
    last = get_last_checkpoint(cfg.output_dir) if Path(cfg.output_dir).is_dir() else None
    if last is None:
        return "no checkpoint was saved (--save_strategy steps --save_steps N saves them)"
    return f"last checkpoint {last} is intact; rerun with --resume_from_checkpoint last to continue"


class ResumesSavedWeights:
    """Trainer mixin: resuming a full or `language` fine-tune reloads checkpoint-N's weights.

    transformers 5 saves a VLM's weights under its release's key names (the reverse of the
    conversion `from_pretrained` applies), but `Trainer` reloads them with a plain `load_state_dict`:
    no key matches and training silently goes on from the base weights. They are read back through
    `from_pretrained` instead and loaded strictly; adapters (peft) keep Trainer's own path.
    """

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        target = self.accelerator.unwrap_model(model or self.model)
        if hasattr(target, "peft_config") or self.is_deepspeed_enabled or self.is_fsdp_enabled:
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        saved = type(target).from_pretrained(resume_from_checkpoint, dtype=next(target.parameters()).dtype)
        target.load_state_dict(saved.state_dict())  # strict: a key that does not match is an error


def append_log(out: str | Path, entry: dict[str, Any]) -> None:
    """One JSON line more in OUT/train_log.jsonl (losses as logged, curve points)."""
    path = Path(out) / LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


class LogFileCallback(TrainerCallback):
    """Append every log entry (loss per term, lr, step) to OUT/train_log.jsonl as it happens; a
    resumed run first drops the entries written after the checkpoint it resumes from."""

    def __init__(self, out: str):
        self.out, self.file = out, Path(out) / LOG_FILE

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero and state.global_step and self.file.is_file():
            kept = [line for line in self.file.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line)["step"] <= state.global_step]
            atomic_write_text(self.file, "".join(line + "\n" for line in kept))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            append_log(self.out, {"step": state.global_step, **logs})


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
        finish_tracking(cfg)  # the end of every trained run, on every rank
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
        "benchmark": cfg.benchmark, **cfg.benchmark_options, "modality": cfg.modality, "finetune": cfg.finetune,
        "hyperparameters": cfg.to_dict(),
        "data": {"root": str(Path(cfg.data).resolve()), "fingerprint": get_benchmark(cfg.benchmark).data_id(cfg.data),
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
