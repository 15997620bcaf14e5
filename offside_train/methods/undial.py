"""UNDIAL, self-distillation with adjusted logits (Dong et al. 2024).

Targets: the frozen reference's next-token distribution with the gold token's logit lowered
by beta, softmax(z_ref - beta * onehot(y)). Loss: cross-entropy of the model to those
targets, averaged over forget answer tokens. The model is pulled only as far as the targets
say, so unlearning cannot run away as gradient ascent does.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from offside_data.encode import IGNORE_INDEX

from ..config import option
from .base import UnlearnConfig, UnlearnTrainer, register


def undial_loss(logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor, beta: float) -> torch.Tensor:
    labels = labels[:, 1:]
    mask = labels != IGNORE_INDEX
    gold = F.one_hot(labels[mask], ref_logits.shape[-1]).float()
    targets = (ref_logits[:, :-1][mask].float() - beta * gold).softmax(-1)
    return -(targets * logits[:, :-1][mask].float().log_softmax(-1)).sum(-1).mean()


@dataclass
class UNDIALConfig(UnlearnConfig):
    method = "undial"
    search_space = {**UnlearnConfig.search_space, "beta": [3.0, 10.0]}
    forget_uses_reference = True
    beta: float = option(10.0, "How far the gold token's logit is lowered in the distillation targets.")


@register(UNDIALConfig)
class UNDIALTrainer(UnlearnTrainer):
    def forget_loss(self, model, inputs):
        ref_logits = self.reference_logits(inputs)
        return {"forget_undial": undial_loss(self.logits(model, inputs), ref_logits, inputs["labels"], self.cfg.beta)}
