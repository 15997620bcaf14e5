"""MM-Bench data: the official TSV layout and a synthetic fixture in it.

Columns index, question, hint, A, B, C, D, answer, category, l2-category, image (base64; in the
official files a short numeric value instead names the `index` of another row with the same image).
Hub records with the same columns go through `questions_from_rows`.
"""
from __future__ import annotations

import base64
import csv
import io
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offside_data.chat import to_rgb
from offside_data.schema import LETTERS, DataError
from offside_data.tables import read_tsv_rows

ABILITIES = ("AR", "RR", "FP-S", "FP-C", "CP", "LR")
_L2 = {
    "attributereasoning": "AR", "ar": "AR",
    "relationreasoning": "RR", "rr": "RR",
    "logicreasoning": "LR", "lr": "LR",
    "coarseperception": "CP", "cp": "CP",
    "finegrainedperceptioninstancelevel": "FP-S", "finegrainedperceptionsingleinstance": "FP-S", "fps": "FP-S",
    "finegrainedperceptioncrossinstance": "FP-C", "fpc": "FP-C",
}
CIRCULAR_OFFSET = 1_000_000  # official circular TSVs hold rotated copies at index + k * 1e6


def ability_of(l2_category: str | None) -> str | None:
    """Map an l2-category value ("finegrained_perception (instance-level)", ...) to AR/RR/FP-S/FP-C/CP/LR."""
    if not l2_category:
        return None
    return _L2.get(re.sub(r"[^a-z]", "", l2_category.lower()))


@dataclass(frozen=True)
class MMBenchQuestion:
    index: int
    question: str
    options: dict[str, str]  # letters in order, only the non-empty ones
    answer: str
    hint: str | None = None
    category: str | None = None
    l2_category: str | None = None
    image: Any = field(default=None, repr=False, compare=False)  # base64 text, bytes or a PIL image

    @property
    def ability(self) -> str | None:
        return ability_of(self.l2_category)

    def load_image(self):
        from PIL import Image

        if self.image is None:
            return None
        if hasattr(self.image, "convert"):
            return to_rgb(self.image)
        raw = self.image if isinstance(self.image, bytes) else base64.b64decode(self.image)
        with Image.open(io.BytesIO(raw)) as img:
            return to_rgb(img)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() in ("", "nan", "NaN", "None")


def _question_from_row(row: Mapping[str, Any], source: str, pos: int) -> MMBenchQuestion:
    def get(name: str) -> Any:
        for key in (name, name.lower(), name.upper(), name.replace("-", "_"), name.capitalize(), "L2-category"):
            if key in row:
                return row[key]
        return None

    index_raw = get("index")
    try:
        index = int(float(str(index_raw)))
    except ValueError:
        raise DataError(source, pos, "index", f"must be an integer, got {index_raw!r}") from None
    question = get("question")
    if _blank(question):
        raise DataError(source, pos, "question", "missing or empty")
    options = {}
    for letter in LETTERS:
        value = get(letter)
        if _blank(value):
            break  # options are contiguous: A, B[, C[, D]]
        options[letter] = str(value).strip()
    for letter in LETTERS[len(options):]:
        if not _blank(get(letter)):
            raise DataError(source, pos, letter, f"option {letter} given after an empty option")
    if len(options) < 2:
        raise DataError(source, pos, "B", "a question needs at least options A and B")
    answer = get("answer")
    answer = None if _blank(answer) else str(answer).strip().upper()
    if answer not in options:
        raise DataError(source, pos, "answer", f"must be one of {', '.join(options)}, got {get('answer')!r}")
    hint, category, l2 = get("hint"), get("category"), get("l2-category")
    image = get("image")
    return MMBenchQuestion(
        index=index, question=str(question).strip(), options=options, answer=answer,
        hint=None if _blank(hint) else str(hint).strip(),
        category=None if _blank(category) else str(category).strip(),
        l2_category=None if _blank(l2) else str(l2).strip(),
        image=None if _blank(image) and not hasattr(image, "convert") else image,
    )


def _finish(questions: list[MMBenchQuestion], source: str, positions: list[int]) -> list[MMBenchQuestion]:
    """Drop pre-rotated copies, resolve image references, check indices are unique."""
    if any(q.index >= CIRCULAR_OFFSET for q in questions):
        kept = [(q, p) for q, p in zip(questions, positions) if q.index < CIRCULAR_OFFSET]
        questions, positions = [q for q, _ in kept], [p for _, p in kept]
    by_index: dict[int, MMBenchQuestion] = {}
    for q, pos in zip(questions, positions):
        if q.index in by_index:
            raise DataError(source, pos, "index", f"duplicate index {q.index}")
        by_index[q.index] = q
    out = []
    for q, pos in zip(questions, positions):
        image = q.image
        if isinstance(image, str) and len(image) < 64 and image.strip().isdigit():
            target = by_index.get(int(image))
            if target is None or not isinstance(target.image, (str, bytes)) or len(target.image) < 64:
                raise DataError(source, pos, "image", f"refers to row index {image}, which has no image")
            image = target.image
        if image is None:
            raise DataError(source, pos, "image", "missing")
        out.append(MMBenchQuestion(**{**q.__dict__, "image": image}))
    return out


def read_tsv(path: str | Path) -> list[MMBenchQuestion]:
    """Read an MMBench-format TSV; errors name the file, the data row (0-based) and the column."""
    rows = read_tsv_rows(path)
    if not rows:
        raise DataError(str(path), None, None, "no questions in the TSV")
    present = {k.lower() for k in rows[0]}
    for required in ("index", "question", "a", "b", "answer", "image"):
        if required not in present:
            raise DataError(str(path), None, required if len(required) > 1 else required.upper(),
                            "column missing from the TSV header")
    return questions_from_rows(rows, str(path))


def questions_from_rows(rows: Iterable[Mapping[str, Any]], source: str = "MMBench data") -> list[MMBenchQuestion]:
    """Questions from already-read MMBench rows (TSV dicts or hub records), validated like `read_tsv`."""
    questions = [_question_from_row(dict(r), source, i) for i, r in enumerate(rows)]
    if not questions:
        raise DataError(source, None, None, "no questions")
    return _finish(questions, source, list(range(len(questions))))


# -- synthetic MMBench-format fixture ----------------------------------------------------------
_COLORS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 200, 30),
           "purple": (140, 60, 180), "orange": (240, 130, 30)}
_BACKGROUNDS = {"white": (250, 250, 250), "black": (15, 15, 15), "gray": (128, 128, 128)}
_SHAPES = ("circle", "square", "triangle")

# (l2-category, category) of the 12 fixture questions, two per ability; tests compute by hand from this.
FIXTURE_LAYOUT = [
    ("attribute_reasoning", "attribute_recognition"), ("attribute_reasoning", "attribute_recognition"),
    ("relation_reasoning", "physical_relation"), ("relation_reasoning", "physical_relation"),
    ("finegrained_perception (instance-level)", "object_localization"),
    ("finegrained_perception (instance-level)", "object_localization"),
    ("finegrained_perception (cross-instance)", "spatial_relationship"),
    ("finegrained_perception (cross-instance)", "spatial_relationship"),
    ("coarse_perception", "image_scene"), ("coarse_perception", "image_scene"),
    ("logic_reasoning", "structuralized_imagetext_understanding"),
    ("logic_reasoning", "structuralized_imagetext_understanding"),
]


def _draw(shapes: list[tuple[str, str, tuple[int, int]]], background: str, size: int = 96) -> str:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), _BACKGROUNDS[background])
    draw = ImageDraw.Draw(img)
    r = size // 7
    for shape, color, (cx, cy) in shapes:
        box = (cx - r, cy - r, cx + r, cy + r)
        if shape == "circle":
            draw.ellipse(box, fill=_COLORS[color])
        elif shape == "square":
            draw.rectangle(box, fill=_COLORS[color])
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=_COLORS[color])
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def fixture_rows(seed: int = 0) -> list[dict[str, str]]:
    """Rows of a small MMBench-format set: synthetic shape images, 2-4 options, two questions per ability."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    colors, bgs = list(_COLORS), list(_BACKGROUNDS)

    def add(question: str, correct: str, wrong: list[str], hint: str = "", image: str = "") -> None:
        l2, category = FIXTURE_LAYOUT[len(rows)]
        options = [correct] + wrong
        rng.shuffle(options)
        row = {"index": str(len(rows)), "question": question, "hint": hint, "A": "", "B": "", "C": "", "D": "",
               "answer": LETTERS[options.index(correct)], "category": category, "image": image,
               "source": "offside-synthetic", "l2-category": l2, "split": "dev"}
        row.update(dict(zip(LETTERS, options)))
        rows.append(row)

    for _ in range(2):  # AR: colour of the only shape
        shape, color, bg = rng.choice(_SHAPES), rng.choice(colors), rng.choice(bgs)
        add(f"What colour is the {shape}?", color, rng.sample([c for c in colors if c != color], 3),
            image=_draw([(shape, color, (48, 48))], bg))
    for _ in range(2):  # RR: which shape is above
        (s1, s2), (c1, c2) = rng.sample(_SHAPES, 2), rng.sample(colors, 2)
        add(f"Is the {c1} {s1} above or below the {c2} {s2}?", "above", ["below"],
            hint="Look at the vertical positions only.", image=_draw([(s1, c1, (48, 24)), (s2, c2, (48, 72))], "white"))
    for _ in range(2):  # FP-S: which shape
        shape, color = rng.choice(_SHAPES), rng.choice(colors)
        add("Which shape is shown?", shape, [s for s in _SHAPES if s != shape],
            image=_draw([(shape, color, (48, 48))], "white"))
    for _ in range(2):  # FP-C: left/right
        (s1, s2), (c1, c2) = rng.sample(_SHAPES, 2), rng.sample(colors, 2)
        add(f"Which object is to the left of the {c2} {s2}?", f"the {c1} {s1}",
            [f"the {c2} {s1}", f"the {c1} {s2}", "nothing"],
            image=_draw([(s1, c1, (24, 48)), (s2, c2, (72, 48))], "gray"))
    # CP: background; the second question reuses the first image by index, as official TSVs do
    bg = rng.choice(["white", "black"])
    add("What is the background colour of the image?", bg, [b for b in bgs if b != bg],
        image=_draw([("circle", "red", (48, 48))], bg))
    dark = bg == "black"
    add("Is the picture mostly dark or mostly light?", "dark" if dark else "light", ["light" if dark else "dark"],
        image=str(len(rows) - 1))
    for _ in range(2):  # LR: counting
        k = rng.randint(1, 3)
        shapes = [(rng.choice(_SHAPES), rng.choice(colors), (20 + 28 * j, 48)) for j in range(k)]
        add("How many shapes are in the image?", str(k), [str(x) for x in range(1, 5) if x != k],
            hint="Count every shape, whatever its colour.", image=_draw(shapes, "white"))
    return rows


def write_fixture(path: str | Path, seed: int = 0) -> Path:
    """Write the synthetic MMBench-format TSV (deterministic per seed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = fixture_rows(seed)
    columns = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "image", "source",
               "l2-category", "split"]
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return path
