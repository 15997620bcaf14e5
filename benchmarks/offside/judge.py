"""The OFFSIDE authors' LLM judge (eval_gpt.py) as the `fact_score_ref` metric: their prompt verbatim
(prompts/offside_reference_judge.txt), their reply rule, empty generations left out (they drop them
before judging). Their requests used temperature 0.2 and JSON mode; the client's settings are per run:
--judge_args ...,temperature=0.2,json_mode=true."""
from __future__ import annotations

import math

from offside_data.llm_client import parse_json_reply
from offside_eval.judge.factuality import SCORE_MAX, SCORE_MIN, JudgeReplyError
from offside_eval.metrics import register_judge_metric

from .schema import PROMPTS


def parse_reference_reply(text: str) -> tuple[int | float, str]:
    """The OFFSIDE authors' reading of a judge reply (eval_gpt.py), with one deliberate difference.

    Theirs: a JSON object without "factuality_score" scores 0 and one without "justification" gets
    "Score parsing failed" -- kept here; the score is any number, kept as given (not rounded).
    The difference: where their script records 0 after 3 failed attempts (request error, reply not
    JSON) or averages whatever number came back, a reply that is not a JSON object or whose score
    is not a number in 0..10 raises JudgeReplyError, so the sample is missing: failures never
    become scores.
    """
    try:
        data = parse_json_reply(text)
    except ValueError as exc:
        raise JudgeReplyError(str(exc)) from None
    score = data.get("factuality_score", 0)
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise JudgeReplyError(f"factuality_score must be a number, got {score!r}")
    if not SCORE_MIN <= score <= SCORE_MAX:
        raise JudgeReplyError(f"factuality_score {score!r} outside {SCORE_MIN}..{SCORE_MAX}")
    return score, data.get("justification", "Score parsing failed")


register_judge_metric("fact_score_ref", str(PROMPTS / "offside_reference_judge.txt"), parser=parse_reference_reply,
                      drop_empty=True)
