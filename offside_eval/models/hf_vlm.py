"""`hf_vlm`: any Hugging Face image-text-to-text checkpoint (AutoModelForImageTextToText +
AutoProcessor), prompted with the checkpoint's own chat template (`prompt_format=prefix`: PaliGemma
style, for checkpoints without one).

Log-likelihoods go through `offside_data.encode.encode_examples`, the encoder training
uses, so a continuation is scored on exactly the tokens a training sample of it would be
trained on: the answer and the end-of-turn token after the assistant prefix.
"""
from __future__ import annotations

import json
import logging
import types
from collections.abc import Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from offside_data.encode import IGNORE_INDEX, Example, encode_examples, process_padded, render_prompt, use_prompt_format

from ..requests import GenerationRequest, LoglikelihoodRequest, prompt_length
from . import prefix_scoring
from .base import LMM, ModelError

log = logging.getLogger("offside_eval")

# Processors whose per-image outputs concatenate along dim 0 (so one image's preprocessing
# can be cached and reused in any batch).
_CACHEABLE_IMAGE_OUTPUTS = {"qwen2_vl", "qwen2_5_vl", "qwen3_vl", "llava"}
_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
           "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def _resolve_dtype(dtype: Any, device: str) -> Any:
    if dtype is None:
        return torch.float32 if device == "cpu" else "auto"
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    if dtype not in _DTYPES:
        raise ModelError(f"unknown dtype {dtype!r} (choose from auto, {', '.join(_DTYPES)})")
    return _DTYPES[dtype]


def install_image_cache(processor) -> None:
    """Preprocess each distinct image object once per processor (keyed by identity, refs kept)."""
    original = processor._process_images
    cache: dict[tuple, tuple[Any, Any]] = {}

    def cached(self, images, **kwargs):
        flat = images if isinstance(images, (list, tuple)) else [images]
        flat = [im for row in flat for im in (row if isinstance(row, (list, tuple)) else [row])]  # per-prompt lists
        key_kwargs = repr(sorted(kwargs.items()))
        parts = []
        for image in flat:
            key = (id(image), key_kwargs)
            if key not in cache:
                processed, replacement = original([image], **kwargs)
                cache[key] = (image, processed, replacement)  # the image ref keeps id() unique
            parts.append(cache[key])
        merged = {}
        for name in parts[0][1].keys():
            values = [p[1][name] for p in parts]
            if all(isinstance(v, torch.Tensor) for v in values):
                merged[name] = torch.cat(values, dim=0)
            elif all(isinstance(v, list) for v in values):
                merged[name] = [x for v in values for x in v]
            else:
                return original(images, **kwargs)
        replacements = [r for p in parts for r in p[2]]
        return type(parts[0][1])(merged), replacements

    processor._process_images = types.MethodType(cached, processor)
    processor._offside_image_cache = cache


def _runs(items: Sequence[Any], key) -> list[list[Any]]:
    """Consecutive items of equal `key`, one list per run: a batch never mixes image and text-only
    prompts (Mllama's processor cannot batch them) nor generation settings."""
    runs: list[list[Any]] = []
    for item in items:
        if runs and key(runs[-1][0]) == key(item):
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


class HFVLM(LMM):
    name = "hf_vlm"

    def __init__(self, pretrained: str | None = None, adapter: str | None = None, dtype: Any = None,
                 device: str | None = None, device_map: Any = None, attn_implementation: str | None = None,
                 batch_size: int | str = 1, trust_remote_code: bool = False, max_new_tokens: int = 64,
                 model: Any = None, processor: Any = None, cache_images: bool = True, shared_prefix: bool = True,
                 max_batch_size: int = 64, prompt_format: str = "chat", **processor_kwargs):
        if model is None and not pretrained:
            raise ModelError(f"{self.name}: model_args must give pretrained=PATH_OR_HUB_ID")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.auto_batch = str(batch_size) == "auto"
        try:
            self.batch_size = int(max_batch_size if self.auto_batch else batch_size)
        except ValueError:
            raise ModelError(f"batch_size must be an integer or auto, not {batch_size!r}") from None
        if self.batch_size < 1:
            raise ModelError("batch_size must be >= 1")
        self.shared_prefix = shared_prefix
        self.prefix_fallbacks = 0  # MC items scored per option because their prefix could not be shared
        self.max_new_tokens = int(max_new_tokens)
        self.pretrained, self.adapter = pretrained, adapter
        self.model = model if model is not None else self._load_model(pretrained, adapter, dtype, device_map,
                                                                      attn_implementation, trust_remote_code)
        if device_map is None and model is None:
            self.model.to(self.device)
        self.model.eval()
        self.processor = processor if processor is not None else self._load_processor(
            pretrained, adapter, trust_remote_code, processor_kwargs)
        try:
            use_prompt_format(self.processor, prompt_format)
        except ValueError as exc:
            raise ModelError(f"{self.name}: {exc}") from None
        tok = self.tokenizer
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        model_type = getattr(self.model.config, "model_type", "")
        if cache_images and model_type in _CACHEABLE_IMAGE_OUTPUTS and hasattr(self.processor, "_process_images"):
            install_image_cache(self.processor)
        self.model_type = model_type

    # ---- loading ------------------------------------------------------------------------
    def _model_cls(self):
        return None  # AutoModelForImageTextToText

    def _load_model(self, pretrained, adapter, dtype, device_map, attn_implementation, trust_remote_code):
        from offside_data.lineage import load_model

        kwargs = {"trust_remote_code": trust_remote_code} if trust_remote_code else {}
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        try:
            model = load_model(pretrained, dtype=_resolve_dtype(dtype, self.device), device_map=device_map,
                               model_cls=self._model_cls(), **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelError(f"{self.name}: cannot load pretrained={pretrained!r}: {str(exc).splitlines()[0]}") from exc
        if adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        return model

    def _load_processor(self, pretrained, adapter, trust_remote_code, processor_kwargs):
        from pathlib import Path

        from transformers import AutoProcessor

        from offside_data.lineage import processor_source

        source = None
        if adapter and any((Path(adapter) / n).exists() for n in ("processor_config.json", "tokenizer_config.json")):
            source = adapter
        source = source or (processor_source(pretrained) if Path(str(pretrained)).exists() else pretrained)
        return AutoProcessor.from_pretrained(source, trust_remote_code=trust_remote_code, **processor_kwargs)

    @property
    def tokenizer(self):
        return getattr(self.processor, "tokenizer", self.processor)

    def chat_prompt(self, messages: list[dict]) -> str:
        """The prompt text the encoder gives the model, in the checkpoint's prompt format (chat or prefix)."""
        return render_prompt(self.processor, list(messages))

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "pretrained": str(self.pretrained), "adapter": self.adapter,
                "model_class": type(self.model).__name__, "dtype": str(next(self.model.parameters()).dtype),
                "device": str(next(self.model.parameters()).device), "batch_size": self.batch_size,
                "auto_batch": self.auto_batch, "shared_prefix": self.shared_prefix}

    def _to_device(self, batch: dict) -> dict:
        device = next(self.model.parameters()).device
        dtype = next(self.model.parameters()).dtype
        out = {}
        for k, v in batch.items():
            if isinstance(v, torch.Tensor):
                v = v.to(device)
                if v.is_floating_point():
                    v = v.to(dtype)
            out[k] = v
        return out

    # ---- log-likelihood -------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest], progress: bool = True) -> list[tuple[float, bool]]:
        if any(r.details for r in requests):
            return self._with_details(requests, progress)
        groups: dict[Any, list[int]] = {}
        for i, req in enumerate(requests):
            key = ("group", req.group) if req.group is not None else ("single", i)
            groups.setdefault(key, []).append(i)
        # Longest first: the first batch is the largest, so out-of-memory shows at once.
        ordered = sorted(groups.values(), key=lambda idx: -(prompt_length(requests[idx[0]].messages,
                                                                          requests[idx[0]].visuals)
                                                             + max(len(requests[i].continuation) for i in idx)))
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        bar = tqdm(total=len(requests), desc="loglikelihood", disable=not progress, leave=False)

        def score(chunk):  # a chunk is batch_size contexts (MC items)
            for group, scores in zip(chunk, self._score_groups([[requests[i] for i in g] for g in chunk])):
                for i, res in zip(group, scores):
                    results[i] = res
                bar.update(len(group))

        for run in _runs(ordered, lambda idx: bool(requests[idx[0]].visuals)):
            self._in_batches(run, score)
        bar.close()
        return results  # type: ignore[return-value]

    def _with_details(self, requests: Sequence[LoglikelihoodRequest], progress: bool) -> list:
        """Detailed requests (unlearning metrics) get `token_details` dicts, the others the usual tuples."""
        from .token_details import score_with_details

        detailed = [i for i, r in enumerate(requests) if r.details]
        plain = [i for i, r in enumerate(requests) if not r.details]
        results: list = [None] * len(requests)
        for i, res in zip(plain, self.loglikelihood([requests[i] for i in plain], progress) if plain else []):
            results[i] = res
        bar = tqdm(total=len(detailed), desc="token scores", disable=not progress, leave=False)

        def score(chunk):
            for i, res in zip(chunk, score_with_details(self.model, self.processor, [requests[i] for i in chunk],
                                                        self._to_device)):
                results[i] = res
            bar.update(len(chunk))

        for run in _runs(detailed, lambda i: bool(requests[i].visuals)):
            self._in_batches(run, score)
        bar.close()
        return results

    def _in_batches(self, items: Sequence[Any], run) -> None:
        """Call `run` on consecutive chunks of `batch_size` items; with batch_size=auto, a chunk that
        runs out of memory is retried at half the size, which then stays for the rest."""
        pos = 0
        while pos < len(items):
            chunk = items[pos:pos + self.batch_size]
            try:
                run(chunk)
            except torch.OutOfMemoryError:
                if not self.auto_batch or self.batch_size == 1:
                    raise
                self.batch_size //= 2
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                log.warning("out of memory: batch_size=auto lowered to %d", self.batch_size)
                continue
            pos += len(chunk)

    def _score_groups(self, groups: Sequence[Sequence[LoglikelihoodRequest]]) -> list[list[tuple[float, bool]]]:
        """Shared-prefix scoring per item; items whose prefix cannot be shared go per option."""
        plans = [prefix_scoring.plan_item(self.processor, g) if self.shared_prefix else None for g in groups]
        if self.shared_prefix:
            self.prefix_fallbacks += sum(p is None for p in plans)
        shared = [p for p in plans if p is not None]
        shared_scores = iter(prefix_scoring.score_items(self.model, self.processor, shared, self._to_device)
                             if shared else [])
        single = [r for g, p in zip(groups, plans) if p is None for r in g]
        single_scores = iter(self._score(single) if single else [])
        return [next(shared_scores) if p is not None else [next(single_scores) for _ in g]
                for g, p in zip(groups, plans)]

    @torch.inference_mode()
    def _score(self, reqs: Sequence[LoglikelihoodRequest]) -> list[tuple[float, bool]]:
        examples = [Example(list(r.messages), r.continuation, list(r.visuals)) for r in reqs]
        batch = encode_examples(self.processor, examples)
        labels = batch.pop("labels")
        width = labels.shape[1]
        first = min(int((row != IGNORE_INDEX).nonzero()[0]) for row in labels)
        keep = width - first + 1  # logits from the position predicting the earliest target token
        logits = self.model(**self._to_device(batch), logits_to_keep=keep).logits.float().cpu()
        logits = logits[:, -keep:-1]
        targets = labels[:, width - keep + 1:]
        mask = targets != IGNORE_INDEX
        safe = targets.clamp(min=0)
        logprobs = torch.log_softmax(logits, dim=-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
        sums = (logprobs * mask).sum(dim=1)
        greedy = ((logits.argmax(dim=-1) == safe) | ~mask).all(dim=1)
        return [(float(s), bool(g)) for s, g in zip(sums.tolist(), greedy.tolist())]

    # ---- generation -----------------------------------------------------------------------
    def generate_until(self, requests: Sequence[GenerationRequest], progress: bool = True) -> list[str]:
        order = sorted(range(len(requests)), key=lambda i: (json.dumps(requests[i].gen_kwargs, sort_keys=True),
                                                            -prompt_length(requests[i].messages, requests[i].visuals)))
        results: list[str | None] = [None] * len(requests)
        bar = tqdm(total=len(requests), desc="generate", disable=not progress, leave=False)
        # same gen_kwargs, longest prompt first: batches hold similar lengths
        runs = _runs(order, lambda i: (json.dumps(requests[i].gen_kwargs, sort_keys=True), bool(requests[i].visuals)))

        def generate(chunk):
            for i, text in zip(chunk, self._generate([requests[i] for i in chunk], requests[chunk[0]].gen_kwargs)):
                results[i] = text
            bar.update(len(chunk))

        for run in runs:
            self._in_batches(run, generate)
        bar.close()
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def _generate(self, reqs: Sequence[GenerationRequest], kw: dict[str, Any]) -> list[str]:
        """Greedy unless a temperature is given. Two keys serve protocols that decode the way a
        reference script does: `use_checkpoint_generation_config: true` passes only the explicit
        keys to `generate` (sampling settings then come from the checkpoint's generation_config),
        `strip_reply: false` returns the decoded text as it is. A row stops at its EOS or at an
        `until` string inside `generate`; the text is still cut at the first `until` string."""
        kw = dict(kw)
        until = kw.pop("until", None) or []
        until = [until] if isinstance(until, str) else list(until)
        as_checkpoint = bool(kw.pop("use_checkpoint_generation_config", False))
        strip = bool(kw.pop("strip_reply", True))
        gen = {"max_new_tokens": int(kw.pop("max_new_tokens", self.max_new_tokens))}
        if not as_checkpoint:
            temperature = float(kw.pop("temperature", 0.0) or 0.0)
            if temperature > 0:
                gen.update(do_sample=True, temperature=temperature, top_p=kw.pop("top_p", 1.0))
            else:
                kw.pop("top_p", None)
                gen.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            kw.pop("do_sample", None)
        gen.update(kw)  # num_beams, repetition_penalty, ...
        tok = self.tokenizer
        if any(until):
            gen.update(stop_strings=[s for s in until if s], tokenizer=tok)
        prompts = [render_prompt(self.processor, r.messages) for r in reqs]
        batch = process_padded(self.processor, prompts, [list(r.visuals) for r in reqs], "left")
        out = self.model.generate(**self._to_device(dict(batch)), **gen, pad_token_id=tok.pad_token_id)
        texts = tok.batch_decode(out[:, batch["input_ids"].shape[1]:].cpu(), skip_special_tokens=True,
                                 clean_up_tokenization_spaces=False)
        cleaned = []
        for text in texts:
            for stop in until:
                if stop and stop in text:
                    text = text.split(stop, 1)[0]
            cleaned.append(text.strip() if strip else text)
        return cleaned
