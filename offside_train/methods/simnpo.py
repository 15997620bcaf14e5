"""SimNPO: reference-free, length-normalised NPO.

loss = -(2/beta) * E_forget[log sigmoid(-(beta/|y|) * log pi_theta(y|x) - gamma)], with
|y| the number of answer tokens. Dividing by |y| stops long answers dominating, and no
reference model is needed. retain_weight > 0 adds NLL(retain) steps on the balanced schedule.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import register, token_logprobs
from .gd import GDConfig, GDTrainer


def simnpo_loss(logp: torch.Tensor, lengths: torch.Tensor, beta: float, gamma: float) -> torch.Tensor:
    """Mean over sequences of -(2/beta) log sigmoid(-(beta/|y|) log pi(y|x) - gamma)."""
    return -(2.0 / beta) * F.logsigmoid(-(beta / lengths) * logp - gamma).mean()


@dataclass
class SimNPOConfig(GDConfig):
    method: str = "simnpo"
    beta: float = 2.5
    gamma: float = 0.0
    retain_weight: float = 0.0


@register("simnpo")
class SimNPOTrainer(GDTrainer):
    config_class = SimNPOConfig

    @classmethod
    def uses_retain(cls, cfg):
        return cfg.retain_weight > 0

    def forget_loss(self, model, inputs):
        logps, mask = token_logprobs(self.logits(model, inputs), inputs["labels"])
        return {"forget_simnpo": simnpo_loss(logps.sum(-1), mask.sum(-1).clamp(min=1), self.cfg.beta, self.cfg.gamma)}
