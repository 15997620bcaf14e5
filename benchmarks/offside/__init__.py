"""OFFSIDE (football transfer rumors in Qwen2.5-VL) as an offside benchmark: the release reader
(loader.py, schema.py, facts.py, audit.py), its views per setting (views.py), the synthetic OFFSIDE-mini
(synth.py), the release builders (construct.py, textonly.py, cli.py: `offside-data make-mcq / make-text`),
the tasks (tasks/) and the authors' prompts (prompts/). Registered through the `offside.benchmarks` entry
point; its `offside run` plan and report are registered by offside_run's OFFSIDE profile.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from offside_data.benchmarks import Benchmark, BenchmarkError, TrainOption, register_benchmark
from offside_data.chat import load_image
from offside_data.fixtures import MINI_VERSION, build_once, cache_dir
from offside_data.records import TrainRecord
from offside_data.roots import data_fingerprint, resolve_data_root

from . import judge  # noqa: F401 -- registers the authors' judge metric, fact_score_ref
from .audit import audit
from .cli import validate_release
from .loader import load_items, load_items_once
from .schema import INFOS, SPLITS, OffsideItem, split_of_image_id, validate_item
from .synth import generate
from .views import SETTINGS, as_text_only, view

__all__ = ["INFOS", "OFFSIDE", "SETTINGS", "SPLITS", "OffsideItem", "as_text_only", "ensure_mini", "load_items",
           "split_of_image_id", "validate_item", "view"]


def ensure_mini(players: int = 12, seed: int = 0) -> Path:
    """Path of the cached OFFSIDE-mini (players, seed), building it if needed."""
    return build_once(cache_dir() / f"offside-mini-{MINI_VERSION}-p{players}-s{seed}",
                      lambda out: generate(out, n_players=players, seed=seed))


def _offside_docs(root: Path, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """OffsideItem dicts of one view; `_root` lets the task hooks find the images.

    dataset_kwargs: role, setting, modality (as `views.view`), info (private/shared only),
    require_options (only items with MC options), require_text_question (only items with a
    text-only rewrite: the reference protocol asks those with the image). Each doc keeps `extra`
    (the questions exactly as the release files store them).
    """
    kwargs = dict(kwargs)
    info = kwargs.pop("info", None)
    need_options = bool(kwargs.pop("require_options", False))
    need_text = bool(kwargs.pop("require_text_question", False))
    role, setting, modality = kwargs.pop("role", "forget"), kwargs.pop("setting", "complete"), kwargs.pop("modality", None)
    if kwargs:
        raise BenchmarkError(f"unknown dataset_kwargs for offside: {', '.join(kwargs)} "
                             "(role, setting, modality, info, require_options, require_text_question)")
    try:
        items = load_items_once(root)
        _require_variants(root, items, setting, modality, need_options)
        items = view(items, role, setting, modality)
    except ValueError as exc:
        if exc.__class__ is not ValueError:  # DataError: names the file already
            raise
        raise BenchmarkError(str(exc)) from None
    docs = []
    for item in items:
        if (info and item.info != info) or (need_options and not item.options) or (
                need_text and not item.text_question):
            continue
        doc = item.to_dict()
        doc["_root"] = str(root)
        docs.append(doc)
    return docs


def _require_variants(root: Path, items, setting: str, modality: str | None, need_options: bool = False) -> None:
    """A text or MC view of a release that ships no such files would be silently empty: say how to build them."""
    if (modality or ("text" if setting == "unimodal" else "mm")) == "text" and not any(it.text_question for it in items):
        raise BenchmarkError(f"{root}: no text-only variants (text_{{split}}_set.json), so the {setting} "
                             f"setting's text view has no documents; build them with "
                             f"`offside-data make-text {root} --out {root}`")
    if need_options and not any(it.options for it in items):
        raise BenchmarkError(f"{root}: no MC options (classification_{{split}}_set.json), so MC tasks have no "
                             f"documents; build them with `offside-data make-mcq {root} --out {root}` (an LLM)")


def _offside_anomalies(root: Path) -> dict[str, Any]:
    """How many images break OFFSIDE's shape (see `offside-data validate` for which and why)."""
    return {"anomalous_images": sum(1 for report in audit(load_items_once(root)) if report.problems)}


def _offside_train_records(root: Path, role: str, modality: str, setting: str, image_size: int) -> list[TrainRecord]:
    """A role's items under `setting`; `train` (vanilla SFT) is forget + retain, the same union in every
    setting. Images are resized to image_size x image_size (the paper's 256)."""
    items = load_items_once(root)
    _require_variants(root, items, setting, modality)
    if role == "train":
        chosen = view(items, "forget", setting, modality) + view(items, "retain", setting, modality)
    else:
        chosen = view(items, role, setting, modality)
    size = (image_size, image_size)
    return [TrainRecord(it.id, it.question, it.answer,
                        functools.partial(load_image, str(root), it.image, size) if it.image else None,
                        it.text_question) for it in chosen]


OFFSIDE = register_benchmark(Benchmark(
    name="offside", title="OFFSIDE", load_docs=_offside_docs, env_var="OFFSIDE_DATA_ROOT",
    fixture=ensure_mini, fixture_title="OFFSIDE-mini", locate=resolve_data_root, fingerprint=data_fingerprint,
    tasks_dir=Path(__file__).parent / "tasks", lmms_dir=Path(__file__).parent / "lmms_tasks", validate=validate_release,
    train_records=_offside_train_records, audit=_offside_anomalies,
    train_options={"setting": TrainOption("complete", "complete: forget every QA of the forget players; selective: "
                                          "their private QAs only.", ("complete", "selective")),
                   "image_size": TrainOption(256, "images are resized to image_size x image_size pixels (the paper's "
                                             "256).")},
    generate=lambda out, size=None, seed=0: generate(out, n_players=size or 12, seed=seed)))
