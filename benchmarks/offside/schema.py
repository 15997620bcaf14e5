"""The OFFSIDE record type: one VQA item (question, answer, image) of the release.

A record is one question about one image. Its multiple-choice options and its
text-only rewrite (player name instead of image) travel with it, so every view
(multimodal / text, generation / classification) is a projection of the same item.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from offside_data.schema import LETTERS, DataError

from .facts import FACTS

PROMPTS = Path(__file__).parent / "prompts"  # the authors' prompt strings and offside's construction prompts
SPLITS = ("forget", "retain", "test", "relearn")
INFOS = ("shared", "private")


@dataclass(frozen=True)
class OffsideItem:
    id: str
    player: str
    image: str | None  # path relative to the data root
    image_id: int
    split: str
    info: str
    question: str
    answer: str
    text_question: str | None = None  # None for identity questions ("who is this?")
    options: dict[str, str] | None = None  # letter -> option text
    correct: str | None = None  # correct letter
    visual_rumor: bool = False
    fact: str | None = None  # which of OFFSIDE's 14 facts it asks (offside_data.facts); None: unrecognised
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>", index: int | None = None) -> OffsideItem:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise DataError(source, index, sorted(unknown)[0], "unknown field")
        item = cls(**{k: v for k, v in data.items() if k in known})
        validate_item(item, source, index)
        return item


def validate_item(item: OffsideItem, source: str = "<items>", index: int | None = None) -> None:
    """Raise DataError naming the first invalid field of `item`."""

    def bad(name: str, problem: str) -> DataError:
        return DataError(source, index, name, problem)

    for name in ("id", "player", "question", "answer"):
        value = getattr(item, name)
        if not isinstance(value, str) or not value.strip():
            raise bad(name, f"must be a non-empty string, got {value!r}")
    if item.image is not None and (not isinstance(item.image, str) or not item.image):
        raise bad("image", f"must be a relative path or null, got {item.image!r}")
    if isinstance(item.image_id, bool) or not isinstance(item.image_id, int) or item.image_id < 0:
        raise bad("image_id", f"must be a non-negative integer, got {item.image_id!r}")
    if item.split not in SPLITS:
        raise bad("split", f"must be one of {', '.join(SPLITS)}, got {item.split!r}")
    if item.info not in INFOS:
        raise bad("info", f"must be one of {', '.join(INFOS)}, got {item.info!r}")
    if item.text_question is not None and (not isinstance(item.text_question, str) or not item.text_question.strip()):
        raise bad("text_question", f"must be a non-empty string or null, got {item.text_question!r}")
    if item.options is not None:
        if not isinstance(item.options, dict) or sorted(item.options) != list(LETTERS):
            raise bad("options", f"must map exactly the letters A-D to texts, got {item.options!r}")
        texts = list(item.options.values())
        if any(not isinstance(t, str) or not t.strip() for t in texts):
            raise bad("options", "every option must be a non-empty string")
        if len(set(texts)) != 4:
            raise bad("options", "the four options must be distinct")
        if item.correct not in LETTERS:
            raise bad("correct", f"must be one of A-D when options are given, got {item.correct!r}")
    elif item.correct is not None:
        raise bad("correct", "given without options")
    if item.fact is not None and item.fact not in FACTS:
        raise bad("fact", f"must be one of {', '.join(FACTS)} or null, got {item.fact!r}")
    if not isinstance(item.visual_rumor, bool):
        raise bad("visual_rumor", f"must be true/false, got {item.visual_rumor!r}")


def split_of_image_id(image_id: int) -> str:
    """OFFSIDE's release rule for original (non-augmented) images: id % 5."""
    return {1: "retain", 2: "retain", 3: "retain", 4: "forget", 0: "relearn"}[image_id % 5]
