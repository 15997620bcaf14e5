"""MM-Bench as an evaluate() task on the synthetic fixture: one doc per rotation, CircularEval
aggregation equal to `offside_eval.mmbench.circular_eval` on the same choices."""
import json
import re

import pytest
from offside_benchmarks.mmbench.circular import choose_by_loglikelihood, circular_eval
from offside_benchmarks.mmbench.data import ABILITIES, fixture_rows, read_tsv, write_fixture

from offside_eval import evaluate
from offside_eval.models import LMM

QUESTION = re.compile(r"^Question: (.*)$", re.M)
OPTION = re.compile(r"^([A-D])\. (.*)$", re.M)


@pytest.fixture(scope="module")
def mmbench_tasks(tmp_path_factory):
    """A user task folder: the fixture TSV and a YAML building on the built-in MM-Bench tasks."""
    folder = tmp_path_factory.mktemp("mmbench_tasks")
    write_fixture(folder / "fixture.tsv")
    (folder / "mmbench_local.yaml").write_text(
        "include: mmbench/mmbench_en_dev.yaml\ntask: mmbench_local\ndataset_path: fixture.tsv\n")
    (folder / "mmbench_local_gen.yaml").write_text(
        "include: mmbench/mmbench_en_dev_gen.yaml\ntask: mmbench_local_gen\ndataset_path: fixture.tsv\n")
    return folder


def letters_by_rotation(rows):
    return {(r["doc"]["index"], r["doc"]["shift"]): r["circular_acc"]["pred"] for r in rows}


def check_against_circular_eval(result, questions, preds):
    reference = circular_eval(questions, preds)
    assert result["circular_acc"] == pytest.approx(reference["accuracy"])
    assert result["first_pass_acc"] == pytest.approx(reference["first_pass_accuracy"])
    for ability in ABILITIES:
        assert result[ability] == pytest.approx(reference["abilities"][ability]), ability
    return reference


def test_tiny_model_end_to_end(tiny_model_dir, mmbench_tasks, tmp_path):
    out = evaluate("qwen2_5_vl", f"pretrained={tiny_model_dir}", "mmbench_local", include_path=mmbench_tasks,
                   batch_size=8, limit=10, output_path=tmp_path, log_samples=True, progress=False,
                   verbosity="WARNING")
    rows = out["samples"]["mmbench_local"]
    questions = read_tsv(mmbench_tasks / "fixture.tsv")[:3]  # 4 + 4 options, then 2 of question 2's rotations
    assert len(rows) == 10 and sorted({r["doc"]["index"] for r in rows}) == [0, 1, 2]
    for row in rows:
        assert row["choices"] == list(row["doc"]["options"]) and row["n_images"] == 1
        assert "_image" not in row["doc"] and "Options:" in row["prompt"]
    preds = {(r["doc"]["index"], r["doc"]["shift"]): choose_by_loglikelihood(dict(zip(r["choices"], r["loglikelihoods"])))
             for r in rows}
    assert preds == letters_by_rotation(rows)
    saved = json.loads((tmp_path / "results.json").read_text())["results"]["mmbench_local"]
    reference = circular_eval(questions, preds)
    assert saved["circular_acc"] == pytest.approx(reference["accuracy"])
    assert saved["AR"] == pytest.approx(reference["abilities"]["AR"])
    assert saved["RR"] == pytest.approx(reference["abilities"]["RR"])  # question 2 is complete: 2 options
    assert saved["CP"] is None  # no CP question among the evaluated rotations
    assert saved["acc"] == pytest.approx(sum(r["acc"] for r in rows) / 10)


class Scripted(LMM):
    """Answers from the fixture's key: always right on AR, CP and FP-C questions; right on the unrotated
    pass only for RR; always 'A' for FP-S and LR."""

    name = "scripted"

    def __init__(self):
        self.key = {}
        for row in fixture_rows():
            options = frozenset(row[l] for l in "ABCD" if row[l])
            self.key[(row["question"], options)] = (row[row["answer"]], row["l2-category"], row["A"])

    def choose(self, request):
        text = request.messages[0]["content"][-1]["text"]
        options = dict(OPTION.findall(text))
        correct, l2, original_a = self.key[(QUESTION.search(text).group(1), frozenset(options.values()))]
        right = next(l for l, t in options.items() if t == correct)
        if l2.startswith(("attribute", "coarse", "finegrained_perception (cross")):
            return right
        if l2.startswith("relation"):
            return right if options["A"] == original_a else ("A" if right != "A" else "B")
        return "A"

    def loglikelihood(self, requests):
        return [(0.0 if r.continuation == self.choose(r) else -5.0, False) for r in requests]

    def generate_until(self, requests):
        return [f"The answer is ({self.choose(r)})." for r in requests]


def test_scripted_answers_give_the_hand_computed_breakdown(mmbench_tasks):
    questions = read_tsv(mmbench_tasks / "fixture.tsv")
    out = evaluate(Scripted(), None, "mmbench_local,mmbench_local_gen", include_path=mmbench_tasks,
                   log_samples=True, progress=False, verbosity="WARNING")
    assert out["data"] is None
    for task in ("mmbench_local", "mmbench_local_gen"):
        result, rows = out["results"][task], out["samples"][task]
        assert result["n"] == len(rows) == sum(len(q.options) for q in questions) == 39
        reference = check_against_circular_eval(result, questions, letters_by_rotation(rows))
        assert result["circular_acc"] == pytest.approx(0.5) and reference["incomplete"] == 0
        assert {a: result[a] for a in ABILITIES} == {"AR": 1.0, "RR": 0.0, "FP-S": 0.0, "FP-C": 1.0, "CP": 1.0,
                                                     "LR": 0.0}
        unrotated_a = sum(q.answer == "A" for q in questions if q.ability in ("FP-S", "LR"))
        assert result["first_pass_acc"] == pytest.approx((6 + 2 + unrotated_a) / 12)
        assert result["circular_acc_stderr"] == pytest.approx((0.5 * 0.5 / 11) ** 0.5)
