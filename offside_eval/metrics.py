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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from offside_data.options import register_once

AGGREGATIONS: dict[str, Callable[[Sequence[Any]], float]] = {}
METRICS: dict[str, dict[str, Any]] = {}  # name -> {"fn": per-sample fn | None, "aggregation", "higher_is_better"}
UNITS = ("plain", "percent", "signed", "score")  # 0.123 | 12.3% | +1.2 (already in percent) | 7.25 (a 0-10 score)


@dataclass(frozen=True)
class MetricDisplay:
    """How every table, plot and comparison shows a metric, declared once where the metric is defined."""
    label: str
    higher_is_better: bool | None = True  # None: closest to zero is best
    unit: str = "plain"


DISPLAYS: dict[str, MetricDisplay] = {}


def declare_metric(name: str, label: str, higher_is_better: bool | None = True, unit: str = "plain") -> None:
    """A metric's column label, better direction and number format (a benchmark declares its own metrics')."""
    if unit not in UNITS:
        raise ValueError(f"metric {name}: unit {unit!r} is not one of {', '.join(UNITS)}")
    register_once(DISPLAYS, name, MetricDisplay(label, higher_is_better, unit), ValueError, "metric display of")


def metric_display(name: str) -> MetricDisplay:
    """The declared display of `name`; an undeclared metric is shown under its own name."""
    return DISPLAYS.get(name) or MetricDisplay(name)


class MetricError(ValueError):
    pass


def register_aggregation(name: str):
    def wrap(fn):
        AGGREGATIONS[name] = fn
        return fn
    return wrap


def register_metric(name: str, aggregation: str = "mean", higher_is_better: bool = True, label: str | None = None,
                    unit: str = "plain"):
    """Register a per-sample metric `fn(prediction, target, doc) -> value` for generate_until tasks (and, with a
    label, how reports show it)."""
    def wrap(fn):
        METRICS[name] = {"fn": fn, "aggregation": aggregation, "higher_is_better": higher_is_better}
        if label:
            declare_metric(name, label, higher_is_better, unit)
        return fn
    return wrap


def register_judge_metric(name: str, template: str, aggregation: str = "nanmean", higher_is_better: bool = True,
                          parser: Callable[[str], tuple[Any, str]] | None = None, drop_empty: bool = False):
    """A metric an LLM judge computes from (question, response, reference), one batched judge call per run.

    `template` names the judge prompt (`prompts/<template>.j2`, or `<name>.txt` for a benchmark's
    verbatim prompt); `parser` reads a reply (default: the strict `judge.parse_reply`); with
    `drop_empty` an empty response is not sent to the judge. A sample the judge could not score
    (or did not see) is missing (None): aggregations skip it and results count it in `<name>_missing`.
    """
    METRICS[name] = {"fn": None, "judge": template, "aggregation": aggregation, "higher_is_better": higher_is_better,
                     "parser": parser, "drop_empty": drop_empty}


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


@register_aggregation("sum")
def total(values: Sequence[Any]) -> float:
    """Counts such as n_dropped (samples a protocol left out of its means)."""
    return float(sum(v for v in values if not is_missing(v)))


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
def rouge_scorer():
    """One stemmed ROUGE-1/2/L scorer for every task (every benchmark's generation tasks)."""
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


@lru_cache(maxsize=1)
def _tokenize():
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    return Tokenizer13a()


def sentence_bleu(prediction: str, reference: str) -> float:
    """The recipe's sentence BLEU: nltk `sentence_bleu` with `SmoothingFunction().method1`.

    Both texts are lowercased and split by sacrebleu's 13a tokenizer (nltk's own tokenizer needs
    downloaded data). Uniform weights over 1- to 4-grams, always all four orders: an order with no
    match -- including one the prediction is too short to have, counted as 0 of 1 -- gets precision
    0.1 / count (method1); times the brevity penalty. An empty prediction scores 0.
    """
    tokens = _tokenize()
    return method1_bleu(tokens(reference.lower()).split(), tokens(prediction.lower()).split())


def method1_bleu(reference_tokens: Sequence[str], prediction_tokens: Sequence[str]) -> float:
    """nltk sentence BLEU with SmoothingFunction().method1 on already tokenized texts: the recipe every
    protocol here shares (the clean tasks and the benchmark authors' own); only the tokens differ."""
    from nltk.translate.bleu_score import SmoothingFunction
    from nltk.translate.bleu_score import sentence_bleu as nltk_bleu

    return float(nltk_bleu([list(reference_tokens)], list(prediction_tokens),
                           smoothing_function=SmoothingFunction().method1))


@lru_cache(maxsize=65536)
def generation_scores(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1/2/L F1, `sentence_bleu` (all in [0, 1]) and gen_score = their mean (the paper's Generation Score)."""
    rouge = rouge_scorer().score(reference, prediction)
    scores = {k: rouge[k].fmeasure for k in ("rouge1", "rouge2", "rougeL")}
    scores["bleu"] = sentence_bleu(prediction, reference)
    scores["gen_score"] = (scores["rouge1"] + scores["rouge2"] + scores["rougeL"] + scores["bleu"]) / 4
    return scores


def _gen_metric(key: str):
    def fn(prediction: str, target: Any, doc: dict | None = None) -> float:
        return generation_scores(str(prediction).strip(), str(target).strip())[key]
    fn.__name__ = key
    return fn


for _key in ("rouge1", "rouge2", "rougeL", "bleu", "gen_score"):
    register_metric(_key)(_gen_metric(_key))


def _degeneration_metric(key: str):
    """Fluency of the reply itself (no reference): gradient ascent collapses into repetition."""
    def fn(prediction: str, target: Any = None, doc: dict | None = None) -> float | None:
        from .unlearning_metrics import degeneration

        return degeneration(str(prediction))[key]
    fn.__name__ = key
    return fn


register_metric("distinct_2", aggregation="nanmean")(_degeneration_metric("distinct_2"))
register_metric("rep_3", aggregation="nanmean", higher_is_better=False)(_degeneration_metric("rep_3"))


@register_metric("exact_match", label="Exact Match", unit="percent")
def exact_match(prediction: str, target: Any, doc: dict | None = None) -> float:
    return float(str(prediction).strip().lower() == str(target).strip().lower())


# ---- classification by generation: extract the chosen letter --------------------------------

def extract_letter(response: str, options: Mapping[str, str] | None = None) -> str | None:
    """The option letter a free-form response chose, or None when it names none or is ambiguous.

    The letters are the keys of `options` (A-D without options), upper case only, so a lower-case
    "a" is never read as a choice. Rules, first match wins:
      1. a stated answer: "answer", "option" or "choice", optionally "is" or ":", then the letter,
         optionally in parentheses ("The answer is (C)", "Answer: B");
      2. a leading letter: "(B)", or "B" followed by ".", ":", ",", ")" or the end ("B", "B. green");
      3. letters standing alone (not inside a word): exactly one distinct letter is the choice ("I
         think B"); two or more ("A or B") give None. An "A" always followed by a lower-case word
         is the article, not a choice ("A player ...", and so also "I think A is right");
      4. exactly one option's text (case-insensitive, trailing "." ignored) appears in the response
         as whole words ("It is green." -> the option "green").
    Anything else -- empty, no letter, several letters, no or several option texts -- gives None.
    """
    text = (response or "").strip()
    letters = "".join(options) if options else "ABCD"
    if not text:
        return None
    stated = re.search(rf"(?i:answer|option|choice)\s*(?i:is|:)?\s*\(?([{letters}])\)?(?![A-Za-z])", text)
    if stated:
        return stated.group(1)
    lead = re.match(rf"^\W*([{letters}])(?:[.:,)]|\s*$)", text)
    if lead:
        return lead.group(1)
    alone = list(re.finditer(rf"(?<![A-Za-z])([{letters}])(?![A-Za-z])", text))
    distinct = {m.group(1) for m in alone}
    if len(distinct) > 1:
        return None
    article = distinct == {"A"} and all(re.match(r"\s+[a-z]", text[m.end():]) for m in alone)
    if distinct and not article:
        return distinct.pop()
    if not options:
        return None
    low = text.lower()
    hits = [k for k, v in options.items()
            if re.search(rf"(?<!\w){re.escape(v.lower().rstrip('.'))}(?!\w)", low)]
    return hits[0] if len(hits) == 1 else None


@register_metric("acc_gen", label="Gen. Acc.", unit="percent")
def acc_gen(prediction: str, target: Any, doc: dict | None = None) -> float:
    """1 when the generated letter is the correct one; an unreadable answer counts as wrong."""
    options = (doc or {}).get("options")
    return float(extract_letter(str(prediction), options) == str(target).strip())


# ---- LLM-judge metrics -------------------------------------------------------------------------
# fact_score: the paper's factuality score, 0-10 (0 = unreadable output), judged per sample.
register_judge_metric("fact_score", "factuality")


# ---- how reports show the metrics every benchmark shares ------------------------------------------
# (a benchmark declares its own in its folder; a metric's direction here is the metric's, a report flips
# it on a forget set where lower means more forgotten)
declare_metric("acc", "Class. Acc.", unit="percent")
declare_metric("acc_norm", "Class. Acc. (norm.)", unit="percent")
declare_metric("gen_score", "Gen. Score")
declare_metric("rougeL", "ROUGE-L")
declare_metric("rougeL_recall", "ROUGE-L")
declare_metric("bleu", "BLEU")
declare_metric("fact_score", "Fact. Score", unit="score")
declare_metric("n_dropped", "Dropped", higher_is_better=False)
# unlearning metrics (offside_eval.unlearning_metrics computes them; privleak: 0 = as the reference)
for _name, _label, _better, _unit in (
        ("truth_ratio", "Truth Ratio", True, "plain"), ("forget_quality", "Forget Quality", True, "plain"),
        ("correction_rate", "Correction Rate", True, "plain"), ("correction_share", "Correction Share", True, "plain"),
        ("exact_memorization", "Exact Mem.", False, "plain"), ("extraction_strength", "Extraction Str.", False, "plain"),
        ("mia_loss_auc", "MIA AUC (LOSS)", False, "plain"), ("mia_minkpp_auc", "MIA AUC (Min-K%++)", False, "plain"),
        ("privleak_loss", "PrivLeak (LOSS)", None, "signed"), ("privleak_minkpp", "PrivLeak (Min-K%++)", None, "signed"),
        ("model_utility", "Model Utility", True, "plain")):
    declare_metric(_name, _label, _better, _unit)
