"""CLEAR-mini: a deterministic synthetic CLEAR release in the release's layout, file names and column
types (release.py lists them), small enough to evaluate in seconds with the tiny model.

Fictional persons with Pillow-drawn portraits (`offside_data.portraits.portrait`, a face unique
per person); per person `images` captioned photos and two TOFU-style text QAs; forget01/05/10 are the
last 1/5/10% of persons (at least one), retain99/95/90 the others, each also `+tofu` (image rows
first, then the QA rows with a null image) and `_perturbed` (paraphrased and three perturbed captions,
three perturbed names); retain_perturbed holds the images of the first quarter of persons;
real_faces and real_world stand in for the real-world utility sets (four options with the answer
among them). Images are parquet structs {bytes, path} with the `datasets` feature metadata, as
`push_to_hub` writes them. Same seed -> same bytes.
"""
from __future__ import annotations

import io
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

from offside_data.portraits import portrait
from offside_data.provenance import mark_synthetic

from .release import FORGET_RATIOS, columns, folder, forget_config, retain_config

FIRST = ["Ilse", "Marek", "Sunniva", "Tobiah", "Quirine", "Anselm", "Liesel", "Oren", "Wenna", "Caspian", "Dagny",
         "Evander", "Fenna", "Gideon", "Halina", "Ivo", "Jorun", "Kasimir", "Leontine", "Mattis"]
LAST = ["Vahlberg", "Okonkwo-Reyes", "Thistlewood", "Marwick", "Ellingsen", "Quarrington", "Dumitrescu",
        "Halloran", "Rasmusen", "Castellane", "Bergqvist", "Nwachukwu"]
PLACES = ["a lighthouse", "a bookshop", "a mountain lake", "a train station", "a lecture hall", "a vineyard",
          "a harbour", "a city library", "a glasshouse", "a bridge at dusk"]
COLOURS = ["red", "green", "navy", "yellow", "grey", "white", "purple"]
THINGS = ["notebook", "umbrella", "bicycle", "camera", "violin", "teacup", "map", "lantern"]
JOBS = ["novelist", "playwright", "essayist", "poet", "biographer", "screenwriter", "journalist", "translator"]
CITIES = ["Lisbon", "Tromso", "Lagos", "Valparaiso", "Gdansk", "Hobart", "Kyoto", "Tartu", "Cusco", "Ghent"]
SHAPE_COLOURS = {"Red": (220, 30, 30), "Blue": (30, 60, 220), "Green": (30, 160, 60), "Yellow": (230, 200, 20)}
IMAGE_FEATURE = {"_type": "Image"}
STRING = {"dtype": "string", "_type": "Value"}
SIZE = 128


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _image(img: Image.Image, name: str) -> dict:
    return {"bytes": _png(img), "path": name}


def _persons(rng: random.Random, n: int) -> list[dict]:
    names = rng.sample([f"{f} {s}" for f in FIRST for s in LAST], n)
    looks = [{"bg": (rng.randrange(150, 256), rng.randrange(150, 256), rng.randrange(150, 256)),
              "skin": rng.choice([(255, 224, 189), (234, 192, 134), (198, 134, 66), (141, 85, 36)]),
              "hair": rng.choice([(40, 30, 20), (120, 70, 30), (230, 200, 120), (150, 150, 150)]),
              "shirt": (rng.randrange(256), rng.randrange(256), rng.randrange(256)), "style": rng.randrange(4),
              "eyes": (rng.randrange(100), rng.randrange(100), rng.randrange(150)), "glasses": rng.random() < 0.4}
             for _ in range(n)]
    return [{"name": name, "look": look, "job": rng.choice(JOBS), "city": rng.choice(CITIES)}
            for name, look in zip(names, looks)]


def _caption(name: str, place: str, colour: str, thing: str) -> str:
    return f"{name} stands in front of {place}, wearing a {colour} jacket and holding a {thing}."


def _photo_rows(rng: random.Random, persons: list[dict], images: int) -> list[dict]:
    """One row per photo with everything any image config holds about it."""
    rows = []
    for k, p in enumerate(persons):
        for j in range(images):
            place, colour, thing = rng.choice(PLACES), rng.choice(COLOURS), rng.choice(THINGS)
            others = [(pl, c, t) for pl in PLACES for c in COLOURS for t in THINGS if pl != place and c != colour]
            pose = (rng.randrange(-8, 9), rng.randrange(-2, 3), rng.uniform(-10, 10))
            rows.append({
                "image": _image(portrait(p["look"], pose), f"person{k:03d}_{j}.png"), "name": p["name"],
                "caption": _caption(p["name"], place, colour, thing),
                "paraphrased_caption": f"In this photo, {p['name']} is holding a {thing} and has a {colour} jacket on, "
                                       f"with {place} behind.",
                "perturbed_captions": [_caption(p["name"], *o) for o in rng.sample(others, 3)],
                "perturbed_names": rng.sample([q["name"] for q in persons if q is not p], 3)})
    return rows


def _qa_rows(persons: list[dict]) -> list[dict]:
    return [row for p in persons for row in (
        {"image": None, "caption": None, "question": f"What does {p['name']} do for a living?",
         "answer": f"{p['name']} is a {p['job']} whose books are widely read."},
        {"image": None, "caption": None, "question": f"In which city was {p['name']} born?",
         "answer": f"{p['name']} was born in {p['city']}."})]


def _options(rng: random.Random, answer: str, pool: list[str]) -> list[str]:
    options = rng.sample([x for x in pool if x != answer], 3) + [answer]
    rng.shuffle(options)
    return options


def _real_faces(rng: random.Random, n: int) -> list[dict]:
    people = _persons(random.Random(rng.random()), n + 3)
    pool = [p["name"] for p in people]
    return [{"image": _image(portrait(p["look"]), f"real_face_{k}.png"), "answer": p["name"],
             "options": _options(rng, p["name"], pool)} for k, p in enumerate(people[:n])]


def _real_world(rng: random.Random, n: int) -> list[dict]:
    rows = []
    for k in range(n):
        colour = rng.choice(list(SHAPE_COLOURS))
        img = Image.new("RGB", (SIZE, SIZE), (245, 245, 240))
        ImageDraw.Draw(img).ellipse([24, 24, 104, 104], fill=SHAPE_COLOURS[colour])
        rows.append({"question": "What colour is the large circle in this picture?",
                     "image": _image(img, f"real_world_{k}.png"), "answer": colour,
                     "options": _options(rng, colour, list(SHAPE_COLOURS))})
    return rows


def _feature(kind) -> dict:
    base = kind.rstrip("?") if isinstance(kind, str) else kind
    if base == "image":
        return IMAGE_FEATURE
    return {"feature": STRING, "_type": "Sequence"} if base is list else STRING


def _write(out: Path, config: str, rows: list[dict], shards: int = 1) -> int:
    """The config's rows in its columns, as `datasets` writes them (types plus its feature metadata)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = {"image": pa.struct([("bytes", pa.binary()), ("path", pa.string())]), list: pa.list_(pa.string())}
    cols = columns(config)
    schema = pa.schema([(name, arrow.get(kind.rstrip("?") if isinstance(kind, str) else kind, pa.string()))
                        for name, kind in cols.items()],
                       metadata={"huggingface": json.dumps({"info": {"features": {
                           name: _feature(kind) for name, kind in cols.items()}}})})
    target = out / folder(config)
    target.mkdir(parents=True, exist_ok=True)
    per = -(-len(rows) // shards)
    for k in range(shards):
        part = [{name: row.get(name) for name in cols} for row in rows[k * per:(k + 1) * per]]
        pq.write_table(pa.Table.from_pylist(part, schema=schema), target / f"train-{k:05d}-of-{shards:05d}.parquet")
    return len(rows)


def generate(out: str | Path, n_persons: int = 20, images: int = 2, n_real: int = 4, seed: int = 0) -> dict[str, int]:
    """Write CLEAR-mini to `out`; returns rows per config."""
    if n_persons < 4:
        raise ValueError(f"CLEAR-mini needs at least 4 persons, got {n_persons}")
    out = Path(out)
    rng = random.Random(seed)
    persons = _persons(rng, n_persons)
    photos = _photo_rows(rng, persons, images)
    qas = _qa_rows(persons)
    counts = {"default": _write(out, "default", photos, shards=2), "full": _write(out, "full", photos),
              "full+tofu": _write(out, "full+tofu", photos + qas)}
    for ratio in FORGET_RATIOS:
        cut = n_persons - max(1, round(n_persons * ratio / 100))
        for config, lo, hi in ((forget_config(ratio), cut, n_persons), (retain_config(ratio), 0, cut)):
            counts[config] = _write(out, config, photos[lo * images:hi * images])
            counts[f"{config}+tofu"] = _write(out, f"{config}+tofu", photos[lo * images:hi * images] + qas[lo * 2:hi * 2])
        counts[forget_config(ratio, "_perturbed")] = _write(out, forget_config(ratio, "_perturbed"),
                                                            photos[cut * images:])
    counts["retain_perturbed"] = _write(out, "retain_perturbed", photos[:max(1, n_persons // 4) * images])
    counts["real_faces"] = _write(out, "real_faces", _real_faces(rng, n_real))
    counts["real_world"] = _write(out, "real_world", _real_world(rng, n_real))
    mark_synthetic(out, "offside_benchmarks.clear.synth", n_persons=n_persons, images=images, n_real=n_real, seed=seed)
    return counts
