"""Hooks of the fiubench tasks: the authors' prompt, continuations and per-sample metrics
(`offside_benchmarks.fiubench.protocol` holds the formulas and their sources).

Docs come from `offside_benchmarks.fiubench.load_docs`; `forget` tells the forget set (raw answer
probability, truth ratio closer to 1 is better) from the others (normalised probability, truth kept).
"""
from offside_benchmarks.fiubench import protocol
from offside_benchmarks.fiubench.release import load_image


def doc_to_visual(doc):
    return [load_image(doc["_root"], doc["_person"])]


def doc_to_text(doc):
    return protocol.ask(doc["question"])


def doc_to_target(doc):
    return protocol.target(doc["answer"])


def doc_to_continuations(doc):
    """The answer, the paraphrased answer (both capitalized), then the perturbed answers as written."""
    return [protocol.target(doc["answer"]), protocol.target(doc["paraphrased_answer"]), *doc["perturbed_answer"]]


def process_gen(doc, results):
    """ROUGE recall and keyword match of the reply cut at its first '.' (run_generation)."""
    reply = protocol.cut_reply(results[0])
    return {**protocol.rouge_recall(reply, doc_to_target(doc)), "keyword_em": protocol.keyword_match(reply, doc["keywords"])}


def process_ape(doc, results):
    """APE: the keyword match of the reply to a paraphrased question."""
    return {"ape": protocol.keyword_match(protocol.cut_reply(results[0]), doc["keywords"])}


def _probability_and_ratio(doc, results):
    answer, paraphrased, *perturbed = [r["token_logprobs"] for r in results]
    return {"prob": protocol.probability(answer, perturbed, normalised=not doc["forget"]),
            "truth_ratio": protocol.truth_ratio(paraphrased, perturbed)}


def process_scores_forget(doc, results):
    """Probability, truth ratio and the authors' Min-K / Min-K++ of the answer."""
    answer = results[0]
    return {**_probability_and_ratio(doc, results),
            **protocol.mink_scores(answer["token_logprobs"], answer["vocab_mean"], answer["vocab_var"])}


def process_scores_retain(doc, results):
    return _probability_and_ratio(doc, results)


def truth_ratio_forget(values):
    return protocol.truth_ratio_forget(values)


def truth_ratio_retain(values):
    return protocol.truth_ratio_retain(values)
