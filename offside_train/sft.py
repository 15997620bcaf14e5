"""Vanilla SFT, relearning and the retain-only reference with TRL's SFTTrainer (data: the benchmark's hook).

TRL's own preparation would re-tokenize the chats with its template logic; dataset
preparation is skipped instead and the collator encodes records exactly as the evaluator
scores them (loss on the answer tokens and end-of-turn only).
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from transformers import TrainingArguments
from trl import SFTConfig, SFTTrainer

from .checkpoint import (
    LogFileCallback,
    ResumesSavedWeights,
    load_processor,
    load_trainable,
    prepare_output_dir,
    resume_from,
    save_checkpoint,
)
from .config import SFTRunConfig
from .data import IndexCollator, RecordCollator, load_records


class OffsideSFTTrainer(ResumesSavedWeights, SFTTrainer):
    """TRL's SFTTrainer, resuming full fine-tunes from their saved weights."""

    def create_model_card(self, *args, **kwargs) -> None:
        """No TRL card: it names the parent as a hub id ("fine-tuned version of [None]" for a local
        folder); the checkpoint's offside_lineage.json records the parent, data and options."""


def build_sft_trainer(cfg: SFTRunConfig):
    import datasets

    prepare_output_dir(cfg)
    items = load_records(cfg, cfg.role)
    processor = load_processor(cfg.model, cfg.prompt_format)
    collator = IndexCollator(items, RecordCollator(processor, cfg.max_length))
    # Every Trainer setting carries over; max_length is offside's (the collator enforces it), not TRL's.
    trainer_args = {f.name: getattr(cfg, f.name) for f in fields(TrainingArguments) if f.init}
    args = SFTConfig(**trainer_args, max_length=None, dataset_kwargs={"skip_prepare_dataset": True})
    trainer = OffsideSFTTrainer(
        model=load_trainable(cfg), args=args, processing_class=processor, data_collator=collator,
        train_dataset=datasets.Dataset.from_dict({"index": list(range(len(items)))}),
        callbacks=[LogFileCallback(cfg.output_dir)],
    )
    return trainer, processor, items


def run_sft(cfg: SFTRunConfig) -> Path:
    """Train and save; stage `sft` for the vanilla model, `relearn` for relearning."""
    trainer, processor, items = build_sft_trainer(cfg)
    trainer.train(resume_from_checkpoint=resume_from(cfg))
    return save_checkpoint(cfg, processor, cfg.stage, {cfg.role: len(items)}, trainer=trainer)
