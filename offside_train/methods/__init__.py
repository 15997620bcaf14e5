"""Unlearning methods, registered by name: one config dataclass + the class that runs it, one file each."""
from . import ga, gd, idkdpo, kl, manu, mmu, npo, po, rmu, simnpo, undial, wga  # noqa: F401  (importing registers)
from .base import METHODS, BalancedBatchSampler, UnlearnConfig, UnlearnTrainer, WeightEditor, get_method, register

__all__ = ["METHODS", "BalancedBatchSampler", "UnlearnConfig", "UnlearnTrainer", "WeightEditor", "get_method",
           "register"]
