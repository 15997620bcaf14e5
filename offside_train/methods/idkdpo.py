"""IdkDPO: DPO with a refusal as the chosen answer and the forget answer as the rejected one.

loss = -E_forget[log sigmoid(beta * ((log pi(y_w|x) - log pi_ref(y_w|x)) - (log pi(y_l|x) - log pi_ref(y_l|x))))]
(the shared preference loss at DPO's scale 1) with y_w a refusal (PO's IDK answers), y_l the
forget answer, log pi summed over answer tokens and pi_ref the model before unlearning
(--ref_model to override). Chosen and rejected rows share one padded batch, so each of the
policy and the reference runs one forward per step. retain_weight > 0 adds NLL(retain) steps.
"""
from __future__ import annotations

from dataclasses import dataclass

from offside_data.encode import encode_examples

from ..config import option
from ..data import RecordCollator
from .base import (
    RetainLoss,
    UnlearnConfig,
    UnlearnTrainer,
    preference_loss,
    register,
    retain_loss_option,
    retain_weight_option,
    sequence_logprob,
)
from .po import idk_answer


class PairCollator(RecordCollator):
    """Forget records -> one batch: the chosen (refusal) rows, then the rejected (original answer) rows."""

    def __call__(self, items):
        examples = [self.example(it) for it in items] + [self.example(it, it.answer) for it in items]
        return encode_examples(self.processor, examples, self.max_length)


@dataclass
class IdkDPOConfig(UnlearnConfig):
    method = "idkdpo"
    search_space = {**UnlearnConfig.search_space, "beta": [0.1, 0.5]}
    forget_uses_reference = True
    beta: float = option(0.1, "Inverse temperature of the DPO loss.")
    retain_loss: RetainLoss = retain_loss_option("nll")
    retain_weight: float = retain_weight_option(0.0)


@register(IdkDPOConfig)
class IdkDPOTrainer(UnlearnTrainer):
    def answer_for(self, item):
        return idk_answer(item, self.cfg.seed)

    def forget_collator(self, processor):
        cfg = self.cfg
        return PairCollator(processor, cfg.max_length, self.answer_for)

    def forget_loss(self, model, inputs):
        labels, half = inputs["labels"], inputs["labels"].shape[0] // 2
        logp = sequence_logprob(self.logits(model, inputs), labels)
        ref = self.reference_forward(lambda reference: sequence_logprob(self.logits(reference, inputs), labels))
        margin = (logp[:half] - ref[:half]) - (logp[half:] - ref[half:])
        return {"forget_idkdpo": preference_loss(margin, self.cfg.beta, scale=1.0)}
