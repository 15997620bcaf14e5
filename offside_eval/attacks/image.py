"""Image perturbations: does the forgotten answer come back when the picture is only slightly off?
(crop, rotation, blur, JPEG, grayscale, noise, and an occluding band over the card's text)."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from .registry import Attack, register_attack, with_images


def _rgb(image: Image.Image) -> Image.Image:
    return image.convert("RGB")


def crop(image: Image.Image, keep: float) -> Image.Image:
    """The centre `keep` share of each side, resized back to the original size."""
    w, h = image.size
    dw, dh = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
    return _rgb(image).crop((dw, dh, w - dw, h - dh)).resize((w, h), Image.BICUBIC)


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    _rgb(image).save(buffer, format="JPEG", quality=int(quality))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def noise(image: Image.Image, sigma: float, seed: int) -> Image.Image:
    """Gaussian pixel noise of std `sigma` (on the 0-1 scale), the same on every rerun (seeded per document)."""
    pixels = np.asarray(_rgb(image), dtype=np.float64)
    noisy = pixels + np.random.default_rng(seed).normal(0.0, sigma * 255, pixels.shape)
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8), "RGB")


def occlude(image: Image.Image, share: float, side: str) -> Image.Image:
    """A black band over `share` of the image on `side` (top/bottom): where a card prints its rumor."""
    rgb = _rgb(image).copy()
    w, h = rgb.size
    band = round(h * share)
    box = (0, 0, w, band) if side == "top" else (0, h - band, w, h)
    ImageDraw.Draw(rgb).rectangle(box, fill=(0, 0, 0))
    return rgb


EDITS = {  # name -> (edit(image, seed, **options), default options, help)
    "crop": (lambda im, seed, keep: crop(im, keep), {"keep": 0.8}, "centre crop keeping a share of each side"),
    "rotate": (lambda im, seed, degrees: _rgb(im).rotate(degrees, resample=Image.BICUBIC, fillcolor=(255, 255, 255)),
               {"degrees": 15}, "rotation by some degrees (white corners)"),
    "blur": (lambda im, seed, radius: _rgb(im).filter(ImageFilter.GaussianBlur(radius)), {"radius": 2.0},
             "Gaussian blur of a radius in pixels"),
    "jpeg": (lambda im, seed, quality: jpeg(im, quality), {"quality": 20}, "JPEG re-encoding at a quality"),
    "grayscale": (lambda im, seed: ImageOps.grayscale(im).convert("RGB"), {}, "colours removed"),
    "noise": (lambda im, seed, sigma: noise(im, sigma, seed), {"sigma": 0.05}, "seeded Gaussian pixel noise"),
    "occlude": (lambda im, seed, share, side: occlude(im, share, side), {"share": 0.2, "side": "bottom"},
                "a black band over part of the image (a visual rumor's printed text)"),
}


def _attack(edit):
    return lambda request, context, **options: with_images(request, lambda im: edit(im, context.seed, **options))


for _name, (_edit, _defaults, _help) in EDITS.items():
    register_attack(Attack(_name, "input", f"image: {_help}", _attack(_edit), _defaults))
