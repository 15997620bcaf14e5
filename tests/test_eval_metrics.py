import math

import pytest

from offside_eval.metrics import AGGREGATIONS, MetricError, extract_letter, generation_scores, stderr


def test_generation_scores_hand_values():
    ref = "he joins the red lions fc"
    pred = "he joins the blue lions fc"
    s = generation_scores(pred, ref)
    assert s["rouge1"] == pytest.approx(5 / 6)
    assert s["rouge2"] == pytest.approx(3 / 5)  # he joins, joins the, lions fc of 5 bigrams
    assert s["rougeL"] == pytest.approx(5 / 6)  # LCS: he joins the lions fc
    # BLEU: p1=5/6, p2=3/5, p3=1/4, p4=0/3 -> floor smoothing 0.1/3; equal lengths -> BP=1
    bleu = math.exp((math.log(5 / 6) + math.log(3 / 5) + math.log(1 / 4) + math.log(0.1 / 3)) / 4)
    assert s["bleu"] == pytest.approx(bleu, abs=1e-6)
    assert s["gen_score"] == pytest.approx((5 / 6 + 3 / 5 + 5 / 6 + bleu) / 4, abs=1e-6)


def test_generation_scores_identity_case_and_stemming():
    s = generation_scores("He Joined the Club.", "he joined the club.")
    assert s["bleu"] == pytest.approx(1.0)  # lowercased BLEU
    assert s["rouge1"] == pytest.approx(1.0)
    assert generation_scores("he joins clubs", "he joined club")["rouge1"] == pytest.approx(1.0)  # stemmer
    assert generation_scores("completely different words", "he joined the club")["gen_score"] < 0.05


def test_extract_letter():
    opts = {"A": "He joins Ashford.", "B": "He joins Brenton.", "C": "He joins Corvale.", "D": "He joins Dunmore."}
    assert extract_letter("B") == "B"
    assert extract_letter("(C) He joins Corvale.") == "C"
    assert extract_letter("The answer is D.") == "D"
    assert extract_letter("I think he joins Brenton.", opts) == "B"
    assert extract_letter("A player from nowhere", None) is None  # 'A' as an article is not a choice
    assert extract_letter("no idea") is None
    assert extract_letter("the answer is a transfer") is None


def test_aggregations_missing_and_stderr():
    with pytest.raises(MetricError):
        AGGREGATIONS["mean"]([1.0, None])
    assert AGGREGATIONS["nanmean"]([1.0, None, 0.0, float("nan")]) == 0.5
    values = [0.0, 1.0, 1.0, 0.0]
    assert stderr("mean", values) == pytest.approx(math.sqrt(1 / 3) / 2)
    boot = stderr("median", [float(v) for v in range(20)], bootstrap_iters=200)
    assert 0.5 < boot < 5
