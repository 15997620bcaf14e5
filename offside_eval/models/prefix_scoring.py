"""Shared-prefix log-likelihoods: the options of one MC item share the image, the question
and the assistant prefix, so that prefix runs through the model once and its KV cache is
copied to every option, which then only runs its own answer tokens. Answer tokens every option
starts with (a stem such as "The player in the image is") join the shared prefix: they are
scored once, from the prefix pass, and added to every option's sum.

Positions follow `generate`'s own path (`_prepare_position_ids_for_generation`, left-padded
prefill, then text positions + Qwen2.5-VL's `rope_deltas` for the tokens after the cache),
so a score equals the per-option forward pass of `offside_data.encode.encode_examples`.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from offside_data.encode import process_padded, prompt_format, split_prompt_target


@dataclass
class PrefixItem:
    prompt_text: str  # chat template output up to and including the assistant prefix (and the stem)
    images: list[Any]
    targets: list[list[int]]  # per option: answer + end-of-turn token ids after the stem
    stem: list[int]  # answer tokens common to every option, at the end of prompt_text


def plan_item(processor, reqs: Sequence[Any]) -> PrefixItem | None:
    """The shared prefix of one MC item, or None when it cannot be shared: the options differ
    in prompt or images, tokenizing prefix + option moves the boundary (then the tokens
    scored would not be those `encode_examples` scores), or the prefix format's processor
    builds the prompt (its answer goes in as a suffix, not after the prompt text)."""
    tokenizer = getattr(processor, "tokenizer", processor)
    first = reqs[0]
    if prompt_format(processor) == "prefix" or any(
            r.messages != first.messages or [id(v) for v in r.visuals] != [id(v) for v in first.visuals]
            for r in reqs[1:]):
        return None
    prompt_text = None
    target_texts = []
    for req in reqs:
        prompt_text, target_text = split_prompt_target(processor, list(first.messages), req.continuation, prompt_text)
        target_texts.append(target_text)
    tokens = tokenizer([prompt_text] + target_texts + [prompt_text + t for t in target_texts],
                       add_special_tokens=False)["input_ids"]
    prefix, targets, joint = tokens[0], tokens[1:len(reqs) + 1], tokens[len(reqs) + 1:]
    if any(j != prefix + t for j, t in zip(joint, targets)):
        return None
    stem = _common_prefix(targets)
    if stem:  # it joins the prefix only if the prefix text + its text tokenizes to exactly those tokens
        stem_text = tokenizer.decode(stem)
        if tokenizer(prompt_text + stem_text, add_special_tokens=False)["input_ids"] == prefix + stem:
            prompt_text += stem_text
        else:
            stem = []
    return PrefixItem(prompt_text, list(first.visuals), [t[len(stem):] for t in targets], stem)


def _common_prefix(targets: Sequence[list[int]]) -> list[int]:
    """The tokens every target starts with, leaving each at least one token of its own."""
    n = 0
    limit = min(len(t) for t in targets) - 1
    while n < limit and all(t[n] == targets[0][n] for t in targets):
        n += 1
    return list(targets[0][:n])


def _cache_kwarg(model) -> str:
    """transformers renamed `past_key_values` to `cache` within 5.x."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


@torch.inference_mode()
def score_items(model, processor, items: Sequence[PrefixItem], to_device: Callable[[dict], dict]
                ) -> list[list[tuple[float, bool]]]:
    """Per item, per option: (sum of target log-probs, target is the greedy decode)."""
    tokenizer = getattr(processor, "tokenizer", processor)
    batch = to_device(dict(process_padded(processor, [it.prompt_text for it in items],
                                          [it.images for it in items], "left")))
    key = _cache_kwarg(model)
    positions = model._prepare_position_ids_for_generation(batch["input_ids"], dict(batch))
    inner = getattr(model, "model", None)
    keep = 1 + max(len(it.stem) for it in items)  # positions predicting the stems and the first tokens
    try:
        out = model(**batch, position_ids=positions, use_cache=True, logits_to_keep=keep)
        prefix_logp = torch.log_softmax(out.logits[:, -keep:].float(), dim=-1)
        first = prefix_logp[:, -1]  # predicts each option's first token after the stem
        rows = torch.tensor([b for b, it in enumerate(items) for _ in it.targets], device=first.device)
        cache = getattr(out, key)
        cache.reorder_cache(rows)  # one copy of the item's prefix cache per option
        targets = [t for it in items for t in it.targets]
        width = max(len(t) for t in targets) - 1  # the last target token is predicted, never fed
        ids = torch.full((len(targets), width + 1), tokenizer.pad_token_id, dtype=torch.long)
        for r, t in enumerate(targets):
            ids[r, :len(t)] = torch.tensor(t)
        lengths = torch.tensor([len(t) for t in targets])[:, None]
        fed = (torch.arange(width)[None] < lengths).long().to(first.device)  # attention mask of fed tokens
        predicts = (torch.arange(width)[None] < lengths - 1).to(first.device)  # positions predicting a target
        ids = ids.to(first.device)
        step = torch.zeros((0, 1), device=first.device)  # no target token after the first
        if width:
            full_mask = torch.cat([batch["attention_mask"][rows], fed], dim=1)
            if getattr(inner, "rope_deltas", None) is not None:
                inner.rope_deltas = inner.rope_deltas[rows]
            cont_positions = model._prepare_position_ids_for_generation(
                ids[:, :width], {"attention_mask": full_mask, key: cache})[..., -width:]
            hidden = model.model(input_ids=ids[:, :width], attention_mask=full_mask, position_ids=cont_positions,
                                 use_cache=True, **{key: cache}).last_hidden_state
            # the head only on positions that predict a target token (not on padding)
            logits = model.get_output_embeddings()(hidden[predicts]).float()
            step = torch.log_softmax(logits, dim=-1)
    finally:
        if getattr(inner, "rope_deltas", None) is not None:
            inner.rope_deltas = None  # a later plain forward must not reuse this batch's deltas
    nexts = ids[:, 1:][predicts]
    step_ll = step.gather(-1, nexts[:, None]).squeeze(-1)
    step_ok = step.argmax(-1) == nexts
    per_row = predicts.sum(1).tolist()
    stems = [_stem_score(prefix_logp[b], it.stem) for b, it in enumerate(items)]
    results: list[list[tuple[float, bool]]] = [[] for _ in items]
    start = 0
    for r, b in enumerate(rows.tolist()):
        span = slice(start, start + per_row[r])
        start += per_row[r]
        total = stems[b][0] + first[b, ids[r, 0]] + step_ll[span].sum()
        greedy = stems[b][1] and bool(first[b].argmax() == ids[r, 0]) and bool(step_ok[span].all())
        results[b].append((float(total), greedy))
    return results


def _stem_score(logp: torch.Tensor, stem: list[int]) -> tuple[float, bool]:
    """(log-prob sum, all greedy) of a stem from its item's last prefix positions (`logp`: the kept
    positions' log-softmax; position -1 predicts the token after the stem)."""
    if not stem:
        return 0.0, True
    rows = logp[-1 - len(stem):-1]
    target = torch.tensor(stem, device=rows.device)
    return float(rows.gather(-1, target[:, None]).sum()), bool((rows.argmax(-1) == target).all())
