"""CLEAR (Dontsov et al., "CLEAR: Character Unlearning in Textual and Visual Modalities", ACL Findings
2025; arXiv 2410.18057) as an offside benchmark: 200 fictitious TOFU authors with face images, forget /
retain splits by percentage of persons, and real-faces / real-world utility sets.

Data: the HF dataset therem/CLEAR (a local copy, or the hub id: `resolve_data_root` downloads it);
layout and columns in release.py. Evaluation: the authors' six tasks (config/mm/eval.yaml of
github.com/somvy/multimodal_unlearning) as `clear_<split>_gen` (ROUGE-L recall of a greedy answer) and
`clear_<split>_tr` (Prob. and Truth Ratio from answer losses); formulas and departures in protocol.py.
Forget quality and model utility combine several runs and tasks: the run report computes them (plan.py).
Training (`offside-train --benchmark clear --forget_ratio N`): train = full+tofu (the vanilla
fine-tune, config/mm/finetune.yaml), forget = forgetN+tofu, retain = retain{100-N}+tofu (forget.yaml);
image rows are (captioning question, caption) with the image, TOFU rows text-only QAs. CLEAR has no
relearn split.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

from offside_data.benchmarks import Benchmark, BenchmarkError, TrainOption, register_benchmark
from offside_data.fixtures import MINI_VERSION, build_once, cache_dir
from offside_data.records import TrainRecord
from offside_data.roots import data_fingerprint, resolve_data_root
from offside_data.schema import DataError

from . import protocol, release
from .release import FORGET_RATIOS

DOC_KWARGS = {"split": None, "forget_ratio": 5, "ds_size": protocol.DS_SIZE, "seed": 0}
TASKS_DIR = Path(__file__).parent / "tasks"


def _ints(kwargs: dict[str, Any]) -> dict[str, int]:
    out = {}
    for key in ("forget_ratio", "ds_size", "seed"):
        value = kwargs.get(key, DOC_KWARGS[key])
        try:
            out[key] = int(value)
        except (TypeError, ValueError):
            raise BenchmarkError(f"dataset_kwargs for clear: {key} must be an integer, got {value!r}") from None
    if out["forget_ratio"] not in FORGET_RATIOS:
        raise BenchmarkError(f"dataset_kwargs for clear: forget_ratio must be one of "
                             f"{', '.join(map(str, FORGET_RATIOS))}, got {out['forget_ratio']}")
    return out


def load_docs(root: Path, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """One task's rows: dataset_kwargs split (protocol.SPLITS), forget_ratio (1, 5, 10; default 5),
    ds_size (the first N rows, eval.yaml's 300; 0 = all), seed (of the captioning questions)."""
    unknown = sorted(set(kwargs) - set(DOC_KWARGS))
    if unknown:
        raise BenchmarkError(f"unknown dataset_kwargs for clear: {', '.join(unknown)} ({', '.join(DOC_KWARGS)})")
    split = kwargs.get("split")
    if split not in protocol.SPLITS:
        raise BenchmarkError(f"dataset_kwargs for clear: split must be one of {', '.join(protocol.SPLITS)}, "
                             f"got {split!r}")
    opts = _ints(kwargs)
    spec = protocol.SPLITS[split]
    config = spec.config.format(ratio=opts["forget_ratio"])
    rows = release.read_config(root, config)
    rows = rows[:opts["ds_size"]] if opts["ds_size"] > 0 else rows
    return [{"id": f"{config}/{i}", "split": split, "config": config, "index": i,
             "question": protocol.question(spec, row, opts["seed"]), "answer": row[spec.answer_key],
             "paraphrase": row[spec.base_key], "perturbed": list(row[spec.perturbed_key]),
             "plain_prob": spec.plain_prob, "_image": release.image_ref(row)} for i, row in enumerate(rows)]


def train_records(root: Path, role: str, modality: str, forget_ratio: int) -> list[TrainRecord]:
    """A role's rows of the `+tofu` configs. mm: image rows (captioning question -> caption, with the
    image) and TOFU rows (question -> answer, text only); text: the TOFU rows alone (the text-only
    unlearning of the paper's single-modality comparison)."""
    configs = {"train": "full+tofu", "forget": release.forget_config(forget_ratio, "+tofu"),
               "retain": release.retain_config(forget_ratio, "+tofu")}
    if role not in configs:
        raise BenchmarkError(f"benchmark clear has no {role} split (train, forget, retain)")
    config = configs[role]
    records = []
    for i, row in enumerate(release.read_config(root, config)):
        if row["image"] is None:
            records.append(TrainRecord(f"{config}/{i}", row["question"], row["answer"]))
        elif modality == "mm":
            records.append(TrainRecord(f"{config}/{i}", protocol.caption_question(row["caption"]), row["caption"],
                                       release.image_ref(row).load))
    return records


def generate(out, size: int | None = None, seed: int = 0) -> dict[str, int]:
    from . import synth

    return synth.generate(out, n_persons=size or 20, seed=seed)


def ensure_clear_mini(persons: int = 20, seed: int = 0) -> Path:
    """Path of the cached CLEAR-mini (persons, seed), building it if needed."""
    return build_once(cache_dir() / f"clear-mini-{MINI_VERSION}-p{persons}-s{seed}",
                      functools.partial(generate, size=persons, seed=seed))


def validate(root, forget_ratio: int | None = None) -> int:
    """Check every config the tasks and training read (each forget ratio, or the one given) and print
    rows per config and documents per task split; 1 with one line naming the bad file, row and column."""
    ratios = FORGET_RATIOS if forget_ratio is None else (forget_ratio,)
    try:
        root = resolve_data_root(root)
        for ratio in ratios:
            for config in release.needed_configs(ratio):
                print(f"{config:24s} {len(release.read_config(root, config)):6d} rows")
            for split in protocol.SPLITS:
                print(f"  task split {split:16s} {len(load_docs(root, {'split': split, 'forget_ratio': ratio})):5d} docs")
    except (DataError, BenchmarkError, ValueError) as exc:
        print(f"clear: {exc}", file=sys.stderr)
        return 1
    return 0


CLEAR = register_benchmark(Benchmark(
    name="clear", title="CLEAR", load_docs=load_docs, env_var="CLEAR_DATA_ROOT", fixture=ensure_clear_mini,
    fixture_title="CLEAR-mini", locate=resolve_data_root, fingerprint=lambda root: data_fingerprint(root, "*/*.parquet"),
    metadata_keys=("forget_ratio",), train_records=train_records, tasks_dir=TASKS_DIR, generate=generate,
    validate=validate, train_options={"forget_ratio": TrainOption(5, "the forget split N% (forgetN / retain{100-N}).",
                                                                  FORGET_RATIOS)}))
