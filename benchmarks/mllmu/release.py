"""MLLMU-Bench (Liu et al., NAACL 2025) release reader: parquet configs -> one doc per scored question.

Release layout (HF dataset MLLMMU/MLLMU-Bench): one folder per config, each of parquet shards
`train-0000X-of-0000N.parquet`. Profile configs (Full_Set, forget_N, retain_{100-N}, Retain_Set) hold
one row per person: `image` {bytes, path}, `ID`, `Classification_Task` {Image_Textual_Questions,
Pure_Text_Questions: [{Question, Options {A..D}, Correct_Answer}]}, `Generation_Task` and `Mask_Task`
[{Question, Ground_Truth, Type}]; Test_Set rows carry a list `images` instead of `image`; ft_Data rows
`image` + `metadata` (JSON list of {Question, Answer}). Other columns are kept but not required.

Evaluation follows the reference eval.py (franciscoliu/MLLMU-Bench) as its README runs it (LLaVA), with
every random draw seeded: classification shows all questions of 1 shot profile, cloze of 2, generation
none; shot profiles are drawn from the IDs under evaluation and their example rows come from Full_Set;
an evaluated question is dropped when its (ID, list index[, Type]) is one of a shot profile's Full_Set
questions, exactly as eval.py skips them (so in test mode the shot profile's Test_Set questions go too).
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from offside_data.parquet import ImageRef, shard_paths
from offside_data.prompts import protocol_prompt
from offside_data.roots import resolve_data_root
from offside_data.schema import LETTERS, DataError

PROMPTS = Path(__file__).parent / "prompts"  # eval.py's prompt strings, verbatim
FORGET_RATIOS = (5, 10, 15)
CONFIGS = ("Full_Set", *(f"forget_{n}" for n in FORGET_RATIOS), *(f"retain_{100 - n}" for n in FORGET_RATIOS),
           "Test_Set", "Retain_Set", "ft_Data")
SPLITS = ("forget", "test", "retain", "celebrity")
KINDS = ("cls", "gen", "cloze")
MODALITIES = ("mm", "text")
DEFAULT_SHOTS = {"cls": 1, "cloze": 2, "gen": 0}  # eval.py, LLaVA branch: random.sample(id_list, 1 / 2)
TYPES = {"mm": "Image_Textual", "text": "Pure_Text"}  # Generation_Task / Mask_Task `Type`
CLS_LISTS = {"mm": "Image_Textual_Questions", "text": "Pure_Text_Questions"}


class _Bad(Exception):
    def __init__(self, field: str, problem: str):
        super().__init__(problem)
        self.field, self.problem = field, problem


def _need(row: dict, key: str, kind: type, path: str = "") -> Any:
    where = f"{path}{key}"
    if key not in row or row[key] is None:
        raise _Bad(where, "missing")
    value = row[key]
    if not isinstance(value, kind):
        raise _Bad(where, f"expected {kind.__name__}, got {type(value).__name__}")
    if kind is str and key in ("ID", "Question") and not value.strip():
        raise _Bad(where, "empty")
    return value


def _check_image(value: Any, where: str) -> None:
    if not isinstance(value, dict) or not isinstance(value.get("bytes"), (bytes, bytearray)) or not value["bytes"]:
        raise _Bad(where, "expected an image struct {bytes, path} with non-empty bytes")


def _check_tasks(row: dict) -> None:
    cls = _need(row, "Classification_Task", dict)
    for name in CLS_LISTS.values():
        for i, qa in enumerate(_need(cls, name, list, "Classification_Task.")):
            at = f"Classification_Task.{name}[{i}]."
            if not isinstance(qa, dict):
                raise _Bad(at[:-1], "expected a struct")
            _need(qa, "Question", str, at)
            options = _need(qa, "Options", dict, at)
            for letter in LETTERS:
                _need(options, letter, str, at + "Options.")
            if _need(qa, "Correct_Answer", str, at) not in LETTERS:
                raise _Bad(at + "Correct_Answer", f"{qa['Correct_Answer']!r} is not one of A-D")
    for task in ("Generation_Task", "Mask_Task"):
        for i, qa in enumerate(_need(row, task, list)):
            at = f"{task}[{i}]."
            if not isinstance(qa, dict):
                raise _Bad(at[:-1], "expected a struct")
            _need(qa, "Question", str, at)
            _need(qa, "Ground_Truth", str, at)
            if _need(qa, "Type", str, at) not in TYPES.values():
                raise _Bad(at + "Type", f"{qa['Type']!r} is not Image_Textual or Pure_Text")


def _check_row(config: str, row: dict) -> None:
    _need(row, "ID", str)
    if config == "Test_Set":
        images = _need(row, "images", list)
        if not images:
            raise _Bad("images", "empty list")
        for j, img in enumerate(images):
            _check_image(img, f"images[{j}]")
    else:
        _check_image(row.get("image"), "image")
    if config == "ft_Data":
        try:
            pairs = json.loads(_need(row, "metadata", str))
        except json.JSONDecodeError as exc:
            raise _Bad("metadata", f"not JSON ({exc.msg})") from None
        if not isinstance(pairs, list) or not all(isinstance(p, dict) and {"Question", "Answer"} <= p.keys()
                                                   for p in pairs):
            raise _Bad("metadata", "expected a JSON list of {Question, Answer} objects")
    else:
        _check_tasks(row)


def read_config(root: str | Path, config: str) -> list[dict]:
    """Every row of one config folder, shards in order; each row gains `_source` and `_row` (its shard
    and row there) so later errors can name them. Bad rows raise DataError(file, row, field)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for path in shard_paths(resolve_data_root(root), config):
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(str(path), None, None, f"not a readable parquet file ({exc.__class__.__name__})") from None
        for i, row in enumerate(table.to_pylist()):
            try:
                _check_row(config, row)
            except _Bad as bad:
                raise DataError(str(path), i, bad.field, bad.problem) from None
            rows.append({**row, "_source": str(path), "_row": i})
    return rows


@dataclass(frozen=True)
class Shot:
    """One in-context example: a question of a shot profile as Full_Set stores it."""
    profile: str
    question: str
    options: dict[str, str] | None  # cls only
    answer: str  # cls: the correct letter; cloze: Ground_Truth
    image_ref: ImageRef | None  # mm only: the shot profile's Full_Set image

    @property
    def image(self) -> Image.Image | None:
        return self.image_ref.load() if self.image_ref else None


@dataclass(frozen=True)
class MllmuDoc:
    """One scored question. `question` is the text exactly as stored (cloze keeps its `__` blank)."""
    id: str  # f"{profile}/{kind}/{modality}/{index}", unique within one (split, kind, modality) task
    split: str
    kind: str
    modality: str
    profile: str  # the release `ID`
    index: int  # position in the source list (Image_/Pure_Text_Questions, Generation_Task, Mask_Task)
    question: str
    options: dict[str, str] | None  # cls: {A..D}
    correct: str | None  # cls: letter
    answer: str | None  # gen / cloze: Ground_Truth
    image_ref: ImageRef | None  # None for text docs
    image_index: int | None  # Test_Set: which of the row's `images` (seeded per ID); else 0 / None
    shots: tuple[Shot, ...]  # in-context examples, in Full_Set row order as eval.py builds them
    shot_profiles: tuple[str, ...]  # IDs drawn as shot profiles (seeded)
    n_fewshot_excluded: int  # questions of this task left out because they belong to a shot profile

    @property
    def image(self) -> Image.Image | None:
        return self.image_ref.load() if self.image_ref else None


def train_prompt(question: str, modality: str) -> str:
    """The reference fine-tuning prompt around a question (prompts/mllmu_train_{mm,text}.txt), its
    `<image>` marker removed (the image goes in as an image part): what offside-train trains ft_Data
    on, and what the clean-protocol generation tasks ask."""
    return protocol_prompt(f"mllmu_train_{modality}", PROMPTS).replace("<image>", "").format(question=question)


def split_configs(split: str, forget_ratio: int = 5) -> tuple[str, str | None]:
    """(config whose rows are evaluated, config whose IDs select them) for a split."""
    if forget_ratio not in FORGET_RATIOS:
        raise ValueError(f"forget_ratio must be one of {FORGET_RATIOS}, got {forget_ratio}")
    return {"forget": (f"forget_{forget_ratio}", None), "retain": (f"retain_{100 - forget_ratio}", None),
            "test": ("Test_Set", f"forget_{forget_ratio}"), "celebrity": ("Retain_Set", None)}[split]


def pick_test_image(profile: str, n_images: int, seed: int = 0) -> int:
    """Which Test_Set image a profile is shown with: eval.py's random.choice(row["images"]), seeded per ID."""
    return random.Random(f"mllmu-test-image/{seed}/{profile}").randrange(n_images)


def _questions(row: dict, kind: str, modality: str) -> list[tuple[int, dict]]:
    """(index, question) pairs of one kind/modality in a row; indices are positions in the source list."""
    if kind == "cls":
        return list(enumerate(row["Classification_Task"][CLS_LISTS[modality]]))
    task = row["Generation_Task" if kind == "gen" else "Mask_Task"]
    return [(i, qa) for i, qa in enumerate(task) if qa["Type"] == TYPES[modality]]


def _row_image(row: dict, split: str, seed: int) -> tuple[ImageRef, int]:
    if split == "test":
        k = pick_test_image(row["ID"], len(row["images"]), seed)
        return ImageRef(row["images"][k]["bytes"], row["_source"], row["_row"], f"images[{k}]"), k
    return ImageRef(row["image"]["bytes"], row["_source"], row["_row"], "image"), 0


def draw_shot_profiles(ids: list[str], kind: str, split: str, n: int, seed: int = 0) -> list[str]:
    """The shot profiles for one (split, kind): both modalities share them, as in eval.py."""
    if n > len(ids):
        raise ValueError(f"{split} {kind}: {n} shot profiles requested but only {len(ids)} IDs are evaluated")
    return random.Random(f"mllmu-shots/{seed}/{split}/{kind}").sample(ids, n) if n else []


def mllmu_docs(root: str | Path, split: str, kind: str, modality: str, forget_ratio: int = 5, seed: int = 0,
               shots: int | None = None, rows: dict[str, list[dict]] | None = None) -> list[MllmuDoc]:
    """The scored questions of one task `mllmu_{split}_{kind}_{modality}`.

    shots: number of shot profiles (default 1 for cls, 2 for cloze, 0 for gen, as eval.py with LLaVA).
    rows: configs already read ({config: rows}, e.g. read_release) so many tasks share one read."""
    for name, value, allowed in (("split", split, SPLITS), ("kind", kind, KINDS), ("modality", modality, MODALITIES)):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    n_shots = DEFAULT_SHOTS[kind] if shots is None else shots
    if n_shots < 0 or (kind == "gen" and n_shots):
        allowed = "0 (eval.py shows none)" if kind == "gen" else ">= 0"
        raise ValueError(f"{kind}: shot count must be {allowed}, got {n_shots}")
    rows = dict(rows or {})

    def get(config: str) -> list[dict]:
        if config not in rows:
            rows[config] = read_config(root, config)
        return rows[config]

    config, id_config = split_configs(split, forget_ratio)
    ids = list(dict.fromkeys(r["ID"] for r in get(id_config or config)))
    wanted = set(ids)
    evaluated = [r for r in get(config) if r["ID"] in wanted]

    drawn = draw_shot_profiles(ids, kind, split, n_shots, seed)
    examples: list[Shot] = []
    excluded: set[tuple[str, int]] = set()
    if drawn:
        for row in get("Full_Set"):
            if row["ID"] not in drawn:
                continue
            ref = ImageRef(row["image"]["bytes"], row["_source"], row["_row"], "image") if modality == "mm" else None
            for i, qa in _questions(row, kind, modality):
                examples.append(Shot(row["ID"], qa["Question"], qa.get("Options"),
                                     qa["Correct_Answer"] if kind == "cls" else qa["Ground_Truth"], ref))
                excluded.add((row["ID"], i))
        if split == "celebrity" and kind == "cls":
            examples = []  # eval.py builds no shot prompt in retain_celebrity classification

    kept: list[tuple[dict, int, dict]] = []
    n_excluded = 0
    for row in evaluated:
        for i, qa in _questions(row, kind, modality):
            if (row["ID"], i) in excluded:
                n_excluded += 1
            else:
                kept.append((row, i, qa))
    docs = []
    for row, i, qa in kept:
        ref, k = _row_image(row, split, seed) if modality == "mm" else (None, None)
        docs.append(MllmuDoc(
            id=f"{row['ID']}/{kind}/{modality}/{i}", split=split, kind=kind, modality=modality, profile=row["ID"],
            index=i, question=qa["Question"], options=dict(qa["Options"]) if kind == "cls" else None,
            correct=qa["Correct_Answer"] if kind == "cls" else None,
            answer=None if kind == "cls" else qa["Ground_Truth"], image_ref=ref, image_index=k,
            shots=tuple(examples), shot_profiles=tuple(drawn), n_fewshot_excluded=n_excluded))
    return docs


def read_release(root: str | Path) -> dict[str, list[dict]]:
    """Every config of a release, read and checked once (validate, and callers building many tasks)."""
    return {config: read_config(root, config) for config in CONFIGS}
