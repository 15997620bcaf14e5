"""Hooks of the MM-Bench tasks (`!function utils.X` in the YAML files next to this one).

Rows (official TSV layout or hub records) become one doc per CircularEval rotation; each doc is
answered separately (log-likelihood of the option letters, or a generation read for a letter),
and the aggregations regroup the rotations by question: a question counts as correct only when
every one of its rotations was answered correctly.
"""
from offside_benchmarks.mmbench import circular as mmbench
from offside_benchmarks.mmbench.data import questions_from_rows

from offside_eval.metrics import extract_letter, stderr


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
                "prompt": mmbench.build_prompt(rot), "_image": image, "_rotation": rot,
            })
    return docs


def doc_to_visual(doc):
    return [doc["_image"].get()]


def doc_to_choice(doc):
    return list(doc["options"])  # the letters: the model scores "A", "B", ... as its answer


def doc_to_target(doc):
    return list(doc["options"]).index(doc["answer"])


def _record(doc, pred):
    rec = mmbench.rotation_record(doc["_rotation"], pred)
    return {"acc": float(pred == doc["answer"]), "circular_acc": rec, "first_pass_acc": rec,
            **{ability: rec for ability in mmbench.ABILITIES}}


def process_results(doc, results):
    """Log-likelihood variant: the letter with the highest log-likelihood."""
    letters = list(doc["options"])
    return _record(doc, mmbench.choose_by_loglikelihood({l: r[0] for l, r in zip(letters, results)}))


def process_results_gen(doc, results):
    """Generation variant: the letter read from the reply (None = no answer, counts as wrong)."""
    return _record(doc, extract_letter(str(results[0]), doc["options"]))


# ---- aggregations: per-question CircularEval outcome, then its mean (stderr over questions) -------
def _aggregation(name, ability=None, first_pass=False):
    def outcomes(values):
        return [float(o.first_pass if first_pass else o.circular) for o in mmbench.score_questions(values).values()
                if ability is None or o.ability == ability]

    def agg(values):
        ok = outcomes(values)
        return sum(ok) / len(ok) if ok else float("nan")

    agg.__name__ = name
    agg.stderr = lambda values: stderr("mean", outcomes(values))
    return agg


circular_acc = _aggregation("circular_acc")
first_pass_acc = _aggregation("first_pass_acc", first_pass=True)
circular_acc_AR = _aggregation("circular_acc_AR", "AR")
circular_acc_RR = _aggregation("circular_acc_RR", "RR")
circular_acc_FP_S = _aggregation("circular_acc_FP_S", "FP-S")
circular_acc_FP_C = _aggregation("circular_acc_FP_C", "FP-C")
circular_acc_CP = _aggregation("circular_acc_CP", "CP")
circular_acc_LR = _aggregation("circular_acc_LR", "LR")
