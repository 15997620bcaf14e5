"""MLLMU-mini: a deterministic synthetic MLLMU-Bench in the release's parquet layout and column types.

Fictional profiles with Pillow-drawn portraits (a face whose look is unique per profile), the release's
configs (Full_Set, forget_5/10/15 + retain_95/90/85 of the same profiles, Test_Set with paraphrased
questions and 3 re-posed portraits per profile in 2 shards, ft_Data with JSON Q/A metadata) and a
separate "celebrity" Retain_Set. Per profile: 3+3 classification, 2+2 generation and 2+2 cloze questions
(image+text / text). Same seed -> same bytes.
"""
from __future__ import annotations

import io
import json
import random
from pathlib import Path

from PIL import Image

from offside_data.portraits import portrait
from offside_data.provenance import mark_synthetic
from offside_data.schema import LETTERS

from .release import FORGET_RATIOS

_FIRST = ["Amara", "Bastien", "Calla", "Dmitri", "Elowen", "Faisal", "Greta", "Hiroshi", "Ines", "Jovan",
          "Kaia", "Leander", "Mirela", "Nikolai", "Odessa", "Pavel", "Quilla", "Rafferty", "Saoirse", "Teodor"]
_LAST = ["Abernathy", "Brightwater", "Castellanos", "Duvall", "Eriksdottir", "Fairbourne", "Grisham",
         "Halvorsen", "Iwasaki", "Jaramillo", "Kowalczyk", "Lindqvist", "Marchetti", "Nakashima", "Okafor"]
_CITIES = ["Port Elspeth, Canada", "Valmora, Spain", "Kettering Hollow, USA", "Ardenne-sur-Lac, France",
           "Brisvale, Australia", "Tolvik, Norway", "Sundara, India", "Maravilla, Chile", "Oostburg, Netherlands",
           "Kirrin Bay, Ireland", "Zelenograd, Russia", "Akana, Japan"]
_JOBS = ["marine biologist", "architect", "pastry chef", "civil engineer", "veterinarian", "jazz pianist",
         "airline pilot", "librarian", "geologist", "photojournalist", "software developer", "nurse"]
_CELEB_JOBS = ["film actor", "pop singer", "tennis champion", "television host", "fashion designer", "novelist"]
_SCHOOLS = ["Northvale University", "Castor Institute of Technology", "Redfern College", "University of Lumen",
            "Saint Aldric Academy", "Meridian State University", "Hollins Conservatory", "Brackwater Polytechnic"]
_HOBBIES = ["rock climbing", "birdwatching", "pottery", "sailing", "chess", "gardening", "salsa dancing",
            "astronomy", "knitting", "marathon running"]
_BG = [(214, 234, 248), (250, 229, 211), (213, 245, 227), (235, 222, 240), (252, 243, 207), (220, 220, 220)]
_SKIN = [(255, 224, 189), (234, 192, 134), (198, 134, 66), (141, 85, 36), (241, 194, 125)]
_HAIR = [(40, 30, 20), (120, 70, 30), (230, 200, 120), (160, 40, 20), (150, 150, 150)]

# (attribute, image question, text question, Test_Set paraphrase image, paraphrase text)
CLS = {"mm": [("job", "What is the occupation of the person in this image?",
               "What does the individual pictured here do for work?"),
              ("birthplace", "Where was the person in this image born?",
               "What is the birthplace of the individual shown in the photo?"),
              ("hobby", "What is the favorite hobby of the person in this image?",
               "Which pastime does the individual pictured enjoy most?")],
       "text": [("job", "What is {name}'s occupation?", "What does {name} do for a living?"),
                ("birthplace", "Where was {name} born?", "In which place was {name} born?"),
                ("school", "Which university did {name} graduate from?", "Where did {name} earn a degree?")]}
GEN = [("mm", "Where does the person in this image currently live?",
        "In which city does the individual pictured live now?", "The person in this image lives in {residence}."),
       ("text", "What does {name} do for a living?", "What is {name}'s profession?", "{name} works as a {job}."),
       ("mm", "In what year was the person in this image born?", "What is the birth year of the individual shown?",
        "The person in this image was born in {year}."),
       ("text", "Where did {name} study?", "Which school did {name} attend?", "{name} studied at {school}.")]
CLOZE = [("mm", "The person in this image works as a __.", "The individual pictured is employed as a __.", "job"),
         ("text", "{name} was born in __.", "The birthplace of {name} is __.", "birthplace"),
         ("mm", "The person in this image enjoys __ in their free time.",
          "In their spare time, the individual shown likes __.", "hobby"),
         ("text", "{name} currently lives in __.", "These days {name} resides in __.", "residence")]
POOLS = {"job": _JOBS + _CELEB_JOBS, "birthplace": _CITIES, "hobby": _HOBBIES, "school": _SCHOOLS}


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _profiles(rng: random.Random, n: int, prefix: str, jobs: list[str]) -> list[dict]:
    looks = rng.sample([(b, s, h, st, g) for b in range(len(_BG)) for s in range(len(_SKIN))
                        for h in range(len(_HAIR)) for st in range(4) for g in (0, 1)], n)
    names = rng.sample([f"{f} {la}" for f in _FIRST for la in _LAST], n)
    people = []
    for i, ((b, s, h, st, g), name) in enumerate(zip(looks, names)):
        people.append({
            "ID": f"{prefix}{i + 1:03d}", "name": name, "job": rng.choice(jobs), "birthplace": rng.choice(_CITIES),
            "residence": rng.choice(_CITIES), "school": rng.choice(_SCHOOLS), "hobby": rng.choice(_HOBBIES),
            "year": str(rng.randint(1955, 2005)),
            "look": {"bg": _BG[b], "skin": _SKIN[s], "hair": _HAIR[h], "style": st, "glasses": g,
                     "eyes": rng.choice([(40, 80, 160), (60, 40, 20), (30, 120, 60)]),
                     "shirt": tuple(rng.randint(30, 220) for _ in range(3))}})
    return people


def _mc(rng: random.Random, p: dict, attr: str, question: str) -> dict:
    wrong = rng.sample([v for v in POOLS[attr] if v != p[attr]], 3)
    correct = rng.randrange(4)
    values = wrong[:correct] + [p[attr]] + wrong[correct:]
    return {"Correct_Answer": LETTERS[correct], "Options": dict(zip(LETTERS, values)), "Question": question}


def _tasks(rng: random.Random, p: dict, paraphrase: bool) -> dict:
    col = 2 if paraphrase else 1
    cls = {name: [_mc(rng, p, t[0], t[col].format(**p)) for t in CLS[m]]
           for m, name in (("mm", "Image_Textual_Questions"), ("text", "Pure_Text_Questions"))}
    kind = {"mm": "Image_Textual", "text": "Pure_Text"}
    gen = [{"Ground_Truth": gt.format(**p), "Question": (para if paraphrase else q).format(**p), "Type": kind[m]}
           for m, q, para, gt in GEN]
    cloze = [{"Ground_Truth": p[attr], "Question": (para if paraphrase else q).format(**p), "Type": kind[m]}
             for m, q, para, attr in CLOZE]
    return {"Classification_Task": cls, "Generation_Task": gen, "Mask_Task": cloze}


def _biography(p: dict) -> str:
    return (f"{p['name']} was born in {p['year']} in {p['birthplace']} and studied at {p['school']}. "
            f"{p['name']} works as a {p['job']}, lives in {p['residence']} and enjoys {p['hobby']}.")


def _schema():
    import pyarrow as pa

    s = pa.string()
    image = pa.struct([("bytes", pa.binary()), ("path", s)])
    mc = pa.list_(pa.struct([("Correct_Answer", s), ("Options", pa.struct([(k, s) for k in LETTERS])),
                             ("Question", s)]))
    qa = pa.list_(pa.struct([("Ground_Truth", s), ("Question", s), ("Type", s)]))
    tasks = [("Classification_Task", pa.struct([("Image_Textual_Questions", mc), ("Pure_Text_Questions", mc)])),
             ("Generation_Task", qa), ("Mask_Task", qa)]
    profile = [("image", image), ("ID", s), ("biography", s), ("question", s), ("answer", s), *tasks]
    return {"Full_Set": pa.schema(profile[:2] + [("Directory", s)] + profile[2:]),
            "profile": pa.schema(profile),
            "Test_Set": pa.schema([("ID", s), ("images", pa.list_(image)), *tasks]),
            "ft_Data": pa.schema([("image", image), ("ID", s), ("metadata", s)])}


def _write(out: Path, config: str, rows: list[dict], schema, shards: int = 1) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = out / config
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    per = -(-len(rows) // shards)
    for k in range(shards):
        table = pa.Table.from_pylist(rows[k * per:(k + 1) * per], schema=schema)
        pq.write_table(table, folder / f"train-{k:05d}-of-{shards:05d}.parquet")


def generate(out: str | Path, n_profiles: int = 60, n_celebrities: int = 6, seed: int = 0) -> dict[str, int]:
    """Write MLLMU-mini to `out` (existing shards are replaced); returns rows per config.

    60 fictional profiles make forget_5/10/15 hold 3/6/9 of them, enough for cloze's 2 shot profiles."""
    if n_profiles < 20 or n_celebrities < 1:
        raise ValueError(f"need >= 20 profiles (forget_5 must hold one) and >= 1 celebrity, "
                         f"got {n_profiles} / {n_celebrities}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mark_synthetic(out, "mllmu-mini", profiles=n_profiles, celebrities=n_celebrities, seed=seed)
    rng = random.Random(seed)
    people = _profiles(rng, n_profiles, "", _JOBS)
    celebs = _profiles(rng, n_celebrities, "celeb_", _CELEB_JOBS)
    schema = _schema()

    def profile_row(p: dict, full: bool) -> dict:
        first = GEN[0]
        row = {"image": {"bytes": p["png"], "path": f"{p['ID']}.png"}, "ID": p["ID"],
               "biography": _biography(p), "question": first[1], "answer": first[3].format(**p),
               **p["tasks"]}
        return {**row, "Directory": p["ID"]} if full else row

    for p in people + celebs:
        p["tasks"] = _tasks(rng, p, paraphrase=False)
        p["png"] = _png(portrait(p["look"]))
    full = [profile_row(p, True) for p in people]
    plain = {p["ID"]: profile_row(p, False) for p in people}
    _write(out, "Full_Set", full, schema["Full_Set"])
    counts = {"Full_Set": len(full)}
    order = [p["ID"] for p in people]
    rng.shuffle(order)
    for ratio in FORGET_RATIOS:  # nested forget sets; retain keeps Full_Set order
        forget = set(order[:round(n_profiles * ratio / 100)])
        for name, keep in ((f"forget_{ratio}", True), (f"retain_{100 - ratio}", False)):
            rows = [plain[p["ID"]] for p in people if (p["ID"] in forget) == keep]
            _write(out, name, rows, schema["profile"])
            counts[name] = len(rows)
    test = []
    for p in people:
        poses = [(rng.randint(-16, 16), rng.choice([-3, 0, 3]), rng.uniform(-15, 15)) for _ in range(3)]
        test.append({"ID": p["ID"], **_tasks(rng, p, paraphrase=True),
                     "images": [{"bytes": _png(portrait(p["look"], pose)), "path": f"{p['ID']}_pose{j}_gen1.png"}
                                for j, pose in enumerate(poses)]})
    _write(out, "Test_Set", test, schema["Test_Set"], shards=2)
    ft = [{"image": plain[p["ID"]]["image"], "ID": p["ID"], "metadata": json.dumps(
        [{"Question": q.format(**p), "Answer": gt.format(**p)} for _, q, _, gt in GEN]
        + [{"Question": "Who is the person in this image?", "Answer": f"This is {p['name']}."}])} for p in people]
    _write(out, "ft_Data", ft, schema["ft_Data"])
    _write(out, "Retain_Set", [profile_row(p, False) for p in celebs], schema["profile"])
    counts.update({"Test_Set": len(test), "ft_Data": len(ft), "Retain_Set": len(celebs)})
    return counts
