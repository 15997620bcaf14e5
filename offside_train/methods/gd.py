"""Gradient difference: gradient ascent on forget steps, NLL(retain) on retain steps."""
from __future__ import annotations

from dataclasses import dataclass

from .base import RetainLoss, UnlearnConfig, register, retain_loss_option
from .ga import GradientAscent


@dataclass
class GDConfig(UnlearnConfig):
    """GD = GA + the NLL retain term."""

    method = "gd"
    retain_loss: RetainLoss = retain_loss_option("nll")


register(GDConfig)(GradientAscent)
