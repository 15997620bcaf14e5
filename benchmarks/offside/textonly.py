"""Text-only questions without an LLM: the player's name in place of the image reference.

The release asks about "the player in this image", "this player", "the athlete depicted in the
picture"...; the unimodal setting asks the same about the player by name. `rewrite_question`
replaces each such reference (possessive kept) and drops the leftover pointers to the picture
("I'm looking at this image and wondering..." -> "I'm wondering..."). The result is checked by
`construct.check_text_question` like an LLM rewrite: it names the player, it shows no image.
"""
from __future__ import annotations

import re

_PIC = r"(?:the|this|that)\s+(?:image|picture|photo|photograph)"
_SUBJECT = re.compile(
    r"\b(?:the|this|that)\s+(?:(?:featured|pictured|depicted|shown)\s+)?(?:player|athlete|individual|footballer|person|man)\b"
    r"(?:\s+(?:on|to) the (?:left|right)(?: side)?(?: of " + _PIC + r")?)?"
    r"(?:\s+(?:shown|depicted|featured|pictured|seen|visible|presented)\b(?:\s+here\b)?)?"
    r"(?:\s+(?:in|from|of|on)\s+" + _PIC + r")?(?P<possessive>['’]s)?", re.I)
_LOOKING = re.compile(r"\bI['’]m (?:looking at|checking) " + _PIC
                      + r"(?:,| and)\s+(?:I['’]m\s+(?=curious|wondering))?", re.I)
_BEFORE = re.compile(r"\bbefore " + _PIC + r"\b", re.I)
_POINTER = re.compile(r",?\s*\b(?:(?:as\s+)?(?:shown|depicted|featured|seen|pictured)\s+|associated with\s+|"
                      r"related to\s+)?(?:in|from|based on|of|on)?\s*" + _PIC + r"\b,?", re.I)


def rewrite_question(question: str, player: str) -> str:
    """`question` as the release stores it (its <image> tags in place), asked about `player` by name."""
    text = re.sub(r"\b(in|of|from)\s*<image>", r"\1 this image", question)
    text = _LOOKING.sub(_subject_of, re.sub(r":?\s*<image>\s*", " ", text))
    text = _SUBJECT.sub(lambda m: player + (m.group("possessive") or ""), text)
    text = _BEFORE.sub("before this transfer", text)
    text = _POINTER.sub(" ", text)
    text = re.sub(r"\s+([?.,;!:])", r"\1", re.sub(r"\s+", " ", text)).strip().rstrip(":")
    return text if text.endswith((".", "?", "!")) else text + "."


def _subject_of(match: re.Match) -> str:
    """What "I'm looking at this image and ..." leaves: "I'm wondering...", "I would like to know..."."""
    rest = match.string[match.end():]
    return "I'm " if rest.startswith(("curious", "wondering")) else "I "
