"""SimNPO: reference-free, length-normalised NPO.

loss = -(2/beta) * E_forget[log sigmoid(-(beta/|y|) * log pi_theta(y|x) - gamma)], with |y|
the number of answer tokens: the shared preference loss with margin -log pi/|y| - gamma/beta.
Dividing by |y| stops long answers dominating, and no reference model is needed.
retain_weight > 0 adds NLL(retain) steps on the balanced schedule.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config import option
from .base import (
    RetainLoss,
    UnlearnConfig,
    UnlearnTrainer,
    preference_loss,
    register,
    retain_loss_option,
    retain_weight_option,
    token_logprobs,
)


@dataclass
class SimNPOConfig(UnlearnConfig):
    method = "simnpo"
    search_space = {**UnlearnConfig.search_space, "beta": [2.5, 4.5], "gamma": [0.0, 1.0]}
    beta: float = option(2.5, "Inverse temperature of the preference loss.")
    gamma: float = option(0.0, "Reward margin subtracted inside the sigmoid.")
    retain_loss: RetainLoss = retain_loss_option("nll")
    retain_weight: float = retain_weight_option(0.0)


@register(SimNPOConfig)
class SimNPOTrainer(UnlearnTrainer):
    def forget_loss(self, model, inputs):
        logps, mask = token_logprobs(self.logits(model, inputs), inputs["labels"])
        beta, lengths = self.cfg.beta, mask.sum(-1).clamp(min=1)
        return {"forget_simnpo": preference_loss(-logps.sum(-1) / lengths - self.cfg.gamma / beta, beta)}
