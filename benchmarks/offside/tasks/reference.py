"""The OFFSIDE authors' evaluation protocol, as task hooks (the `*_ref` tasks).

It reproduces OFFSIDE/eval/eval_generation.py, eval_classi.py and eval_gpt.py of the authors'
repository (zh121800/OFFSIDE), so a number can be compared with the paper's tables:
- the question is sent exactly as the release file stores it, `<image>` tag included, next to
  the image; the image goes through `qwen_vl_utils.fetch_image` with resized_height/width 256
  (which rounds to 252x252, a multiple of 28) -- the scripts send the record's image for every
  file, so the text-only rewrites are asked with their image too;
- generation: `max_new_tokens=32`, everything else from the checkpoint's generation config, the
  reply decoded without special tokens and not stripped;
- multiple choice: the question, a blank line, then the authors' prompt (prompts/
  offside_reference_mc.txt) listing "A: option" lines; the letter is read with their two
  patterns only ("the answer is X" anywhere, or a reply that is just the letter);
- BLEU: nltk sentence BLEU with SmoothingFunction().method1 on nltk word tokens of the
  lowercased texts; ROUGE-1/2/L F1 with the Porter stemmer; generation score = mean of the four;
- accounting: an empty reply is left out of every mean (the scripts drop it); `n_dropped`
  says how many were.
- LLM judge (eval_gpt.py, the `_judge_ref` tasks): their prompt (prompts/
  offside_reference_judge.txt) with the stored question and the image's basename, their reply
  rule (metric `fact_score_ref`, `offside_benchmarks.offside.judge.parse_reference_reply`), empty replies not judged.

Differences the scripts would show on another machine are not ours to fix: their threads share
one model, and nltk's sentence splitter (punkt) is downloaded at their run time. Here punkt is
used when its data is installed, else nltk's untrained Punkt splitter (`bleu_tokenizer` in each
sample says which); for one-sentence answers the two give the same tokens.
"""
from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from offside_benchmarks.offside.schema import PROMPTS

from offside_data.prompts import protocol_prompt
from offside_eval.metrics import method1_bleu, rouge_scorer

RESIZED = 256  # the scripts' resized_height / resized_width
MAX_NEW_TOKENS = 32
# eval_classi.py's extract_answer patterns, in its order
LETTER_PATTERNS = (r"[Tt]he answer is ([A-D])", r"^([A-D])$")


# ---- docs -> model inputs ----------------------------------------------------------------------
def doc_to_visual(doc):
    return [_fetch(str(Path(doc["_root"]) / doc["image"]))]


@lru_cache(maxsize=4096)
def _fetch(path: str):
    """The image as qwen_vl_utils sizes it, decoded once per run (the _gen_ref and _mcgen_ref tasks
    and every QA of an image share it)."""
    from qwen_vl_utils import fetch_image

    return fetch_image({"image": path, "resized_height": RESIZED, "resized_width": RESIZED})


def doc_to_text(doc):
    """The chat file's question, as stored (multimodal tasks)."""
    return doc["extra"]["stored_question"]


def doc_to_image_id(doc):
    """eval_gpt.py's Image ID in the judge prompt: os.path.basename of the image path."""
    return os.path.basename(doc["image"])


def doc_to_text_only_text(doc):
    """The text-only file's question, as stored (text tasks; the image still goes with it)."""
    return doc["extra"]["stored_text_question"]


def mc_prompt(question: str, options: dict[str, str]) -> str:
    """eval_classi.py's user turn: question, blank line, the prompt with "LETTER: text" lines."""
    listing = "".join(f"{letter}: {text}\n" for letter, text in options.items())
    prompt = protocol_prompt("offside_reference_mc", PROMPTS)
    return f"{question}\n\n" + prompt.format(options_text=listing)


def doc_to_mc_text(doc):
    return mc_prompt(doc["extra"]["stored_mc_question"], doc["options"])


def doc_to_text_only_mc_text(doc):
    return mc_prompt(doc["extra"]["stored_text_question"], doc["options"])


# ---- scoring -----------------------------------------------------------------------------------
def extract_letter(reply: str) -> str | None:
    """The authors' letter rule: "the answer is X" anywhere, else a reply that is one letter."""
    for pattern in LETTER_PATTERNS:
        match = re.search(pattern, reply)
        if match:
            return match.group(1)
    return None


@lru_cache(maxsize=1)
def _sentence_splitter():
    """nltk's trained English punkt when its data is installed, else the untrained Punkt splitter."""
    import nltk
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
        return "nltk-punkt", lambda text: nltk.sent_tokenize(text)
    except LookupError:
        return "nltk-punkt-untrained", PunktSentenceTokenizer().tokenize


def word_tokens(text: str) -> list[str]:
    """nltk.word_tokenize: sentences first, then the Treebank-style word tokenizer on each."""
    from nltk.tokenize import NLTKWordTokenizer

    words = NLTKWordTokenizer()
    return [token for sentence in _sentence_splitter()[1](text) for token in words.tokenize(sentence)]


def bleu(reference: str, prediction: str) -> float:
    """eval_generation.py's compute_bleu: method1-smoothed sentence BLEU of lowercased word tokens."""
    return method1_bleu(word_tokens(reference.lower()), word_tokens(prediction.lower()))


GEN_METRICS = ("bleu", "rouge1", "rouge2", "rougeL", "gen_score")


def process_results_gen(doc, results):
    prediction = results[0]
    if not prediction:  # the scripts drop an empty or failed generation from every mean
        return {**{name: None for name in GEN_METRICS}, "n_dropped": 1}
    scores = rouge_scorer().score(doc["answer"], prediction)
    out = {name: scores[name].fmeasure for name in ("rouge1", "rouge2", "rougeL")}
    out["bleu"] = bleu(doc["answer"], prediction)
    out["gen_score"] = (out["bleu"] + out["rouge1"] + out["rouge2"] + out["rougeL"]) / 4
    return {**out, "n_dropped": 0}


def process_results_mc(doc, results):
    reply = results[0]
    if not reply:
        return {"acc": None, "n_dropped": 1}
    return {"acc": float(extract_letter(reply) == doc["correct"]), "n_dropped": 0}


def bleu_tokenizer() -> str:
    """Which sentence splitter the reference BLEU used here (recorded with the results)."""
    return _sentence_splitter()[0]
