"""FIUBench's GPT score as an offside LLM-judge metric (`fiubench_gpt`), run by offside's judge
(--judge_args) on the fiubench_*_judge tasks.

The prompt: gpt_judge.j2 (the authors' `gpt_prompt`, evaluate_util.py). The reply is read as
get_all_evals reads it: its first line, what follows a ':' if there is one, '**' stripped, as a
float. Two deliberate differences, both so that a failure never becomes a score (as offside's other
judges): a reply that does not read as a finite number is missing (theirs: 0.0), and a reply of at
most five characters is judged like any other (theirs: 0.0 without asking). The authors' requests
went to gpt-4o-mini with max_tokens 20 (GPTEvaluator); those are --judge_args settings here.
"""
from __future__ import annotations

import math
from pathlib import Path

from offside_eval.judge import JudgeReplyError
from offside_eval.metrics import register_judge_metric

METRIC = "fiubench_gpt"
TEMPLATE = Path(__file__).with_name("gpt_judge.j2")


def parse_gpt_reply(text: str) -> tuple[float, str]:
    """(score, the whole reply) from a reply whose first line holds the score."""
    score = text.split("\n")[0].strip(" ")
    if ":" in score:
        score = score[score.find(":"):].strip(":").strip(" ")
    if "**" in score:
        score = score.strip("*").strip(" ")  # their strip("**"): the same characters
    try:
        value = float(score)
    except ValueError:
        raise JudgeReplyError(f"the first line holds no score: {text.splitlines()[0] if text else ''!r}") from None
    if not math.isfinite(value):
        raise JudgeReplyError(f"score {value!r} is not finite")
    return value, text


register_judge_metric(METRIC, str(TEMPLATE), parser=parse_gpt_reply)
