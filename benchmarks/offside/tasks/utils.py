"""Hooks of the built-in OFFSIDE tasks (referenced from the YAML files with `!function utils.X`).

Docs are OffsideItem dicts (plus `_root`, the data root), so a prompt here is the same
question training uses; the image is decoded once per run (`load_image` is cached).
"""
from offside_data.chat import load_image
from offside_data.schema import LETTERS


def doc_to_visual(doc):
    if not doc.get("image"):
        return []
    return [load_image(doc["_root"], doc["image"])]  # RGB, 256x256 as in the paper


def doc_to_text(doc, prompt_kwargs=None):
    kw = prompt_kwargs or {}
    return f"{kw.get('pre_prompt', '')}{doc['question']}{kw.get('post_prompt', '')}"


def doc_to_answer(doc):
    return doc["answer"]


def doc_to_choice(doc):
    return [doc["options"][letter] for letter in LETTERS]


def doc_to_gold_index(doc):
    return LETTERS.index(doc["correct"])


def doc_to_letter_prompt(doc, prompt_kwargs=None):
    """Question, then the four lettered options, then the instruction to reply with a letter."""
    kw = prompt_kwargs or {}
    listing = "\n".join(f"{letter}. {doc['options'][letter]}" for letter in LETTERS)
    instruction = kw.get("letter_instruction", "Reply with the letter (A, B, C or D) of the correct option only.")
    return f"{kw.get('pre_prompt', '')}{doc['question']}\n{listing}\n{instruction}"


def doc_to_letter(doc):
    return doc["correct"]
