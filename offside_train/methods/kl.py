"""KL minimisation: gradient ascent on forget steps, KL(reference || model) on retain answer tokens."""
from __future__ import annotations

from dataclasses import dataclass

from .base import RetainLoss, UnlearnConfig, register, retain_loss_option
from .ga import GradientAscent


@dataclass
class KLConfig(UnlearnConfig):
    """KL = GA + the KL retain term."""
    method = "kl"
    search_space = {**UnlearnConfig.search_space, "retain_weight": [1.0, 5.0]}  # open-unlearning's alpha = 1
    retain_loss: RetainLoss = retain_loss_option("kl")


register(KLConfig)(GradientAscent)
