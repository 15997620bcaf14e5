"""Our models as lmms-eval models (`--model offside_qwen2_5_vl` / `offside_hf_vlm`).

Sign convention: lmms-eval 0.7.3's `multiple_choice` scoring takes the **argmin** of what
`loglikelihood` returns (its models return a loss; lmms-eval #370), so this adapter returns
(-sum of continuation log-probs, is_greedy): the negative log-likelihood. argmin(-ll) = argmax(ll)
and argmin(-ll/len) = argmax(ll/len), the first index winning ties in both, so lmms-eval's acc /
acc_norm pick the option offside-eval picks. Its `loglikelihood` output type then reports the NLL
under the name `perplexity`, as for lmms-eval's own models.

lmms-eval 0.7.3's evaluator passes every model output through `unwrap_generation_output`, which
turns a plain (float, bool) tuple into its string; each pair is therefore returned inside a
`GenerationResult`, whose `.text` that function hands on unchanged.
"""
from __future__ import annotations

import os
from typing import Any

import torch
from lmms_eval.api.instance import GenerationResult, Instance
from lmms_eval.api.model import lmms

from ..models import load_model
from ..models.base import ModelError
from ..requests import GenerationRequest, LoglikelihoodRequest


def _messages(context: str, n_images: int) -> list[dict]:
    """Images first, then the prompt: the user turn offside-eval builds (`Task.messages`)."""
    return [{"role": "user", "content": [{"type": "image"}] * n_images + [{"type": "text", "text": context}]}]


class OffsideLMMS(lmms):
    """Wraps one of our registered models (`backend`); model_args go to it unchanged."""

    backend = ""
    is_simple = True

    def __init__(self, batch_size: Any = None, max_batch_size: Any = None, device: str | None = None,
                 **model_args: Any) -> None:
        """lmms-eval adds its --batch_size/--device (max_batch_size has no meaning here)."""
        super().__init__()
        if str(batch_size).isdigit():  # "auto" (lmms-eval's batch-size search) keeps the model's default
            model_args.setdefault("batch_size", int(batch_size))
        if device is not None:
            model_args.setdefault("device", device)
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # `accelerate launch -m lmms_eval`: shard by rank
            from accelerate import PartialState

            state = PartialState(cpu=not torch.cuda.is_available())
            self._rank, self._world_size = state.process_index, state.num_processes
            model_args["device"] = str(state.device)
        self.lm = load_model(self.backend, model_args)

    def _visuals(self, doc_to_visual, doc_id, task, split) -> list[Any]:
        if doc_to_visual is None:
            return []
        visuals = doc_to_visual(self.task_dict[task][split][doc_id])
        if visuals is None:
            return []
        return list(visuals) if isinstance(visuals, (list, tuple)) else [visuals]

    def loglikelihood(self, requests: list[Instance]) -> list[GenerationResult]:
        reqs = []
        for inst in requests:
            if len(inst.args) == 2:  # acc_mutual_info's unconditional (context, continuation)
                context, continuation = inst.args
                reqs.append(LoglikelihoodRequest(_messages(context, 0), [], continuation))
                continue
            context, continuation, doc_to_visual, doc_id, task, split = inst.args
            visuals = self._visuals(doc_to_visual, doc_id, task, split)
            reqs.append(LoglikelihoodRequest(_messages(context, len(visuals)), visuals, continuation,
                                             (task, split, doc_id, context), task, doc_id))
        return [GenerationResult((-float(ll), bool(greedy))) for ll, greedy in self.lm.loglikelihood(reqs)]

    def generate_until(self, requests: list[Instance]) -> list[str]:
        reqs = []
        for inst in requests:
            context, gen_kwargs, doc_to_visual, doc_id, task, split = inst.args
            visuals = self._visuals(doc_to_visual, doc_id, task, split)
            reqs.append(GenerationRequest(_messages(context, len(visuals)), visuals, dict(gen_kwargs or {}),
                                          task, doc_id))
        return list(self.lm.generate_until(reqs))

    def generate_until_multi_round(self, requests) -> list[str]:
        raise ModelError(f"{type(self).__name__}: multi-round generation is not supported")


class OffsideQwen25VL(OffsideLMMS):
    backend = "qwen2_5_vl"


class OffsideHFVLM(OffsideLMMS):
    backend = "hf_vlm"
