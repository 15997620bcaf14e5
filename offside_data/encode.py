"""Turn (prompt messages, answer, image) into model inputs with answer-only labels.

Training and log-likelihood evaluation both call this, so an answer is scored on exactly
the tokens it was trained on: the text the chat template appends for the assistant turn
(the answer and the end-of-turn token), after the assistant prefix.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .chat import assistant_message

IGNORE_INDEX = -100


@dataclass
class Example:
    prompt: list[dict]  # messages before the assistant turn, with {"type": "image"} parts
    answer: str
    images: list[Any]  # PIL images, in the order of the image parts; empty for text-only


# chat: the checkpoint's chat template renders the turns, the answer is the assistant turn;
# prefix: no chat template (PaliGemma style), the user text is the processor's prompt, the answer its suffix.
PROMPT_FORMATS = ("chat", "prefix")


def use_prompt_format(processor, name: str):
    """Set how `processor`'s checkpoint is prompted (see PROMPT_FORMATS); returns the processor."""
    if name not in PROMPT_FORMATS:
        raise ValueError(f"prompt_format must be one of {', '.join(PROMPT_FORMATS)}, got {name!r}")
    processor.offside_prompt_format = name
    return processor


def prompt_format(processor) -> str:
    """The processor's prompt format; 'chat' needs a chat template, so its absence names the option."""
    name = getattr(processor, "offside_prompt_format", "chat")
    if name == "chat" and not getattr(processor, "chat_template", None):
        raise ValueError("the checkpoint has no chat template: pass prompt_format=prefix to prompt it "
                         "PaliGemma style (the question as prefix, the answer as suffix)")
    return name


def render_prompt(processor, messages: list[dict]) -> str:
    """The text a generation starts from: the chat template's generation prompt, or in the prefix
    format the processor's image placeholder per image, then the turns' text (the processor adds
    BOS and expands the placeholders)."""
    if prompt_format(processor) == "prefix":
        parts = [part for message in messages for part in _parts(message)]
        placeholder = getattr(processor, "image_token", None) or ""
        return (placeholder * sum(part["type"] == "image" for part in parts)
                + "\n".join(part["text"] for part in parts if part["type"] == "text"))
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def _parts(message: dict) -> list[dict]:
    content = message["content"]
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def split_prompt_target(processor, prompt: list[dict], answer: str, prompt_text: str | None = None) -> tuple[str, str]:
    """(prompt text incl. assistant prefix, target text = answer + end-of-turn token).

    The prompt is the conversation's own rendering up to the answer: the generation prompt when it
    is a prefix of the conversation, else the text before the answer (templates that write the
    assistant header differently in a conversation, e.g. 'assistant ' vs 'assistant\\n').
    `prompt_text`: this function's earlier prompt text for the same `prompt` (several answers
    to one prompt render it once)."""
    if prompt_format(processor) == "prefix":
        return render_prompt(processor, prompt), answer + _tokenizer(processor).eos_token
    if prompt_text is None:
        prompt_text = render_prompt(processor, prompt)
    full = processor.apply_chat_template(prompt + [assistant_message(answer)], tokenize=False)
    if not full.startswith(prompt_text):
        prompt_text = full[:_answer_start(full, prompt_text, answer)]
    return prompt_text, full[len(prompt_text):].rstrip()


def _answer_start(full: str, generation_prompt: str, answer: str) -> int:
    """Where the answer starts in the rendered conversation: its first occurrence after the point
    where the conversation and the generation prompt part (the assistant header)."""
    shared = len(os.path.commonprefix([full, generation_prompt]))
    start = full.find(answer.strip(), shared)
    if start < 0:
        raise ValueError(f"chat template: the answer {answer[:40]!r} is not in the rendered conversation")
    return start


def _tokenizer(processor):
    return getattr(processor, "tokenizer", processor)


def _flat_images(images: list[list[Any]]) -> list[Any]:
    return [image for row in images for image in row]


def process_padded(processor, texts: list[str], images: list[list[Any]], side: str, suffixes: list[str] | None = None):
    """Run the processor on a padded batch with padding on `side` (right to train, left to generate).

    `images`: one list per text (processors that count images per prompt need the nesting). BOS is
    added only if the text does not already start with it (templates that write BOS), as the
    processor's own `apply_chat_template(tokenize=True)` decides; `suffixes`: the prefix format's
    answers. The processor's own `labels` (PaliGemma) are dropped: offside builds its labels."""
    tokenizer = _tokenizer(processor)
    kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True}
    if _flat_images(images):
        kwargs["images"] = images
    if suffixes is not None:
        kwargs["suffix"] = suffixes
    elif tokenizer.bos_token and all(text.startswith(tokenizer.bos_token) for text in texts):
        kwargs["add_special_tokens"] = False
    old_side = tokenizer.padding_side
    tokenizer.padding_side = side
    try:
        batch = processor(**kwargs)
    finally:
        tokenizer.padding_side = old_side
    batch.pop("labels", None)
    return batch


def encode_examples(processor, examples: Sequence[Example], max_length: int | None = None) -> dict[str, torch.Tensor]:
    """Right-padded batch with `labels` = target tokens, IGNORE_INDEX elsewhere.

    Raises if joint tokenization moved the prompt/target boundary (then the span would not
    be the answer), or if an example is longer than `max_length` (never silently truncated).
    """
    tokenizer = _tokenizer(processor)
    prompts, targets = zip(*(split_prompt_target(processor, ex.prompt, ex.answer) for ex in examples))
    if prompt_format(processor) == "prefix":
        batch = process_padded(processor, list(prompts), [ex.images for ex in examples], "right",
                               suffixes=[ex.answer for ex in examples])
    else:
        batch = process_padded(processor, [p + t for p, t in zip(prompts, targets)], [ex.images for ex in examples],
                               "right")
    target_ids = tokenizer(list(targets), add_special_tokens=False)["input_ids"]
    labels = torch.full_like(batch["input_ids"], IGNORE_INDEX)
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    if max_length is not None and max(lengths) > max_length:
        raise ValueError(f"an example is {max(lengths)} tokens long: set --max_length {max(lengths)} or more "
                         f"(now {max_length})")
    for row, (target, length) in enumerate(zip(target_ids, lengths)):
        start = length - len(target)
        if batch["input_ids"][row, start:length].tolist() != target:
            raise ValueError(f"example {row}: answer tokens differ when tokenized with the prompt")
        labels[row, start:length] = torch.tensor(target)
    batch["labels"] = labels
    return dict(batch)
