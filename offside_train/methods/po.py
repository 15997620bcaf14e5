"""Preference optimisation (IDK tuning): NLL of refusal answers on forget steps, NLL(retain) on retain steps."""
from __future__ import annotations

import random
from dataclasses import dataclass

from offside_data.records import TrainRecord

from .base import RetainLoss, UnlearnConfig, UnlearnTrainer, register, retain_loss_option

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


def idk_answer(item: TrainRecord, seed: int) -> str:
    """A refusal fixed per item and seed, so a question keeps the same target across epochs."""
    return random.Random(f"{seed}:{item.id}").choice(IDK_ANSWERS)


@dataclass
class POConfig(UnlearnConfig):
    method = "po"
    retain_loss: RetainLoss = retain_loss_option("nll")


@register(POConfig)
class POTrainer(UnlearnTrainer):
    def answer_for(self, item):
        return idk_answer(item, self.cfg.seed)

    def forget_loss(self, model, inputs):
        return {"forget_idk_nll": self.nll(model, inputs)}
