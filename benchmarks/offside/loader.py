"""Read an OFFSIDE data root (the real release layout, or OFFSIDE-mini) into OffsideItems.

Layout (all paths relative to the root):
  {split}_set.json                 chat records {"messages": [user Q, assistant A], "images": PATH}
  text_{split}_set.json            the same QAs rewritten text-only (name instead of image),
                                   identity questions dropped; "images" still names the source image
  classification_{split}_set.json  {"Question", "Options": {"A".."D"}, "Correct_Answer", "images"}
  offside_meta.json                optional sidecar: per image player / image_id / visual_rumor
                                   (OFFSIDE-mini writes it; the real release has none)
A combined file (e.g. train_data.json) may be given instead; its split then comes from id % 5.

Every QA is typed as one of OFFSIDE's 14 facts from what it says (`facts.classify`); shared /
private follows from the fact. The player comes from the sidecar, else the image's identity
answer, else the images sharing its profile facts (`audit.resolve_players`). Anomalies of the
release (a fact missing or repeated on an image...) are left as they are for `audit` to report.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from .audit import QA, resolve_players
from .facts import classify, info_of
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
    """The old keyword label (transfer vocabulary means private): the label of a QA of no known
    fact, and a cross-check `offside-data validate` reports disagreements with."""
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
    facts = [classify(question, answer) for _s, _i, _img, question, answer, _sp in raw]
    sidecar = {img: m["player"] for img, m in meta.get("images", {}).items() if "player" in m}
    players = resolve_players([QA(src, i, img, fact, a) for (src, i, img, _q, a, _sp), fact in zip(raw, facts)],
                              sidecar)
    text_q = _text_questions(root)
    mcq = _mc_options(root)

    items, per_image = [], defaultdict(int)
    for (source, index, image, question, answer, split), fact in zip(raw, facts):
        image_meta = meta.get("images", {}).get(image, {})
        try:
            image_id = int(image_meta.get("image_id", image_id_from_path(image)))
        except ValueError as exc:
            raise DataError(source, index, "images", str(exc)) from None
        split = split or split_of_image_id(image_id)
        qa_index = per_image[(split, image)]
        per_image[(split, image)] += 1
        options, correct, mc_stored = mcq.get((split, image, question)) or mcq.get((split, image, answer)) or (
            None, None, None)
        text_question, text_stored = text_q.get((image, answer), (None, None))
        player, player_source = players[image]
        item = OffsideItem(
            id=f"{split}/{Path(image).stem}/{qa_index:02d}",
            player=player,
            image=image,
            image_id=image_id,
            split=split,
            info=info_of(fact) if fact else keyword_info(question),
            question=question,
            answer=answer,
            text_question=text_question,
            options=options,
            correct=correct,
            visual_rumor=bool(image_meta.get("visual_rumor", False)),
            fact=fact,
            extra={"stored_question": stored[(source, index)], "stored_text_question": text_stored,
                   "stored_mc_question": mc_stored, "player_source": player_source},
        )
        validate_item(item, source, index)
        items.append(item)
    return items


def check_images(root: str | Path, items: Iterable[OffsideItem]) -> int:
    """Header-check every image the items reference (see `chat.check_image`); returns how many."""
    from offside_data.chat import check_image

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


def load_items_once(root: str | Path) -> list[OffsideItem]:
    """`load_items`, parsed once per state of the root's JSON files: every task of a run (and the
    unlearning hooks) reads the same release."""
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(Path(root).glob("*.json")))
    return list(_load_items_cached(str(root), stamp))


@lru_cache(maxsize=4)
def _load_items_cached(root: str, stamp: tuple) -> tuple[OffsideItem, ...]:
    return tuple(load_items(root))
