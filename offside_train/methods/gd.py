"""Gradient difference: gradient ascent on forget steps, NLL(retain) on retain steps."""
from __future__ import annotations

from dataclasses import dataclass

from .base import RetainLoss, UnlearnConfig, register, retain_loss_option
from .ga import GradientAscent


@dataclass
class GDConfig(UnlearnConfig):
    """GD = GA + the NLL retain term."""
    method = "gd"
    search_space = {**UnlearnConfig.search_space, "retain_weight": [1.0, 5.0]}  # open-unlearning's alpha = 1
    retain_loss: RetainLoss = retain_loss_option("nll")


register(GDConfig)(GradientAscent)
