"""CLEAR release reader (Dontsov et al., ACL Findings 2025; HF dataset therem/CLEAR).

Layout, from the dataset card's `configs` (README.md @ 2e1fcda) and the repo's loading code
(mm/dataset.py: `datasets.load_dataset("therem/CLEAR", config, split="train")`): one folder per config
holding parquet shards `train-0000K-of-0000N.parquet` (config `default` lives in `data/`). Columns,
from the card's `dataset_info` (the reader checks the ones the protocol and training read):
- default / full / forget01|05|10 / retain99|95|90: image, caption, name (one row per image)
- <those>+tofu: image, caption, question, answer; an image row has image + caption, a TOFU row
  (text-only QA about the same authors) question + answer and a null image
- forget01|05|10_perturbed, retain_perturbed: image, caption, name, paraphrased_caption,
  perturbed_captions (list), perturbed_names (list)
- real_faces: image, answer, options (list); real_world: question, image, answer, options (list). The
  card gives types only; eval.yaml scores `options` as the perturbed answers, and CLEAR-mini puts the
  answer among its four options (as TOFU's real_authors / world_facts do) -- the formulas take either.
Images are the `datasets` Image feature: a struct {bytes, path}, PNG/JPEG bytes. Forget persons are
the last N% (forgetN, TOFU's convention); retain{100-N} holds the others.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from offside_data.parquet import ImageRef, shard_paths
from offside_data.schema import DataError

FORGET_RATIOS = (1, 5, 10)
IMAGE_COLUMNS = {"image": "image", "caption": str, "name": str}
TOFU_COLUMNS = {"image": "image?", "caption": "str?", "question": "str?", "answer": "str?"}
PERTURBED_COLUMNS = {**IMAGE_COLUMNS, "paraphrased_caption": str, "perturbed_captions": list,
                     "perturbed_names": list}
REAL_COLUMNS = {"real_faces": {"image": "image", "answer": str, "options": list},
                "real_world": {"question": str, "image": "image", "answer": str, "options": list}}


def forget_config(ratio: int, suffix: str = "") -> str:
    return f"forget{check_ratio(ratio):02d}{suffix}"


def retain_config(ratio: int, suffix: str = "") -> str:
    return f"retain{100 - check_ratio(ratio):02d}{suffix}"


def check_ratio(ratio: int) -> int:
    if ratio not in FORGET_RATIOS:
        raise ValueError(f"forget_ratio must be one of {', '.join(map(str, FORGET_RATIOS))}, got {ratio!r}")
    return ratio


def columns(config: str) -> dict[str, Any]:
    """The columns (and their types) this reader requires of a config."""
    if config in REAL_COLUMNS:
        return REAL_COLUMNS[config]
    if config.endswith("+tofu"):
        return TOFU_COLUMNS
    return PERTURBED_COLUMNS if config.endswith("_perturbed") else IMAGE_COLUMNS


def folder(config: str) -> str:
    return "data" if config == "default" else config


class _Bad(Exception):
    def __init__(self, field: str, problem: str):
        super().__init__(problem)
        self.field, self.problem = field, problem


def _check_value(name: str, kind: Any, value: Any) -> None:
    optional = isinstance(kind, str) and kind.endswith("?")
    if value is None:
        if not optional:
            raise _Bad(name, "missing")
        return
    base = kind.rstrip("?") if isinstance(kind, str) else kind
    if base == "image":
        if not isinstance(value, dict) or not isinstance(value.get("bytes"), (bytes, bytearray)) or not value["bytes"]:
            raise _Bad(name, "expected an image struct {bytes, path} with non-empty bytes")
    elif base in (str, "str"):
        if not isinstance(value, str) or not value.strip():
            raise _Bad(name, "expected a non-empty string")
    elif not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise _Bad(name, "expected a non-empty list of non-empty strings")


def _check_row(config: str, row: dict) -> None:
    for name, kind in columns(config).items():
        if name not in row:
            raise _Bad(name, "column missing")
        _check_value(name, kind, row[name])
    if config.endswith("+tofu"):
        image_row = row["image"] is not None and row["caption"] is not None
        qa_row = row["image"] is None and row["question"] is not None and row["answer"] is not None
        if not (image_row or qa_row):
            raise _Bad("image", "expected an image row (image + caption) or a TOFU row (question + answer, no image)")


@functools.lru_cache(maxsize=16)
def _read(path: str, state: tuple, config: str) -> tuple[dict, ...]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(path, None, None, f"not a readable parquet file ({exc.__class__.__name__})") from None
    rows = []
    for i, row in enumerate(table.to_pylist()):
        try:
            _check_row(config, row)
        except _Bad as bad:
            raise DataError(path, i, bad.field, bad.problem) from None
        rows.append({**row, "_source": path, "_row": i})
    return tuple(rows)


def read_config(root: str | Path, config: str) -> list[dict]:
    """Every row of a config, shards in order, each checked and tagged with `_source` / `_row`; read
    once per state of its shards. A missing folder, shard or column, or a bad value, is a DataError
    naming the file, row and column."""
    rows: list[dict] = []
    for path in shard_paths(root, folder(config)):
        stat = path.stat()
        rows += _read(str(path), (stat.st_mtime_ns, stat.st_size), config)
    return rows


def image_ref(row: dict) -> ImageRef:
    """The row's image, decoded (RGB, cached) when first used."""
    return ImageRef(row["image"]["bytes"], row["_source"], row["_row"], "image")


def needed_configs(ratio: int) -> list[str]:
    """What the tasks and the training hooks read at one forget ratio."""
    return ["full+tofu", forget_config(ratio, "+tofu"), retain_config(ratio, "+tofu"),
            forget_config(ratio, "_perturbed"), "retain_perturbed", "real_faces", "real_world"]
