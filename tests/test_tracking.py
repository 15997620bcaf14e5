"""Tracking, offline: an evaluation's metrics land in a W&B run (--wandb_args, mode=offline) equal to
results.json's, training reports through --report_to wandb, and a bad --wandb_args is one line."""
import json

import pytest
from train_helpers import config

from offside_eval import evaluate
from offside_eval.results import EvalError
from offside_train.sft import run_sft


@pytest.fixture(scope="module")
def offline_wandb(tmp_path_factory):
    """One offline W&B folder for the module: wandb keeps its first settings for the whole process."""
    root = tmp_path_factory.mktemp("wandb")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {"WANDB_MODE": "offline", "WANDB_DIR": str(root), "WANDB_SILENT": "true",
                           "WANDB_DISABLE_GIT": "true"}.items():
            patch.setenv(key, value)
        yield root


def _logged(root, *keys: str) -> bool:
    """Some offline run's record file (run-*.wandb: the protobuf stream `wandb sync` uploads) holds every key,
    with its value as JSON right after it."""
    return any(all(key.encode() in path.read_bytes() for key in keys) for path in root.glob("wandb/offline-run-*/*.wandb"))


def test_evaluation_metrics_go_to_an_offline_wandb_run(offline_wandb, tiny_model_dir):
    out = evaluate("hf_vlm", {"pretrained": str(tiny_model_dir)}, "offside_forget_mm_mc", limit=2, progress=False,
                   verbosity="ERROR", wandb_args="project=offside-test,name=tiny,mode=offline")
    acc = out["results"]["offside_forget_mm_mc"]["acc"]
    assert _logged(offline_wandb, "offside_forget_mm_mc/acc", "offside_forget_mm_mc/acc_norm", json.dumps(acc))


def test_training_reports_to_wandb(offline_wandb, tiny_model_dir, mini_root, tmp_path):
    run_sft(config("sft", tiny_model_dir, mini_root, tmp_path / "sft", finetune="full", max_steps=1,
                   logging_steps=1, report_to="wandb", run_name="sft-tiny"))
    assert _logged(offline_wandb, "train/loss", "sft-tiny")


def test_wandb_args_without_a_project_fail_before_work(tiny_model_dir):
    with pytest.raises(EvalError, match="--wandb_args: name the project"):
        evaluate("hf_vlm", {"pretrained": str(tiny_model_dir)}, "offside_forget_mm_mc", wandb_args="name=x")
