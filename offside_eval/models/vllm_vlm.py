"""`vllm_vlm`: generation and log-likelihoods on vLLM (optional extra: pip install 'offside[vllm]').

Prompts are the text the HF backends build (the checkpoint's chat template through its own
processor) with the PIL images as `multi_modal_data`; vLLM expands each image placeholder into
its patch tokens itself. A continuation is scored from prompt log-probs of prompt + answer +
end-of-turn (`offside_data.encode.split_prompt_target`, the split training and `hf_vlm` score):
its tokens are the last `len(target)` prompt tokens, checked id by id, so the image expansion,
which happens before them, never moves the span.

The pure steps (request -> vLLM prompt, prompt log-probs -> (sum, greedy), gen_kwargs ->
SamplingParams arguments, GPU pinning per replica) need no vLLM import and are tested without it.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from offside_data.encode import split_prompt_target
from offside_data.lineage import processor_source, resolve_checkpoint

from ..requests import GenerationRequest, LoglikelihoodRequest
from .base import LMM, ModelError

VLLM_MISSING = "vllm_vlm needs the optional extra: pip install 'offside[vllm]'"
# Sampling keys a greedy request drops from the checkpoint's defaults (hf_vlm nulls the same ones).
_SAMPLING_KEYS = ("temperature", "top_p", "top_k", "min_p")
# gen_kwargs passed to SamplingParams under the same name.
_PASSTHROUGH = ("repetition_penalty", "top_k", "min_p", "seed", "presence_penalty", "frequency_penalty")


def vllm_prompt(text: str, visuals: Sequence[Any]) -> dict[str, Any]:
    """vLLM's prompt dict: text, plus the images (in placeholder order) when there are any."""
    prompt: dict[str, Any] = {"prompt": text}
    if visuals:
        prompt["multi_modal_data"] = {"image": list(visuals)}
    return prompt


def scoring_prompt(processor, req: LoglikelihoodRequest) -> tuple[dict[str, Any], list[int]]:
    """(vLLM prompt of the whole conversation, token ids of the target = answer + end-of-turn)."""
    tokenizer = getattr(processor, "tokenizer", processor)
    prompt_text, target_text = split_prompt_target(processor, list(req.messages), req.continuation)
    target = tokenizer(target_text, add_special_tokens=False)["input_ids"]
    return vllm_prompt(prompt_text + target_text, req.visuals), target


def continuation_span(prompt_token_ids: Sequence[int], target: Sequence[int]) -> range:
    """Positions of the target tokens: the end of the prompt, which must hold exactly `target`
    (a tokenizer that merges across the answer boundary is an error, as in the HF encoder)."""
    start = len(prompt_token_ids) - len(target)
    if not target or start < 1 or list(prompt_token_ids[start:]) != list(target):
        raise ModelError(f"vllm_vlm: the prompt does not end with the answer tokens {list(target)} "
                         f"(it ends with {list(prompt_token_ids[-len(target) or 1:])})")
    return range(start, len(prompt_token_ids))


def score_output(output, target: Sequence[int]) -> tuple[float, bool]:
    """(sum of the target tokens' prompt log-probs, every target token ranked first) from a
    RequestOutput (`prompt_token_ids`, `prompt_logprobs`: per position {token id: Logprob})."""
    ids = output.prompt_token_ids
    total, greedy = 0.0, True
    for pos in continuation_span(ids, target):
        entry = output.prompt_logprobs[pos][ids[pos]]
        total += entry.logprob
        greedy = greedy and entry.rank == 1
    return total, greedy


def sampling_kwargs(gen_kwargs: dict[str, Any], max_new_tokens: int,
                    checkpoint_defaults: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(SamplingParams arguments, strip the reply) for one request's gen_kwargs, decoding as
    `hf_vlm` does: the checkpoint's generation defaults, greedy unless a temperature is given;
    `use_checkpoint_generation_config: true` keeps the checkpoint's sampling settings;
    `until` strings stop generation (vLLM leaves them out of the text)."""
    kw = dict(gen_kwargs)
    until = kw.pop("until", None) or []
    until = [until] if isinstance(until, str) else [s for s in until if s]
    as_checkpoint = bool(kw.pop("use_checkpoint_generation_config", False))
    strip = bool(kw.pop("strip_reply", True))
    params = {k: v for k, v in checkpoint_defaults.items() if k != "max_new_tokens"}
    params["max_tokens"] = int(kw.pop("max_new_tokens", max_new_tokens))
    do_sample = kw.pop("do_sample", None)
    if as_checkpoint:
        params.update({k: kw.pop(k) for k in ("temperature", "top_p") if k in kw})
        if do_sample is False:
            params["temperature"] = 0.0
    else:
        for key in _SAMPLING_KEYS:
            params.pop(key, None)
        params["temperature"] = float(kw.pop("temperature", 0.0) or 0.0)
        top_p = kw.pop("top_p", None)
        if params["temperature"] > 0 and top_p is not None:
            params["top_p"] = float(top_p)
    if int(kw.pop("num_beams", 1)) != 1:
        raise ModelError("vllm_vlm: gen_kwargs num_beams > 1 is not supported (vLLM beam search is a separate API)")
    params.update({k: kw.pop(k) for k in _PASSTHROUGH if k in kw})
    if kw:
        raise ModelError(f"vllm_vlm: unsupported gen_kwargs {', '.join(sorted(kw))} "
                         f"(supported: until, max_new_tokens, temperature, top_p, do_sample, "
                         f"use_checkpoint_generation_config, strip_reply, {', '.join(_PASSTHROUGH)})")
    if until:
        params["stop"] = until
    return params, strip


def replica_devices(local_rank: int, tensor_parallel_size: int, visible: Sequence[str]) -> str:
    """CUDA_VISIBLE_DEVICES for one data-parallel replica: its own `tensor_parallel_size` GPUs."""
    first = local_rank * tensor_parallel_size
    if first + tensor_parallel_size > len(visible):
        raise ModelError(f"vllm_vlm: process {local_rank} needs GPUs {first}..{first + tensor_parallel_size - 1} "
                         f"(tensor_parallel_size={tensor_parallel_size}) but {len(visible)} are visible")
    return ",".join(visible[first:first + tensor_parallel_size])


class VLLMVLM(LMM):
    """Data parallelism: one process per replica (`accelerate launch -m offside_eval ...`); each
    process pins itself to its own `tensor_parallel_size` GPUs by LOCAL_RANK, because vLLM's
    `LLM(data_parallel_size=...)` refuses single-process use. `batch_size` is how many items the
    evaluator hands over per call (and journals together); vLLM schedules inside each call, so
    it is large by default."""

    name = "vllm_vlm"

    def __init__(self, pretrained: str | None = None, tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.9, max_model_len: int | None = None, dtype: str = "auto",
                 seed: int = 0, max_new_tokens: int = 64, max_images: int = 1, enforce_eager: bool = False,
                 enable_prefix_caching: bool = True, trust_remote_code: bool = False,
                 batch_size: int | str = 256, device: str | None = None, llm: Any = None, processor: Any = None):
        try:
            import vllm
        except ImportError:
            raise ModelError(VLLM_MISSING) from None
        if llm is None and not pretrained:
            raise ModelError(f"{self.name}: model_args must give pretrained=PATH_OR_HUB_ID")
        if device is not None and not str(device).startswith("cuda"):
            raise ModelError(f"{self.name}: runs on CUDA GPUs; device={device!r} is not supported")
        try:
            self.batch_size = int(batch_size)
        except ValueError:
            raise ModelError(f"{self.name}: batch_size must be an integer, not {batch_size!r}") from None
        base, adapters = resolve_checkpoint(pretrained) if pretrained else (pretrained, [])
        if adapters:
            raise ModelError(f"{self.name}: {pretrained} is an adapter checkpoint over {base}; vLLM loads full "
                             "weights: evaluate it with qwen2_5_vl / hf_vlm, or save a merged copy")
        self._vllm = vllm
        self.pretrained, self.max_new_tokens, self.seed = pretrained, int(max_new_tokens), int(seed)
        self.tensor_parallel_size = int(tensor_parallel_size)
        source = processor_source(pretrained) if pretrained and Path(str(pretrained)).exists() else pretrained
        if processor is None:
            from transformers import AutoProcessor

            processor = AutoProcessor.from_pretrained(source, trust_remote_code=trust_remote_code)
        self.processor = processor
        if llm is None:
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:
                visible = os.environ.get("CUDA_VISIBLE_DEVICES")
                local = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"]))
                ids = visible.split(",") if visible else [str(i) for i in range(local * self.tensor_parallel_size)]
                os.environ["CUDA_VISIBLE_DEVICES"] = replica_devices(int(os.environ.get("LOCAL_RANK", "0")),
                                                                     self.tensor_parallel_size, ids)
            llm = vllm.LLM(model=str(pretrained), tokenizer=str(source), tensor_parallel_size=self.tensor_parallel_size,
                           gpu_memory_utilization=float(gpu_memory_utilization), max_model_len=max_model_len,
                           dtype=dtype, seed=self.seed, limit_mm_per_prompt={"image": int(max_images)},
                           enforce_eager=bool(enforce_eager), enable_prefix_caching=bool(enable_prefix_caching),
                           trust_remote_code=trust_remote_code)
        self.llm, self.dtype = llm, dtype

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "pretrained": str(self.pretrained), "dtype": str(self.dtype),
                "tensor_parallel_size": self.tensor_parallel_size, "seed": self.seed,
                "batch_size": self.batch_size,
                "vllm": getattr(self._vllm, "__version__", "unknown")}

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest], progress: bool = True) -> list[tuple[float, bool]]:
        if any(r.details for r in requests):
            raise ModelError(f"{self.name}: per-token scores (details=True, the unlearning metrics' token_details) "
                             "are not supported; use qwen2_5_vl or hf_vlm for those tasks")
        prompts, targets = zip(*(scoring_prompt(self.processor, r) for r in requests)) if requests else ((), ())
        params = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1, detokenize=False)
        outputs = self.llm.generate(list(prompts), params, use_tqdm=progress)
        return [score_output(out, target) for out, target in zip(outputs, targets)]

    def generate_until(self, requests: Sequence[GenerationRequest], progress: bool = True) -> list[str]:
        defaults = self.llm.model_config.get_diff_sampling_param()
        prompts, params, strips = [], [], []
        for req in requests:
            text = self.processor.apply_chat_template(req.messages, add_generation_prompt=True, tokenize=False)
            kwargs, strip = sampling_kwargs(req.gen_kwargs, self.max_new_tokens, defaults)
            prompts.append(vllm_prompt(text, req.visuals))
            params.append(self._vllm.SamplingParams(**kwargs))
            strips.append(strip)
        outputs = self.llm.generate(prompts, params, use_tqdm=progress) if prompts else []
        return [out.outputs[0].text.strip() if strip else out.outputs[0].text for out, strip in zip(outputs, strips)]
