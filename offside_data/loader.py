"""Read an OFFSIDE data root (the real release layout, or OFFSIDE-mini) into OffsideItems.

Layout (all paths relative to the root):
  {split}_set.json                 chat records {"messages": [user Q, assistant A], "images": PATH}
  text_{split}_set.json            the same QAs rewritten text-only (name instead of image),
                                   identity questions dropped; "images" still names the source image
  classification_{split}_set.json  {"Question", "Options": {"A".."D"}, "Correct_Answer", "images"}
  offside_meta.json                optional sidecar: per image player / image_id / visual_rumor and
                                   per-QA info labels (OFFSIDE-mini writes it; the real release is
                                   inferred: player from the identity answer, info from the data's
                                   structure, see `infer_infos`)
A combined file (e.g. train_data.json) may be given instead; its split then comes from id % 5.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from .schema import (
    LETTERS,
    SPLITS,
    DataError,
    OffsideItem,
    split_of_image_id,
    validate_item,
)

META_FILE = "offside_meta.json"
IMAGE_TAG = "<image>"
_PRIVATE = re.compile(r"club|transfer|fee|market|worth|troph|title|sign|join|represent|associated|loan|contract", re.I)
_IDENTITY = re.compile(r"\b(who|identify|identity|name)\b", re.I)
_NAME_IN_ANSWER = re.compile(r"(?:player in the image is|player's name is|player is named|this is)\s+(.+?)\.?$", re.I)


def chat_file(split: str, modality: str = "mm") -> str:
    return f"{split}_set.json" if modality == "mm" else f"text_{split}_set.json"


def classification_file(split: str) -> str:
    return f"classification_{split}_set.json"


def image_id_from_path(path: str) -> int:
    match = re.search(r"(\d+)", Path(path).stem)
    if not match:
        raise ValueError(f"image name {path!r} carries no numeric id")
    return int(match.group(1))


def keyword_info(question: str) -> str:
    """The tie-breaker label: transfer vocabulary in the question means a private fact."""
    return "private" if _PRIVATE.search(question) else "shared"


def _tokens(text: str) -> list[str]:
    return re.findall(r"[\w.,€$£%-]+", text.lower().replace(". ", " "))


def fact_value(answer: str, options: dict[str, str] | None, correct: str | None) -> tuple[str, ...]:
    """What an answer states, without its sentence template.

    With MC options (whose distractors reuse the answer's template) the value is the answer's
    tokens that some distractor lacks ("The player is 28 years old." vs "... 31 ..." -> ("28",)).
    Without options it is the whole normalised answer.
    """
    tokens = [t.strip(".,") for t in _tokens(answer)]
    if options and correct:
        others = [set(t.strip(".,") for t in _tokens(text)) for letter, text in options.items() if letter != correct]
        value = tuple(t for t in tokens if not all(t in other for other in others))
        if value:
            return value
    return tuple(tokens)


def infer_infos(qas: list[tuple[str, str, str, tuple[str, ...]]]) -> list[str]:
    """shared / private for each (player, image, question, value) of a release without sidecar.

    OFFSIDE's structure decides: a shared fact (name, age, the club he plays for, shirt number...)
    states the same value on every image of its player; a private (transfer) fact differs on at
    least one of them. Keywords only break the tie where the structure cannot tell: a player with
    a single image.
    """
    values_by_image: dict[tuple[str, str], set] = defaultdict(set)
    for player, image, _question, value in qas:
        values_by_image[(player, image)].add(value)
    images_of: dict[str, list[str]] = defaultdict(list)
    for player, image in values_by_image:
        images_of[player].append(image)
    labels = []
    for player, image, question, value in qas:
        others = [values_by_image[(player, other)] for other in images_of[player] if other != image]
        if not others:
            labels.append(keyword_info(question))
        else:
            labels.append("shared" if all(value in found for found in others) else "private")
    return labels


def _read_json_list(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(str(path), None, None, f"invalid JSON ({exc})") from None
    if not isinstance(data, list):
        raise DataError(str(path), None, None, "top level must be a JSON list of records")
    return data


def _parse_chat(record: Any, source: str, index: int) -> tuple[str, str, str, str]:
    """Return (image, question, answer, question as stored) of one chat record."""
    if not isinstance(record, dict):
        raise DataError(source, index, None, "record must be an object")
    messages = record.get("messages")
    if not isinstance(messages, list) or len(messages) != 2:
        raise DataError(source, index, "messages", "must be a list of exactly [user, assistant]")
    for pos, (msg, role) in enumerate(zip(messages, ("user", "assistant"))):
        if not isinstance(msg, dict) or msg.get("role") != role:
            raise DataError(source, index, f"messages[{pos}].role", f"must be '{role}'")
        if not isinstance(msg.get("content"), str) or not msg["content"].strip():
            raise DataError(source, index, f"messages[{pos}].content", "must be a non-empty string")
    image = record.get("images")
    if isinstance(image, list):
        image = image[0] if len(image) == 1 else None
    if not isinstance(image, str) or not image:
        raise DataError(source, index, "images", "must be one image path")
    question = messages[0]["content"].replace(IMAGE_TAG, " ").strip()
    question = re.sub(r"\s+", " ", question).replace(" .", ".")
    return _norm_image(image), question, messages[1]["content"].strip(), messages[0]["content"]


def _parse_mc(record: Any, source: str, index: int) -> tuple[str, str, dict[str, str], str, str]:
    if not isinstance(record, dict):
        raise DataError(source, index, None, "record must be an object")
    for key in ("Question", "Options", "Correct_Answer", "images"):
        if key not in record:
            raise DataError(source, index, key, "missing")
    options = record["Options"]
    if not isinstance(options, dict) or sorted(options) != list(LETTERS):
        raise DataError(source, index, "Options", "must map exactly A-D to option texts")
    if record["Correct_Answer"] not in LETTERS:
        raise DataError(source, index, "Correct_Answer", f"must be one of A-D, got {record['Correct_Answer']!r}")
    texts = [options[k] for k in LETTERS]
    if any(not isinstance(t, str) or not t.strip() for t in texts):
        raise DataError(source, index, "Options", "every option must be a non-empty string")
    if len(set(texts)) != len(texts):
        raise DataError(source, index, "Options", "the four options must be distinct")
    image = record["images"][0] if isinstance(record["images"], list) else record["images"]
    question = re.sub(r"\s+", " ", str(record["Question"]).replace(IMAGE_TAG, " ")).strip()
    return _norm_image(image), question, {k: str(options[k]) for k in LETTERS}, record["Correct_Answer"], str(
        record["Question"])


def _norm_image(path: str) -> str:
    return path[2:] if path.startswith("./") else path


def load_items(root: str | Path) -> list[OffsideItem]:
    """Load and validate every item of a data root; errors name file, record and field."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(str(root), None, None, "data root is not a directory")
    meta = _load_meta(root)
    sources = [(root / chat_file(s), s) for s in SPLITS if (root / chat_file(s)).exists()]
    if not sources and (root / "train_data.json").exists():
        sources = [(root / "train_data.json", None)]
    if not sources:
        raise DataError(str(root), None, None, f"no {chat_file('forget')} / train_data.json found")

    raw: list[tuple[str, int, str, str, str, str | None]] = []  # (source, index, image, q, a, split)
    stored: dict[tuple[str, int], str] = {}  # the question text exactly as the file has it
    for path, split in sources:
        for index, record in enumerate(_read_json_list(path)):
            image, question, answer, as_stored = _parse_chat(record, str(path), index)
            raw.append((str(path), index, image, question, answer, split))
            stored[(str(path), index)] = as_stored

    players = _players_by_image(raw, meta)
    text_q = _text_questions(root)
    mcq = _mc_options(root)

    rows, per_image = [], defaultdict(int)
    for source, index, image, question, answer, split in raw:
        image_meta = meta.get("images", {}).get(image, {})
        try:
            image_id = int(image_meta.get("image_id", image_id_from_path(image)))
        except ValueError as exc:
            raise DataError(source, index, "images", str(exc)) from None
        split = split or split_of_image_id(image_id)
        qa_index = per_image[(split, image)]
        per_image[(split, image)] += 1
        if image not in players:
            raise DataError(source, index, "images", f"no player known for image {image!r} (no identity QA, no meta)")
        options, correct, mc_stored = mcq.get((split, image, question)) or mcq.get((split, image, answer)) or (
            None, None, None)
        text_question, text_stored = text_q.get((image, answer), (None, None))
        extra = {"stored_question": stored[(source, index)], "stored_text_question": text_stored,
                 "stored_mc_question": mc_stored}
        infos = image_meta.get("info")
        info = infos[qa_index] if infos and qa_index < len(infos) else None
        rows.append((source, index, image, image_meta, image_id, split, qa_index, question, answer, options,
                     correct, info, text_question, extra))

    inferred = infer_infos([(players[r[2]], r[2], r[7], fact_value(r[8], r[9], r[10])) for r in rows])
    items = []
    for (source, index, image, image_meta, image_id, split, qa_index, question, answer, options, correct,
         info, text_question, extra), guess in zip(rows, inferred):
        item = OffsideItem(
            id=f"{split}/{Path(image).stem}/{qa_index:02d}",
            player=players[image],
            image=image,
            image_id=image_id,
            split=split,
            info=info or guess,
            question=question,
            answer=answer,
            text_question=text_question,
            options=options,
            correct=correct,
            visual_rumor=bool(image_meta.get("visual_rumor", False)),
            extra=extra,
        )
        validate_item(item, source, index)
        items.append(item)
    return items


def check_images(root: str | Path, items: Iterable[OffsideItem]) -> int:
    """Header-check every image the items reference (see `chat.check_image`); returns how many."""
    from .chat import check_image

    images = sorted({item.image for item in items if item.image})
    for image in images:
        check_image(Path(root) / image)
    return len(images)


def _load_meta(root: Path) -> dict[str, Any]:
    path = root / META_FILE
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(str(path), None, None, f"invalid JSON ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("images", {}), dict):
        raise DataError(str(path), None, "images", "must be an object keyed by image path")
    return meta


def _players_by_image(raw: Iterable[tuple], meta: dict[str, Any]) -> dict[str, str]:
    players = {img: m["player"] for img, m in meta.get("images", {}).items() if "player" in m}
    for _source, _index, image, question, answer, _split in raw:
        if image in players or not _IDENTITY.search(question):
            continue
        match = _NAME_IN_ANSWER.search(answer)
        if match:
            players[image] = match.group(1).strip()
    return players


def _text_questions(root: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """(image, answer) -> (text-only question, that question as stored)."""
    out = {}
    for split in SPLITS:
        path = root / chat_file(split, "text")
        if path.exists():
            for index, record in enumerate(_read_json_list(path)):
                image, question, answer, as_stored = _parse_chat(record, str(path), index)
                out[(image, answer)] = (question, as_stored)
    return out


def _mc_options(root: Path) -> dict[tuple[str, str, str], tuple[dict[str, str], str, str]]:
    """Index MC records by (split, image, question) and by (split, image, correct text)."""
    out = {}
    for split in SPLITS:
        path = root / classification_file(split)
        if path.exists():
            for index, record in enumerate(_read_json_list(path)):
                image, question, options, correct, as_stored = _parse_mc(record, str(path), index)
                out[(split, image, question)] = (options, correct, as_stored)
                out.setdefault((split, image, options[correct]), (options, correct, as_stored))
    return out


def data_fingerprint(root: str | Path, pattern: str = "*.json") -> str:
    """sha256 over the root's data files (relative paths + bytes; OFFSIDE: its JSON files, MLLMU-Bench:
    `*/*.parquet`): the data identity in results and lineage."""
    digest = hashlib.sha256()
    for path in sorted(Path(root).glob(pattern)):
        digest.update(path.relative_to(root).as_posix().encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def load_items_once(root: str | Path) -> list[OffsideItem]:
    """`load_items`, parsed once per state of the root's JSON files: every task of a run (and the
    unlearning hooks) reads the same release."""
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(Path(root).glob("*.json")))
    return list(_load_items_cached(str(root), stamp))


@lru_cache(maxsize=4)
def _load_items_cached(root: str, stamp: tuple) -> tuple[OffsideItem, ...]:
    return tuple(load_items(root))


def resolve_data_root(spec: str | Path) -> Path:
    """A local folder, or a hub dataset id downloaded with huggingface_hub (needs network)."""
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if re.fullmatch(r"[\w.-]+/[\w.-]+", str(spec)):
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(repo_id=str(spec), repo_type="dataset"))
        except Exception as exc:  # offline or unknown id: say which
            raise DataError(str(spec), None, None, f"not a local folder and hub download failed ({exc.__class__.__name__})") from None
    raise DataError(str(spec), None, None, "data root does not exist")
