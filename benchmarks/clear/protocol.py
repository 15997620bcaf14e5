"""CLEAR's evaluation protocol and metrics as the authors' code computes them.

Sources (github.com/somvy/multimodal_unlearning @ bb14c96, "the repo" below):
- mm/dataset.py: `IMAGE_CAPTION_QUESTIONS` (the nine captioning questions, kept verbatim below) and
  `ImageCaptioningDataset.__get_question`: strategy `random_caption` asks `random.choice` of them,
  `random_faces` asks "The name of the person on the image is ", `column` the row's `question`.
- config/mm/eval.yaml: the six evaluation tasks, each (config, question strategy, answer_key,
  base_answer_key, perturbed_answer_key), `ds_size: 300` (the first 300 rows of a config),
  `generation.max_new_tokens: 300`; mm/eval.py: greedy generation (`do_sample=False`).
- mm/eval.py `eval_perturbation_ratio` / `get_all_evals` with mm/trainer_utils.py `get_batch_loss`:
  every loss is the summed cross-entropy of the answer tokens after the chat-templated question with
  the image, divided by their count (`avg_gt_loss` on answer_key, `avg_paraphrased_loss` on
  base_answer_key, `average_perturb_loss` per perturbed answer).
- mm/calculate_metrics.py `compute_model_utility`: per task "Prob." = mean exp(-avg_gt_loss) for the
  caption tasks (files `eval_log*`), else mean P_true / (P_true + sum P_perturbed); "ROUGE" = mean
  ROUGE-L recall of `RougeScorer(["rouge1", "rougeL"], use_stemmer=True).score(gt, gen)`; "Truth Ratio"
  from tr_i = exp(m - avg_paraphrased_loss_i) where m is the mean of `average_perturb_loss` over ALL
  rows and perturbations of the task (`dict_values_to_array(...).mean()`: one scalar, not TOFU's
  per-row mean), then mean(min(tr, 1/tr)) on forget tasks, mean(max(0, 1 - 1/tr)) on the others;
  "Model Utility" = scipy hmean of every value whose name lacks "Forget".
  `evaluate_forget_quality`: KS-test p-value (scipy ks_2samp) and Jensen-Shannon distance (scipy
  jensenshannon) between the unlearned and the retain-only ("gold") model's tr on the forget caption
  task, each tr with its own model's scalar m.

Departures, each because the authors' code leaves it to chance or to one model's quirks:
1. The captioning question is drawn per row with a seeded RNG keyed by the caption (`caption_question`);
   the repo calls an unseeded `random.choice` in each of its three dataloaders, so one row's ground-
   truth, paraphrase and perturbed losses may even see different questions.
2. Generation gets the image and the chat template, like the losses. The repo's `get_all_evals`
   decodes the input ids with `skip_special_tokens=True` and re-encodes the text alone, which drops
   the image and the template's special tokens before `generate`.
3. Answer tokens: offside's token set "answer" leaves the end-of-turn token out; the repo's labels
   keep everything after the question (`--token_set open_unlearning` adds the end-of-turn token back).
"""
from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from offside_eval.metrics import rouge_scorer
from offside_eval.unlearning_metrics import forget_quality as ks_forget_quality

IMAGE_CAPTION_QUESTIONS = (
    "What can you see in this picture?",
    "Tell me about the content of this image",
    "Can you give a description of the image?",
    "What is depicted in the image?",
    "Explain what you observe in the picture.",
    "Describe the image in detail.",
    "What is the main subject of this image?",
    "Can you describe the scene or objects in the image?",
    "What is happening in this image?",
)
FACE_QUESTION = "The name of the person on the image is "
DS_SIZE = 300  # config/mm/eval.yaml ds_size
MAX_NEW_TOKENS = 300  # config/mm/eval.yaml generation.max_new_tokens


@dataclass(frozen=True)
class SplitSpec:
    """One of eval.yaml's six tasks: which config, how its question is asked, which columns are scored."""
    config: str  # "{ratio:02d}" is the forget percentage
    question: str  # caption | face | column (eval.yaml question_strategy random_caption | random_faces | column)
    answer_key: str
    base_key: str  # the "paraphrased" answer (truth ratio's numerator)
    perturbed_key: str
    authors_task: str  # eval.yaml eval_task (calculate_metrics.FILE_TO_TASK names it)

    @property
    def forget(self) -> bool:
        """calculate_metrics: `"forget" in task_file` picks the forget truth-ratio aggregation."""
        return "forget" in self.authors_task

    @property
    def plain_prob(self) -> bool:
        """calculate_metrics: `"eval_log" in task_file` -> Prob. is exp(-loss), not normalised."""
        return "eval_log" in self.authors_task


SPLITS = {
    "forget": SplitSpec("forget{ratio:02d}_perturbed", "caption", "caption", "paraphrased_caption",
                        "perturbed_captions", "eval_log_forget"),
    "retain": SplitSpec("retain_perturbed", "caption", "caption", "paraphrased_caption", "perturbed_captions",
                        "eval_log"),
    "forget_facerec": SplitSpec("forget{ratio:02d}_perturbed", "face", "name", "name", "perturbed_names",
                                "eval_forget_facerec"),
    "retain_facerec": SplitSpec("retain_perturbed", "face", "name", "name", "perturbed_names", "eval_retain_facerec"),
    "real_faces": SplitSpec("real_faces", "face", "answer", "answer", "options", "eval_real_faces_wo_options"),
    "real_world": SplitSpec("real_world", "column", "answer", "answer", "options", "eval_real_world_wo_options"),
}
UTILITY_SPLITS = tuple(s for s, spec in SPLITS.items() if not spec.forget)  # Model Utility's tasks


def caption_question(caption: str, seed: int = 0) -> str:
    """The captioning question a row is asked (departure 1): a seeded draw, the same in training and evaluation."""
    return random.Random(f"clear-caption-question/{seed}/{caption}").choice(IMAGE_CAPTION_QUESTIONS)


def question(spec: SplitSpec, row: dict, seed: int = 0) -> str:
    if spec.question == "caption":
        return caption_question(row["caption"], seed)
    return FACE_QUESTION if spec.question == "face" else row["question"]


# ---- per-row values -------------------------------------------------------------------------
def avg_loss(logprob: float, n_tokens: int) -> float:
    """get_batch_loss / num_token: the mean negative log-prob of the answer tokens."""
    if n_tokens <= 0:
        raise ValueError("CLEAR losses need at least one answer token, got an empty answer")
    return -logprob / n_tokens


def prob(gt_loss: float, perturbed_losses: Sequence[float], plain: bool) -> float:
    """One row's "Prob.": exp(-gt_loss), or normalised against the perturbed answers' probabilities."""
    true = math.exp(-gt_loss)
    return true if plain else true / (true + sum(math.exp(-loss) for loss in perturbed_losses))


def rouge_l_recall(target: str, response: str) -> float:
    """calculate_metrics.eval_rouge_recall: ROUGE-L recall, stemmed, `score(gt, gen)` (offside's shared scorer:
    the same stemmed tokenizer; ROUGE-L does not depend on the other types a scorer computes)."""
    return rouge_scorer().score(target, response)["rougeL"].recall


# ---- corpus-level values (a truth-ratio row is [avg_paraphrased_loss, [average_perturb_loss...]]) ----
def truth_ratios(rows: Sequence[Sequence]) -> list[float]:
    """tr_i = exp(m - paraphrased_i), m the mean perturbed loss over every row and perturbation."""
    perturbed = [loss for _, losses in rows for loss in losses]
    if not perturbed:
        raise ValueError("CLEAR truth ratio: no rows with perturbed answers")
    m = sum(perturbed) / len(perturbed)
    return [math.exp(m - para) for para, _ in rows]


def truth_ratio_forget(rows: Sequence[Sequence]) -> float:
    values = truth_ratios(rows)
    return sum(min(tr, 1 / tr) for tr in values) / len(values)


def truth_ratio_retain(rows: Sequence[Sequence]) -> float:
    values = truth_ratios(rows)
    return sum(max(0.0, 1 - 1 / tr) for tr in values) / len(values)


def forget_quality(model_rows: Sequence[Sequence], reference_rows: Sequence[Sequence]) -> dict[str, float]:
    """evaluate_forget_quality: KS p-value (offside's `forget_quality`, scipy's ks_2samp as theirs) and JS
    distance of the two models' forget-set truth ratios."""
    from scipy.spatial.distance import jensenshannon

    mine, theirs = truth_ratios(model_rows), truth_ratios(reference_rows)
    return {"forget_quality": ks_forget_quality(mine, theirs), "js": float(jensenshannon(mine, theirs))}
