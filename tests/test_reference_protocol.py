"""The OFFSIDE authors' protocol pieces (benchmarks/offside/tasks/reference.py) against hand computations."""
import importlib.util
import math
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("offside_reference", Path(__file__).parents[1] / "benchmarks/offside/tasks/reference.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


def test_bleu_is_method1_on_word_tokens_for_short_predictions():
    # reference tokens: he joins the club . (5); prediction: the club . (3)
    # p1 = 3/3, p2 = 2/2, p3 = 1/1, p4 = no 4-gram -> 0/1 -> method1: 0.1/1; BP = exp(1 - 5/3)
    want = math.exp(1 - 5 / 3) * (1 * 1 * 1 * 0.1) ** 0.25
    assert ref.bleu("He joins the club.", "The club.") == pytest.approx(want, abs=1e-12)
    # one token, matching: p1 = 1, p2..p4 = 0/1 -> 0.1 each; BP = exp(1 - 5/1)
    assert ref.bleu("He joins the club.", "club") == pytest.approx(math.exp(1 - 5) * (0.1 ** 3) ** 0.25, abs=1e-12)
    # two tokens, one matching unigram, no matching bigram: p1 = 1/2, p2 = 0.1/1, p3 = p4 = 0.1/1
    assert ref.bleu("He joins the club.", "a club") == pytest.approx(
        math.exp(1 - 5 / 2) * (0.5 * 0.1 * 0.1 * 0.1) ** 0.25, abs=1e-12)
    assert ref.bleu("The player is 28 years old.", "the PLAYER is 28 years old.") == pytest.approx(1.0)


def test_word_tokens_split_punctuation_like_nltk():
    assert ref.word_tokens("he transferred from leeds united.") == ["he", "transferred", "from", "leeds", "united", "."]
    assert ref.word_tokens("it's €35.00 million") == ["it", "'s", "€35.00", "million"]


@pytest.mark.parametrize("reply,letter", [("The answer is B", "B"), ("the answer is C.", "C"), ("D", "D"),
                                          ("D\n", "D"), ("I think B", None), ("B.", None), ("(A)", None),
                                          ("Answer: A", None), ("", None)])
def test_letter_patterns_are_the_authors(reply, letter):
    assert ref.extract_letter(reply) == letter


def test_mc_prompt_is_the_authors_text():
    text = ref.mc_prompt("<image>\nWhich club?", {"A": "Leeds", "B": "Lyon", "C": "Rome", "D": "Porto"})
    assert text == ("<image>\nWhich club?\n\nPlease look at this image and answer the question by selecting the "
                    "correct option from the choices below.\n\nPlease respond with only the letter of the correct "
                    "answer (e.g., 'The answer is A' or just 'A').\n\nOptions:\nA: Leeds\nB: Lyon\nC: Rome\n"
                    "D: Porto\n\n")


def test_empty_replies_are_dropped_not_scored():
    doc = {"answer": "He joins Leeds.", "correct": "A"}
    assert ref.process_results_gen(doc, [""]) == {"bleu": None, "rouge1": None, "rouge2": None, "rougeL": None,
                                                  "gen_score": None, "n_dropped": 1}
    kept = ref.process_results_gen(doc, ["He joins Leeds."])
    assert kept["n_dropped"] == 0 and kept["gen_score"] == pytest.approx(1.0)
    assert ref.process_results_mc(doc, [""]) == {"acc": None, "n_dropped": 1}
    assert ref.process_results_mc(doc, ["The answer is A"]) == {"acc": 1.0, "n_dropped": 0}


def test_images_are_sized_as_qwen_vl_utils_sizes_256(tmp_path):
    from PIL import Image

    Image.new("CMYK", (300, 180)).save(tmp_path / "a.jpg")
    (image,) = ref.doc_to_visual({"_root": str(tmp_path), "image": "a.jpg"})
    assert image.size == (252, 252) and image.mode == "RGB"
