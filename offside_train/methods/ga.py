"""Gradient ascent: minimise -NLL(forget), i.e. push the forget answers' likelihood down."""
from __future__ import annotations

from dataclasses import dataclass

from .base import UnlearnConfig, UnlearnTrainer, register


@dataclass
class GAConfig(UnlearnConfig):
    """GA: forget steps only (no retain term unless --retain_loss asks for one)."""

    method = "ga"


@register(GAConfig)
class GradientAscent(UnlearnTrainer):
    def forget_loss(self, model, inputs):
        return {"forget_neg_nll": -self.nll(model, inputs)}
