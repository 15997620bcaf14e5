"""Vanilla SFT (forget + retain) and relearning (relearn split) with TRL's SFTTrainer.

TRL's own preparation would re-tokenize the chats with its template logic; dataset
preparation is skipped instead and the collator encodes items exactly as the evaluator
scores them (loss on the answer tokens and end-of-turn only).
"""
from __future__ import annotations

from pathlib import Path

from .checkpoint import LogFileCallback, load_processor, load_trainable, resume_from, save_checkpoint
from .config import SFTRunConfig
from .data import IndexCollator, ItemCollator, load_role


def build_sft_trainer(cfg: SFTRunConfig):
    import datasets
    from trl import SFTConfig, SFTTrainer

    items = load_role(cfg.data, cfg.role, cfg.setting, cfg.modality)
    processor = load_processor(cfg.model)
    collator = IndexCollator(items, ItemCollator(processor, cfg.data, cfg.max_length, cfg.image_size))
    args = SFTConfig(**cfg.training_kwargs(), max_length=None, dataset_kwargs={"skip_prepare_dataset": True})
    trainer = SFTTrainer(
        model=load_trainable(cfg), args=args, processing_class=processor, data_collator=collator,
        train_dataset=datasets.Dataset.from_dict({"index": list(range(len(items)))}),
        callbacks=[LogFileCallback(cfg.out)],
    )
    return trainer, processor, items


def run_sft(cfg: SFTRunConfig) -> Path:
    """Train and save; stage `sft` for role train (vanilla), `relearn` for role relearn."""
    cfg.validate()
    trainer, processor, items = build_sft_trainer(cfg)
    trainer.train(resume_from_checkpoint=resume_from(cfg))
    stage = "relearn" if cfg.role == "relearn" else "sft"
    return save_checkpoint(trainer, processor, cfg, stage, {cfg.role: len(items)})
