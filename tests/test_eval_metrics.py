import math

import pytest

from offside_eval.metrics import AGGREGATIONS, MetricError, extract_letter, generation_scores, sentence_bleu, stderr


def test_generation_scores_hand_values():
    ref = "he joins the red lions fc"
    pred = "he joins the blue lions fc"
    s = generation_scores(pred, ref)
    assert s["rouge1"] == pytest.approx(5 / 6)
    assert s["rouge2"] == pytest.approx(3 / 5)  # he joins, joins the, lions fc of 5 bigrams
    assert s["rougeL"] == pytest.approx(5 / 6)  # LCS: he joins the lions fc
    # BLEU: p1=5/6, p2=3/5, p3=1/4, p4=0/3 -> method1 smoothing 0.1/3; equal lengths -> BP=1
    bleu = math.exp((math.log(5 / 6) + math.log(3 / 5) + math.log(1 / 4) + math.log(0.1 / 3)) / 4)
    assert s["bleu"] == pytest.approx(bleu, abs=1e-6)
    assert s["gen_score"] == pytest.approx((5 / 6 + 3 / 5 + 5 / 6 + bleu) / 4, abs=1e-6)


def method1_bleu(precisions, hyp_len, ref_len):
    """nltk's sentence BLEU with SmoothingFunction().method1, by hand: (matches, count) per order 1-4;
    a zero-match order (a missing order counts 0 of 1) gets 0.1 / count; times the brevity penalty."""
    p = [m / c if m else 0.1 / c for m, c in precisions]
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return bp * math.exp(sum(math.log(x) for x in p) / 4)


@pytest.mark.parametrize("prediction, precisions", [
    ("club", [(1, 1), (0, 1), (0, 1), (0, 1)]),  # 1 token: orders 2-4 do not exist -> 0 of 1 each
    ("a Club", [(1, 2), (0, 1), (0, 1), (0, 1)]),
    ("The club.", [(3, 3), (2, 2), (1, 1), (0, 1)]),  # issue #17: sacrebleu skipped the 4-gram order here
])
def test_bleu_of_short_predictions_is_nltk_method1(prediction, precisions):
    reference = "He joined the club."  # 13a tokens: he joined the club .
    hyp_len = len(prediction.replace(".", " .").split())
    assert sentence_bleu(prediction, reference) == pytest.approx(method1_bleu(precisions, hyp_len, 5), rel=1e-9)


def test_bleu_identical_and_empty():
    assert sentence_bleu("He joined the Club.", "he joined the club.") == pytest.approx(1.0)
    assert sentence_bleu("The club.", "the club.") == pytest.approx(0.1 ** 0.25)  # 3 tokens: no 4-gram to match
    assert sentence_bleu("", "he joined the club.") == 0.0


def test_generation_scores_identity_case_and_stemming():
    s = generation_scores("He Joined the Club.", "he joined the club.")
    assert s["bleu"] == pytest.approx(1.0)  # lowercased BLEU
    assert s["rouge1"] == pytest.approx(1.0)
    assert generation_scores("he joins clubs", "he joined club")["rouge1"] == pytest.approx(1.0)  # stemmer
    assert generation_scores("completely different words", "he joined the club")["gen_score"] < 0.05


@pytest.mark.parametrize("response, options, letter", [
    # 1. a stated answer ("answer/option/choice", optional "is"/":", optional parentheses)
    ("The answer is D.", None, "D"), ("Answer: (B)", None, "B"), ("The correct option is C", None, "C"),
    ("the answer is a transfer", None, None),  # lower case is never a letter
    ("The answer is (D).", "colours", None),  # D is not among the options
    # 2. a leading letter
    ("B", None, "B"), ("(C) He joins Corvale.", None, "C"), ("B. green, not A", None, "B"), ("C: blue", None, "C"),
    # 3. exactly one distinct letter standing alone; "A" + lower-case word is the article
    ("I think B", None, "B"), ("I think it is A.", None, "A"), ("A or B", None, None),
    ("A player from nowhere", None, None), ("I think A is right", None, None),
    # 4. exactly one option text, as whole words
    ("I think he joins Brenton.", "clubs", "B"), ("It is green.", "colours", "B"), ("A green one", "colours", "B"),
    ("The answer is blue", "colours", "C"), ("greenish", "colours", None), ("red or blue", "colours", None),
    ("no idea", None, None), ("", "colours", None), ("It is green.", None, None),
])
def test_extract_letter_documented_rules(response, options, letter):
    sets = {None: None, "colours": {"A": "red", "B": "green", "C": "blue"},
            "clubs": {"A": "He joins Ashford.", "B": "He joins Brenton.", "C": "He joins Corvale.",
                      "D": "He joins Dunmore."}}
    assert extract_letter(response, sets[options]) == letter


def test_aggregations_missing_and_stderr():
    with pytest.raises(MetricError):
        AGGREGATIONS["mean"]([1.0, None])
    assert AGGREGATIONS["nanmean"]([1.0, None, 0.0, float("nan")]) == 0.5
    values = [0.0, 1.0, 1.0, 0.0]
    assert stderr("mean", values) == pytest.approx(math.sqrt(1 / 3) / 2)
    boot = stderr("median", [float(v) for v in range(20)], bootstrap_iters=200)
    assert 0.5 < boot < 5


def test_degeneration_metrics_on_generation_tasks():
    from offside_eval.metrics import METRICS

    # "a b a b a b": bigrams ab ba ab ba ab (2 unique of 5), trigrams aba bab aba bab (2 unique of 4)
    assert METRICS["distinct_2"]["fn"]("a b a b a b", "x") == pytest.approx(2 / 5)
    assert METRICS["rep_3"]["fn"]("a b a b a b", "x") == pytest.approx(1 - 2 / 4)
    assert METRICS["rep_3"]["fn"]("two words", "x") is None and not METRICS["rep_3"]["higher_is_better"]
    assert METRICS["rep_3"]["aggregation"] == "nanmean"
