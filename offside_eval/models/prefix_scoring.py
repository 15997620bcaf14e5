"""Shared-prefix log-likelihoods: the options of one MC item share the image, the question
and the assistant prefix, so that prefix runs through the model once and its KV cache is
copied to every option, which then only runs its own answer tokens.

Positions follow `generate`'s own path (`_prepare_position_ids_for_generation`, left-padded
prefill, then text positions + Qwen2.5-VL's `rope_deltas` for the tokens after the cache),
so a score equals the per-option forward pass of `offside_data.encode.encode_examples`.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from offside_data.encode import process_padded, split_prompt_target


@dataclass
class PrefixItem:
    prompt_text: str  # chat template output up to and including the assistant prefix
    images: list[Any]
    targets: list[list[int]]  # per option: answer + end-of-turn token ids


def plan_item(processor, reqs: Sequence[Any]) -> PrefixItem | None:
    """The shared prefix of one MC item, or None when it cannot be shared: the options differ
    in prompt or images, or tokenizing prefix + option moves the boundary (then the tokens
    scored would not be those `encode_examples` scores)."""
    tokenizer = getattr(processor, "tokenizer", processor)
    visual_ids = [id(v) for v in reqs[0].visuals]
    prompt_text, targets = None, []
    for req in reqs:
        text, target_text = split_prompt_target(processor, list(req.messages), req.continuation)
        if (prompt_text is not None and text != prompt_text) or [id(v) for v in req.visuals] != visual_ids:
            return None
        prompt_text = text
        target = tokenizer(target_text, add_special_tokens=False)["input_ids"]
        prefix = tokenizer(text, add_special_tokens=False)["input_ids"]
        if tokenizer(text + target_text, add_special_tokens=False)["input_ids"] != prefix + target:
            return None
        targets.append(target)
    return PrefixItem(prompt_text, list(reqs[0].visuals), targets)


def _cache_kwarg(model) -> str:
    """transformers renamed `past_key_values` to `cache` within 5.x."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


@torch.inference_mode()
def score_items(model, processor, items: Sequence[PrefixItem], to_device: Callable[[dict], dict]
                ) -> list[list[tuple[float, bool]]]:
    """Per item, per option: (sum of target log-probs, target is the greedy decode)."""
    tokenizer = getattr(processor, "tokenizer", processor)
    batch = to_device(dict(process_padded(processor, [it.prompt_text for it in items],
                                          [im for it in items for im in it.images], "left")))
    key = _cache_kwarg(model)
    positions = model._prepare_position_ids_for_generation(batch["input_ids"], dict(batch))
    inner = getattr(model, "model", None)
    try:
        out = model(**batch, position_ids=positions, use_cache=True, logits_to_keep=1)
        first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # predicts each option's first token
        rows = torch.tensor([b for b, it in enumerate(items) for _ in it.targets], device=first.device)
        cache = getattr(out, key)
        cache.reorder_cache(rows)  # one copy of the item's prefix cache per option
        targets = [t for it in items for t in it.targets]
        width = max(len(t) for t in targets)
        ids = torch.full((len(targets), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(targets), width), dtype=torch.long)
        for r, t in enumerate(targets):
            ids[r, :len(t)] = torch.tensor(t)
            mask[r, :len(t)] = 1
        ids, mask = ids.to(first.device), mask.to(first.device)
        full_mask = torch.cat([batch["attention_mask"][rows], mask], dim=1)
        if getattr(inner, "rope_deltas", None) is not None:
            inner.rope_deltas = inner.rope_deltas[rows]
        cont_positions = model._prepare_position_ids_for_generation(
            ids, {"attention_mask": full_mask, key: cache})[..., -width:]
        logits = model(input_ids=ids, attention_mask=full_mask, position_ids=cont_positions,
                       use_cache=True, **{key: cache}).logits.float()
    finally:
        if getattr(inner, "rope_deltas", None) is not None:
            inner.rope_deltas = None  # a later plain forward must not reuse this batch's deltas
    logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
    results: list[list[tuple[float, bool]]] = [[] for _ in items]
    for r, (b, t) in enumerate(zip(rows.tolist(), targets)):
        tgt = ids[r, :len(t)]
        total = first[b, tgt[0]] + logprobs[r, :len(t) - 1].gather(-1, tgt[1:, None]).sum()
        greedy = bool(first[b].argmax() == tgt[0]) and bool((logprobs[r, :len(t) - 1].argmax(-1) == tgt[1:]).all())
        results[b].append((float(total), greedy))
    return results
