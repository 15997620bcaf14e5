"""Hooks of the MM-Bench tasks (`!function utils.X` in the YAML files next to this one).

Rows (official TSV layout or hub records) become one doc per CircularEval rotation; each doc is
answered separately (log-likelihood of the option letters, or a generation read for a letter),
and the aggregations regroup the rotations by question: a question counts as correct only when
every one of its rotations was answered correctly.
"""
import math

from offside_data.mmbench import questions_from_rows
from offside_eval import mmbench


class _SharedImage:
    """The decoded image of one question, shared by its rotations and decoded at most once."""

    def __init__(self, question):
        self._question, self._image = question, None

    def get(self):
        if self._image is None:
            self._image = self._question.load_image()
        return self._image


def process_docs(rows):
    docs = []
    for question in questions_from_rows(rows):
        image = _SharedImage(question)
        for rot in mmbench.rotations(question):
            docs.append({
                "id": f"{question.index}/{rot.shift}", "index": question.index, "shift": rot.shift,
                "n_options": len(question.options), "question": question.question, "hint": question.hint,
                "options": rot.options, "answer": rot.answer, "category": question.category,
                "l2_category": question.l2_category, "ability": question.ability,
                "prompt": mmbench.build_prompt(rot), "_image": image,
            })
    return docs


def doc_to_visual(doc):
    return [doc["_image"].get()]


def doc_to_choice(doc):
    return list(doc["options"])  # the letters: the model scores "A", "B", ... as its answer


def doc_to_target(doc):
    return list(doc["options"]).index(doc["answer"])


def _record(doc, pred):
    rec = {"q": doc["index"], "shift": doc["shift"], "n": doc["n_options"], "pred": pred, "gold": doc["answer"],
           "ability": doc["ability"], "category": doc["category"]}
    return {"acc": float(pred == doc["answer"]), "circular_acc": rec, "first_pass_acc": rec,
            **{ability: rec for ability in mmbench.ABILITIES}}


def process_results(doc, results):
    """Log-likelihood variant: the letter with the highest log-likelihood."""
    letters = list(doc["options"])
    return _record(doc, mmbench.choose_by_loglikelihood({l: r[0] for l, r in zip(letters, results)}))


def process_results_gen(doc, results):
    """Generation variant: the letter read from the reply (None = no answer, counts as wrong)."""
    return _record(doc, mmbench.extract_letter(str(results[0]), doc["options"]))


# ---- aggregations: per-question correctness, then its mean (stderr over questions) ----------------
def _questions(values, ability=None, first_pass=False):
    by_question = {}
    for v in values:
        if ability is not None and v["ability"] != ability:
            continue
        entry = by_question.setdefault(v["q"], {"n": v["n"], "right": {}})
        entry["right"][v["shift"]] = v["pred"] is not None and v["pred"] == v["gold"]
    if first_pass:
        return [bool(e["right"].get(0)) for e in by_question.values()]
    # every rotation present and right; a question with rotations missing (e.g. cut by --limit) is wrong
    return [len(e["right"]) == e["n"] and all(e["right"].values()) for e in by_question.values()]


def _aggregation(name, ability=None, first_pass=False):
    def agg(values):
        ok = _questions(values, ability, first_pass)
        return sum(ok) / len(ok) if ok else float("nan")

    def stderr(values):
        ok = _questions(values, ability, first_pass)
        if len(ok) < 2:
            return float("nan")
        p = sum(ok) / len(ok)
        return math.sqrt(p * (1 - p) * len(ok) / (len(ok) - 1) / len(ok))

    agg.__name__ = name
    agg.stderr = stderr
    return agg


circular_acc = _aggregation("circular_acc")
first_pass_acc = _aggregation("first_pass_acc", first_pass=True)
circular_acc_AR = _aggregation("circular_acc_AR", "AR")
circular_acc_RR = _aggregation("circular_acc_RR", "RR")
circular_acc_FP_S = _aggregation("circular_acc_FP_S", "FP-S")
circular_acc_FP_C = _aggregation("circular_acc_FP_C", "FP-C")
circular_acc_CP = _aggregation("circular_acc_CP", "CP")
circular_acc_LR = _aggregation("circular_acc_LR", "LR")
