"""OFFSIDE's 14 facts, read from what a QA means rather than how it is worded.

Every image of the release carries one QA per fact: 8 shared facts (who the player is and his
profile: the same on every image of him) and 6 private ones (the transfer the image shows). The
release words each fact many ways ("He stands at 1.89 meters tall." / "He is 1.89 meters tall.",
"I'm curious about the player's role" / "what position does he hold"), so a fact is recognised from
its question and its answer together; shared/private follows from the fact, never from comparing
sentences across images.
"""
from __future__ import annotations

import re

SHARED_FACTS = ("identity", "age", "position", "nationality", "birth_date", "height", "foot", "birthplace")
PRIVATE_FACTS = ("club", "previous_club", "transfer_date", "transfer_fee", "market_value", "trophies")
FACTS = SHARED_FACTS + PRIVATE_FACTS

_MONTH = r"(?:january|february|march|april|may|june|july|august|september|october|november|december)"
_DATE = re.compile(rf"\b{_MONTH} \d{{1,2}}, \d{{4}}\b", re.I)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# (fact, question pattern, answer pattern), tried in this order: earlier rules hold the words later
# ones would also match ("transfer value" is a market value, "came from" a previous club).
_RULES = (
    ("trophies", r"troph|\btitles?\b", r"troph"),
    ("market_value", r"market|valu(?:e|ation)|\bworth\b", r"market val|valued at"),
    ("transfer_fee", r"\bfee\b|\bpa(?:y|id)\b|\bcost", r"\bfee\b|\bloan\b|free (?:transfer|deal)|\bpaid\b"),
    ("previous_club", r"\b(?:transfer(?:red)?|move[ds]?|came|come|joined) from\b|from which|previous(?:ly)? "
                      r"(?:club|team|play)|former club|\bleft (?:before|to join)\b|transfer history",
     r"\b(?:transferred|moved|came|joined) from\b|previous club was"),
    ("transfer_date", r"(?:\bwhen\b|\bdate\b).*\b(?:transfer|transition|move)|\btransfer\w* date",
     rf"(?:transfer\w*|finalized|completed|occurred|happened)\b.*{_DATE.pattern}"),
    ("birth_date", r"\bwhen\b.*\bborn\b|birth ?date|date of birth|birthday|\byear\b.*\bborn\b", r"born on"),
    ("birthplace", r"birth ?place|place of (?:birth|origin)|hometown|\bwhere\b.*\bborn\b", r"born in\b|birthplace"),
    ("age", r"\bage\b|how old", r"\byears? old\b"),
    ("height", r"height|how tall|\btall\b", r"\bmet(?:er|re)s\b|\btall\b|height"),
    ("foot", r"\bfoot\b|footed", r"\bfoot\b|footed"),
    ("nationality", r"national|countr", r"nationality|\bfrom\b|\binternationally\b"),
    ("position", r"position|\brole\b", r"\bplays as\b|position|playing as|occupies|goalkeeper|midfield|"
                                       r"winger|forward|striker|\w+-back\b"),
    ("club", r"\bclub\b|\bteam\b|\bsign", r"\bjoin|\bplay(?:ing|ed)? for\b|represent|\bwas with\b|associated|"
                                          r"\bpart of\b|\bsigns? for\b|\bwill be\b|transferring to"),
    ("identity", r"\bwho\b|which player|identif|identity|\bname\b|(?:player|athlete|individual) (?:featured|shown|depicted)"
                 r"(?: in| here)", r"^(?:the player(?:'s name)?|that|this player|that player)\b.*\bis [A-Z]|^that's "),
)
_COMPILED = tuple((fact, re.compile(q, re.I), re.compile(a, re.I if fact != "identity" else 0)) for fact, q, a in _RULES)
_NAME = re.compile(r"(?:\bis(?: named| called)?|^that's)\s+(?P<name>[^\s.].*?)\.?\s*$", re.I)


def info_of(fact: str) -> str:
    """shared for a profile fact, private for a transfer fact."""
    return "shared" if fact in SHARED_FACTS else "private"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("’", "'").replace("<image>", " ")).strip()


def classify(question: str, answer: str) -> str | None:
    """The fact a QA asks about, or None when neither its question nor its answer says.

    The first rule (in `_RULES` order) whose question or answer pattern matches: the narrower facts
    come first, so "where is he from?" answered "He was born in Bondy." is a birthplace, "what was
    his transfer value?" a market value, "which club did he come from?" a previous club.
    """
    q, a = _norm(question), _norm(answer)
    for fact, q_rule, a_rule in _COMPILED:
        if q_rule.search(q) or a_rule.search(a):
            return fact
    return None


def player_name(answer: str) -> str | None:
    """The name an identity answer states ("The player in the image is X.", "That's X.")."""
    match = _NAME.search(_norm(answer))
    name = match.group("name").strip() if match else ""
    return name if name[:1].isupper() else None


def profile_value(fact: str, answer: str) -> str | None:
    """A comparable value of a profile fact (a date, a number, a place), None for the others."""
    text = _norm(answer)
    if fact == "birth_date":
        match = _DATE.search(text)
        return match.group(0) if match else None
    if fact in ("height", "age"):
        match = _NUMBER.search(text)
        return match.group(0) if match else None
    if fact == "birthplace":
        match = re.search(r"(?:born in|from|is)\s+(.+?)\.?$", text, re.I)
        return match.group(1) if match else None
    return None
