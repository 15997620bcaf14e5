"""Gradient difference: GA on forget steps, NLL(retain) on retain steps of the balanced schedule."""
from __future__ import annotations

from dataclasses import dataclass

from .base import register
from .ga import GAConfig, GATrainer


@dataclass
class GDConfig(GAConfig):
    method: str = "gd"
    retain_weight: float = 1.0


@register("gd")
class GDTrainer(GATrainer):
    config_class = GDConfig

    @classmethod
    def uses_retain(cls, cfg):
        return True

    def retain_loss(self, model, inputs):
        return {"retain_nll": self.cfg.retain_weight * self.nll(model, inputs)}
