"""Attacks: is it unlearned, or only hidden? `offside-eval --attack NAME[:k=v,...]` applies one to any
checkpoint and any task. A `weights` attack edits the loaded model (quantization); an `input` attack
rewrites every request (image perturbations, typographic images, jailbreak templates, the fact in
context). The attack is recorded in results.json and enters the journal key, so attacked and clean
answers never mix. A new attack is one small file here calling `register_attack`."""
from __future__ import annotations

# the built-in attacks register themselves on import
from . import image, paraphrase, prompt, quantize, typographic  # noqa: F401
from .registry import ATTACKS, Attack, AttackError, AttackSpec, attack_table, parse_attack, register_attack

__all__ = ["ATTACKS", "Attack", "AttackError", "AttackSpec", "attack_table", "parse_attack", "register_attack"]
