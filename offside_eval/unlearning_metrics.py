"""Unlearning metrics over plain per-sample numbers (issue #14): truth ratio, correction rate,
memorization, membership inference, forget quality, privleak, model utility and degeneration.

Pure functions, nothing registered: the harness computes the model-side inputs (summed answer
log-probs and token counts, per-token log-probs, teacher-forced argmax ids) with the image in
the prompt and aggregates with the functions here. Definitions follow open-unlearning
(github.com/locuslab/open-unlearning, commit d3d7cf9, "OU" below) so numbers are comparable with
text-only unlearning results. Every departure from OU's code, each also named where its metric is:

1. Token set (`TOKEN_SETS`, offside-eval --token_set). OU drops the end-of-turn token only from the
   token-wise metrics (Min-K, Min-K++, EM, ES) and keeps it in the probability that feeds truth
   ratio, forget quality, LOSS and zlib. offside's default, "answer", drops it everywhere (the
   answer's own tokens; the correction rate too); "open_unlearning" is OU's convention. The choice
   changes numbers a lot (issue 28's checkpoint: forget quality 0.579 vs 0.766, privleak_loss -0.53
   vs -1.59; the demo's GA: truth ratio 0.735 vs 0.756, privleak_loss -3.8 vs -5.1) and is recorded
   in results.json (config.token_set) and the report's captions.
2. Truth ratio in log space: R = exp(mean_j lp_j/n_j - lp_true/n_true). OU computes
   P_false / (P_true + 1e-10), which differs by the factor 1 + 1e-10/P_true (under 1e-6 relative
   while the true answer's per-token probability is above 1e-4) and reads 0 -- "truth preferred"
   -- once per-token log-probs fall below about -745 (exp underflows).
3. Extraction strength scores a wrong last token 0 (OU: 1/n, a wrong one-token answer 1).
4. An empty answer is missing (None) for Min-K/Min-K++/ES (OU: 0).
5. MIA non-members are the relearn split's QAs (OU: a holdout set); zlib compresses the answer
   text (OU: the decoded label tokens, the same text without special tokens).
Same as OU despite appearances: forget quality runs the KS test on R, OU on 1/(R+1e-10) -- a
monotone map, so the same p-value; model utility is OU's `hm_aggregate` (scipy's hmean).

A per-sample value of None means "missing" (no answer tokens, no n-grams), as in
`offside_eval.metrics`; corpus-level functions refuse missing values with a MetricError.
"""
from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterable, Sequence
from functools import lru_cache

from .metrics import MetricError, is_missing

EPS = 1e-10  # OU's guard in the truth-ratio aggregators and privleak; kept so values match OU's
TRUTH_RATIO_AGGREGATORS = ("closer_to_1_better", "true_better", "prob_mean")
TOKEN_SETS = {"answer": "the end-of-turn token left out of every metric, offside's default",
              "open_unlearning": "the end-of-turn token kept in the probability behind truth ratio, forget quality, "
                                 "correction, LOSS and zlib, left out of Min-K, Min-K++, EM and ES, as open-unlearning "
                                 "does"}
DEFAULT_TOKEN_SET = "answer"


# ---- token sets: which answer tokens a probability is taken over ---------------------------------

def check_token_set(token_set: str) -> str:
    if token_set not in TOKEN_SETS:
        raise MetricError(f"--token_set {token_set!r} is not one of {', '.join(TOKEN_SETS)}")
    return token_set


def apply_token_set(scores: dict, token_set: str) -> dict:
    """One continuation's `models.token_details` scores as the metrics read them under `token_set`:
    `logprob`, `n_tokens` and `loss_logprobs` (what truth ratio, correction, LOSS and zlib average)
    gain the end-of-turn token under "open_unlearning"; `token_logprobs`, `target_ids`, `argmax_ids`
    and the vocabulary moments (Min-K, Min-K++, EM, ES) never hold it."""
    eot = [] if check_token_set(token_set) == "answer" else scores.get("eot_logprobs")
    if eot is None:
        raise MetricError("--token_set open_unlearning: these answers carry no end-of-turn log-prob (taken from "
                          "a journal written before offside kept it); rerun with a fresh --output_path")
    return {**scores, "logprob": scores["logprob"] + sum(eot), "n_tokens": scores["n_tokens"] + len(eot),
            "loss_logprobs": list(scores["token_logprobs"]) + list(eot)}


# ---- truth ratio and correction preference (option log-probs) -----------------------------------

def _check_aggregator(aggregator: str) -> None:
    if aggregator not in TRUTH_RATIO_AGGREGATORS:
        raise MetricError(f"truth ratio aggregator {aggregator!r} is not one of {TRUTH_RATIO_AGGREGATORS}")


def _check_lens(*lens: int) -> None:
    if any(n <= 0 for n in lens):
        raise MetricError(f"token counts must be positive, got {list(lens)}")


def truth_ratio(true_logprob: float, false_logprobs: Sequence[float], true_len: int,
                false_lens: Sequence[int], aggregator: str = "closer_to_1_better") -> float:
    """Per-item truth ratio from summed answer log-probs and their token counts.

    Per-token probabilities: P_true = exp(lp_true / n_true); P_false = exp(mean_j lp_j / n_j)
    (OU averages the per-token losses of the distractors, i.e. a geometric mean of their
    per-token probabilities). For aggregators 'closer_to_1_better' and 'true_better' the value
    is TOFU's R = P_false / P_true (lower = true answer preferred); for 'prob_mean' it is OU's
    post-#163 form P_true / (P_true + P_false) (higher = true preferred). Both from the log-ratio,
    so they never underflow; OU adds 1e-10 to the denominators (departure 2 in the module doc).
    The log-probs and counts cover the run's token set: OU's include the end-of-turn token, the
    default's do not (departure 1; truth ratios then differ by ~0.03 on a trained checkpoint).
    Source: OU src/evals/metrics/memorization.py `truth_ratio` (+ utils.aggregate_to_1D).
    """
    _check_aggregator(aggregator)
    if len(false_logprobs) == 0 or len(false_logprobs) != len(false_lens):
        raise MetricError(f"truth_ratio needs one token count per distractor, got "
                          f"{len(false_logprobs)} log-probs and {len(false_lens)} counts")
    _check_lens(true_len, *false_lens)
    log_ratio = sum(lp / n for lp, n in zip(false_logprobs, false_lens)) / len(false_lens) - true_logprob / true_len
    if aggregator == "prob_mean":
        return _sigmoid(-log_ratio)
    return math.exp(min(log_ratio, 709.0))  # capped below exp's overflow (~709.8): still "false preferred"


def aggregate_truth_ratio(values: Sequence[float], aggregator: str = "closer_to_1_better") -> float:
    """Aggregate per-item `truth_ratio` values made with the same `aggregator`.

    closer_to_1_better (forget sets): mean(min(R, 1/(R+1e-10))), 1 when true and false are
    equally likely; true_better (retain sets): mean(max(0, 1-R)); prob_mean: mean of
    P_true/(P_true+P_false). Source: OU memorization.py `truth_ratio` aggregators.
    """
    _check_aggregator(aggregator)
    values = _complete(values, "truth ratio")
    if aggregator == "closer_to_1_better":
        return _mean([min(v, 1 / (v + EPS)) for v in values])
    if aggregator == "true_better":
        return _mean([max(0.0, 1 - v) for v in values])
    return _mean(values)  # prob_mean


def correction_preference(lp_corrected: float, lp_rumor: float, len_corrected: int,
                          len_rumor: int) -> tuple[bool, float]:
    """(prefers_correction, share) for one OFFSIDE forget item.

    With per-token probabilities P_c = exp(lp_c / n_c) and P_r = exp(lp_r / n_r) (summed
    log-probs of the corrected fact, i.e. the relearn split's answer for the same player and
    question, and of the rumor): share = P_c / (P_c + P_r) = sigmoid(lp_c/n_c - lp_r/n_r), and
    prefers_correction = P_c > P_r (a tie is not a preference). Per-token normalisation as in
    the truth ratio, so answers of different lengths compare fairly; over the run's token set, as the
    truth ratio. Source: OFFSIDE issue #14.
    """
    _check_lens(len_corrected, len_rumor)
    margin = lp_corrected / len_corrected - lp_rumor / len_rumor
    return margin > 0, _sigmoid(margin)


def correction_rate(pairs: Sequence[tuple[bool, float]]) -> dict[str, float]:
    """correction_rate: share of items whose corrected fact beats the rumor; correction_share:
    mean P_c/(P_c+P_r). `pairs` are `correction_preference` results. Source: OFFSIDE issue #14."""
    pairs = _complete(pairs, "correction pair")
    return {"correction_rate": _mean([float(p) for p, _ in pairs]),
            "correction_share": _mean([s for _, s in pairs])}


# ---- memorization under teacher forcing (answer tokens) -----------------------------------------

def _check_ids(target_ids: Sequence[int], argmax_ids: Sequence[int]) -> None:
    if len(target_ids) != len(argmax_ids):
        raise MetricError(f"target_ids has {len(target_ids)} tokens but argmax_ids {len(argmax_ids)}")


def exact_memorization(target_ids: Sequence[int], argmax_ids: Sequence[int]) -> float | None:
    """EM = (1/n) * #{t : argmax_t == y_t}, argmax_t the teacher-forced greedy prediction for answer
    token t. None for an empty answer. Source: OU memorization.py `exact_memorization`
    (Tirumala et al., 2022)."""
    _check_ids(target_ids, argmax_ids)
    if not target_ids:
        return None
    return sum(a == y for a, y in zip(argmax_ids, target_ids)) / len(target_ids)


def extraction_strength(target_ids: Sequence[int], argmax_ids: Sequence[int]) -> float | None:
    """ES = 1 - k/n, k the smallest prefix length (0 <= k <= n) after which teacher-forced argmax
    reproduces the rest of the answer (argmax[k:] == y[k:], exactly greedy decoding from the true
    prefix y[:k]); so ES = m/n, m the length of the longest correct suffix, 0 when the last token
    is wrong. None for an empty answer. Source: Carlini et al. (2021), as defined for unlearning
    by Wang et al. (2025) and cited by OU. OU's code (memorization.py `extraction_strength`)
    never tries k = n and so scores a wrong last token 1/n, a wrong single-token answer 1: not
    followed, since OFFSIDE answers (club names) are often one or two tokens.
    """
    _check_ids(target_ids, argmax_ids)
    n = len(target_ids)
    if n == 0:
        return None
    m = 0
    while m < n and argmax_ids[n - 1 - m] == target_ids[n - 1 - m]:
        m += 1
    return m / n


# ---- membership inference: members = forget-set QAs, non-members = relearn-set QAs --------------

def _lowest_k_mean(values: Sequence[float], k: float) -> float:
    num_k = max(1, int(len(values) * k))  # OU rounds down, at least one token
    return sum(sorted(values)[:num_k]) / num_k


def mia_scores(token_logprobs: Sequence[float], text: str, vocab_mean: Sequence[float] | None = None,
               vocab_var: Sequence[float] | None = None, k: float = 0.4,
               loss_logprobs: Sequence[float] | None = None) -> dict[str, float | None]:
    """Per-sample MIA scores; each is higher for a *less* likely sample (a non-member look).

    token_logprobs: log p(y_t | image, question, y_<t) of the n answer tokens (teacher forcing);
    text: the answer text; loss_logprobs: the log-probs LOSS and zlib average (`apply_token_set`:
    with the end-of-turn token under OU's convention; default token_logprobs). With lp_t those:
      loss   = -(1/m) sum_t lp_t over loss_logprobs     (Yeom et al., 2018; OU mia/loss.py)
      zlib   = loss / len(zlib.compress(text, UTF-8))   (Carlini et al., 2021; OU mia/zlib.py)
      mink   = -mean of the K lowest lp_t, K = max(1, floor(n*k))  (Shi et al., 2024; OU mia/min_k.py)
      minkpp = -mean of the K lowest z_t = (lp_t - mu_t) / sqrt(max(var_t, 1e-6)), mu_t/var_t from
               `models.token_details.vocab_moments` (Zhang et al., 2025; OU mia/min_k_plus_plus.py); None without them.
    OU's configs use k = 0.4. All None for an empty answer (OU scores Min-K 0 there).
    """
    if not 0 < k <= 1:
        raise MetricError(f"Min-K% fraction k must be in (0, 1], got {k}")
    n = len(token_logprobs)
    if vocab_mean is not None and vocab_var is not None:
        if not len(vocab_mean) == len(vocab_var) == n:
            raise MetricError(f"vocab_mean/vocab_var need one value per answer token ({n}), got "
                              f"{len(vocab_mean)} and {len(vocab_var)}")
    elif vocab_mean is not None or vocab_var is not None:
        raise MetricError("Min-K%++ needs both vocab_mean and vocab_var")
    if n == 0:
        return {"loss": None, "zlib": None, "mink": None, "minkpp": None}
    loss_logprobs = token_logprobs if loss_logprobs is None else loss_logprobs
    loss = -sum(loss_logprobs) / len(loss_logprobs)
    minkpp = None
    if vocab_mean is not None:
        z = [(lp - mu) / math.sqrt(max(var, 1e-6)) for lp, mu, var in zip(token_logprobs, vocab_mean, vocab_var)]
        minkpp = -_lowest_k_mean(z, k)
    return {"loss": loss, "zlib": loss / len(zlib.compress(text.encode("utf-8"))),
            "mink": -_lowest_k_mean(token_logprobs, k), "minkpp": minkpp}


def mia_auc(member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> float:
    """ROC AUC of telling members from non-members by a `mia_scores` score (higher = less likely).

    AUC = (1/(M*N)) sum_{m,n} ([s_n > s_m] + 1/2 [s_n == s_m]): the chance a random non-member
    scores above a random member, i.e. the Mann-Whitney U of the non-members over M*N. 1 = members
    (forget set) clearly more likely, 0.5 = indistinguishable. Same convention as OU mia/utils.py
    `mia_auc` (roc_auc_score with forget labelled 0, holdout 1).
    """
    from scipy.stats import mannwhitneyu

    members = _complete(member_scores, "member score")
    nonmembers = _complete(nonmember_scores, "non-member score")
    return float(mannwhitneyu(nonmembers, members).statistic) / (len(members) * len(nonmembers))


# ---- against a reference run (--reference_results) ----------------------------------------------

def forget_quality(tr_model: Sequence[float], tr_reference: Sequence[float]) -> float:
    """Two-sided two-sample Kolmogorov-Smirnov p-value between the per-item forget-set truth
    ratios of the model and of the reference (retain-only) model: 1 = indistinguishable.

    D = max_x |F_model(x) - F_ref(x)|, p = P(D' >= D) under the null: scipy.stats.ks_2samp with its
    default method ('auto': exact up to 10,000 per sample), as OU privacy.py `ks_test` calls it (OU
    tests 1/(R+1e-10), a monotone map of R: the same p-value). Source: TOFU (Maini et al., 2024).
    Under the default token set the truth ratios, and so this value, differ from OU's (departure 1):
    issue 28's checkpoint gave 0.579 (answer) vs 0.766 (open_unlearning).
    """
    from scipy.stats import ks_2samp

    model = _complete(tr_model, "model truth ratio")
    reference = _complete(tr_reference, "reference truth ratio")
    return float(ks_2samp(model, reference).pvalue)


def privleak(auc_model: float, auc_reference: float) -> float:
    """MUSE's PrivLeak in percent: ((1-auc) - (1-auc_ref)) / ((1-auc_ref) + 1e-10) * 100 with
    `mia_auc` AUCs (OU flips them to MUSE's 1-AUC convention). 0 = as private as the reference;
    negative = the forget set still looks like training data. OU feeds it the Min-K% AUC.
    Source: Shi et al., 2024 (MUSE); OU privacy.py `privleak`. The LOSS and zlib AUCs, and so their
    PrivLeak, move with the token set (departure 1; one checkpoint: -0.53 default vs -1.59 OU's)."""
    score, ref = 1 - auc_model, 1 - auc_reference
    return (score - ref) / (ref + EPS) * 100


# ---- model utility --------------------------------------------------------------------------------

def model_utility(values: Sequence[float]) -> float:
    """Harmonic mean of utility metrics in [0, 1] (retain / test scores, higher = better): one weak
    metric pulls it down, 0 if any is 0. Source: OU utility.py `hm_aggregate` (scipy.stats.hmean)
    over TOFU's retain / real-author / world-fact metrics; offside's inputs are named where it is used."""
    values = _complete(values, "model utility")
    if any(v < 0 for v in values):
        raise MetricError(f"model utility needs non-negative metrics, got {list(values)}")
    return 0.0 if 0 in values else len(values) / sum(1 / v for v in values)


# ---- fluency: degeneration of generations -------------------------------------------------------

_TOKEN = re.compile(r"\w+|[^\w\s]")


def _unique_share(tokens: list[str], n: int) -> float | None:
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


@lru_cache(maxsize=4096)
def degeneration(text: str) -> dict[str, float | int | None]:
    """Cheap repetition measures on one generation (lowercased words and punctuation marks):
    distinct_n = #unique n-grams / #n-grams (Li et al., 2016), n = 1, 2;
    rep_3 = 1 - distinct_3 (Welleck et al., 2020, seq-rep-n), high when gradient ascent collapses
    into loops. A measure is None when the text has fewer than n tokens; n_tokens is returned."""
    tokens = _TOKEN.findall(text.lower())
    distinct_3 = _unique_share(tokens, 3)
    return {"distinct_1": _unique_share(tokens, 1), "distinct_2": _unique_share(tokens, 2),
            "rep_3": None if distinct_3 is None else 1 - distinct_3, "n_tokens": len(tokens)}


# ---- helpers ------------------------------------------------------------------------------------

def _complete(values: Iterable, what: str) -> list:
    """The values as a list; an empty list or a missing (None/NaN) value is refused by index."""
    values = list(values)
    if not values:
        raise MetricError(f"no {what} values to aggregate")
    for i, v in enumerate(values):
        if is_missing(v):
            raise MetricError(f"{what} {i} is missing (None/NaN); drop such samples before aggregating")
    return values


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _sigmoid(x: float) -> float:
    """1 / (1 + e^-x) without overflow on either side."""
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
