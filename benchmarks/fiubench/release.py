"""Reader of a FIUBench release folder (Ma et al., ICLR 2025; hub dataset gray311/FIUBench).

The release, as the hub repository's file listing shows it (huggingface.co/datasets/gray311/FIUBench,
tree/main; its dataset card holds only `license: apache-2.0`), and as the authors' code reads it
(github.com/gray311/VLM_Unlearned @8e98326, `data_module.py` MMDatasetQA / MMForgetDatasetQA,
`evaluate_util.py`):

- `full.json`: one fictitious person per line (JSON Lines; the authors' loaders try `json.load` first
  and fall back to one object per line, so a JSON array is read too). Per person: `unique_id` (the
  SFHQ face number, e.g. "00044363"), `name`, `image_path` ("./dataset/SFHQ/SFHQ_pt1_<id>.jpg",
  relative to the authors' repository root), `caption` (the profile text the ICD baseline trains on)
  and `qa_list`, each QA with `question`, `answer`, `paraphrased_question` (a list of rewordings: the
  APE attack asks each), `paraphrased_answer`, `perturbed_answer` (a list of wrong answers: the truth
  ratio's distractors) and `keywords` (the private facts the keyword exact match looks for).
  Only the first 400 persons take part (`self.data = self.data[:400]` in both loaders).
- `split.json`: {split name: [unique_id, ...]} -- forget1 / forget5 / forget10 (disjoint forget sets,
  1 / 5 / 10 % of the 400), retain5 / retain15 (the evaluation's retain sets). The training retain set
  is every person outside all three forget splits (MMForgetDatasetQA, split "retain" of MMDatasetQA).
- `SFHQ.zip`: the face images, JPEG (the authors' README unzips it into dataset/SFHQ/). Both forms
  are read here: a `SFHQ/` folder next to full.json, or the zip (members matched by file name).
The other files of the repository (full_data.json, test_full.json, idontknow.json, CelebA.zip,
human.zip) are not read by the evaluation or the forget/retain training this module serves.

Every problem is one line naming the file, the record and the field (`offside_data.schema.DataError`).
"""
from __future__ import annotations

import functools
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image

from offside_data.schema import DataError

PERSONS_FILE, SPLITS_FILE, IMAGES_ZIP, IMAGES_DIR = "full.json", "split.json", "SFHQ.zip", "SFHQ"
FIRST_PERSONS = 400  # data_module.py: "choose 400 person for evaluation"
FORGET_SPLITS = {1: "forget1", 5: "forget5", 10: "forget10"}  # forget percentage -> split.json key
EVAL_RETAIN = "retain5"  # config/eval.yaml: split_list [forget5, retain5]
PERSON_FIELDS = {"unique_id": str, "name": str, "image_path": str, "caption": str, "qa_list": list}
QA_FIELDS = {"question": str, "answer": str, "paraphrased_question": list, "paraphrased_answer": str,
             "perturbed_answer": list, "keywords": list}


@dataclass(frozen=True)
class QA:
    question: str
    answer: str
    paraphrased_questions: tuple[str, ...]
    paraphrased_answer: str
    perturbed_answers: tuple[str, ...]
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class Person:
    unique_id: str
    name: str
    image_path: str
    caption: str
    qas: tuple[QA, ...]


@dataclass(frozen=True)
class Release:
    root: Path
    persons: tuple[Person, ...]  # the first FIRST_PERSONS of full.json, in file order
    splits: dict[str, tuple[str, ...]]

    def split(self, name: str) -> list[Person]:
        """The persons of a split.json split, in full.json order (as the authors filter)."""
        if name not in self.splits:
            raise DataError(str(self.root / SPLITS_FILE), None, name,
                            f"no such split (the file has {', '.join(self.splits)})")
        ids = set(self.splits[name])
        return [p for p in self.persons if p.unique_id in ids]

    def retain_train(self) -> list[Person]:
        """The training retain set: every person outside forget1, forget5 and forget10."""
        forget = {i for key in FORGET_SPLITS.values() for i in self.splits.get(key, ())}
        return [p for p in self.persons if p.unique_id not in forget]


def _rows(path: Path) -> list:
    """full.json as the authors read it: a JSON document, else one JSON object per line."""
    if not path.is_file():
        raise DataError(str(path), None, None, "missing (the release's person file)")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    data.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(str(path), None, None, f"line {n} is not JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise DataError(str(path), None, None, "expected one person object per line")
    return data


def _typed(source: str, index: int, record, fields: dict, prefix: str = "") -> None:
    if not isinstance(record, dict):
        raise DataError(source, index, prefix.rstrip(".") or None, "expected a JSON object")
    for name, kind in fields.items():
        if name not in record:
            raise DataError(source, index, prefix + name, "missing")
        if not isinstance(record[name], kind):
            raise DataError(source, index, prefix + name, f"expected {kind.__name__}, got {type(record[name]).__name__}")


def _strings(source: str, index: int, field_name: str, values: list, need: bool) -> tuple[str, ...]:
    if need and not values:
        raise DataError(source, index, field_name, "empty list")
    if not all(isinstance(v, str) for v in values):
        raise DataError(source, index, field_name, "expected a list of strings")
    return tuple(values)


def _person(source: str, index: int, row) -> Person:
    _typed(source, index, row, PERSON_FIELDS)
    qas = []
    for k, qa in enumerate(row["qa_list"]):
        prefix = f"qa_list[{k}]."
        _typed(source, index, qa, QA_FIELDS, prefix)
        qas.append(QA(qa["question"], qa["answer"],
                      _strings(source, index, prefix + "paraphrased_question", qa["paraphrased_question"], True),
                      qa["paraphrased_answer"],
                      _strings(source, index, prefix + "perturbed_answer", qa["perturbed_answer"], True),
                      _strings(source, index, prefix + "keywords", qa["keywords"], False)))
    if not qas:
        raise DataError(source, index, "qa_list", "empty list")
    return Person(row["unique_id"], row["name"], row["image_path"], row["caption"], tuple(qas))


def _splits(path: Path, known: set[str]) -> dict[str, tuple[str, ...]]:
    if not path.is_file():
        raise DataError(str(path), None, None, "missing (the release's forget/retain split file)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(str(path), None, None, f"not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise DataError(str(path), None, None, "expected {split name: [unique_id, ...]}")
    for name in FORGET_SPLITS.values():
        if name not in data:
            raise DataError(str(path), None, name, "missing")
    out = {}
    for name, ids in data.items():
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise DataError(str(path), None, name, "expected a list of unique_id strings")
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise DataError(str(path), None, name, f"unique_id {unknown[0]} is not among the first "
                                                   f"{FIRST_PERSONS} persons of {PERSONS_FILE}")
        out[name] = tuple(ids)
    return out


def _stamp(root: Path) -> tuple:
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in
                 (root / PERSONS_FILE, root / SPLITS_FILE) if p.exists())


def read_release(root: str | Path) -> Release:
    """The release at `root`, parsed once per state of its two JSON files."""
    root = Path(root)
    return _read(root, _stamp(root))


@functools.lru_cache(maxsize=4)
def _read(root: Path, stamp: tuple) -> Release:
    source = str(root / PERSONS_FILE)
    persons = [_person(source, i, row) for i, row in enumerate(_rows(root / PERSONS_FILE)[:FIRST_PERSONS])]
    seen: dict[str, int] = {}
    for i, p in enumerate(persons):
        if p.unique_id in seen:
            raise DataError(source, i, "unique_id", f"{p.unique_id} repeats record {seen[p.unique_id]}")
        seen[p.unique_id] = i
    return Release(root, tuple(persons), _splits(root / SPLITS_FILE, set(seen)))


def image_name(person: Person) -> str:
    return PurePosixPath(person.image_path).name


@functools.lru_cache(maxsize=4)
def _zip_members(path: Path, stamp: int) -> dict[str, str]:
    with zipfile.ZipFile(path) as archive:
        return {PurePosixPath(n).name: n for n in archive.namelist() if not n.endswith("/")}


def image_bytes(root: str | Path, person: Person) -> bytes:
    """The JPEG of a person: SFHQ/<name> if unzipped, else the SFHQ.zip member of that name."""
    root, name = Path(root), image_name(person)
    folder = root / IMAGES_DIR / name
    if folder.is_file():
        return folder.read_bytes()
    archive = root / IMAGES_ZIP
    if not archive.is_file():
        raise DataError(str(root / PERSONS_FILE), None, "image_path",
                        f"{person.unique_id}: neither {IMAGES_DIR}/{name} nor {IMAGES_ZIP} exists")
    member = _zip_members(archive, archive.stat().st_mtime_ns).get(name)
    if member is None:
        raise DataError(str(archive), None, "image_path", f"{person.unique_id}: no member named {name}")
    with zipfile.ZipFile(archive) as zf:
        return zf.read(member)


@functools.lru_cache(maxsize=256)
def load_image(root: str | Path, person: Person) -> Image.Image:
    """The person's face as RGB (the authors: `Image.open(image_path)`, then the processor), decoded once
    for all of the person's questions and tasks."""
    data = image_bytes(root, person)
    try:
        return Image.open(io.BytesIO(data)).convert("RGB")
    except OSError as exc:
        raise DataError(f"{Path(root)}: {image_name(person)}", None, "image_path",
                        f"{person.unique_id}: not a readable image ({exc})") from None
