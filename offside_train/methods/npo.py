"""Negative preference optimisation: (2/beta) * E_forget[log(1 + (pi_theta(y|x) / pi_ref(y|x))^beta)].

That is the shared preference loss -(2/beta) log sigmoid(beta * (log pi_ref - log pi_theta)),
log pi summed over answer tokens. pi_ref is the model before unlearning unless --ref_model
names another (the paper uses one fine-tuned on retain only). As beta -> 0 the loss is
2 log(2) / beta + E[log pi_theta - log pi_ref] + O(beta): gradient ascent on sequence
log-likelihood. retain_weight > 0 adds NLL(retain) steps on the balanced schedule.
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
    sequence_logprob,
)


@dataclass
class NPOConfig(UnlearnConfig):
    method = "npo"
    search_space = {**UnlearnConfig.search_space, "beta": [0.1, 0.9]}  # open-unlearning's 0.1; this default
    forget_uses_reference = True
    beta: float = option(0.9, "Inverse temperature of the preference loss.")
    retain_loss: RetainLoss = retain_loss_option("nll")
    retain_weight: float = retain_weight_option(0.0)


@register(NPOConfig)
class NPOTrainer(UnlearnTrainer):
    def forget_loss(self, model, inputs):
        labels = inputs["labels"]
        logp = sequence_logprob(self.logits(model, inputs), labels)
        ref_logp = sequence_logprob(self.reference_logits(inputs), labels)
        return {"forget_npo": preference_loss(ref_logp - logp, self.cfg.beta)}
