"""Helpers shared by the trainer tests."""
import torch

from offside_train.data import ItemCollator


def answer_nll(model, processor, items, root, answer_for=None):
    """Mean answer-token NLL of `items`, encoded exactly as training encodes them."""
    batch = ItemCollator(processor, root, 128, 256, answer_for)(items)
    model.eval()
    with torch.no_grad():
        return model(**batch).loss.item()
