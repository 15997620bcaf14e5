"""Unlearning methods, registered by name: one config dataclass + one trainer file each."""
from . import ga, gd, idkdpo, kl, manu, mmu, npo, po, rmu, simnpo  # noqa: F401  (importing registers the methods)
from .base import METHODS, BalancedBatchSampler, UnlearnConfig, UnlearnTrainer, get_method, register

__all__ = ["METHODS", "BalancedBatchSampler", "UnlearnConfig", "UnlearnTrainer", "get_method", "register"]
