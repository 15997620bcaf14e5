"""Helpers shared by the trainer tests."""
import torch

from offside_train import build_config
from offside_train.data import RecordCollator


def answer_nll(model, processor, records, answer_for=None):
    """Mean answer-token NLL of `records`, encoded exactly as training encodes them."""
    batch = RecordCollator(processor, 128, answer_for)(records)
    model.eval()
    with torch.no_grad():
        return model(**batch).loss.item()


def config(stage, model, root, out, **options):
    """The validated config of a stage, quiet, as the pipeline builds it."""
    return build_config(stage, {"model": str(model), "data": str(root), "output_dir": str(out), "disable_tqdm": True,
                                **options}, "test")


def train_vanilla(tiny_model_dir, root, out):
    """A briefly full-fine-tuned tiny model: the parent every unlearning test starts from."""
    from offside_train.sft import run_sft

    return run_sft(config("sft", tiny_model_dir, root, out, finetune="full", learning_rate=1e-3, max_steps=4,
                          per_device_train_batch_size=4))
