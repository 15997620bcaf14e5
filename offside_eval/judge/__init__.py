"""LLM-as-judge metrics (factuality score) over generated answers."""
from .factuality import (JudgeReplyError, JudgeReport, JudgeSample, Verdict, build_messages, judge, parse_reply,
                         summarize)
from offside_data.prompts import load_template, render

__all__ = ["JudgeReplyError", "JudgeReport", "JudgeSample", "Verdict", "build_messages", "judge", "load_template",
           "parse_reply", "render", "summarize"]
