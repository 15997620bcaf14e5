"""IdkDPO: DPO with a refusal as the chosen answer and the forget answer as the rejected one.

loss = -E_forget[log sigmoid(beta * ((log pi(y_w|x) - log pi_ref(y_w|x)) - (log pi(y_l|x) - log pi_ref(y_l|x))))]
with y_w a refusal (PO's IDK answers, fixed per item and seed), y_l the forget answer, log pi
summed over answer tokens and pi_ref the model before unlearning (--ref_model to override).
TRL computes this loss inside DPOTrainer._compute_loss on its own concatenated batches,
not as a reusable function, so the sigmoid loss is written out here. retain_weight > 0
adds NLL(retain) steps on the balanced schedule.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data import ItemCollator
from .base import register
from .po import POConfig, POTrainer


def dpo_loss(chosen: torch.Tensor, rejected: torch.Tensor, ref_chosen: torch.Tensor, ref_rejected: torch.Tensor,
             beta: float) -> torch.Tensor:
    """Mean over pairs of -log sigmoid(beta * (chosen log-ratio - rejected log-ratio))."""
    return -F.logsigmoid(beta * ((chosen - ref_chosen) - (rejected - ref_rejected))).mean()


class PairCollator:
    """Forget items -> the refusal (chosen) batch plus the original answers under `rejected`."""

    def __init__(self, chosen: ItemCollator, rejected: ItemCollator):
        self.chosen, self.rejected = chosen, rejected

    def __call__(self, items):
        return {**self.chosen(items), "rejected": self.rejected(items)}


@dataclass
class IdkDPOConfig(POConfig):
    method: str = "idkdpo"
    beta: float = 0.1
    retain_weight: float = 0.0
    ref_model: str | None = None  # default: the model being unlearned


@register("idkdpo")
class IdkDPOTrainer(POTrainer):
    config_class = IdkDPOConfig

    @classmethod
    def uses_retain(cls, cfg):
        return cfg.retain_weight > 0

    @classmethod
    def uses_reference(cls, cfg):
        return True

    def setup(self):
        cfg = self.cfg
        self.role_collator.forget = PairCollator(self.role_collator.forget,
                                                 ItemCollator(self.processing_class, cfg.data, cfg.max_length, cfg.image_size))

    def _logps(self, model, inputs):
        return self.sequence_logprob(self.logits(model, inputs), inputs["labels"])

    def forget_loss(self, model, inputs):
        rejected = inputs.pop("rejected")
        ref_chosen, ref_rejected = self.reference_forward(lambda ref: (self._logps(ref, inputs), self._logps(ref, rejected)))
        loss = dpo_loss(self._logps(model, inputs), self._logps(model, rejected), ref_chosen, ref_rejected, self.cfg.beta)
        return {"forget_idkdpo": loss}
