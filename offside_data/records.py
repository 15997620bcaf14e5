"""The benchmark-neutral training record: one question, its answer and (lazily) its image.

Every benchmark's training-data hook (`Benchmark.train_records`) yields these, so the trainers
never see a benchmark's own item type; `example()` is what the shared answer-only encoder
(`offside_data.encode`) turns into model inputs, exactly as evaluation scores them.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from PIL import Image

from .chat import user_message
from .encode import Example


@dataclass(frozen=True)
class TrainRecord:
    id: str  # stable per question: seeds per-record choices (e.g. IDK answers)
    question: str  # the user turn's text
    answer: str
    image: Callable[[], Image.Image] | None = dataclasses.field(default=None, compare=False, repr=False)
    text_question: str | None = None  # the same question without the image (None: it has no text-only form)

    def example(self, answer: str | None = None) -> Example:
        """The prompt (image part first, then the text) with `answer` (default: the record's) as target."""
        return Example([user_message(self.question, self.image is not None)],
                       self.answer if answer is None else answer, [self.image()] if self.image else [])


def text_only(records: Iterable[TrainRecord]) -> list[TrainRecord]:
    """Text-only variants (no image, the text-only question); records without one drop out."""
    return [dataclasses.replace(r, image=None, question=r.text_question, text_question=None)
            for r in records if r.text_question]
