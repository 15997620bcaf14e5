"""LLM-as-judge metrics (factuality score) over generated answers."""
from .factuality import (
                         JudgeReplyError,
                         JudgeReport,
                         JudgeSample,
                         Verdict,
                         build_messages,
                         judge,
                         parse_reply,
                         summarize,
)

__all__ = ["JudgeReplyError", "JudgeReport", "JudgeSample", "Verdict", "build_messages", "judge",
           "parse_reply", "summarize"]
