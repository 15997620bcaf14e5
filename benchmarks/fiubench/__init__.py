"""FIUBench (Ma et al., ICLR 2025, "Benchmarking Vision Language Model Unlearning via Fictitious Facial
Identity Dataset"; data gray311/FIUBench, code github.com/gray311/VLM_Unlearned) as an offside benchmark.

400 fictitious persons (SFHQ synthetic faces), each with private-information QAs. Two stages, as the
authors run them: a VLM is fine-tuned on all 400 (finetune.py, split "full"), then unlearns a forget
split (forget1 / forget5 / forget10 = 1 / 5 / 10 % of the persons; forget.py) while the rest is
retained. The release layout and the schema: `release.py`; the prompts and metrics: `protocol.py`;
the tasks: tasks/*.yaml; the `offside run` plan and report: `plan.py`.

dataset_kwargs of the fiubench tasks: split (forget: the forget split of `forget_ratio`; retain: retain5,
the evaluation's retain set in config/eval.yaml; or any split.json key), kind (qa: one doc per QA;
ape: one doc per paraphrased question of each QA), forget_ratio (1, 5 or 10; default 5, eval.yaml's
forget5). Training roles: train = every person (the stage-1 fine-tune), forget = the forget split,
retain = every person outside forget1/5/10 (forget.py's retain data, and the retain-only model the
authors compare forget quality with). FIUBench has no relearn split and no text-only questions.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from offside_data.benchmarks import Benchmark, BenchmarkError, TrainOption, register_benchmark
from offside_data.fixtures import build_once, cache_dir
from offside_data.records import TrainRecord
from offside_data.roots import data_fingerprint, resolve_data_root

from . import (
    judge,  # noqa: F401 -- registers the fiubench_gpt judge metric (fiubench_*_judge tasks)
    protocol,
)
from .release import EVAL_RETAIN, FORGET_SPLITS, Person, load_image, read_release

NAME = "fiubench"
KWARGS = ("split", "kind", "forget_ratio")
KINDS = ("qa", "ape")
FORGET_RATIOS = tuple(FORGET_SPLITS)
MINI_VERSION = "v1"


def split_name(split: str, forget_ratio: int) -> str:
    """A task's split as split.json names it."""
    return FORGET_SPLITS[forget_ratio] if split == "forget" else EVAL_RETAIN if split == "retain" else split


def _options(kwargs: dict[str, Any]) -> tuple[str, str, int]:
    unknown = sorted(set(kwargs) - set(KWARGS))
    if unknown:
        raise BenchmarkError(f"unknown dataset_kwargs for {NAME}: {', '.join(unknown)} ({', '.join(KWARGS)})")
    if "split" not in kwargs:
        raise BenchmarkError(f"dataset_kwargs for {NAME}: missing split")
    kind = kwargs.get("kind", "qa")
    if kind not in KINDS:
        raise BenchmarkError(f"dataset_kwargs for {NAME}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    try:
        ratio = 5 if kwargs.get("forget_ratio") is None else int(kwargs["forget_ratio"])  # eval.yaml's forget5
    except (TypeError, ValueError):
        raise BenchmarkError(f"dataset_kwargs for {NAME}: forget_ratio must be an integer, "
                             f"got {kwargs['forget_ratio']!r}") from None
    if ratio not in FORGET_RATIOS:
        raise BenchmarkError(f"dataset_kwargs for {NAME}: forget_ratio must be one of "
                             f"{', '.join(map(str, FORGET_RATIOS))}, got {ratio}")
    return str(kwargs["split"]), kind, ratio


def _qa_docs(person: Person, forget: bool, kind: str) -> list[dict[str, Any]]:
    docs = []
    for k, qa in enumerate(person.qas):
        base = {"unique_id": person.unique_id, "answer": qa.answer, "paraphrased_answer": qa.paraphrased_answer,
                "perturbed_answer": list(qa.perturbed_answers), "keywords": list(qa.keywords), "forget": forget,
                "_person": person}
        questions = [(f"{person.unique_id}/{k}", qa.question)] if kind == "qa" else [
            (f"{person.unique_id}/{k}/p{j}", q) for j, q in enumerate(qa.paraphrased_questions)]
        docs += [{"id": doc_id, "question": q, **base} for doc_id, q in questions]
    return docs


def load_docs(root: Path, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """One doc per QA (kind qa) or per paraphrased question (kind ape) of the split's persons, in
    full.json order; `forget` says whether the authors treat the split as a forget set (its probability
    is not normalised). `_person` / `_root` find the image (kept out of the samples file)."""
    split, kind, ratio = _options(kwargs)
    name = split_name(split, ratio)
    persons = read_release(root).split(name)
    return [{**doc, "_root": str(root)} for p in persons for doc in _qa_docs(p, name.startswith("forget"), kind)]


def _persons(root: Path, role: str, forget_ratio: int) -> list[Person]:
    release = read_release(root)
    if role == "train":
        return list(release.persons)
    if role == "forget":
        return release.split(FORGET_SPLITS[forget_ratio])
    if role == "retain":
        return release.retain_train()
    raise BenchmarkError(f"{NAME} has no {role} split (train, forget, retain)")


def train_records(root: Path, role: str, modality: str, forget_ratio: int) -> list[TrainRecord]:
    """The role's QAs as the authors train on them: the image, then the capitalized question; the
    capitalized answer (data_module.py). Every question names "the person in the image": no text view."""
    if modality != "mm":
        raise BenchmarkError(f"{NAME}: every question asks about the person in the image; there is no "
                             f"{modality} modality")
    return [TrainRecord(f"{p.unique_id}/{k}", protocol.ask(qa.question), protocol.target(qa.answer),
                        functools.partial(load_image, str(root), p))
            for p in _persons(Path(root), role, forget_ratio) for k, qa in enumerate(p.qas)]


def validate(root: str | Path) -> int:
    """Read the release, decode every image of the first 400 persons, print the counts per split."""
    release = read_release(root)
    for person in release.persons:
        load_image(root, person)
    print(f"{root}: FIUBench release, {len(release.persons)} persons, "
          f"{sum(len(p.qas) for p in release.persons)} QAs, {len(release.persons)} images decoded")
    print("  ".join(f"{name}={len(ids)}" for name, ids in release.splits.items())
          + f"  retain(train)={len(release.retain_train())}")
    return 0


def generate(out: str | Path, size: int | None = None, seed: int = 0) -> dict[str, int]:
    from .synth import generate as write

    return write(out, n_persons=size or 40, seed=seed)


def ensure_mini(persons: int = 40, seed: int = 0) -> Path:
    """The cached FIUBench-mini (persons, seed), built once."""
    return build_once(cache_dir() / f"fiubench-mini-{MINI_VERSION}-p{persons}-s{seed}",
                      lambda out: generate(out, persons, seed))


def fingerprint(root: Path) -> str:
    return data_fingerprint(root, "*.json")


FIUBENCH = register_benchmark(Benchmark(
    name=NAME, title="FIUBench", load_docs=load_docs, env_var="FIUBENCH_DATA_ROOT", fixture=ensure_mini,
    fixture_title="FIUBench-mini", locate=resolve_data_root, fingerprint=fingerprint, metadata_keys=("forget_ratio",),
    train_records=train_records, tasks_dir=Path(__file__).parent / "tasks", generate=generate, validate=validate,
    train_options={"forget_ratio": TrainOption(5, "the forget split forgetN (N% of the persons).", FORGET_RATIOS)}))
