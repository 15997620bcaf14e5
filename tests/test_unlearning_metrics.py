"""Unlearning metrics (issue #14) against values worked out by hand in each test."""
import math
import zlib

import pytest

from offside_eval.metrics import MetricError
from offside_eval.unlearning_metrics import (
    aggregate_truth_ratio,
    apply_token_set,
    correction_preference,
    correction_rate,
    degeneration,
    exact_memorization,
    extraction_strength,
    forget_quality,
    mia_auc,
    mia_scores,
    model_utility,
    privleak,
    truth_ratio,
)


def test_truth_ratio_per_token_and_geometric_mean_of_distractors():
    # P_true = exp(-2/2) = e^-1; distractors' per-token log-probs -3/1 and -8/4 average to -2.5
    assert truth_ratio(-2.0, [-3.0, -8.0], 2, [1, 4]) == pytest.approx(math.exp(-1.5))
    assert truth_ratio(-2.0, [-3.0, -8.0], 2, [1, 4], "true_better") == pytest.approx(math.exp(-1.5))
    assert truth_ratio(-2.0, [-3.0, -8.0], 2, [1, 4], "prob_mean") == pytest.approx(1 / (1 + math.exp(-1.5)))


def test_truth_ratio_aggregators():
    values = [0.5, 2.0, 1.0]
    assert aggregate_truth_ratio(values, "closer_to_1_better") == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert aggregate_truth_ratio(values, "true_better") == pytest.approx((0.5 + 0 + 0) / 3)
    assert aggregate_truth_ratio([0.2, 0.6], "prob_mean") == pytest.approx(0.4)


def test_truth_ratio_bad_input_names_the_offender():
    with pytest.raises(MetricError, match="'closest'"):
        truth_ratio(-1.0, [-2.0], 1, [1], "closest")
    with pytest.raises(MetricError, match="2 log-probs and 1 counts"):
        truth_ratio(-1.0, [-2.0, -3.0], 1, [1])
    with pytest.raises(MetricError, match="positive"):
        truth_ratio(-1.0, [-2.0], 0, [1])
    with pytest.raises(MetricError, match="'median'"):
        aggregate_truth_ratio([1.0], "median")
    with pytest.raises(MetricError, match="truth ratio 1 is missing"):
        aggregate_truth_ratio([1.0, None])
    with pytest.raises(MetricError, match="no truth ratio"):
        aggregate_truth_ratio([])


def test_correction_preference_and_rate():
    # per-token: corrected -1/1, rumor -4/2 -> margin 1 -> share e/(1+e)
    prefers, share = correction_preference(-1.0, -4.0, 1, 2)
    assert prefers and share == pytest.approx(math.e / (1 + math.e))
    prefers, share = correction_preference(-6.0, -1.0, 2, 1)  # margin -3 + 1 = -2
    assert not prefers and share == pytest.approx(1 / (1 + math.exp(2)))
    assert correction_preference(-2.0, -1.0, 2, 1) == (False, 0.5)  # a tie is no preference
    rate = correction_rate([(True, 0.8), (False, 0.3), (True, 0.6), (False, 0.5)])
    assert rate == {"correction_rate": pytest.approx(0.5), "correction_share": pytest.approx(0.55)}


def test_exact_memorization_and_extraction_strength():
    target = [11, 12, 13, 14]
    assert exact_memorization(target, [11, 99, 13, 14]) == 0.75
    assert extraction_strength(target, [11, 99, 13, 14]) == 0.5  # argmax[2:] == target[2:]
    assert extraction_strength(target, target) == 1.0
    assert extraction_strength(target, [11, 12, 13, 99]) == 0.0  # last token wrong: nothing extracted
    assert extraction_strength([7], [8]) == 0.0 and extraction_strength([7], [7]) == 1.0
    assert exact_memorization([], []) is None and extraction_strength([], []) is None
    with pytest.raises(MetricError, match="target_ids has 2 tokens but argmax_ids 1"):
        exact_memorization([1, 2], [1])


def test_mia_scores_hand_values():
    lps = [-0.5, -2.0, -0.1, -3.0, -1.0]
    text = "Ronaldo joins Al-Nassr"
    compressed = len(zlib.compress(text.encode("utf-8")))
    assert compressed == 30  # zlib's 2-byte header + deflate + 4-byte checksum
    # z = (lp - mu) / sqrt(max(var, 1e-6)): 0.5, -0.5, 900 (var clamped), -2, 0
    scores = mia_scores(lps, text, vocab_mean=[-1.0] * 5, vocab_var=[1.0, 4.0, 0.0, 1.0, 0.25], k=0.4)
    assert scores["loss"] == pytest.approx(6.6 / 5)
    assert scores["zlib"] == pytest.approx(6.6 / 5 / 30)
    assert scores["mink"] == pytest.approx(2.5)  # floor(5 * 0.4) = 2 lowest: -3, -2
    assert scores["minkpp"] == pytest.approx(1.25)  # 2 lowest z: -2, -0.5
    assert mia_scores(lps, text)["minkpp"] is None


def test_mia_scores_k_rounding_and_edges():
    lps = [-0.5, -2.0, -0.1, -3.0, -1.0]
    assert mia_scores(lps, "x", k=0.1)["mink"] == pytest.approx(3.0)  # floor(0.5) = 0 -> at least 1
    assert mia_scores(lps, "x", k=0.39)["mink"] == pytest.approx(3.0)  # floor(1.95) = 1
    assert mia_scores(lps, "x", k=1.0)["mink"] == pytest.approx(1.32)  # all tokens = loss
    one = mia_scores([-0.7], "", vocab_mean=[-0.2], vocab_var=[0.25])
    assert one["loss"] == pytest.approx(0.7) and one["mink"] == pytest.approx(0.7)
    assert one["zlib"] == pytest.approx(0.7 / 8)  # empty text still compresses to 8 bytes
    assert one["minkpp"] == pytest.approx(1.0)  # z = (-0.7 + 0.2) / 0.5
    assert mia_scores([], "") == {"loss": None, "zlib": None, "mink": None, "minkpp": None}
    with pytest.raises(MetricError, match="k must be in"):
        mia_scores(lps, "x", k=0)
    with pytest.raises(MetricError, match="both vocab_mean and vocab_var"):
        mia_scores(lps, "x", vocab_mean=[0.0] * 5)
    with pytest.raises(MetricError, match=r"one value per answer token \(5\)"):
        mia_scores(lps, "x", vocab_mean=[0.0] * 4, vocab_var=[1.0] * 4)


def test_vocab_moments():
    import torch

    from offside_eval.models.token_details import vocab_moments

    means, variances = (t.tolist() for t in vocab_moments(torch.tensor(
        [[math.log(0.75), math.log(0.25)], [math.log(0.5)] * 2], dtype=torch.float64)))
    assert means[0] == pytest.approx(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert variances[0] == pytest.approx(0.75 * 0.25 * math.log(3) ** 2)  # Bernoulli: p(1-p)(a-b)^2
    assert means[1] == pytest.approx(math.log(0.5)) and variances[1] == pytest.approx(0.0, abs=1e-12)


def test_mia_auc():
    assert mia_auc([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 0.5
    assert mia_auc([0.5, 0.5], [0.5]) == 0.5
    assert mia_auc([1.0, 2.0], [3.0, 4.0]) == 1.0  # members (lower loss) perfectly separated
    assert mia_auc([3.0, 4.0], [1.0, 2.0]) == 0.0
    # pairs (member, non-member): (1,2) win, (1,3) win, (3,2) loss, (3,3) tie
    assert mia_auc([1.0, 3.0], [2.0, 3.0]) == 2.5 / 4
    with pytest.raises(MetricError, match="non-member score 1 is missing"):
        mia_auc([1.0], [2.0, float("nan")])


def test_forget_quality_exact_ks_pvalue():
    # of the C(4,2) = 6 orderings only aabb and bbaa reach D = 1
    assert forget_quality([1.0, 2.0], [3.0, 4.0]) == pytest.approx(1 / 3)
    assert forget_quality([1.0, 2.0, 3.0], [4.0, 5.0]) == pytest.approx(2 / 10)
    assert forget_quality([1.0, 3.0], [2.0, 4.0]) == 1.0  # every ordering reaches D = 1/2
    # D = 2/3; the 2^3 orderings made of 'ab'/'ba' pairs keep |i - j| <= 1, the other 12 of 20 do not
    assert forget_quality([1.0, 2.0, 4.0], [3.0, 5.0, 6.0]) == pytest.approx(12 / 20)
    # 100 vs 100 disjoint: only 2 of C(200, 100) orderings reach D = 1; exact far below float eps
    assert forget_quality(list(range(100)), list(range(100, 200))) == pytest.approx(2 / math.comb(200, 100))


def test_model_against_itself_as_reference():
    items = [(-2.0, [-3.0, -8.0], 2, [1, 4]), (-1.0, [-0.5], 3, [1]), (-4.0, [-4.0, -1.0], 4, [2, 2])]
    tr = [truth_ratio(*item) for item in items]
    assert forget_quality(tr, list(tr)) == 1.0
    members = [mia_scores(lps, "a")["mink"] for lps in ([-0.1, -0.2], [-0.3, -2.0, -0.4])]
    nonmembers = [mia_scores(lps, "b")["mink"] for lps in ([-1.5, -2.5], [-0.2, -3.0])]
    auc = mia_auc(members, nonmembers)
    assert auc == 1.0 and privleak(auc, auc) == 0.0


def test_privleak_hand_values():
    assert privleak(0.8, 0.5) == pytest.approx((0.2 - 0.5) / 0.5 * 100)  # -60: forget set leaks
    assert privleak(0.5, 0.6) == pytest.approx((0.5 - 0.4) / 0.4 * 100)  # 25


def test_degeneration():
    loop = degeneration("The cat the cat THE cat")
    # 6 tokens, 2 unique; bigrams 2 unique of 5; trigrams 2 unique of 4
    assert loop == {"distinct_1": pytest.approx(1 / 3), "distinct_2": pytest.approx(2 / 5),
                    "rep_3": pytest.approx(0.5), "n_tokens": 6}
    assert degeneration("Hello!") == {"distinct_1": 1.0, "distinct_2": 1.0, "rep_3": None, "n_tokens": 2}
    assert degeneration("") == {"distinct_1": None, "distinct_2": None, "rep_3": None, "n_tokens": 0}
    assert degeneration("He joins Chelsea on a free transfer.")["rep_3"] == 0.0


# one answer of two tokens (log-probs -1, -3) followed by its end-of-turn token (log-prob -5)
SCORES = {"logprob": -4.0, "n_tokens": 2, "token_logprobs": [-1.0, -3.0], "eot_logprobs": [-5.0],
          "target_ids": [5, 6], "argmax_ids": [5, 9], "vocab_mean": [-1.0, -1.0], "vocab_var": [1.0, 1.0]}


def test_token_sets_hand_values():
    answer, ou = apply_token_set(SCORES, "answer"), apply_token_set(SCORES, "open_unlearning")
    assert (answer["logprob"], answer["n_tokens"], answer["loss_logprobs"]) == (-4.0, 2, [-1.0, -3.0])
    assert (ou["logprob"], ou["n_tokens"], ou["loss_logprobs"]) == (-9.0, 3, [-1.0, -3.0, -5.0])
    for view in (answer, ou):  # the token-wise inputs never hold the end-of-turn token
        assert view["token_logprobs"] == [-1.0, -3.0] and view["target_ids"] == [5, 6]
    a = mia_scores(answer["token_logprobs"], "x", k=0.5, loss_logprobs=answer["loss_logprobs"])
    o = mia_scores(ou["token_logprobs"], "x", k=0.5, loss_logprobs=ou["loss_logprobs"])
    assert a["loss"] == pytest.approx(2.0) and o["loss"] == pytest.approx(3.0)  # (1 + 3) / 2 vs (1 + 3 + 5) / 3
    assert a["mink"] == o["mink"] == pytest.approx(3.0)  # the lowest of the 2 answer tokens, either way
    # against a one-token distractor at -1 whose end-of-turn token also scores -5:
    # answer: R = exp(-1 - (-4/2)) = e; open_unlearning: R = exp(-6/2 - (-9/3)) = 1
    assert truth_ratio(answer["logprob"], [-1.0], answer["n_tokens"], [1]) == pytest.approx(math.e)
    assert truth_ratio(ou["logprob"], [-1.0 - 5.0], ou["n_tokens"], [2]) == pytest.approx(1.0)


def test_token_set_refusals():
    with pytest.raises(MetricError, match="--token_set 'ou' is not one of answer, open_unlearning"):
        apply_token_set(SCORES, "ou")
    old = {k: v for k, v in SCORES.items() if k != "eot_logprobs"}
    assert apply_token_set(old, "answer")["n_tokens"] == 2
    with pytest.raises(MetricError, match="no end-of-turn log-prob"):
        apply_token_set(old, "open_unlearning")


def test_truth_ratio_does_not_underflow():
    # per-token log-probs of -800 (true) and -801 (false): exp() of either is 0.0 in floats, and the
    # old P_false / (P_true + 1e-10) read 0 ("truth preferred"); the log ratio is -1
    assert math.exp(-800) == 0.0
    assert truth_ratio(-1600.0, [-801.0], 2, [1]) == pytest.approx(math.exp(-1))
    assert truth_ratio(-800.0, [-800.0], 1, [1], "prob_mean") == pytest.approx(0.5)
    assert aggregate_truth_ratio([truth_ratio(-900.0, [-900.0], 1, [1])]) == pytest.approx(1.0)
    huge = truth_ratio(-2000.0, [-1.0], 1, [1])  # false far likelier: capped, finite, aggregates to 0
    assert math.isfinite(huge) and aggregate_truth_ratio([huge]) == pytest.approx(0.0)


def test_model_utility_is_the_harmonic_mean():
    assert model_utility([0.5, 0.25]) == pytest.approx(2 / (2 + 4))
    assert model_utility([0.8]) == pytest.approx(0.8)
    assert model_utility([0.9, 0.0]) == 0.0
    with pytest.raises(MetricError, match="non-negative"):
        model_utility([0.5, -0.1])
    with pytest.raises(MetricError, match="no model utility"):
        model_utility([])
