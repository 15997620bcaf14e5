"""MLLMU-Bench (Liu et al., NAACL 2025) as an offside benchmark: its release reader (release.py), its
synthetic MLLMU-mini (synth.py), its tasks (tasks/), its `offside run` plan and report (plan.py,
report.py) and shipped experiments (configs/). Registered through the `offside.benchmarks` entry point.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from offside_data.benchmarks import Benchmark, BenchmarkError, TrainOption, register_benchmark
from offside_data.fixtures import MINI_VERSION, build_once, cache_dir
from offside_data.parquet import ImageRef, shard_paths
from offside_data.records import TrainRecord
from offside_data.roots import data_fingerprint, resolve_data_root
from offside_data.schema import DataError
from offside_eval.metrics import declare_metric

from .release import (
    FORGET_RATIOS,
    KINDS,
    MODALITIES,
    SPLITS,
    mllmu_docs,
    read_config,
    read_release,
    split_configs,
    train_prompt,
)
from .synth import generate

HERE = Path(__file__).parent
declare_metric("cloze_acc", "Cloze Acc.", unit="percent")  # eval.py's fill-in-the-blank accuracy
declare_metric("acc_ll", "Class. Acc. (LL)", unit="percent")  # the option letter by log-likelihood


def ensure_mllmu_mini(profiles: int = 60, seed: int = 0) -> Path:
    """Path of the cached MLLMU-mini (fictional profiles, seed), building it if needed."""
    return build_once(cache_dir() / f"mllmu-mini-{MINI_VERSION}-p{profiles}-s{seed}",
                      lambda out: generate(out, n_profiles=profiles, seed=seed))


def validate_release(root: str | Path, forget_ratio: int = 5) -> int:
    """`offside-data validate --benchmark mllmu`: every image decodes; docs per split, kind and modality."""

    rows = read_release(root)
    n_images = 0
    for config, config_rows in rows.items():
        for row in config_rows:
            images = row["images"] if config == "Test_Set" else [row["image"]]
            for j, img in enumerate(images):
                field = f"images[{j}]" if config == "Test_Set" else "image"
                ImageRef(img["bytes"], row["_source"], row["_row"], field).load()
                n_images += 1
    print(f"{root}: MLLMU-Bench release, {n_images} images decoded")
    print("  ".join(f"{config}={len(r)}" for config, r in rows.items()))
    print(f"\ndocs at forget ratio {forget_ratio} (seed 0; excluded = questions of shot profiles)")
    print(f"{'split':<10} {'kind':<6} {'mm':>5} {'text':>5} {'excluded mm/text':>17}")
    for split in SPLITS:
        for kind in KINDS:
            docs = {m: mllmu_docs(root, split, kind, m, forget_ratio=forget_ratio, rows=rows) for m in MODALITIES}
            excluded = "/".join(str(docs[m][0].n_fewshot_excluded if docs[m] else "-") for m in MODALITIES)
            print(f"{split:<10} {kind:<6} {len(docs['mm']):>5} {len(docs['text']):>5} {excluded:>17}")
    return 0



MLLMU_KWARGS = ("split", "kind", "modality", "forget_ratio", "seed", "shots")


def _mllmu_docs(root: Path, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """One task's scored questions (`release.mllmu_docs`) as plain dicts.

    dataset_kwargs: split, kind, modality (required), forget_ratio (5, 10 or 15; default 5), seed (of
    the shot-profile and Test_Set image draws; default 0), shots (shot profiles; default eval.py's).
    Each doc keeps the MllmuDoc under `_mllmu` (images decode from it lazily; '_' keys stay out of
    the samples file) and its `shots` as plain text records.
    """
    unknown = sorted(set(kwargs) - set(MLLMU_KWARGS))
    if unknown:
        raise BenchmarkError(f"unknown dataset_kwargs for mllmu: {', '.join(unknown)} ({', '.join(MLLMU_KWARGS)})")
    missing = [k for k in ("split", "kind", "modality") if k not in kwargs]
    if missing:
        raise BenchmarkError(f"dataset_kwargs for mllmu: missing {', '.join(missing)}")
    numbers = {}
    for key, default in (("forget_ratio", 5), ("seed", 0), ("shots", None)):
        try:
            numbers[key] = default if kwargs.get(key) is None else int(kwargs[key])
        except (TypeError, ValueError):
            raise BenchmarkError(f"dataset_kwargs for mllmu: {key} must be an integer, got {kwargs[key]!r}") from None
    try:
        docs = mllmu_docs(root, kwargs["split"], kwargs["kind"], kwargs["modality"], **numbers,
                          rows=_mllmu_rows(root, kwargs["split"], numbers["forget_ratio"]))
    except ValueError as exc:
        if isinstance(exc, DataError):  # names the file already
            raise
        raise BenchmarkError(f"dataset_kwargs for mllmu: {exc}") from None
    return [{"id": d.id, "split": d.split, "kind": d.kind, "modality": d.modality, "profile": d.profile,
             "index": d.index, "question": d.question, "options": d.options, "correct": d.correct,
             "answer": d.answer, "image_index": d.image_index, "shot_profiles": list(d.shot_profiles),
             "shots": [{"profile": s.profile, "question": s.question, "options": s.options, "answer": s.answer}
                       for s in d.shots],
             "n_fewshot_excluded": d.n_fewshot_excluded, "_mllmu": d} for d in docs]


def _mllmu_rows(root: Path, split: str, forget_ratio: int) -> dict[str, list[dict]]:
    """The configs one split needs, read once per release state (24 tasks share a handful of reads)."""
    if split not in SPLITS or forget_ratio not in (5, 10, 15):
        return {}  # mllmu_docs names the bad value
    configs = [c for c in (*split_configs(split, forget_ratio), "Full_Set") if c]
    return {c: _mllmu_state(root, c) for c in configs}


@functools.lru_cache(maxsize=8)
def _mllmu_config(root: str, config: str, state: tuple) -> list[dict]:
    return read_config(root, config)


def _mllmu_state(root: Path, config: str) -> list[dict]:
    """One config's rows, read once per state of its shards."""
    return _mllmu_config(str(root), config, tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                                                  for p in shard_paths(root, config)))


def _mllmu_train_records(root: Path, role: str, modality: str, forget_ratio: int) -> list[TrainRecord]:
    """ft_Data's Question/Answer pairs of a role's profiles: train = every row (the vanilla fine-tune);
    forget and relearn = forget_N's IDs, retain = retain_{100-N}'s. This is the reference baselines'
    data (their baseline_train_split holds ft_Data-style rows per forget_N / retain_N). The prompt is
    the reference fine-tune's "USER: <image>\n{question}\nASSISTANT:" with the image as an image part;
    text modality drops the image. Images go in at release size, as the mllmu tasks send them."""
    ids = None
    if role != "train":
        config = split_configs("retain" if role == "retain" else "forget", forget_ratio)[0]
        ids = list(dict.fromkeys(r["ID"] for r in _mllmu_state(root, config)))
    rows = {}
    for row in _mllmu_state(root, "ft_Data"):
        rows.setdefault(row["ID"], row)
    missing = [i for i in ids or () if i not in rows]
    if missing:
        raise BenchmarkError(f"{root / 'ft_Data'}: no row for ID(s) {', '.join(missing[:5])} of {config}")
    records = []
    for pid in ids if ids is not None else list(rows):
        row = rows[pid]
        image = ImageRef(row["image"]["bytes"], row["_source"], row["_row"], "image").load
        for i, qa in enumerate(json.loads(row["metadata"])):
            q = qa["Question"]
            records.append(TrainRecord(f"{pid}/ft/{i}", train_prompt(q, modality), qa["Answer"],
                                       image if modality == "mm" else None,
                                       train_prompt(q, "text") if modality == "mm" else None))
    return records


MLLMU = register_benchmark(Benchmark(
    name="mllmu", title="MLLMU-Bench", load_docs=_mllmu_docs, env_var="MLLMU_DATA_ROOT",
    fixture=ensure_mllmu_mini, fixture_title="MLLMU-mini", tasks_dir=HERE / "tasks", validate=validate_release,
    locate=resolve_data_root,  # a folder or a hub id
    fingerprint=lambda root: data_fingerprint(root, "*/*.parquet"), metadata_keys=("forget_ratio", "seed"),
    train_records=_mllmu_train_records,
    train_options={"forget_ratio": TrainOption(5, "the forget split N of forget_N / retain_{100-N}.", FORGET_RATIOS)},
    generate=lambda out, size=None, seed=0: generate(out, n_profiles=size or 60, seed=seed)))


