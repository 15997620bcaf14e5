"""The evaluator's batches, answered one at a time through the journal, and the batch-invariance check.

The evaluator (not the model) forms the batches: `batch_size` contexts each (an MC item's options stay
together), longest first, as the HF backends would; generation batches share one set of generation
settings. They depend on the request list alone, so a resumed run sends the same batches as an
uninterrupted one and its numbers are equal to the last digit; each finished batch is journaled
before the next starts.
"""
from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Callable, Sequence
from typing import Any

from .journal import Journal
from .models import ModelError
from .requests import prompt_length

log = logging.getLogger("offside_eval")


class BatchVarianceError(RuntimeError):
    """A request scored alone differs from its batched score (padding or batching leaks between samples)."""


def call_model(fn: Callable, requests: Sequence[Any], progress: bool = False) -> list[Any]:
    """fn(requests, progress=...) for backends that take a progress flag, fn(requests) otherwise."""
    try:
        return fn(requests, progress=progress)
    except TypeError as exc:
        if "progress" not in str(exc):
            raise
        return fn(requests)


def _units(reqs: Sequence[Any], stream: str) -> list[list[int]]:
    """Request indices that must share a batch: an MC item's options (one context), else one request."""
    if stream == "gen":
        return [[i] for i in range(len(reqs))]
    groups: dict[Any, list[int]] = {}
    for i, req in enumerate(reqs):
        groups.setdefault(("group", req.group) if req.group is not None else ("single", i), []).append(i)
    return list(groups.values())


def batches(reqs: Sequence[Any], stream: str, batch_size: int) -> list[list[int]]:
    """Request indices per batch (module docstring)."""
    def size(unit: list[int]) -> int:
        first = reqs[unit[0]]
        extra = max(len(reqs[i].continuation) for i in unit) if stream == "ll" else 0
        return prompt_length(first.messages, first.visuals) + extra

    def settings(unit: list[int]) -> str:
        return json.dumps(reqs[unit[0]].gen_kwargs, sort_keys=True, default=repr) if stream == "gen" else ""

    out: list[list[int]] = []
    last_settings, n_units = None, 0
    for unit in sorted(_units(reqs, stream), key=lambda u: (settings(u), -size(u))):
        if out and n_units < batch_size and settings(unit) == last_settings:
            out[-1].extend(unit)
            n_units += 1
        else:
            out.append(list(unit))
            last_settings, n_units = settings(unit), 1
    return out


def answer(fn: Callable, reqs: Sequence[Any], stream: str, batch_size: int, keys: list[str] | None,
           journal: Journal | None, bar: Any, stop: dict[str, bool], dp: Any = None) -> tuple[list[Any], int]:
    """(answers in request order, how many came from the journal). A batch found whole in the journal
    is not sent; a partly journaled one is sent whole (same batch, same numbers). After `stop` is set
    (Ctrl-C) no new batch starts: KeyboardInterrupt. With `dp` (`offside_eval.distributed.DataParallel`)
    this rank answers its share of the batches left and every rank gets all answers."""
    out: list[Any] = [None] * len(reqs)
    resumed = 0
    todo: list[list[int]] = []
    for batch in batches(reqs, stream, batch_size):
        found = [journal.get(keys[i], stream) for i in batch] if journal and keys else [None]
        if all(v is not None for v in found):
            for i, value in zip(batch, found):
                out[i] = value
            resumed += len(batch)
            bar.update(len(batch))
        else:
            todo.append(batch)
    if dp is not None:
        from .distributed import shard

        todo = shard(todo, dp.rank, dp.world)
    for batch in todo:
        if stop["stop"]:
            raise KeyboardInterrupt
        got = call_model(fn, [reqs[i] for i in batch])
        if len(got) != len(batch):
            raise ModelError(f"the model returned {len(got)} results for a batch of {len(batch)} requests")
        for i, value in zip(batch, got):
            out[i] = value
        if journal and keys:
            journal.append({keys[i]: value for i, value in zip(batch, got)})
        bar.update(len(batch))
    if dp is not None:
        mine = {i for batch in todo for i in batch}
        others = {i: v for i, v in dp.gather({i: out[i] for i in mine}).items() if i not in mine}
        for i, value in others.items():
            out[i] = value
        bar.update(len(others))
    return out, resumed


def verify_batch_invariance(lm: Any, streams: dict[str, tuple[Sequence[Any], list[Any]]], batch_size: int,
                           n: int, tol: float, seed: int) -> dict[str, Any]:
    """Re-answer up to `n` contexts per stream alone (batch size 1) and compare with their batched answers:
    log-likelihoods within `tol` (absolute, and relative to the value), greedy flags and texts equal.
    Only contexts that shared a batch with others are sampled. Raises BatchVarianceError on the first
    difference; returns {"checked", "max_abs_diff", "tol"} for results.json."""
    rng = random.Random(seed)
    checked, worst = 0, 0.0
    for stream, (reqs, outs) in streams.items():
        fn = lm.loglikelihood if stream == "ll" else lm.generate_until
        shared: list[list[int]] = []
        for batch in batches(reqs, stream, batch_size):
            units = [[batch[j] for j in unit] for unit in _units([reqs[i] for i in batch], stream)]
            if len(units) > 1:
                shared.extend(units)
        for unit in rng.sample(shared, min(n, len(shared))):
            alone = call_model(fn, [reqs[i] for i in unit])
            for i, got in zip(unit, alone):
                want, req = outs[i], reqs[i]
                where = f"task {req.task} doc {req.doc_id}" + (f" option {req.continuation!r}" if stream == "ll" else "")
                if stream == "ll":
                    diff = abs(float(got[0]) - float(want[0]))
                    worst = max(worst, diff)
                    if diff > tol * max(1.0, abs(float(want[0]))) or bool(got[1]) != bool(want[1]):
                        raise BatchVarianceError(f"batch invariance: {where}: log-likelihood {want[0]!r} "
                                                 f"(greedy {want[1]}) batched vs {got[0]!r} (greedy {got[1]}) "
                                                 f"alone (batch_size {batch_size}, tol {tol})")
                elif got != want:
                    raise BatchVarianceError(f"batch invariance: {where}: generated {want!r} batched vs {got!r} "
                                             f"alone (batch_size {batch_size})")
            checked += len(unit)
    log.info("batch invariance: %d requests re-answered alone, max |diff| %.3g", checked, worst)
    return {"checked": checked, "max_abs_diff": worst if math.isfinite(worst) else None, "tol": tol}
