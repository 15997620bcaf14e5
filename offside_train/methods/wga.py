"""WGA, weighted gradient ascent (Wang et al. 2025, "Rethinking LLM unlearning objectives").

Gradient ascent whose per-token NLL is weighted by the token's own probability p^beta
(weight detached): loss = -mean over forget answer tokens of p^beta * (-log p). Tokens the
model already finds unlikely get little push, so ascent does not run away on them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import option
from .base import UnlearnConfig, UnlearnTrainer, register, token_logprobs


def wga_loss(logits: torch.Tensor, labels: torch.Tensor, beta: float) -> torch.Tensor:
    logps, mask = token_logprobs(logits, labels)
    weight = (beta * logps).exp().detach()  # p^beta
    return (weight * logps)[mask].mean()


@dataclass
class WGAConfig(UnlearnConfig):
    method = "wga"
    search_space = {**UnlearnConfig.search_space, "beta": [0.5, 1.0]}
    beta: float = option(1.0, "Exponent of the token-probability weight p^beta; 0 is plain gradient ascent.")


@register(WGAConfig)
class WGATrainer(UnlearnTrainer):
    def forget_loss(self, model, inputs):
        return {"forget_wga": wga_loss(self.logits(model, inputs), inputs["labels"], self.cfg.beta)}
