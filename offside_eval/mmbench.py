"""MM-Bench CircularEval (general ability).

CircularEval: a question with n options is asked n times, the options rotated by one place each
time (so the correct text visits every letter); it counts as correct only if every rotation is
answered correctly. Results: overall accuracy, the six ability groups of the paper's Table 5
(AR, RR, FP-S, FP-C, CP, LR, from l2-category) and the fine-grained `category` breakdown.
Answers come from log-likelihood over the option letters (`choose_by_loglikelihood`) or from a
generation plus `extract_letter`.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from offside_data.mmbench import ABILITIES, LETTERS, MMBenchQuestion

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


def extract_letter(text: str, options: Mapping[str, str]) -> str | None:
    """Find the chosen letter in a free-form answer; None when absent or ambiguous."""
    if not text:
        return None
    letters = "".join(options)
    s = text.strip()
    stated = re.search(rf"(?i:answer|option|choice)\s*(?i:is|:)?\s*\(?([{letters}])\)?(?![A-Za-z])", s)
    if stated:  # "The answer is C", "Answer: (B)"
        return stated.group(1).upper()
    found = set(re.findall(rf"(?<![A-Za-z])([{letters}])(?![A-Za-z])", s))
    if len(found) == 1:
        return found.pop()
    if found:  # several letters: only a leading "B." / "(B)" / "B:" decides
        lead = re.match(rf"^\(?([{letters}])(?:\)|\.|:)", s)
        return lead.group(1) if lead else None
    mentioned = [l for l, t in options.items() if t.lower() in s.lower()]
    return mentioned[0] if len(mentioned) == 1 else None


def circular_eval(questions: Iterable[MMBenchQuestion], predictions: Mapping[tuple[int, int], str | None]) -> dict[str, Any]:
    """Score predictions keyed by (question index, shift).

    A question is correct only if all its rotations were answered and all are right; a question
    with any rotation unanswered counts as wrong and is counted in `incomplete`.
    """
    questions = list(questions)
    correct: dict[int, bool] = {}
    incomplete = 0
    first_pass = 0
    for q in questions:
        rots = rotations(q)
        answers = [predictions.get(r.key) for r in rots]
        if any(a is None for a in answers):
            incomplete += 1
        correct[q.index] = all(a == r.answer for a, r in zip(answers, rots))
        first_pass += answers[0] == rots[0].answer
    groups: dict[str, dict[str, list[bool]]] = {"abilities": defaultdict(list), "categories": defaultdict(list)}
    for q in questions:
        if q.ability:
            groups["abilities"][q.ability].append(correct[q.index])
        if q.category:
            groups["categories"][q.category].append(correct[q.index])
    n = len(questions)
    return {
        "accuracy": sum(correct.values()) / n if n else None,
        "first_pass_accuracy": first_pass / n if n else None,  # no rotation: the usual single-pass number
        "n_questions": n,
        "n_rotations": sum(len(q.options) for q in questions),
        "incomplete": incomplete,
        "abilities": {a: sum(v) / len(v) for a in ABILITIES if (v := groups["abilities"].get(a))},
        "categories": {c: sum(v) / len(v) for c, v in sorted(groups["categories"].items())},
        "correct": {str(i): ok for i, ok in correct.items()},
    }


def evaluate(questions: Iterable[MMBenchQuestion], answer: Callable[[Rotation], str | None]) -> dict[str, Any]:
    """Run `answer` on every rotation and score with CircularEval."""
    questions = list(questions)
    return circular_eval(questions, {r.key: answer(r) for r in expand_circular(questions)})


