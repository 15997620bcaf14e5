"""MM-Bench CircularEval (general ability).

CircularEval: a question with n options is asked n times, the options rotated by one place each
time (so the correct text visits every letter); it counts as correct only if every rotation is
answered correctly. Results: overall accuracy, the six ability groups of the paper's Table 5
(AR, RR, FP-S, FP-C, CP, LR, from l2-category) and the fine-grained `category` breakdown.
Answers come from log-likelihood over the option letters (`choose_by_loglikelihood`) or from a
generation plus `offside_eval.metrics.extract_letter`.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .data import ABILITIES, LETTERS, MMBenchQuestion

PROMPT_SUFFIX = "Answer with the option's letter from the given choices directly."  # MMBench's official instruction


@dataclass(frozen=True)
class Rotation:
    """One CircularEval pass of a question: options rotated by `shift` places."""
    source: MMBenchQuestion
    shift: int
    options: dict[str, str]
    answer: str

    @property
    def key(self) -> tuple[int, int]:
        return (self.source.index, self.shift)

# -- CircularEval ------------------------------------------------------------------------------
def rotations(question: MMBenchQuestion) -> list[Rotation]:
    """The n rotations of an n-option question; shift k puts original option (i+k) mod n at letter i."""
    letters = list(question.options)
    n = len(letters)
    texts = [question.options[l] for l in letters]
    correct = letters.index(question.answer)
    out = []
    for k in range(n):
        options = {letters[i]: texts[(i + k) % n] for i in range(n)}
        out.append(Rotation(question, k, options, letters[(correct - k) % n]))
    return out


def expand_circular(questions: Iterable[MMBenchQuestion]) -> list[Rotation]:
    return [r for q in questions for r in rotations(q)]


def build_prompt(rotation: Rotation) -> str:
    """The text shown with the image: hint, question, lettered options, answer instruction."""
    lines = []
    if rotation.source.hint:
        lines.append(f"Hint: {rotation.source.hint}")
    lines.append(f"Question: {rotation.source.question}")
    lines.append("Options:")
    lines += [f"{letter}. {text}" for letter, text in rotation.options.items()]
    lines.append(PROMPT_SUFFIX)
    return "\n".join(lines)


def choose_by_loglikelihood(logliks: Mapping[str, float]) -> str:
    """The option letter with the highest log-likelihood (first letter on ties)."""
    if not logliks:
        raise ValueError("no option log-likelihoods")
    return max(logliks, key=lambda letter: (logliks[letter], -LETTERS.index(letter)))


def rotation_record(rotation: Rotation, pred: str | None) -> dict[str, Any]:
    """What CircularEval needs of one answered rotation: a plain dict, so a task can log it with the sample."""
    q = rotation.source
    return {"q": q.index, "shift": rotation.shift, "n": len(rotation.options), "pred": pred, "gold": rotation.answer,
            "ability": q.ability, "category": q.category}


@dataclass(frozen=True)
class QuestionOutcome:
    circular: bool  # every rotation answered, and all right
    first_pass: bool  # the unrotated pass (shift 0) answered right
    complete: bool  # every rotation answered
    ability: str | None
    category: str | None


def score_questions(records: Iterable[Mapping[str, Any]]) -> dict[int, QuestionOutcome]:
    """Regroup `rotation_record`s by question (the one CircularEval rule, used by `circular_eval` and the tasks).

    A rotation absent from `records` or with pred None is unanswered: its question is incomplete
    and counts as wrong (e.g. rotations cut off by --limit).
    """
    grouped: dict[int, list[Mapping[str, Any]]] = {}
    for rec in records:
        grouped.setdefault(rec["q"], []).append(rec)
    out = {}
    for q, recs in grouped.items():
        answered = {r["shift"]: r["pred"] == r["gold"] for r in recs if r["pred"] is not None}
        complete = len(answered) == recs[0]["n"]
        out[q] = QuestionOutcome(circular=complete and all(answered.values()), first_pass=answered.get(0, False),
                                 complete=complete, ability=recs[0]["ability"], category=recs[0]["category"])
    return out


def circular_eval(questions: Iterable[MMBenchQuestion],
                  predictions: Mapping[tuple[int, int], str | None]) -> dict[str, Any]:
    """Score predictions keyed by (question index, shift) with `score_questions`; unanswered ones are `incomplete`."""
    questions = list(questions)
    outcomes = score_questions(rotation_record(r, predictions.get(r.key)) for r in expand_circular(questions))
    groups: dict[str, dict[str, list[bool]]] = {"abilities": defaultdict(list), "categories": defaultdict(list)}
    for o in outcomes.values():
        if o.ability:
            groups["abilities"][o.ability].append(o.circular)
        if o.category:
            groups["categories"][o.category].append(o.circular)
    n = len(questions)
    return {
        "accuracy": sum(o.circular for o in outcomes.values()) / n if n else None,
        "first_pass_accuracy": sum(o.first_pass for o in outcomes.values()) / n if n else None,  # single-pass
        "n_questions": n,
        "n_rotations": sum(len(q.options) for q in questions),
        "incomplete": sum(not o.complete for o in outcomes.values()),
        "abilities": {a: sum(v) / len(v) for a in ABILITIES if (v := groups["abilities"].get(a))},
        "categories": {c: sum(v) / len(v) for c, v in sorted(groups["categories"].items())},
        "correct": {str(i): o.circular for i, o in outcomes.items()},
    }


def evaluate(questions: Iterable[MMBenchQuestion], answer: Callable[[Rotation], str | None]) -> dict[str, Any]:
    """Run `answer` on every rotation and score with CircularEval."""
    questions = list(questions)
    return circular_eval(questions, {r.key: answer(r) for r in expand_circular(questions)})


