"""Hooks of the clear_* tasks: prompts and per-row values from the authors' protocol
(`offside_benchmarks.clear.protocol`, which names its sources)."""
from __future__ import annotations

from offside_benchmarks.clear import protocol


def doc_to_visual(doc):
    return [doc["_image"].load()]


def doc_to_choice(doc):
    """The continuations a row's losses are taken on: answer, paraphrase, then the perturbed answers."""
    return [doc["answer"], doc["paraphrase"], *doc["perturbed"]]


def process_results_gen(doc, results):
    return {"rougeL_recall": protocol.rouge_l_recall(doc["answer"], results[0])}


def process_results_tr(doc, results):
    """clear_prob: the row's Prob.; clear_truth_ratio: [avg_paraphrased_loss, [average_perturb_loss...]],
    which the task's aggregation turns into CLEAR's Truth Ratio (it needs every row's losses)."""
    gt, para, *perturbed = (protocol.avg_loss(r["logprob"], r["n_tokens"]) for r in results)
    return {"clear_prob": protocol.prob(gt, perturbed, doc["plain_prob"]), "clear_truth_ratio": [para, perturbed]}


truth_ratio_forget = protocol.truth_ratio_forget
truth_ratio_retain = protocol.truth_ratio_retain
