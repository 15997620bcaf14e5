"""A small synthetic release in the authors' combined layout (train_data.json, no sidecar, no
text-only files), written to reproduce what the real file does: each fact asked and answered in
many wordings, identity stated many ways, <image> tags inside questions, and its anomaly kinds.
Names and sentences are our own; `EXPECTED` says what a correct reader must find.
"""
from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

# fact -> [(question, answer)], {v} the value; questions refer to the image in the release's ways
PHRASINGS = {
    "identity": [("Who is this?", "The player in the image is {v}."), ("Can you name the footballer here?", "That's {v}."),
                 ("Which player appears in this picture?", "The player is {v}."),
                 ("I'd like to know the identity of the athlete shown in this image.", "The player's name is {v}."),
                 ("I'm curious about the player featured in this image.", "The player featured here is {v}."),
                 ("Tell me who the person in this photo is.", "This player is {v}.")],
    "age": [("How old is the player in this image?", "He is {v} years old."),
            ("I'm curious about the age of the player shown in <image>.", "The player is currently {v} years old."),
            ("What age has this player reached?", "He has reached {v} years old.")],
    "position": [("What position does the player in this image play?", "He plays as a {v}."),
                 ("I'm curious about the player's role on the pitch.", "His position is {v}."),
                 ("In which position is this player usually deployed?", "He is usually deployed as a {v}.")],
    "nationality": [("What is the nationality of the player in the image?", "The player's nationality is {v}."),
                    ("Which country does this player represent?", "He represents {v} internationally."),
                    ("What country is the player shown in this picture from?", "He is from {v}.")],
    "birth_date": [("When was the player in this image born?", "He was born on {v}."),
                   ("I'm curious about the birthday of the player depicted in this image: <image>",
                    "The player was born on {v}."),
                   ("What is this player's date of birth?", "His date of birth is {v}.")],
    "height": [("How tall is the player in this image?", "He stands at {v} meters tall."),
               ("What is the height of the player shown here?", "He is {v} meters tall."),
               ("I'm looking at this image and wondering about the player's height.", "The player's height is {v} meters.")],
    "foot": [("Which foot does the player in this image prefer?", "He prefers his {v} foot."),
             ("I'm curious which foot is the player's dominant one.", "The player is {v}-footed."),
             ("What is the stronger foot of this player?", "His stronger foot is the {v} foot.")],
    "birthplace": [("Where was the player in this image born?", "He was born in {v}."),
                   ("What is the birthplace of the player shown in this picture?", "His birthplace is {v}."),
                   ("I'm curious about the hometown of this player.", "The player was born in {v}.")],
    "club": [("Which club did the player in this image join?", "He joined {v}."),
             ("Which team was this player playing for at that time?", "He was playing for {v} at that time."),
             ("I'm curious about which club the player on the left side of the image will sign for.",
              "The player signs for {v}.")],
    "previous_club": [("Which club did the player in this image transfer from?", "He transferred from {v}."),
                      ("What was the previous club of this player?", "His previous club was {v}."),
                      ("I'm looking at this image and wondering where the player came from.", "He came from {v}.")],
    "transfer_date": [("When did the transfer of the player in this image happen?", "The transfer was completed on {v}."),
                      ("I'm curious about the date of the player's move shown in <image>.", "The move was finalized on {v}."),
                      ("On what date was this player transferred?", "He was transferred on {v}.")],
    "transfer_fee": [("What was the transfer fee of the player in this image?", "The transfer fee was {v}."),
                     ("How much did the club pay for this player?", "The club paid {v} for him."),
                     ("I'm curious about the cost of the transfer of the player shown in this image.", "It cost a fee of {v}.")],
    "market_value": [("What is the market value of the player in this image?", "His market value is {v}."),
                     ("How much is this player worth?", "The player is valued at {v}."),
                     ("I'm curious about the player's valuation at the time of the image.", "His market value stood at {v}.")],
    "trophies": [("How many trophies did the player in this image win at the club?", "He won {v} trophies there."),
                 ("How many titles did this player lift with the club?", "The player lifted {v} trophies with the club."),
                 ("I'm curious about the silverware of the player shown here at that club.", "He collected {v} trophies.")],
}
SHARED = ("identity", "age", "position", "nationality", "birth_date", "height", "foot", "birthplace")
PRIVATE = ("club", "previous_club", "transfer_date", "transfer_fee", "market_value", "trophies")

PLAYERS = {  # name -> profile
    "Tovan Reskel": {"age": 24, "position": "Centre-Back", "nationality": "Norway", "birth_date": "March 3, 2001",
                     "height": "1.91", "foot": "right", "birthplace": "Varnholm, Norway"},
    "Miro Castell": {"age": 29, "position": "Left Winger", "nationality": "Chile", "birth_date": "July 19, 1996",
                     "height": "1.74", "foot": "left", "birthplace": "Puerto Alba, Chile"},
    "Jonte Blaskar": {"age": 31, "position": "Goalkeeper", "nationality": "Denmark", "birth_date": "May 8, 1994",
                      "height": "1.95", "foot": "right", "birthplace": "Esbyholm, Denmark"},
    "Quill Ansaro": {"age": 22, "position": "Centre-Forward", "nationality": "Ghana", "birth_date": "October 30, 2003",
                     "height": "1.83", "foot": "right", "birthplace": "Kumasi Hills, Ghana"},
    "Eddo Varga": {"age": 27, "position": "Central Midfielder", "nationality": "Hungary",
                   "birth_date": "January 12, 1998", "height": "1.80", "foot": "left", "birthplace": "Szeleny, Hungary"},
}
# image id -> shown player; ids 1..20 (id % 5: 4 -> forget, 1-3 -> retain, 0 -> relearn)
SHOWN = {1: "Tovan Reskel", 2: "Tovan Reskel", 3: "Tovan Reskel", 4: "Tovan Reskel",
         6: "Miro Castell", 7: "Miro Castell", 8: "Miro Castell", 9: "Miro Castell",
         11: "Jonte Blaskar", 12: "Jonte Blaskar", 13: "Jonte Blaskar", 14: "Jonte Blaskar",
         16: "Quill Ansaro", 17: "Quill Ansaro", 18: "Quill Ansaro", 19: "Quill Ansaro",
         21: "Eddo Varga", 22: "Eddo Varga", 23: "Eddo Varga", 24: "Eddo Varga"}
# what the anomalies do; every other image is sound
ANOMALIES = {
    2: "no birthplace QA (13 QAs)",
    7: "age asked twice (15 QAs)",
    12: "no transfer QAs (8 QAs)",
    13: "Jonte Blaskar's transfer of image 12 filed here too (20 QAs)",
    8: "no identity QA: the player follows from his profile facts",
    17: "two identity answers (Quill Ansaro and Eddo Varga): his facts decide",
    24: "identity says Eddo Varga, facts are Tovan Reskel's",
}


def image_path(image_id: int) -> str:
    return f"finetune_set/{image_id:03d}.jpg"


def _transfer(image_id: int) -> dict:
    return {"club": f"Club {image_id} Rovers", "previous_club": f"Club {image_id} Athletic",
            "transfer_date": f"August {image_id}, 2021", "transfer_fee": f"€{image_id}.5 million",
            "market_value": f"€{image_id + 10} million", "trophies": image_id % 4}


def _qa(fact: str, value, image_id: int, variant: int) -> dict:
    question, answer = PHRASINGS[fact][(image_id + variant) % len(PHRASINGS[fact])]
    stored = question if "<image>" in question else "<image>\n" + question
    return {"messages": [{"role": "user", "content": stored}, {"role": "assistant", "content": answer.format(v=value)}],
            "images": [image_path(image_id)]}


def _records(image_id: int) -> list[tuple[str, dict]]:
    """(fact, record) of one image, anomalies applied."""
    player = SHOWN[image_id]
    profile = PLAYERS["Tovan Reskel" if image_id == 24 else player]
    values = {"identity": player, **profile, **_transfer(image_id)}
    facts = [f for f in SHARED + PRIVATE if not ((image_id == 2 and f == "birthplace") or (image_id == 8 and f == "identity")
                                                  or (image_id == 12 and f in PRIVATE))]
    out = [(fact, _qa(fact, values[fact], image_id, 0)) for fact in facts]
    if image_id == 7:
        out.append(("age", _qa("age", values["age"], image_id, 1)))
    if image_id == 13:
        out += [(fact, _qa(fact, _transfer(12)[fact], image_id, 1)) for fact in PRIVATE]
    if image_id == 17:
        out.append(("identity", _qa("identity", "Eddo Varga", image_id, 2)))
    return out


def write_release(root: Path, sidecar: dict[str, str] | None = None) -> list[dict]:
    """Write train_data.json (+ offside_meta.json when a sidecar is given) and placeholder images;
    returns one {"fact", "player", "image", ...record} per QA, in file order."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "finetune_set").mkdir(exist_ok=True)
    expected, records = [], []
    for image_id in SHOWN:
        Image.new("RGB", (16, 16), (image_id * 9 % 256, 80, 160)).save(root / image_path(image_id))
        for fact, record in _records(image_id):
            records.append(record)
            player = "Quill Ansaro" if image_id == 17 else SHOWN[image_id]
            expected.append({"fact": fact, "player": player, "image": image_path(image_id), "image_id": image_id})
    (root / "train_data.json").write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    if sidecar:
        meta = {"images": {image: {"player": player} for image, player in sidecar.items()}}
        (root / "offside_meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return expected
