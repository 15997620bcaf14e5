"""Pillow-drawn synthetic faces for the offline fixtures of face benchmarks : a
`look` makes a face unique per person, a pose re-draws the same person."""
from __future__ import annotations

from PIL import Image, ImageDraw

SIZE = 128  # pixels per side


def portrait(look: dict, pose: tuple[int, int, float] = (0, 0, 0.0)) -> Image.Image:
    """A simple face; `look` makes it unique per profile, `pose` (dx, gaze, tilt) re-poses it (Test_Set)."""
    dx, gaze, tilt = pose
    img = Image.new("RGB", (SIZE, SIZE), look["bg"])
    d = ImageDraw.Draw(img)
    cx = SIZE // 2 + dx
    d.rectangle([cx - 40, 100, cx + 40, SIZE], fill=look["shirt"])
    d.ellipse([cx - 28, 24, cx + 28, 96], fill=look["skin"], outline=(0, 0, 0))
    style = look["style"]
    if style == 0:
        d.pieslice([cx - 30, 18, cx + 30, 60], 180, 360, fill=look["hair"])
    elif style == 1:
        d.rectangle([cx - 28, 20, cx + 28, 38], fill=look["hair"])
    elif style == 2:
        d.ellipse([cx - 34, 14, cx + 34, 46], fill=look["hair"])
        d.rectangle([cx - 34, 30, cx - 24, 90], fill=look["hair"])
        d.rectangle([cx + 24, 30, cx + 34, 90], fill=look["hair"])
    else:
        d.polygon([(cx - 28, 40), (cx, 12), (cx + 28, 40)], fill=look["hair"])
    for ex in (cx - 12, cx + 12):
        d.ellipse([ex - 5, 52, ex + 5, 60], fill=(255, 255, 255), outline=(0, 0, 0))
        d.ellipse([ex - 2 + gaze, 54, ex + 2 + gaze, 58], fill=look["eyes"])
        if look["glasses"]:
            d.ellipse([ex - 8, 48, ex + 8, 64], outline=(20, 20, 20), width=2)
    d.arc([cx - 12, 66, cx + 12, 84], 20, 160, fill=(120, 20, 20), width=2)
    return img.rotate(tilt, resample=Image.Resampling.BILINEAR, fillcolor=look["bg"]) if tilt else img
