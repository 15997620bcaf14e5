"""Preference optimisation (IDK tuning): NLL of refusal answers on forget steps, NLL(retain) on retain steps."""
from __future__ import annotations

import random
from dataclasses import dataclass

from .base import register
from .gd import GDConfig, GDTrainer

# Varied refusals, so the model learns to decline rather than one fixed string.
IDK_ANSWERS = (
    "I don't know.",
    "I'm not sure about that.",
    "I have no information on that.",
    "Sorry, I can't answer that question.",
    "That is something I can't tell you.",
    "I don't have reliable information about this.",
    "I'm unable to say.",
    "I can't confirm that.",
    "I have no knowledge of that.",
    "I'd rather not guess; I don't know.",
)


@dataclass
class POConfig(GDConfig):
    method: str = "po"


@register("po")
class POTrainer(GDTrainer):
    config_class = POConfig

    def answer_for(self, item):
        """A refusal fixed per item and seed, so a question keeps the same target across epochs."""
        return random.Random(f"{self.cfg.seed}:{item.id}").choice(IDK_ANSWERS)

    def forget_loss(self, model, inputs):
        return {"forget_idk_nll": self.nll(model, inputs)}
