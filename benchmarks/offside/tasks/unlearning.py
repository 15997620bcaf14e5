"""Hooks of the unlearning-metric tasks (`offside_*_tr`, `_correction`, `_mem`, `offside_mia_*`).

Every task here has output_type `token_scores`: each continuation comes back with its per-token
log-probs, teacher-forced argmax ids and vocabulary moments (offside_eval.models.token_details),
and the formulas live in `offside_eval.unlearning_metrics` (each with its source). The token set
(--token_set) is applied before these hooks see the scores (`unlearning_metrics.apply_token_set`).
Modalities: `mm` (image + question), `text` (player named, no image) and `blank` (the image
question with a blank grey image: does the model forget the fact, or only the image's cue?).
"""
from __future__ import annotations

import math

from offside_benchmarks.offside import view
from offside_benchmarks.offside.loader import fact_value, load_items_once
from PIL import Image

from offside_data.schema import LETTERS
from offside_eval import unlearning_metrics as um

BLANK = Image.new("RGB", (256, 256), (128, 128, 128))


# ---- docs -----------------------------------------------------------------------------------
def _as_doc(item, root: str, **fields) -> dict:
    doc = item.to_dict()
    doc.update(_root=root, **fields)
    return doc


def correction_docs(docs: list[dict]) -> list[dict]:
    """Forget items paired with the relearn split's answer to the same question for the same player
    (matched by the text-only question, which names the fact); pairs stating the same value (shared
    facts, phrased alike or not: `fact_value`) carry no correction and are left out."""
    if not docs:
        return []
    root = docs[0]["_root"]
    corrected = {(it.player, it.text_question): it for it in view(load_items_once(root), "relearn") if it.text_question}
    out = []
    for doc in docs:
        fact = doc["text_question"] if doc["image"] else doc["question"]  # text view: the question is it
        fixed = corrected.get((doc["player"], fact))
        if fixed is not None and fact_value(fixed.answer, fixed.options, fixed.correct) != fact_value(
                doc["answer"], doc["options"], doc["correct"]):
            out.append({**doc, "corrected": fixed.answer, "rumor": doc["answer"]})
    return out


def mia_docs(docs: list[dict]) -> list[dict]:
    """Members: the forget-set QAs (the docs of the view); non-members: the relearn-set QAs of the
    same modality, which the vanilla model never saw. Interleaved, so `--limit` keeps both kinds."""
    if not docs:
        return []
    root = docs[0]["_root"]
    modality = "text" if docs[0]["image"] is None else "mm"
    nonmembers = [_as_doc(it, root, member=False) for it in view(load_items_once(root), "relearn", "complete", modality)]
    members = [{**doc, "member": True} for doc in docs]
    mixed = [doc for pair in zip(members, nonmembers) for doc in pair]
    n = min(len(members), len(nonmembers))
    return mixed + members[n:] + nonmembers[n:]


def doc_to_blank_visual(doc):
    return [BLANK]


def doc_to_correction_choice(doc):
    return [doc["corrected"], doc["rumor"]]


# ---- per-sample values ----------------------------------------------------------------------
def truth_ratio(doc, results):
    gold = LETTERS.index(doc["correct"])
    others = [r for k, r in enumerate(results) if k != gold]
    return {"truth_ratio": um.truth_ratio(results[gold]["logprob"], [r["logprob"] for r in others],
                                          results[gold]["n_tokens"], [r["n_tokens"] for r in others])}


def correction(doc, results):
    fixed, rumor = results
    prefers, share = um.correction_preference(fixed["logprob"], rumor["logprob"], fixed["n_tokens"],
                                              rumor["n_tokens"])
    return {"correction_rate": float(prefers), "correction_share": share}


def memorization(doc, results):
    (r,) = results
    return {"exact_memorization": um.exact_memorization(r["target_ids"], r["argmax_ids"]),
            "extraction_strength": um.extraction_strength(r["target_ids"], r["argmax_ids"])}


MIA_ATTACKS = ("loss", "zlib", "mink", "minkpp")


def mia(doc, results):
    (r,) = results
    scores = um.mia_scores(r["token_logprobs"], doc["answer"], r["vocab_mean"], r["vocab_var"],
                           loss_logprobs=r["loss_logprobs"])
    return {f"mia_{attack}_auc": [doc["member"], scores[attack]] for attack in MIA_ATTACKS}


# ---- aggregations ---------------------------------------------------------------------------
def truth_ratio_forget(values):
    """Forget set: mean of min(TR, 1/TR) -- 1 when the true answer is no more likely than the
    distractors (open-unlearning's `closer_to_1_better`)."""
    return um.aggregate_truth_ratio(values, "closer_to_1_better")


def truth_ratio_retain(values):
    """Retain / test sets: mean of max(0, 1 - TR) -- high while the truth stays preferred."""
    return um.aggregate_truth_ratio(values, "true_better")


def _split(values):
    return [score for member, score in values if member], [score for member, score in values if not member]


def _auc(values):
    return um.mia_auc(*_split(values))


def _auc_stderr(values):
    """Hanley & McNeil (1982): SE^2 = (A(1-A) + (m-1)(Q1-A^2) + (n-1)(Q2-A^2)) / (m n), Q1 = A/(2-A),
    Q2 = 2A^2/(1+A) -- a bootstrap of the pairs could draw no non-member at all on small sets."""
    members, nonmembers = _split(values)
    a, m, n = _auc(values), len(members), len(nonmembers)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    return math.sqrt(max(0.0, a * (1 - a) + (m - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) / (m * n))


_auc.stderr = _auc_stderr
mia_loss_auc = mia_zlib_auc = mia_mink_auc = mia_minkpp_auc = _auc
