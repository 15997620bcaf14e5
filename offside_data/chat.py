"""One item -> one chat conversation, shared by training and evaluation.

Eval scores an answer exactly as training fed it: same messages, same chat template,
same image preprocessing. Images are decoded once per (path, size) and reused.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image

from .schema import DataError

PAPER_IMAGE_SIZE = (256, 256)


def user_message(question: str, has_image: bool) -> dict:
    content = ([{"type": "image"}] if has_image else []) + [{"type": "text", "text": question}]
    return {"role": "user", "content": content}


def assistant_message(answer: str) -> dict:
    return {"role": "assistant", "content": [{"type": "text", "text": answer}]}


def conversation(item, answer: str | None = None) -> list[dict]:
    """[user(image?, question), assistant(answer)] of any item with question, image and answer; `answer`
    overrides the item's (e.g. IDK targets)."""
    return [user_message(item.question, item.image is not None), assistant_message(answer or item.answer)]


def check_image(path: str | Path) -> None:
    """Header check in milliseconds, no full decode: the file exists, is non-empty and its format's
    structure verifies (PIL's `verify`). Raises DataError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(str(path), None, None, "image not found")
    if path.stat().st_size == 0:
        raise DataError(str(path), None, None, "image file is empty (0 bytes)")
    try:
        with Image.open(path) as img:
            img.verify()
    except Exception as exc:  # PIL raises many types for damaged files
        raise DataError(str(path), None, None, f"not a readable image ({type(exc).__name__}: {exc})") from None


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB for any mode a release may hold: transparency over white, CMYK and palettes converted,
    16-bit and float greyscale scaled to 8 bits (a plain convert would clip them)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        lo, hi = img.getextrema()
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        img = img.convert("F").point(lambda v: (v - lo) * scale).convert("L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


@lru_cache(maxsize=4096)
def load_image(root: str, relpath: str, size: tuple[int, int] | None = PAPER_IMAGE_SIZE) -> Image.Image:
    """Decode an item's image once, as RGB, resized like the paper (256x256) unless size is None."""
    path = Path(root) / relpath
    if not path.exists():
        raise DataError(str(path), None, None, "image not found")
    try:
        with Image.open(path) as img:
            img = to_rgb(img)
    except OSError as exc:  # truncated or damaged after the header
        raise DataError(str(path), None, None, f"image cannot be decoded ({exc})") from None
    return img.resize(size, Image.Resampling.BICUBIC) if size else img
