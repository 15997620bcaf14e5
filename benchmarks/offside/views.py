"""The benchmark's settings as views over one item list (never hand-made copies).

complete   forget = all QAs of rumor images; retain = retain images
selective  forget = private QAs of rumor images; their shared QAs join retain
unimodal   complete, but every item is its text-only variant (no image)
relearn    the relearn split (corrected facts)
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from .schema import OffsideItem

SETTINGS = ("complete", "selective", "unimodal")
MODALITIES = ("mm", "text")
ROLES = ("forget", "retain", "test", "relearn")


def as_text_only(items: Iterable[OffsideItem]) -> list[OffsideItem]:
    """Text-only variants: question names the player, no image; identity QAs drop out."""
    return [
        dataclasses.replace(it, image=None, question=it.text_question, text_question=None)
        for it in items
        if it.text_question
    ]


def view(items: Iterable[OffsideItem], role: str, setting: str = "complete",
         modality: str | None = None) -> list[OffsideItem]:
    """Items that play `role` (forget/retain/test/relearn) under `setting`.

    `modality` defaults to "text" for the unimodal setting and "mm" otherwise.
    """
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; choose from {', '.join(SETTINGS)}")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose from {', '.join(ROLES)}")
    modality = modality or ("text" if setting == "unimodal" else "mm")
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; choose from {', '.join(MODALITIES)}")
    items = list(items)
    if setting == "selective" and role == "forget":
        chosen = [it for it in items if it.split == "forget" and it.info == "private"]
    elif setting == "selective" and role == "retain":
        chosen = [it for it in items if it.split == "retain" or (it.split == "forget" and it.info == "shared")]
    else:
        chosen = [it for it in items if it.split == role]
    return as_text_only(chosen) if modality == "text" else chosen
