"""Negative preference optimisation: (2/beta) * E_forget[log(1 + (pi_theta(y|x) / pi_ref(y|x))^beta)].

log pi(y|x) sums the answer tokens. pi_ref is the model before unlearning unless --ref_model
names another (the paper uses one fine-tuned on retain only). As beta -> 0 the loss is
2 log(2) / beta + E[log pi_theta - log pi_ref] + O(beta): gradient ascent on sequence
log-likelihood. retain_weight > 0 adds NLL(retain) steps on the balanced schedule.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import register
from .gd import GDConfig, GDTrainer


def npo_loss(logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """Mean over sequences; log(1 + r^beta) written as softplus(beta * log r) for stability."""
    return (2.0 / beta) * F.softplus(beta * (logp - ref_logp)).mean()


@dataclass
class NPOConfig(GDConfig):
    method: str = "npo"
    beta: float = 0.9
    retain_weight: float = 0.0
    ref_model: str | None = None  # default: the model being unlearned


@register("npo")
class NPOTrainer(GDTrainer):
    config_class = NPOConfig

    @classmethod
    def uses_retain(cls, cfg):
        return cfg.retain_weight > 0

    @classmethod
    def uses_reference(cls, cfg):
        return True

    def forget_loss(self, model, inputs):
        labels = inputs["labels"]
        logp = self.sequence_logprob(self.logits(model, inputs), labels)
        ref_logp = self.sequence_logprob(self.reference_logits(inputs), labels)
        return {"forget_npo": npo_loss(logp, ref_logp, self.cfg.beta)}
