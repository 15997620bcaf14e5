"""`offside-train unlearn`: load the vanilla model, run one registered method, save with lineage."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from transformers import TrainerCallback

from offside_data.lineage import load_model

from .checkpoint import (
    LogFileCallback,
    load_processor,
    load_trainable,
    prepare_output_dir,
    resume_from,
    save_checkpoint,
)
from .data import load_records
from .methods import UnlearnConfig, WeightEditor


def load_reference(cfg: UnlearnConfig):
    """The frozen π_ref, loaded once: --ref_model, else a copy of --model unless LoRA can switch adapters off."""
    if not cfg.uses_reference or (cfg.ref_model is None and cfg.finetune == "lora"):
        return None  # LoRA: the frozen base with the adapter disabled is the model being unlearned
    import torch

    return load_model(cfg.ref_model or cfg.model, dtype=torch.bfloat16 if cfg.bf16 else torch.float32)


def build_unlearn_trainer(cfg: UnlearnConfig):
    """(the method's runner: an UnlearnTrainer or a WeightEditor, processor), ready to train / edit."""
    prepare_output_dir(cfg)
    forget = load_records(cfg, "forget")
    retain = load_records(cfg, "retain") if cfg.uses_retain else []
    processor = load_processor(cfg.model, cfg.prompt_format)
    if issubclass(cfg.runner, WeightEditor):
        return cfg.runner(load_trainable(cfg), cfg, processor, forget, retain), processor
    trainer = cfg.runner(load_trainable(cfg), cfg, processor, forget, retain, ref_model=load_reference(cfg),
                         callbacks=[LogFileCallback(cfg.output_dir)])
    return trainer, processor


def run_unlearn(cfg: UnlearnConfig, callbacks: Sequence[TrainerCallback] = ()) -> Path:
    """Unlearn and save; `callbacks` join the trainer's (e.g. curves.CurveCallback)."""
    runner, processor = build_unlearn_trainer(cfg)
    for callback in callbacks:
        if not isinstance(runner, WeightEditor):  # an edit has no steps to call back on
            runner.add_callback(callback)
    items = {"forget": len(runner.forget_items), "retain": len(runner.retain_items)}
    extra = {"method": cfg.method, "reference_model": cfg.ref_model or (cfg.model if cfg.uses_reference else None)}
    if isinstance(runner, WeightEditor):
        runner.edit()
        return save_checkpoint(cfg, processor, "unlearn", items, {**extra, **runner.lineage_extra()}, model=runner.model)
    runner.train(resume_from_checkpoint=resume_from(cfg))
    extra.update({"schedule": cfg.schedule if runner.retain_items else None,
                  "batches_by_role": runner.step_roles, **runner.lineage_extra()})
    return save_checkpoint(cfg, processor, "unlearn", items, extra, trainer=runner)
