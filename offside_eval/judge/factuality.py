"""LLM-judge factuality score (the paper's "Fact. Score" columns).

Each (question, generated answer, ground truth) is rendered through `prompts/factuality.j2` (`offside_data.prompts`)
and sent to a judge (`offside_data.llm_client`). The reply must be a JSON object
`{"factuality_score": n, "justification": "..."}` with an integer n in 0..10 (0 = unreadable
output). A sample whose judging fails -- request failed after retries, malformed JSON, a
missing field, an out-of-range score -- is recorded as *missing* with its reason: it is left
out of the mean and counted in `fact_score_missing`, never scored 0 (scoring failures 0 would
bias every table toward "forgotten").

A template that is a path ending in ".txt" is a benchmark's own judge prompt (`protocol_prompt`, a
str.format template) and gets the variables of `build_messages`; its benchmark registers the judge
metric with its own reply parser.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offside_data.llm_client import ChatClient, parse_json_reply
from offside_data.prompts import protocol_prompt, render

SCORE_MIN, SCORE_MAX = 0, 10
DEFAULT_TEMPLATE = "factuality"
REFERENCE_TASK_TYPE = "Generation"  # eval_gpt.py judges eval_generation.py's answers


class JudgeReplyError(ValueError):
    """The judge replied, but not with a valid verdict."""


@dataclass(frozen=True)
class JudgeSample:
    question: str
    generated: str
    ground_truth: str
    item_id: str | None = None
    task: str | None = None
    image_id: str | None = None  # the image's file name, for prompts that name it (the authors' judge)


@dataclass
class Verdict:
    score: int | float | None  # None = missing
    justification: str | None = None
    error: str | None = None
    cached: bool = False

    @property
    def missing(self) -> bool:
        return self.score is None


@dataclass
class JudgeReport:
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def scores(self) -> list[int | float | None]:
        return [v.score for v in self.verdicts]

    def summary(self) -> dict[str, Any]:
        return summarize(self.scores)


def parse_reply(text: str) -> tuple[int, str]:
    """Validate a judge reply; return (score, justification) or raise JudgeReplyError."""
    try:
        data = parse_json_reply(text)
    except ValueError as exc:
        raise JudgeReplyError(str(exc)) from None
    if "factuality_score" not in data:
        raise JudgeReplyError("reply lacks 'factuality_score'")
    score = data["factuality_score"]
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise JudgeReplyError(f"factuality_score must be a number, got {score!r}")
    if score != int(score):
        raise JudgeReplyError(f"factuality_score must be an integer, got {score!r}")
    if not SCORE_MIN <= score <= SCORE_MAX:
        raise JudgeReplyError(f"factuality_score {score!r} outside {SCORE_MIN}..{SCORE_MAX}")
    justification = data.get("justification")
    if not isinstance(justification, str):
        raise JudgeReplyError("reply lacks a 'justification' string")
    return int(score), justification


def build_messages(sample: JudgeSample, template: str = DEFAULT_TEMPLATE) -> list[dict[str, str]]:
    """One user message: a .j2 template rendered, or a ".txt" protocol prompt filled with str.format."""
    if template.endswith(".txt"):
        content = protocol_prompt(Path(template).stem, Path(template).parent).format(
            task_type=REFERENCE_TASK_TYPE, image_id=sample.image_id or "", question=sample.question,
            generated_answer=sample.generated, ground_truth=sample.ground_truth)
        return [{"role": "user", "content": content}]
    content = render(template, question=sample.question, generated=sample.generated,
                     ground_truth=sample.ground_truth, task=sample.task or "", item_id=sample.item_id or "")
    return [{"role": "user", "content": content}]


def judge(client: ChatClient, samples: Sequence[JudgeSample], template: str = DEFAULT_TEMPLATE,
          progress: bool = True, parser: Callable[[str], tuple[Any, str]] = parse_reply) -> JudgeReport:
    """Judge every sample; `parser` reads each reply; failures become missing verdicts with the reason."""
    results = client.complete_many([build_messages(s, template) for s in samples], desc="fact_score judge",
                                   progress=progress)
    report = JudgeReport()
    for result in results:
        if not result.ok:
            report.verdicts.append(Verdict(None, error=f"request failed: {result.error}"))
            continue
        try:
            score, why = parser(result.text)
        except JudgeReplyError as exc:
            report.verdicts.append(Verdict(None, error=f"invalid reply: {exc}", cached=result.cached))
        else:
            report.verdicts.append(Verdict(score, why, cached=result.cached))
    return report


def summarize(scores: Iterable[int | float | None]) -> dict[str, Any]:
    """fact_score (mean of the valid scores, None when there are none), fact_score_n, fact_score_missing."""
    scores = list(scores)
    valid = [s for s in scores if s is not None]
    return {
        "fact_score": sum(valid) / len(valid) if valid else None,
        "fact_score_n": len(valid),
        "fact_score_missing": len(scores) - len(valid),
    }
