"""Training data: OFFSIDE items per role, batched with the evaluator's answer-only encoding.

Batches come from `offside_data.encode.encode_examples`, the function the evaluator
scores with, so a model is trained on exactly the tokens it is later measured on, and every
batch of an image item carries its pixel_values / image_grid_thw.
"""
from __future__ import annotations

from typing import Callable, Sequence

from offside_data import OffsideItem, view
from offside_data.chat import conversation, load_image
from offside_data.encode import Example, encode_examples
from offside_data.loader import load_items_once

TRAIN_ROLES = ("train", "forget", "retain", "relearn")


def select_items(items: Sequence[OffsideItem], role: str, setting: str, modality: str) -> list[OffsideItem]:
    """Items for a role; `train` (vanilla SFT) is forget + retain, which is the same union in every setting."""
    if role not in TRAIN_ROLES:
        raise ValueError(f"unknown role {role!r}; choose from {', '.join(TRAIN_ROLES)}")
    if role == "train":
        return view(items, "forget", setting, modality) + view(items, "retain", setting, modality)
    return view(items, role, setting, modality)


def load_role(root: str, role: str, setting: str, modality: str) -> list[OffsideItem]:
    chosen = select_items(load_items_once(root), role, setting, modality)  # parsed once per run
    if not chosen:
        raise ValueError(f"{root}: no {role} items for setting={setting}, modality={modality}")
    return chosen


class ItemCollator:
    """OffsideItems -> one right-padded batch; `answer_for` swaps in other targets (e.g. IDK answers)."""

    def __init__(self, processor, root: str, max_length: int | None, image_size: int,
                 answer_for: Callable[[OffsideItem], str] | None = None):
        self.processor, self.root, self.max_length = processor, str(root), max_length
        self.size = (image_size, image_size)
        self.answer_for = answer_for or (lambda item: item.answer)

    def example(self, item: OffsideItem, answer: str | None = None) -> Example:
        """The item's prompt and image with `answer` (default: `answer_for(item)`) as the target."""
        images = [load_image(self.root, item.image, self.size)] if item.image else []
        return Example(conversation(item)[:1], self.answer_for(item) if answer is None else answer, images)

    def __call__(self, items: Sequence[OffsideItem]) -> dict:
        return encode_examples(self.processor, [self.example(it) for it in items], self.max_length)


class IndexCollator:
    """For TRL's SFTTrainer, whose datasets hold rows: rows {"index": i} -> batch of items[i]."""

    def __init__(self, items: Sequence[OffsideItem], collator: ItemCollator):
        self.items, self.collator = items, collator

    def __call__(self, rows: Sequence[dict]) -> dict:
        return self.collator([self.items[row["index"]] for row in rows])
