"""MLLMU-Bench (Liu et al., NAACL 2025) under its authors' protocol, as task hooks.

Prompts and scores follow the reference eval.py (franciscoliu/MLLMU-Bench @0e3098e), LLaVA branch;
the prompt strings are kept verbatim in prompts/mllmu_*.txt.

How the LLaVA-style raw prompt reaches a chat model: the whole prompt -- few-shot blocks, "USER:"
and the final "ASSISTANT:" included -- is the text of ONE user turn, sent through the checkpoint's
chat template (which then opens the assistant turn). Each `<image>` marker is removed from the text
and its image goes in as an image part; the harness puts the image parts before the text, in the
markers' order (shot images first, the question's image last), as eval.py passes
`images=[*few_shot_images, image]`.

Scoring: greedy, 50 new tokens. eval.py decodes prompt + reply and cuts it with
`.split("ASSISTANT:")[1]` (cloze and generation fall back to "Answer:"); the same cut is applied
here to the reference prompt + reply, so a reply is read up to any "ASSISTANT:" it writes itself.
"""
from __future__ import annotations

from offside_benchmarks.mllmu.release import PROMPTS, train_prompt

from offside_data.prompts import protocol_prompt

IMAGE = "<image>"
OPTION_KEYS = ("A", "B", "C", "D")  # the shot block names the four options explicitly (eval.py)


def _template(name: str, marker: str) -> str:
    return protocol_prompt(f"mllmu_{name}", PROMPTS).replace(IMAGE, marker)


def _cloze_question(question: str) -> str:
    return protocol_prompt("mllmu_cloze_question", PROMPTS).format(question=question.replace("__", "[Blank]"))


def build_prompt(doc: dict, marker: str = IMAGE) -> str:
    """The reference prompt of one doc; `marker` replaces eval.py's `<image>` markers ("" to send)."""
    kind, mod = doc["kind"], doc["modality"]
    if kind == "gen":
        return _template(f"gen_{mod}", marker).format(question=doc["question"])
    if kind == "cls":
        shot = _template(f"cls_shot_{mod}", marker)
        shots = "".join(shot.format(question=s["question"], answer=s["answer"],
                                    **{k: s["options"][k] for k in OPTION_KEYS}) for s in doc["shots"])
        options = "\n".join(f"{k}: {v}" for k, v in doc["options"].items())
        return _template(f"cls_query_{mod}", marker).format(shots=shots, question=doc["question"], options=options)
    shot = _template(f"cloze_shot_{mod}", marker)
    shots = "".join(shot.format(question=_cloze_question(s["question"]), answer=s["answer"]) for s in doc["shots"])
    return _template(f"cloze_query_{mod}", marker).format(shots=shots, question=_cloze_question(doc["question"]))


def clean_prompt(doc: dict) -> str:
    """The clean protocol's generation prompt: the question inside the reference fine-tuning prompt,
    as offside-train trains ft_Data (`offside_benchmarks.mllmu.release.train_prompt`), so a model is asked the way
    it was taught; the authors' eval.py adds an answering instruction (`build_prompt`)."""
    return train_prompt(doc["question"], doc["modality"])


def doc_to_text(doc):
    return build_prompt(doc, marker="")


def doc_to_text_clean(doc):
    return clean_prompt(doc)


def doc_to_visual(doc):
    """One image per `<image>` marker, in order: the shots' (their profile's Full_Set image), then the doc's."""
    mllmu = doc["_mllmu"]
    return [shot.image for shot in mllmu.shots] + [mllmu.image]


def doc_to_choice(doc):
    return list(doc["options"])


# ---- scoring -----------------------------------------------------------------------------------
def response(doc: dict, reply: str, prompt=build_prompt) -> str:
    """eval.py's answer extraction, applied to what it applies it to: the decoded prompt + reply."""
    text = prompt(doc) + reply
    if "ASSISTANT:" in text:
        return text.split("ASSISTANT:")[1].strip()
    if doc["kind"] != "cls" and "Answer:" in text:
        return text.split("Answer:")[1].strip()
    return text.strip()


def letter(doc: dict, reply: str) -> str | None:
    """eval.py lines 375-376: the first character, uppercased, if it is an option key."""
    answer = response(doc, reply)
    return answer[0].upper() if answer and answer[0].upper() in doc["options"] else None


def bleu(reference: str, prediction: str) -> float:
    """eval.py compute_bleu: nltk sentence BLEU, whitespace tokens, SmoothingFunction().method1."""
    from offside_eval.metrics import method1_bleu

    return method1_bleu(reference.split(), prediction.split())


def _excluded(doc: dict) -> dict:
    return {"n_fewshot_excluded": doc["n_fewshot_excluded"]}


def process_results_cls(doc, results):
    return {"acc": float(letter(doc, results[0]) == doc["correct"]), **_excluded(doc)}


def process_results_cls_ll(doc, results):
    """acc_ll: the option letter with the highest log-likelihood after the same prompt."""
    lls = [r[0] for r in results]
    pred = doc_to_choice(doc)[max(range(len(lls)), key=lls.__getitem__)]
    return {"acc_ll": float(pred == doc["correct"]), **_excluded(doc)}


def process_results_cloze(doc, results):
    """eval.py lines 626-646: right when the ground truth occurs in the answer (case-insensitive)."""
    return {"cloze_acc": float(doc["answer"].lower() in response(doc, results[0]).lower()), **_excluded(doc)}


def process_results_gen(doc, results, prompt=build_prompt):
    """ROUGE-1/2/L F1 (stemmed, `score(gt, pred)`), whitespace BLEU, gen_score = their mean."""
    from offside_eval.metrics import rouge_scorer

    prediction, truth = response(doc, results[0], prompt), doc["answer"]
    rouge = rouge_scorer().score(truth, prediction)
    out = {name: rouge[name].fmeasure for name in ("rouge1", "rouge2", "rougeL")}
    out["bleu"] = bleu(truth, prediction)
    out["gen_score"] = (out["rouge1"] + out["rouge2"] + out["rougeL"] + out["bleu"]) / 4
    return {**out, **_excluded(doc)}


def process_results_gen_clean(doc, results):
    """The same scores, the reply read after the clean prompt."""
    return process_results_gen(doc, results, clean_prompt)


def same(values):
    """Aggregation of a per-task constant (n_fewshot_excluded): every doc carries the task's count."""
    distinct = set(values)
    if len(distinct) != 1:
        raise ValueError(f"expected one value for the whole task, got {sorted(distinct)}")
    return float(distinct.pop())
