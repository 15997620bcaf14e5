"""A training run killed after a checkpoint and resumed ends where an uninterrupted run ends:
the same weights and the same logged losses, for every finetune mode and for unlearning methods."""
import json

import pytest
import torch
from train_helpers import config
from transformers import TrainerCallback

from offside_data.lineage import load_model, read_lineage
from offside_train.checkpoint import LOG_FILE
from offside_train.sft import build_sft_trainer, run_sft
from offside_train.unlearn import build_unlearn_trainer, run_unlearn

STEPS, SAVE_EVERY, KILL_AT = 4, 2, 3


class KillAt(TrainerCallback):
    """Ctrl-C in the middle of step KILL_AT, after checkpoint-SAVE_EVERY was written."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == KILL_AT:
            raise KeyboardInterrupt


def _cfg(stage, model, root, out, finetune, resume=None):
    return config(stage, model, root, out, finetune=finetune, learning_rate=1e-3, max_steps=STEPS,
                  per_device_train_batch_size=2, save_strategy="steps", save_steps=SAVE_EVERY, logging_steps=1,
                  resume_from_checkpoint=resume)


def _losses(out):
    return {e["step"]: e["loss"] for e in map(json.loads, (out / LOG_FILE).read_text().splitlines()) if "loss" in e}


CASES = [("sft", "full"), ("sft", "language"), ("sft", "lora"), ("ga", "full"), ("npo", "lora"), ("gd", "language")]


@pytest.mark.parametrize("stage,finetune", CASES)
def test_killed_and_resumed_equals_uninterrupted(stage, finetune, tiny_model_dir, mini_root, tmp_path):
    build, run = (build_sft_trainer, run_sft) if stage == "sft" else (build_unlearn_trainer, run_unlearn)
    whole = run(_cfg(stage, tiny_model_dir, mini_root, tmp_path / "whole", finetune))
    killed = tmp_path / "killed"
    trainer = build(_cfg(stage, tiny_model_dir, mini_root, killed, finetune))[0]
    trainer.add_callback(KillAt())
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    assert (killed / f"checkpoint-{SAVE_EVERY}").is_dir() and not (killed / f"checkpoint-{STEPS}").exists()
    resumed = run(_cfg(stage, tiny_model_dir, mini_root, killed, finetune, resume="last"))
    assert _losses(resumed) == pytest.approx(_losses(whole), rel=1e-5)
    assert sorted(_losses(resumed)) == list(range(1, STEPS + 1))  # the killed run's step 3 was dropped
    base, want, got = (dict(load_model(p).named_parameters()) for p in (tiny_model_dir, whole, resumed))
    assert any(not torch.equal(base[k], want[k]) for k in want)  # training moved the weights
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-6, msg=name)
    if stage != "sft":  # the schedule's batches count the steps before the checkpoint too
        assert read_lineage(resumed)["batches_by_role"] == read_lineage(whole)["batches_by_role"]
