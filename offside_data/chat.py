"""One item -> one chat conversation, shared by training and evaluation.

Eval scores an answer exactly as training fed it: same messages, same chat template,
same image preprocessing. Images are decoded once per (path, size) and reused.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image

from .schema import OffsideItem

PAPER_IMAGE_SIZE = (256, 256)


def user_message(question: str, has_image: bool) -> dict:
    content = ([{"type": "image"}] if has_image else []) + [{"type": "text", "text": question}]
    return {"role": "user", "content": content}


def assistant_message(answer: str) -> dict:
    return {"role": "assistant", "content": [{"type": "text", "text": answer}]}


def conversation(item: OffsideItem, answer: str | None = None) -> list[dict]:
    """[user(image?, question), assistant(answer)]; `answer` overrides the item's (e.g. IDK targets)."""
    return [user_message(item.question, item.image is not None), assistant_message(answer or item.answer)]


@lru_cache(maxsize=4096)
def load_image(root: str, relpath: str, size: tuple[int, int] | None = PAPER_IMAGE_SIZE) -> Image.Image:
    """Decode an item's image once, as RGB, resized like the paper (256x256) unless size is None."""
    path = Path(root) / relpath
    if not path.exists():
        raise FileNotFoundError(f"image not found: {path}")
    with Image.open(path) as img:
        img = img.convert("RGB")
        return img.resize(size, Image.Resampling.BICUBIC) if size else img
