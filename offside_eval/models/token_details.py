"""Per-token scores of an answer under teacher forcing, for the unlearning metrics
(`offside_eval.unlearning_metrics`: truth ratio, exact memorization, extraction strength, MIA).

One forward per batch on exactly the training encoding (`offside_data.encode`), images included.
The answer's tokens are the target tokens without the trailing end-of-turn special token(s) (as
open-unlearning's token-wise metrics score them); that token's log-prob comes back on its own
(`eot_logprobs`), for the token sets that keep it (`unlearning_metrics.TOKEN_SETS`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from offside_data.encode import IGNORE_INDEX, Example, encode_examples

from ..requests import LoglikelihoodRequest


def vocab_moments(logp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of log-softmax values, the mean and variance of log p under p itself:
    mu = sum_v p(v) log p(v), var = sum_v p(v) (log p(v))^2 - mu^2 (the Min-K%++ normalisers;
    source: open-unlearning src/evals/metrics/mia/min_k_plus_plus.py)."""
    probs = logp.exp()
    mean = (probs * logp).sum(-1)
    return mean, (probs * logp.square()).sum(-1) - mean.square()


@torch.inference_mode()
def score_with_details(model, processor, reqs: Sequence[LoglikelihoodRequest], move) -> list[dict[str, Any]]:
    """For each request: logprob (summed over answer tokens), is_greedy, n_tokens, token_logprobs,
    target_ids, argmax_ids, eot_logprobs (the trailing end-of-turn token(s), left out of all the others),
    and per answer position the mean and variance of log p over the vocabulary
    (sum p log p, sum p (log p)^2 - mean^2: the Min-K%++ normalisers). `move` puts a batch on the
    model's device and dtype."""
    tokenizer = getattr(processor, "tokenizer", processor)
    special = set(tokenizer.all_special_ids)
    examples = [Example(list(r.messages), r.continuation, list(r.visuals)) for r in reqs]
    batch = encode_examples(processor, examples)
    labels = batch.pop("labels")
    width = labels.shape[1]
    first = min(int((row != IGNORE_INDEX).nonzero()[0]) for row in labels)
    keep = width - first + 1  # only the positions that predict an answer token reach the output layer
    logits = model(**move(batch), logits_to_keep=keep).logits
    offset = width - keep
    out = []
    for row in range(labels.shape[0]):
        positions = (labels[row] != IGNORE_INDEX).nonzero().flatten().tolist()
        n = len(positions)
        while n and int(labels[row, positions[n - 1]]) in special:
            n -= 1
        if not n:
            raise ValueError(f"request {row}: the answer {reqs[row].continuation!r} has no tokens")
        index = torch.tensor(positions)
        # position t-1 predicts token t; reduced on the model's device, only per-token values come back
        logp = torch.log_softmax(logits[row, (index - 1 - offset).to(logits.device)].float(), dim=-1)
        targets = labels[row, index].to(logp.device)
        all_logprobs = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        token_logprobs, logp, targets = all_logprobs[:n], logp[:n], targets[:n]
        mean, var = vocab_moments(logp)
        argmax = logp.argmax(-1)
        out.append({"logprob": float(token_logprobs.sum()), "is_greedy": bool((argmax == targets).all()),
                    "n_tokens": n, "token_logprobs": token_logprobs.cpu().tolist(),
                    "eot_logprobs": all_logprobs[n:].cpu().tolist(),
                    "target_ids": targets.cpu().tolist(), "argmax_ids": argmax.cpu().tolist(),
                    "vocab_mean": mean.cpu().tolist(), "vocab_var": var.cpu().tolist()})
    return out
