"""OFFSIDE-mini: a deterministic synthetic OFFSIDE in the release layout.

Fictional players and clubs, Pillow-drawn player cards. Per player: 8 images (3 retain,
1 forget = rumored transfer, 3 test = augmented retain, 1 relearn = corrected transfer),
14 QAs per image (8 shared + 6 private), 4-option MC items whose distractors reuse the
correct answer's sentence template, and text-only rewrites. Same seed -> same bytes.
"""
from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

from offside_data.fileio import atomic_write_text
from offside_data.provenance import mark_synthetic

from .loader import META_FILE, chat_file, classification_file
from .schema import LETTERS

IMAGE_SIZE = 256
_FIRST = ["Al", "Bren", "Cas", "Dor", "El", "Fen", "Gar", "Hal", "Iv", "Jor", "Kel", "Lor", "Mar", "Nor",
          "Os", "Per", "Quin", "Ros", "Sal", "Tor", "Ul", "Vin", "Wes", "Yan", "Zel"]
_FIRST_END = ["an", "o", "ric", "ius", "en", "as", "el", "ik", "ey", "on"]
_LAST = ["Vark", "Ostrel", "Maddeno", "Quillan", "Brask", "Teveron", "Holmgard", "Pellucci", "Drayven",
         "Korsak", "Lindqvar", "Moravec", "Ashcombe", "Ferrante", "Galloway", "Ruskell", "Thibeau", "Okonje",
         "Valdren", "Szabrik", "Esterhal", "Mwangoro", "Castellor", "Nyberholt"]
_TOWNS = ["Varnholm", "Cresthaven", "Kestrel Bay", "Oldbridge", "Marrowick", "Thornfield", "Elmsport",
          "Greywater", "Rookhurst", "Sallow Park", "Ironmere", "Bellcastle", "Northwyn", "Copperfield",
          "Westerby", "Lindgrave", "Stonecliff", "Amberly", "Fairhollow", "Redmarsh", "Brightwell",
          "Cinderford", "Dunmore", "Halden"]
_SUFFIX = ["FC", "United", "Athletic", "Rovers", "City", "Wanderers"]
_NATIONS = ["Norway", "Brazil", "Ghana", "Portugal", "Japan", "Croatia", "Mexico", "Senegal",
            "Denmark", "Uruguay", "Morocco", "Poland", "Chile", "Austria", "Nigeria", "Scotland"]
_POSITIONS = ["Goalkeeper", "Centre-Back", "Left-Back", "Right-Back", "Defensive Midfielder",
              "Central Midfielder", "Attacking Midfielder", "Left Winger", "Right Winger", "Centre-Forward"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_PALETTE = [(200, 30, 45), (20, 60, 160), (250, 200, 20), (30, 140, 70), (240, 240, 240), (20, 20, 20),
            (120, 40, 150), (250, 120, 20), (90, 180, 230), (130, 20, 40), (0, 110, 110), (180, 180, 60)]

# Each fact: (key, info, [image question phrasings], text question ({name}) or None, [answer templates]).
# An answer template has one {v} slot, so MC distractors keep the exact sentence shape.
FACTS = [
    ("name", "shared", ["Who is the player in this image?", "Can you identify the footballer shown here?",
                        "What is the name of the player in the picture?"], None,
     ["The player in the image is {v}.", "This is {v}."]),
    ("age", "shared", ["How old is the player in this image?", "What is the age of the player shown here?"],
     "How old is {name}?", ["The player is {v} years old.", "He is currently {v} years old."]),
    ("position", "shared", ["What position does the player in this image play?",
                            "What is the role of the player shown here?"],
     "What position does {name} play?", ["He plays as a {v}.", "His position is {v}."]),
    ("nationality", "shared", ["What is the nationality of the player in this image?",
                               "Which country is the player shown here from?"],
     "What is {name}'s nationality?", ["The player is from {v}.", "He represents {v} internationally."]),
    ("birth_date", "shared", ["When was the player in this image born?",
                              "What is the birth date of the player shown here?"],
     "When was {name} born?", ["The player was born on {v}.", "He was born on {v}."]),
    ("height", "shared", ["How tall is the player in this image?", "What is the height of the player shown here?"],
     "How tall is {name}?", ["He stands at {v} meters tall.", "The player is {v} meters tall."]),
    ("foot", "shared", ["Which foot does the player in this image prefer?",
                        "What is the stronger foot of the player shown here?"],
     "Which foot does {name} prefer?", ["The player favors his {v} foot.", "He mainly uses his {v} foot."]),
    ("birthplace", "shared", ["Where was the player in this image born?",
                              "What is the birthplace of the player shown here?"],
     "Where was {name} born?", ["The player was born in {v}.", "His birthplace is {v}."]),
    ("club", "private", ["Which club does the player in this image join?",
                         "Which club is the player shown here signing for?"],
     "Which club does {name} join in this transfer?", ["He joins {v}.", "The player signs for {v}."]),
    ("from_club", "private", ["Which club did the player in this image transfer from?",
                              "What was the previous club of the player shown here?"],
     "Which club did {name} leave in this transfer?", ["He transferred from {v}.", "His previous club was {v}."]),
    ("date", "private", ["When was the player in this image transferred?",
                         "On what date did the transfer of the player shown here happen?"],
     "When did this transfer of {name} happen?", ["The transfer happened on {v}.", "He was transferred on {v}."]),
    ("fee", "private", ["What was the transfer fee of the player in this image?",
                        "How much did the club pay for the player shown here?"],
     "What was the fee of this transfer of {name}?", ["The transfer fee was {v}.", "The club paid {v}."]),
    ("market_value", "private", ["What is the market value of the player in this image?",
                                 "How much is the player shown here worth on the market?"],
     "What was {name}'s market value at this transfer?", ["His market value is {v}.", "The player is valued at {v}."]),
    ("trophies", "private", ["How many trophies did the player in this image win at the club?",
                             "How many titles did the player shown here win with the club?"],
     "How many trophies did {name} win at the club from this transfer?",
     ["The player won {v} trophies at the club.", "He lifted {v} trophies there."]),
]


@dataclass
class Club:
    name: str
    colors: tuple[tuple[int, int, int], tuple[int, int, int]]


def _date(rng: random.Random, year: int) -> str:
    return f"{rng.choice(_MONTHS)} {rng.randint(1, 28)}, {year}"


def _money(rng: random.Random, lo: int, hi: int) -> str:
    return f"€{rng.randint(lo, hi) / 2:.2f} million"


def _value_pools(players: list[dict], clubs: list[Club]) -> dict[str, list[str]]:
    """Distractor pools per fact, drawn from the whole synthetic world."""
    pools: dict[str, set[str]] = {k: set() for k, *_ in FACTS}
    for p in players:
        for k, v in p["shared"].items():
            pools[k].add(v)
        for stint in p["stints"].values():
            for k, v in stint.items():
                pools[k].add(v)
    # Fillers keep every pool >= 4 values even for a one-player world.
    filler = random.Random(len(players))
    pools["name"].update(f"{f}{e} {last}" for f, e, last in zip(_FIRST, _FIRST_END * 3, _LAST))
    pools["age"].update(str(a) for a in range(19, 35))
    pools["position"].update(_POSITIONS)
    pools["nationality"].update(_NATIONS)
    pools["birth_date"].update(_date(filler, filler.randint(1990, 2005)) for _ in range(8))
    pools["height"].update(f"{h / 100:.2f}" for h in range(170, 195, 3))
    pools["foot"].update(["left", "right", "either", "weaker"])
    pools["birthplace"].update(f"{t}, {n}" for t, n in zip(_TOWNS, _NATIONS))
    pools["club"].update(c.name for c in clubs)
    pools["from_club"].update(c.name for c in clubs)
    pools["date"].update(_date(filler, filler.randint(2012, 2025)) for _ in range(8))
    pools["fee"].update(_money(filler, 2, 200) for _ in range(8))
    pools["market_value"].update(_money(filler, 2, 200) for _ in range(8))
    pools["trophies"].update(str(t) for t in range(10))
    return {k: sorted(v) for k, v in pools.items()}


def _world(rng: random.Random, n_players: int) -> tuple[list[dict], list[Club]]:
    towns = rng.sample(_TOWNS, len(_TOWNS))
    clubs = [Club(f"{t} {rng.choice(_SUFFIX)}", tuple(rng.sample(_PALETTE, 2))) for t in towns]
    names: set[str] = set()
    players = []
    while len(players) < n_players:
        name = f"{rng.choice(_FIRST)}{rng.choice(_FIRST_END)} {rng.choice(_LAST)}"
        if name in names:
            continue
        names.add(name)
        birth_year = rng.randint(1993, 2004)
        nation = rng.choice(_NATIONS)
        shared = {
            "name": name,
            "age": str(2025 - birth_year),
            "position": rng.choice(_POSITIONS),
            "nationality": nation,
            "birth_date": _date(rng, birth_year),
            "height": f"{rng.randint(168, 198) / 100:.2f}",
            "foot": rng.choice(["left", "right"]),
            "birthplace": f"{rng.choice(_TOWNS)}, {nation}",
        }
        path = rng.sample(clubs, 6)  # clubs 0..3: real career, 4: rumored move, 5: actual (corrected) move
        stints = {}
        year = birth_year + 18
        for k in range(1, 4):
            year += rng.randint(1, 2)
            stints[k] = _stint(rng, path[k], path[k - 1], year)
        year += rng.randint(1, 2)
        stints[4] = _stint(rng, path[4], path[3], year, rumor=True)
        stints[5] = _stint(rng, path[5], path[3], year)
        players.append({
            "shared": shared,
            "stints": stints,
            "clubs": {k: path[k] for k in range(1, 4)} | {4: path[4], 5: path[5]},
            "look": {"skin": rng.choice([(241, 194, 160), (198, 134, 66), (141, 85, 36), (224, 172, 105)]),
                     "hair": rng.choice([(20, 20, 20), (110, 60, 20), (230, 200, 120), (160, 40, 20), (200, 200, 200)]),
                     "hair_style": rng.randint(0, 3), "number": rng.randint(1, 99)},
        })
    return players, clubs


def _stint(rng: random.Random, club: Club, from_club: Club, year: int, rumor: bool = False) -> dict[str, str]:
    return {
        "club": club.name,
        "from_club": from_club.name,
        "date": _date(rng, year),
        "fee": _money(rng, 60, 200) if rumor else _money(rng, 2, 80),
        "market_value": _money(rng, 4, 120),
        "trophies": str(rng.randint(0, 6)),
    }


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def draw_card(player: dict, club: Club, banner: str | None = None) -> Image.Image:
    """A player card: club colours and name, shirt number, a face whose look identifies the player."""
    primary, secondary = club.colors
    img = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), primary)
    d = ImageDraw.Draw(img)
    for x in range(0, IMAGE_SIZE, 48):
        d.rectangle([x, 0, x + 16, IMAGE_SIZE], fill=secondary)
    look = player["look"]
    d.rectangle([60, 150, 196, 256], fill=secondary, outline=(0, 0, 0), width=3)  # shirt
    d.text((104, 170), str(look["number"]), fill=primary, font=_font(44))
    d.ellipse([88, 60, 168, 150], fill=look["skin"], outline=(0, 0, 0), width=2)  # head
    style = look["hair_style"]
    if style == 0:
        d.pieslice([84, 50, 172, 120], 180, 360, fill=look["hair"])
    elif style == 1:
        d.rectangle([86, 52, 170, 78], fill=look["hair"])
    elif style == 2:
        for x in range(88, 168, 14):
            d.ellipse([x, 48, x + 16, 68], fill=look["hair"])
    else:
        d.polygon([(88, 80), (128, 40), (168, 80)], fill=look["hair"])
    d.rectangle([0, 0, IMAGE_SIZE, 30], fill=(255, 255, 255))
    d.text((6, 6), club.name, fill=(0, 0, 0), font=_font(18))
    if banner:
        d.rectangle([0, 110, IMAGE_SIZE, 140], fill=(255, 230, 0))
        d.text((6, 114), banner, fill=(180, 0, 0), font=_font(18))
    return img


def augment(img: Image.Image, rng: random.Random) -> Image.Image:
    """Test-set augmentation: crop, flip, colour jitter, rotation (deterministic via rng)."""
    margin = rng.randint(8, 24)
    img = img.crop((margin, margin, IMAGE_SIZE - margin, IMAGE_SIZE - margin)).resize((IMAGE_SIZE, IMAGE_SIZE))
    if rng.random() < 0.5:
        img = ImageOps.mirror(img)
    img = ImageEnhance.Color(img).enhance(rng.uniform(0.7, 1.3))
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.8, 1.2))
    return img.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BILINEAR, fillcolor=(128, 128, 128))


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def generate(out: str | Path, n_players: int = 12, seed: int = 0, visual_rumor_share: float = 0.34) -> dict[str, int]:
    """Write OFFSIDE-mini to `out`; returns counts per split. Existing files are overwritten."""
    if n_players < 1:
        raise ValueError("--players must be at least 1")
    rng = random.Random(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mark_synthetic(out, "offside-mini", players=n_players, seed=seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    players, clubs = _world(rng, n_players)
    pools = _value_pools(players, clubs)
    chat = {s: [] for s in ("forget", "retain", "test", "relearn")}
    text = {s: [] for s in chat}
    mcq = {s: [] for s in chat}
    meta: dict[str, dict] = {"generator": "offside-mini", "seed": seed, "images": {}}
    n_visual = round(visual_rumor_share * n_players)

    for p_idx, player in enumerate(players):
        name = player["shared"]["name"]
        for k in range(1, 6):
            image_id = 5 * p_idx + k
            split = {1: "retain", 2: "retain", 3: "retain", 4: "forget", 5: "relearn"}[k]
            visual = split == "forget" and p_idx < n_visual
            banner = f"RUMOUR: to {player['clubs'][4].name}" if visual else ("OFFICIAL" if k == 5 else None)
            card = draw_card(player, player["clubs"][k], banner)
            facts = player["shared"] | player["stints"][k]
            qas = _qas(rng, facts, name, pools)
            images = [(f"images/{image_id:04d}.png", card, split)]
            if split == "retain":
                images.append((f"images/{image_id:04d}_aug.png", augment(card, rng), "test"))
            for relpath, img, img_split in images:
                (out / relpath).write_bytes(_png_bytes(img))
                meta["images"][relpath] = {"player": name, "image_id": image_id, "visual_rumor": visual,
                                           "info": [info for _q, _tq, _a, info, _mc in qas]}
                for question, text_q, answer, _info, (options, correct) in qas:
                    chat[img_split].append(_chat_record(f"<image>\n{question}", answer, relpath))
                    if text_q:
                        text[img_split].append(_chat_record(text_q, answer, relpath))
                    mcq[img_split].append({"Question": question, "Options": options,
                                           "Correct_Answer": correct, "images": relpath})

    for split in chat:
        _write_json(out / chat_file(split), chat[split])
        _write_json(out / chat_file(split, "text"), text[split])
        _write_json(out / classification_file(split), mcq[split])
    _write_json(out / META_FILE, meta)
    return {split: len(records) for split, records in chat.items()}


def _qas(rng: random.Random, facts: dict[str, str], name: str, pools: dict[str, list[str]]):
    """14 QAs (shuffled order, varied phrasing) with text rewrites and MC options."""
    qas = []
    for key, info, phrasings, text_template, answer_templates in FACTS:
        template = rng.choice(answer_templates)
        value = facts[key]
        answer = template.format(v=value)
        others = rng.sample([v for v in pools[key] if v != value], 3)
        letters = list(LETTERS)
        correct = rng.choice(letters)
        options = {}
        for letter in letters:
            options[letter] = answer if letter == correct else template.format(v=others.pop())
        text_q = text_template.format(name=name) if text_template else None
        qas.append((rng.choice(phrasings), text_q, answer, info, (options, correct)))
    rng.shuffle(qas)
    return qas


def _chat_record(question: str, answer: str, image: str) -> dict:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
            "images": image}


def _write_json(path: Path, data) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=1))
