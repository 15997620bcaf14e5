"""The attack registry: what an attack is, how `--attack NAME[:k=v,...]` resolves to one."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch

from offside_data.extras import require
from offside_data.options import did_you_mean, parse_kv, register_once

from ..models.base import ModelError
from ..requests import GenerationRequest, LoglikelihoodRequest

Request = LoglikelihoodRequest | GenerationRequest


class AttackError(ValueError):
    """Unknown attack or option; one line naming it."""


@dataclass(frozen=True)
class AttackContext:
    """What an input attack may know of the request's document besides the request itself."""

    target: Any  # the document's reference answer (the fact a forget item states)
    seed: int  # per-document seed: random perturbations repeat exactly on a rerun


@dataclass(frozen=True)
class Attack:
    name: str
    kind: Literal["weights", "input"]
    help: str
    # weights: apply(torch model, **options) edits it in place; input: apply(request, context, **options)
    # returns the attacked request
    apply: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)  # option -> default
    requires: str = ""  # an optional extra's module it needs (checked when the attack is named)


ATTACKS: dict[str, Attack] = {}


def register_attack(attack: Attack) -> Attack:
    return register_once(ATTACKS, attack.name, attack, AttackError, "attack")


@dataclass(frozen=True)
class AttackSpec:
    """One attack with its options resolved: what results.json records and the journal keys on."""

    attack: Attack
    options: dict[str, Any]

    @property
    def label(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.attack.name}:{opts}" if opts else self.attack.name

    def record(self) -> dict[str, Any]:
        return {"name": self.attack.name, "kind": self.attack.kind, "options": dict(self.options), "label": self.label}

    def attack_loaded(self, lm) -> None:
        """A weights attack edits a loaded model's torch weights (input attacks act on the requests)."""
        if self.attack.kind != "weights":
            return
        weights = getattr(lm, "model", None)
        if not isinstance(weights, torch.nn.Module):
            raise ModelError(f"--attack {self.label}: model {getattr(lm, 'name', type(lm).__name__)!r} has no local "
                             "torch weights to attack")
        self.attack.apply(weights, **self.options)

    def attack_request(self, request: Request, target: Any, doc_key: str) -> Request:
        if self.attack.kind != "input":
            return request
        seed = int(hashlib.sha256(f"{self.label}|{doc_key}".encode()).hexdigest()[:8], 16)
        return self.attack.apply(request, AttackContext(target, seed), **self.options)


def parse_attack(spec: str | None) -> AttackSpec | None:
    """`NAME[:k=v,...]` -> AttackSpec with defaults filled in; unknown names and options fail in one line."""
    if not spec:
        return None
    name, _, args = str(spec).partition(":")
    attack = ATTACKS.get(name)
    if attack is None:
        raise AttackError(f"--attack {name}: unknown attack{did_you_mean(name, sorted(ATTACKS))} "
                          f"(known: {', '.join(sorted(ATTACKS))})")
    if attack.requires:
        require(attack.requires, f"--attack {name}")
    given = parse_kv(args, f"--attack {name}") if args else {}
    for key in given:
        if key not in attack.options:
            raise AttackError(f"--attack {name}: unknown option {key!r}{did_you_mean(key, list(attack.options))} "
                              f"(options: {', '.join(attack.options) or 'none'})")
    return AttackSpec(attack, {**attack.options, **given})


def attack_table() -> str:
    """Every attack: name, kind, options with their defaults, what it does (`--attack list`)."""
    rows = [("attack", "kind", "options (defaults)", "what it does")] + [
        (a.name, a.kind, ",".join(f"{k}={v}" for k, v in a.options.items()) or "-", a.help)
        for a in sorted(ATTACKS.values(), key=lambda a: (a.kind, a.name))]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(f"{cell:<{w}}" for cell, w in zip(r[:3], widths)) + "  " + r[3] for r in rows)


def user_text(request: Request) -> str:
    """The text of the request's last user turn (the question)."""
    content = next(m for m in reversed(request.messages) if m["role"] == "user")["content"]
    return content if isinstance(content, str) else next(p for p in reversed(content) if p.get("type") == "text")["text"]


def with_text(request: Request, rewrite: Callable[[str], str], add_image: Any = None) -> Request:
    """The request with the text of its last user turn rewritten (images and their places kept);
    `add_image` puts one more image first in that turn (a text-only request becoming image + text)."""
    messages = [dict(m) for m in request.messages]
    turn = next(m for m in reversed(messages) if m["role"] == "user")
    parts = [{"type": "text", "text": turn["content"]}] if isinstance(turn["content"], str) else \
        [dict(p) for p in turn["content"]]
    text = next(p for p in reversed(parts) if p.get("type") == "text")
    text["text"] = rewrite(text["text"])
    if add_image is None:
        turn["content"] = parts if not isinstance(turn["content"], str) else text["text"]
        return replace(request, messages=messages)
    turn["content"] = [{"type": "image"}, *parts]
    return replace(request, messages=messages, visuals=[add_image, *request.visuals])


def with_images(request: Request, edit: Callable[[Any], Any]) -> Request:
    """The request with every image replaced by edit(image); a text-only request is left as it is."""
    return replace(request, visuals=[edit(image) for image in request.visuals])
