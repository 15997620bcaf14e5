"""KL minimisation: GA on forget steps; on retain steps KL(p_ref || p_current) over answer tokens.

Direction: the frozen reference (the model before unlearning) is the first argument, so the
term is sum_v p_ref(v) * (log p_ref(v) - log p_cur(v)), averaged over retain answer tokens. It
is 0 while the current model equals the reference and grows as retain predictions drift.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from offside_data.encode import IGNORE_INDEX

from .base import register
from .ga import GAConfig, GATrainer


def kl_ref_to_current(ref_logits: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over answer positions of KL(softmax(ref) || softmax(current)), shifted like the NLL."""
    mask = labels[:, 1:] != IGNORE_INDEX
    ref_logp = ref_logits[:, :-1].float().log_softmax(-1)[mask]
    cur_logp = logits[:, :-1].float().log_softmax(-1)[mask]
    return (ref_logp.exp() * (ref_logp - cur_logp)).sum(-1).mean()


@dataclass
class KLConfig(GAConfig):
    method: str = "kl"
    kl_weight: float = 1.0
    ref_model: str | None = None  # default: the model being unlearned


@register("kl")
class KLTrainer(GATrainer):
    config_class = KLConfig

    @classmethod
    def uses_retain(cls, cfg):
        return True

    @classmethod
    def uses_reference(cls, cfg):
        return True

    def retain_loss(self, model, inputs):
        kl = kl_ref_to_current(self.reference_logits(inputs), self.logits(model, inputs), inputs["labels"])
        return {"retain_kl": self.cfg.kl_weight * kl}
