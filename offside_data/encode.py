"""Turn (prompt messages, answer, image) into model inputs with answer-only labels.

Training and log-likelihood evaluation both call this, so an answer is scored on exactly
the tokens it was trained on: the text the chat template appends for the assistant turn
(the answer and the end-of-turn token), after the assistant prefix.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from .chat import assistant_message

IGNORE_INDEX = -100


@dataclass
class Example:
    prompt: list[dict]  # messages before the assistant turn, with {"type": "image"} parts
    answer: str
    images: list[Any]  # PIL images, in the order of the image parts; empty for text-only


def split_prompt_target(processor, prompt: list[dict], answer: str, prompt_text: str | None = None) -> tuple[str, str]:
    """(prompt text incl. assistant prefix, target text = answer + end-of-turn token).

    `prompt_text`: this function's earlier prompt text for the same `prompt` (several answers
    to one prompt render it once)."""
    if prompt_text is None:
        prompt_text = processor.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    full = processor.apply_chat_template(prompt + [assistant_message(answer)], tokenize=False)
    if not full.startswith(prompt_text):
        raise ValueError("chat template: the generation prompt is not a prefix of the full conversation")
    return prompt_text, full[len(prompt_text):].rstrip()


def process_padded(processor, texts: list[str], images: list[Any], side: str):
    """Run the processor on a padded batch with padding on `side` (right to train, left to generate)."""
    tokenizer = getattr(processor, "tokenizer", processor)
    kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
    if images:
        kwargs["images"] = images
    old_side = tokenizer.padding_side
    tokenizer.padding_side = side
    try:
        return processor(**kwargs)
    finally:
        tokenizer.padding_side = old_side


def encode_examples(processor, examples: Sequence[Example], max_length: int | None = None) -> dict[str, torch.Tensor]:
    """Right-padded batch with `labels` = target tokens, IGNORE_INDEX elsewhere.

    Raises if joint tokenization moved the prompt/target boundary (then the span would not
    be the answer), or if an example is longer than `max_length` (never silently truncated).
    """
    tokenizer = getattr(processor, "tokenizer", processor)
    texts, targets = [], []
    for ex in examples:
        prompt_text, target_text = split_prompt_target(processor, ex.prompt, ex.answer)
        texts.append(prompt_text + target_text)
        targets.append(tokenizer(target_text, add_special_tokens=False)["input_ids"])
    batch = process_padded(processor, texts, [img for ex in examples for img in ex.images], "right")
    labels = torch.full_like(batch["input_ids"], IGNORE_INDEX)
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    if max_length is not None and max(lengths) > max_length:
        raise ValueError(f"an example is {max(lengths)} tokens long, above max_length={max_length}")
    for row, (target, length) in enumerate(zip(targets, lengths)):
        start = length - len(target)
        if batch["input_ids"][row, start:length].tolist() != target:
            raise ValueError(f"example {row}: answer tokens differ when tokenized with the prompt")
        labels[row, start:length] = torch.tensor(target)
    batch["labels"] = labels
    return dict(batch)
