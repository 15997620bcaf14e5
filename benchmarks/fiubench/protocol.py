"""FIUBench's prompts and metrics as the authors' code computes them (github.com/gray311/VLM_Unlearned
@8e98326). Pure functions over text and per-token log-probs; the task hooks (tasks/utils.py) feed them.

Prompt (data_module.py MMDatasetQA.__getitem__, llava-phi branch): the user turn is the image, then
`question.capitalize()`; the target is `answer.capitalize()` -- a list-valued answer (the perturbed
answers) is used as written. Training (MMForgetDatasetQA) capitalizes question and answer alike.

Generation (evaluate_util.py `run_generation`): greedy, max_new_tokens 50 (config/eval.yaml), the
decoded reply cut after its first "." (`s[:s.find(".")+1]`: a reply without a "." becomes "").
- ROUGE (`eval_rouge_recall`): the cut reply cut again before its first "." (`gen[:gen.find(".")]`),
  scored against the capitalized answer with rouge_score's RougeScorer(['rouge1', 'rougeL'],
  use_stemmer=True); the *recall* of rouge1 and rougeL is kept.
- Keyword exact match (`eval_exact_match`, the paper's EM; on paraphrased questions the APE attack):
  each keyword found (lower-cased substring) in the lower-cased cut reply adds 1/len(keywords), capped at 1.

Teacher-forced losses (`get_batch_loss` after `labels[labels != -100]`, `logits[:, -n:]`): the summed
NLL of answer tokens 2..n (the shift drops the first answer token) divided by n, all the answer's tokens
(`num_token_gt`). `avg_loss` below is that number from offside's per-token log-probs of the answer.
- Probability (aggregate_eval_stat.py `get_model_utility`): forget set mean exp(-avg_loss(answer)); other
  sets mean p(answer) / (p(answer) + sum_j p(perturbed_j)), p = exp(-avg_loss).
- Truth ratio (`eval_perturbation_ratio`; aggregation in `get_model_utility`): the question with the
  paraphrased answer against the perturbed ones, s = exp(mean_j avg_loss(perturbed_j) -
  avg_loss(paraphrased)); forget set mean(min(s, 1/s)), other sets mean(max(0, 1 - 1/s)). offside
  stores R = 1/s per sample ("truth_ratio", offside's P_false / P_true orientation), so forget
  quality (`get_forget_quality`: scipy ks_2samp p-value against the retain-only model's values)
  comes out of offside-eval --reference_results unchanged (a monotone map keeps the KS p-value).
- Min-K / Min-K++ (`get_all_evals`, "mink" branch): over the answer tokens 2..n (`labels[1:]`), for
  ratios 0.1..0.5 the exp of the mean of the int(n' * ratio) lowest token log-probs (Min-K++: of
  (lp - mu) / sqrt(sigma2), mu and sigma2 the mean and variance of log p under p over the vocabulary),
  summed with weights 0.3, 0.3, 0.2, 0.1, 0.1; a ratio selecting no token gives NaN and is skipped
  (the weights are not renormalised).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from offside_eval.metrics import rouge_scorer

MAX_NEW_TOKENS = 50  # config/eval.yaml generation.max_new_tokens
MINK_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5)
MINK_WEIGHTS = (0.3, 0.3, 0.2, 0.1, 0.1)


def ask(question: str) -> str:
    return question.capitalize()


def target(answer: str) -> str:
    return answer.capitalize()


def cut_reply(reply: str) -> str:
    """run_generation's cut: up to and including the first '.', '' when there is none."""
    return reply[:reply.find(".") + 1]


def rouge_recall(reply: str, answer: str) -> dict[str, float]:
    """eval_rouge_recall on one reply (already `cut_reply`-ed) and its capitalized answer."""
    scores = rouge_scorer().score(answer, reply[:reply.find(".")])  # offside's stemmed scorer, as theirs
    return {"rouge1_recall": scores["rouge1"].recall, "rougeL_recall": scores["rougeL"].recall}


def keyword_match(reply: str, keywords: Sequence[str]) -> float:
    """eval_exact_match: the share of keywords found in the (cut) reply, case-insensitive, at most 1."""
    score = sum(1.0 / len(keywords) for key in keywords if key.lower() in reply.lower())
    return min(1.0, score)


def avg_loss(token_logprobs: Sequence[float]) -> float:
    """Summed NLL of answer tokens 2..n over n (get_batch_loss after the label shift)."""
    return -sum(token_logprobs[1:]) / len(token_logprobs)


def probability(answer_lps: Sequence[float], perturbed_lps: Sequence[Sequence[float]], normalised: bool) -> float:
    p_true = math.exp(-avg_loss(answer_lps))
    if not normalised:
        return p_true
    return p_true / (p_true + sum(math.exp(-avg_loss(lps)) for lps in perturbed_lps))


def truth_ratio(paraphrased_lps: Sequence[float], perturbed_lps: Sequence[Sequence[float]]) -> float:
    """R = 1/s = exp(avg_loss(paraphrased) - mean_j avg_loss(perturbed_j)): offside's orientation."""
    perturbed = sum(avg_loss(lps) for lps in perturbed_lps) / len(perturbed_lps)
    return math.exp(avg_loss(paraphrased_lps) - perturbed)


def truth_ratio_forget(values: Sequence[float]) -> float:
    """mean(min(s, 1/s)) with s = 1/R."""
    return float(np.mean([min(1 / r, r) for r in values]))


def truth_ratio_retain(values: Sequence[float]) -> float:
    """mean(max(0, 1 - 1/s)) = mean(max(0, 1 - R))."""
    return float(np.mean([max(0.0, 1 - r) for r in values]))


def _weighted_lowest(scores: np.ndarray) -> float:
    total = 0.0
    for ratio, weight in zip(MINK_RATIOS, MINK_WEIGHTS):
        k = int(len(scores) * ratio)
        if k:  # k == 0: the mean of nothing is NaN, which the authors skip
            total += float(np.exp(np.mean(np.sort(scores)[:k]))) * weight
    return total


def mink_scores(token_logprobs: Sequence[float], vocab_mean: Sequence[float],
                vocab_var: Sequence[float]) -> dict[str, float]:
    """The authors' Min-K and Min-K++ of one answer (tokens 2..n)."""
    lps = np.asarray(token_logprobs[1:], dtype=np.float64)
    mu, var = np.asarray(vocab_mean[1:], dtype=np.float64), np.asarray(vocab_var[1:], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        plus = (lps - mu) / np.sqrt(var)
    return {"mink": _weighted_lowest(lps), "minkpp": _weighted_lowest(plus)}
