"""Metric and aggregation registries (open: later metrics register here or via `!function`).

A task's `process_results` (or the built-in scorer of its output type) returns one value per
metric per sample. A value may be any object: the metric's aggregation receives the list of
all samples' values, so corpus-level metrics (computed over the whole task) fit the same
shape. `None` / NaN mean "missing": `nanmean` skips and counts them; `mean` refuses them.

Stderr follows lm-eval: analytic (sample std / sqrt(n)) for means, bootstrap otherwise.
"""
from __future__ import annotations

import math
import random
import re
from functools import lru_cache
from typing import Any, Callable, Sequence

AGGREGATIONS: dict[str, Callable[[Sequence[Any]], float]] = {}
METRICS: dict[str, dict[str, Any]] = {}  # name -> {"fn": per-sample fn | None, "aggregation", "higher_is_better"}


class MetricError(ValueError):
    pass


def register_aggregation(name: str):
    def wrap(fn):
        AGGREGATIONS[name] = fn
        return fn
    return wrap


def register_metric(name: str, aggregation: str = "mean", higher_is_better: bool = True):
    """Register a per-sample metric `fn(prediction, target, doc) -> value` for generate_until tasks."""
    def wrap(fn):
        METRICS[name] = {"fn": fn, "aggregation": aggregation, "higher_is_better": higher_is_better}
        return fn
    return wrap


def register_judge_metric(name: str, template: str, aggregation: str = "nanmean", higher_is_better: bool = True):
    """A metric an LLM judge computes from (question, response, reference), one batched judge call per run.

    `template` names the judge prompt (`prompts/<template>.j2`). A sample the judge could not
    score is missing (None): aggregations skip it and results count it in `<name>_missing`.
    """
    METRICS[name] = {"fn": None, "judge": template, "aggregation": aggregation, "higher_is_better": higher_is_better}


def is_judge_metric(name: Any) -> bool:
    return isinstance(name, str) and bool(METRICS.get(name, {}).get("judge"))


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@register_aggregation("mean")
def mean(values: Sequence[Any]) -> float:
    if any(is_missing(v) for v in values):
        raise MetricError("missing values under aggregation 'mean'; use 'nanmean' to skip and count them")
    return sum(values) / len(values) if values else float("nan")


@register_aggregation("nanmean")
def nanmean(values: Sequence[Any]) -> float:
    kept = [v for v in values if not is_missing(v)]
    return sum(kept) / len(kept) if kept else float("nan")


@register_aggregation("median")
def median(values: Sequence[Any]) -> float:
    kept = sorted(v for v in values if not is_missing(v))
    if not kept:
        return float("nan")
    mid = len(kept) // 2
    return kept[mid] if len(kept) % 2 else (kept[mid - 1] + kept[mid]) / 2


def _sample_std(values: Sequence[float]) -> float:
    n = len(values)
    mu = sum(values) / n
    return math.sqrt(sum((v - mu) ** 2 for v in values) / (n - 1))


def stderr(aggregation: str | Callable, values: Sequence[Any], bootstrap_iters: int = 100, seed: int = 1234) -> float:
    """Analytic stderr for mean/nanmean, bootstrap of the aggregation for anything else."""
    if aggregation in ("mean", "nanmean"):
        kept = [v for v in values if not is_missing(v)]
        return _sample_std(kept) / math.sqrt(len(kept)) if len(kept) > 1 else float("nan")
    fn = AGGREGATIONS[aggregation] if isinstance(aggregation, str) else aggregation
    if bootstrap_iters <= 1 or len(values) < 2:
        return float("nan")
    rng = random.Random(seed)
    stats = []
    for _ in range(bootstrap_iters):
        stat = fn([values[rng.randrange(len(values))] for _ in values])
        if not is_missing(stat):
            stats.append(stat)
    return _sample_std(stats) if len(stats) > 1 else float("nan")


# ---- generation metrics: ROUGE-1/2/L F1 (stemmed), sentence BLEU, and their mean -------------

@lru_cache(maxsize=1)
def _rouge():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


@lru_cache(maxsize=65536)
def generation_scores(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1/2/L F1 and sentence BLEU (all in [0, 1]) and gen_score = their mean (the paper's Generation Score).

    BLEU: sacrebleu, lowercased, 'floor' smoothing with 0.1 — a zero n-gram precision
    becomes 0.1 / count, the same as nltk's SmoothingFunction().method1.
    """
    import sacrebleu

    rouge = _rouge().score(reference, prediction)
    scores = {k: rouge[k].fmeasure for k in ("rouge1", "rouge2", "rougeL")}
    bleu = sacrebleu.sentence_bleu(prediction, [reference], lowercase=True, smooth_method="floor",
                                   smooth_value=0.1)
    scores["bleu"] = bleu.score / 100.0
    scores["gen_score"] = (scores["rouge1"] + scores["rouge2"] + scores["rougeL"] + scores["bleu"]) / 4
    return scores


def _gen_metric(key: str):
    def fn(prediction: str, target: Any, doc: dict | None = None) -> float:
        return generation_scores(str(prediction).strip(), str(target).strip())[key]
    fn.__name__ = key
    return fn


for _key in ("rouge1", "rouge2", "rougeL", "bleu", "gen_score"):
    register_metric(_key)(_gen_metric(_key))


@register_metric("exact_match")
def exact_match(prediction: str, target: Any, doc: dict | None = None) -> float:
    return float(str(prediction).strip().lower() == str(target).strip().lower())


# ---- classification by generation: extract the chosen letter --------------------------------

_LETTER_PATTERNS = [
    re.compile(r"^\W*\(([A-D])\)"),  # "(B) ..."
    re.compile(r"^\W*([A-D])(?:[.:,)]|\s*$)"),  # "B", "B.", "B: text" (not "A player ...")
    re.compile(r"\b(?i:answer|option|choice)\s*(?i:is|:)?\s*\(?([A-D])\b"),  # "the answer is C"
]


def extract_letter(response: str, options: dict[str, str] | None = None) -> str | None:
    """The option letter a free-form response chose, or None when it names none."""
    text = response.strip()
    for pattern in _LETTER_PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(1).upper()
    if options:  # the response restates one option's text
        low = text.lower().rstrip(".")
        hits = [k for k, v in options.items() if v.lower().rstrip(".") in low]
        if len(hits) == 1:
            return hits[0]
    return None


@register_metric("acc_gen")
def acc_gen(prediction: str, target: Any, doc: dict | None = None) -> float:
    """1 when the generated letter is the correct one; an unreadable answer counts as wrong."""
    options = (doc or {}).get("options")
    return float(extract_letter(str(prediction), options) == str(target).strip())


# ---- LLM-judge metrics -------------------------------------------------------------------------
# fact_score: the paper's factuality score, 0-10 (0 = unreadable output), judged per sample.
register_judge_metric("fact_score", "factuality")
