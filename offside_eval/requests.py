"""Plain request records passed from tasks to models.

A model never sees a task or a doc: only chat messages, the images they refer to, and
what to score or generate. `messages` are the turns before the assistant's answer, with
`{"type": "image"}` parts in the places the images go (in `visuals` order).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LoglikelihoodRequest:
    messages: list[dict]
    visuals: list[Any]  # PIL images, one per image part of `messages`
    continuation: str  # scored after the chat template's assistant prefix, as in training
    group: Any = None  # requests sharing a context (options of one MC item) carry the same group key
    task: str = ""
    doc_id: Any = None
    details: bool = False  # answer with `models.token_details` scores (a dict), not (logprob, is_greedy)


@dataclass
class GenerationRequest:
    messages: list[dict]
    visuals: list[Any]
    gen_kwargs: dict[str, Any] = field(default_factory=dict)  # max_new_tokens, until, temperature, ...
    task: str = ""
    doc_id: Any = None


def prompt_length(messages: list[dict], visuals: list[Any]) -> int:
    """A cheap size proxy used to sort requests (longest first): text chars + a constant per image."""
    n = 0
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            n += len(content)
        else:
            n += sum(len(part.get("text", "")) for part in content)
    return n + 256 * len(visuals)
