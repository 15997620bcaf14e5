"""`offside-train unlearn`: load the vanilla model, run one registered method, save with lineage."""
from __future__ import annotations

from pathlib import Path

from offside_data.lineage import load_model

from .checkpoint import LogFileCallback, load_processor, load_trainable, resume_from, save_checkpoint
from .data import load_role
from .methods import UnlearnConfig, get_method


def load_reference(cfg: UnlearnConfig, trainer_cls):
    """The frozen π_ref, loaded once: --ref_model, else a copy of --model unless LoRA can switch adapters off."""
    if not trainer_cls.uses_reference(cfg):
        return None
    path = getattr(cfg, "ref_model", None)
    if path is None and cfg.finetune == "lora":
        return None  # the frozen base with the adapter disabled is the model being unlearned
    import torch

    return load_model(path or cfg.model, dtype=torch.bfloat16 if cfg.precision == "bf16" else torch.float32)


def build_unlearn_trainer(cfg: UnlearnConfig):
    trainer_cls = get_method(cfg.method)
    forget = load_role(cfg.data, "forget", cfg.setting, cfg.modality)
    retain = load_role(cfg.data, "retain", cfg.setting, cfg.modality) if trainer_cls.uses_retain(cfg) else []
    processor = load_processor(cfg.model)
    trainer = trainer_cls(load_trainable(cfg), cfg, processor, forget, retain, ref_model=load_reference(cfg, trainer_cls),
                          callbacks=[LogFileCallback(cfg.out)])
    return trainer, processor


def run_unlearn(cfg: UnlearnConfig) -> Path:
    cfg.validate()
    trainer, processor = build_unlearn_trainer(cfg)
    if trainer.trains:
        trainer.train(resume_from_checkpoint=resume_from(cfg))
    reference = getattr(cfg, "ref_model", None) or (cfg.model if trainer.uses_reference(cfg) else None)
    extra = {"method": cfg.method, "reference_model": reference,
             "schedule": cfg.schedule if trainer.retain_items else None,
             "batches_by_role": dict(trainer.step_roles), **trainer.lineage_extra()}
    items = {"forget": len(trainer.forget_items), "retain": len(trainer.retain_items)}
    return save_checkpoint(trainer, processor, cfg, "unlearn", items, extra)
