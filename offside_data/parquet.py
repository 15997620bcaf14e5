"""Hub releases stored as parquet shards (`CONFIG/train-0000K-of-0000N.parquet`, the layout `datasets`
pushes): a config's shard files in order, and image cells decoded lazily."""
from __future__ import annotations

import dataclasses
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image

from .chat import to_rgb
from .schema import DataError

_SHARD = re.compile(r"train-(\d{5})-of-(\d{5})\.parquet")


def shard_paths(root: str | Path, config: str) -> list[Path]:
    """The config's shards in order; a missing folder or an incomplete shard set is a DataError."""
    folder = Path(root) / config
    if not folder.is_dir():
        raise DataError(str(folder), None, None, "config folder not found")
    found = {}
    for path in folder.glob("*.parquet"):
        m = _SHARD.fullmatch(path.name)
        if not m:
            raise DataError(str(path), None, None, "not a train-0000X-of-0000N.parquet shard name")
        found[path.name] = (int(m.group(1)), int(m.group(2)))
    if not found:
        raise DataError(str(folder), None, None, "no parquet shards")
    totals = {n for _, n in found.values()}
    if len(totals) != 1:
        raise DataError(str(folder), None, None, f"shards disagree on their count: {sorted(found)}")
    total = totals.pop()
    for k in range(total):
        name = f"train-{k:05d}-of-{total:05d}.parquet"
        if name not in found:
            raise DataError(str(folder / name), None, None, f"shard missing (have {len(found)} of {total})")
    return [folder / f"train-{k:05d}-of-{total:05d}.parquet" for k in range(total)]


@lru_cache(maxsize=256)
def _decode(data: bytes, source: str, row: int, field: str) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return to_rgb(img)
    except OSError as exc:
        raise DataError(source, row, field, f"image cannot be decoded ({exc.__class__.__name__})") from None


@dataclass(frozen=True)
class ImageRef:
    """Parquet image bytes plus where they came from; decoded (RGB, cached) on first use so a split of
    hundreds of full-size portraits is not held in memory at once."""
    data: bytes = dataclasses.field(repr=False)
    source: str
    row: int
    field: str

    def load(self) -> Image.Image:
        return _decode(self.data, self.source, self.row, self.field)
