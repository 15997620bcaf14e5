"""MMBench TSV reading, rotation expansion and CircularEval scoring on the synthetic fixture."""
import csv

import pytest
from offside_benchmarks.mmbench.circular import (
    build_prompt,
    choose_by_loglikelihood,
    circular_eval,
    evaluate,
    expand_circular,
    rotation_record,
    rotations,
    score_questions,
)
from offside_benchmarks.mmbench.data import MMBenchQuestion, read_tsv, write_fixture

from offside_data.schema import DataError
from offside_data.tables import read_tsv_rows
from offside_eval.metrics import extract_letter


@pytest.fixture(scope="module")
def fixture_tsv(tmp_path_factory):
    return write_fixture(tmp_path_factory.mktemp("mmb") / "mmbench_fixture.tsv")


def raw_rows(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_reader_matches_the_file(fixture_tsv):
    rows, questions = raw_rows(fixture_tsv), read_tsv(fixture_tsv)
    assert len(questions) == len(rows) == 12
    for row, q in zip(rows, questions):
        assert q.question == row["question"] and q.answer == row["answer"]
        assert list(q.options.values()) == [row[l] for l in "ABCD" if row[l]]
        assert q.load_image().size == (96, 96)
    assert [q.ability for q in questions] == ["AR", "AR", "RR", "RR", "FP-S", "FP-S", "FP-C", "FP-C", "CP", "CP",
                                              "LR", "LR"]
    assert rows[9]["image"] == "8" and questions[9].image == questions[8].image  # image by row reference
    assert questions[2].hint and questions[0].hint is None
    assert sorted({len(q.options) for q in questions}) == [2, 3, 4]


def test_rotations_move_the_answer():
    q = MMBenchQuestion(7, "Q?", {"A": "w", "B": "x", "C": "y", "D": "z"}, "B", image="img")
    rots = rotations(q)
    assert [r.options for r in rots] == [
        {"A": "w", "B": "x", "C": "y", "D": "z"}, {"A": "x", "B": "y", "C": "z", "D": "w"},
        {"A": "y", "B": "z", "C": "w", "D": "x"}, {"A": "z", "B": "w", "C": "x", "D": "y"}]
    assert [r.answer for r in rots] == ["B", "A", "D", "C"]
    assert all(r.options[r.answer] == "x" for r in rots)
    two = rotations(MMBenchQuestion(1, "Q?", {"A": "yes", "B": "no"}, "A", image="i"))
    assert [(r.options, r.answer) for r in two] == [({"A": "yes", "B": "no"}, "A"), ({"A": "no", "B": "yes"}, "B")]
    assert build_prompt(rots[1]).splitlines()[1:4] == ["Options:", "A. x", "B. y"]


def test_circular_eval_hand_computed(fixture_tsv):
    questions = read_tsv(fixture_tsv)
    rots = expand_circular(questions)
    assert len(rots) == 4 + 4 + 2 + 2 + 3 + 3 + 4 + 4 + 3 + 2 + 4 + 4
    preds = {r.key: r.answer for r in rots}
    wrong = lambda r: next(l for l in r.options if l != r.answer)  # noqa: E731
    r0 = rotations(questions[0])  # AR, 4 options: right in 3 of 4 rotations -> wrong
    preds[r0[2].key] = wrong(r0[2])
    r2 = rotations(questions[2])  # RR, 2 options: wrong on the unrotated pass
    preds[r2[0].key] = wrong(r2[0])
    del preds[(questions[9].index, 1)]  # CP: one rotation unanswered -> wrong, incomplete
    result = circular_eval(questions, preds)
    assert result["accuracy"] == 9 / 12
    assert result["first_pass_accuracy"] == 11 / 12
    assert result["incomplete"] == 1
    assert result["abilities"] == {"AR": 0.5, "RR": 0.5, "FP-S": 1.0, "FP-C": 1.0, "CP": 0.5, "LR": 1.0}
    assert result["categories"]["attribute_recognition"] == 0.5
    assert result["categories"]["object_localization"] == 1.0
    assert result["correct"]["0"] is False and result["correct"]["1"] is True


def test_score_questions_counts_absent_and_unanswered_rotations_as_wrong():
    q = MMBenchQuestion(3, "Q?", {"A": "x", "B": "y", "C": "z"}, "C", category="c", l2_category="logic_reasoning")
    rots = rotations(q)
    right = [rotation_record(r, r.answer) for r in rots]
    assert score_questions(right)[3].circular and score_questions(right)[3].ability == "LR"
    for records in (right[:2], right[:2] + [rotation_record(rots[2], None)]):  # absent / unanswered
        outcome = score_questions(records)[3]
        assert (outcome.circular, outcome.complete, outcome.first_pass) == (False, False, True)
    assert not score_questions([rotation_record(rots[0], "A")] + right[1:])[3].first_pass


def test_position_bias_scores_zero_under_circular_eval(fixture_tsv):
    questions = read_tsv(fixture_tsv)
    result = evaluate(questions, lambda rotation: "A")
    assert result["accuracy"] == 0.0
    assert result["first_pass_accuracy"] == sum(r["answer"] == "A" for r in raw_rows(fixture_tsv)) / 12
    oracle = evaluate(questions, lambda rotation: rotation.answer)
    assert oracle["accuracy"] == 1.0 and set(oracle["abilities"].values()) == {1.0}


def test_loglikelihood_choice_and_letter_extraction():
    assert choose_by_loglikelihood({"A": -3.0, "B": -0.5, "C": -2.0}) == "B"
    assert choose_by_loglikelihood({"A": -1.0, "B": -1.0}) == "A"
    opts = {"A": "red", "B": "green", "C": "blue"}
    assert extract_letter("B", opts) == "B"
    assert extract_letter("(C) blue", opts) == "C"
    assert extract_letter("The answer is A.", opts) == "A"
    assert extract_letter("It is green.", opts) == "B"
    assert extract_letter("A or B", opts) is None
    assert extract_letter("B. green, not A", opts) == "B"
    assert extract_letter("The answer is blue", opts) == "C"
    assert extract_letter("", opts) is None


def test_pre_rotated_copies_are_dropped(tmp_path, fixture_tsv):
    rows = raw_rows(fixture_tsv)
    extra = dict(rows[0], index=str(1_000_000 + 0))
    out = tmp_path / "circ.tsv"
    with open(out, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows + [extra])
    assert [q.index for q in read_tsv(out)] == list(range(12))


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.pop("answer"), "column missing"),
    (lambda r: r.update(answer="E"), "field 'answer'"),
    (lambda r: r.update(C="", D="x"), "field 'D'"),
    (lambda r: r.update(B=""), "at least options A and B"),
    (lambda r: r.update(image="99"), "field 'image'"),
    (lambda r: r.update(index="x"), "field 'index'"),
])
def test_bad_tsv_names_file_row_field(tmp_path, fixture_tsv, edit, message):
    rows = raw_rows(fixture_tsv)
    edit(rows[3])
    out = tmp_path / "bad.tsv"
    with open(out, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[3]), delimiter="\t", lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(DataError, match=message) as info:
        read_tsv(out)
    assert "bad.tsv" in str(info.value)
    if "column" not in message:
        assert "[record 3]" in str(info.value)


def test_read_tsv_rows_large_cells_and_bad_files(tmp_path):
    big = "x" * 300_000  # over csv's default 131072-character field limit, like a base64 image
    path = tmp_path / "t.tsv"
    path.write_text(f" index \tquestion\n0\t{big}\n1\tq?\n", encoding="utf-8")
    assert read_tsv_rows(path) == [{"index": "0", "question": big}, {"index": "1", "question": "q?"}]
    with pytest.raises(DataError, match="nowhere.tsv.*not found"):
        read_tsv_rows(tmp_path / "nowhere.tsv")
    (tmp_path / "latin.tsv").write_bytes("index\tquestion\n0\tcaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="latin.tsv.*not UTF-8"):
        read_tsv(tmp_path / "latin.tsv")
