"""Question paraphrases by an LLM: does the forgotten answer come back when the question is worded
differently from the questions unlearning saw? The paraphrasing model is any offside LLM client (an
OpenAI-compatible server, or a local Hugging Face model with backend=hf), as --judge_args builds
them; its replies are cached, so a rerun sends identical inputs."""
from __future__ import annotations

import functools

from offside_data.llm_client import DEFAULT_MODEL, ChatClient, client_from_args, parse_json_reply
from offside_data.prompts import render

from .registry import Attack, AttackError, register_attack, user_text, with_text


@functools.lru_cache(maxsize=8)
def paraphraser(backend: str, model: str, base_url: str, pretrained: str) -> ChatClient:
    """One client per model for the whole evaluation (its cache and connection pool shared)."""
    given = {"judge": backend, "model": model, "base_url": base_url, "pretrained": pretrained}
    try:
        return client_from_args({k: v for k, v in given.items() if v})
    except ValueError as exc:
        raise AttackError(f"--attack paraphrase: {exc}") from None


def paraphrase(request, context, backend: str, model: str, base_url: str, pretrained: str):
    question = user_text(request)
    reply = paraphraser(backend, model, base_url, pretrained).complete(
        [{"role": "user", "content": render("paraphrase.j2", question=question)}])
    if not reply.ok:
        raise AttackError(f"--attack paraphrase: the paraphrasing model failed: {reply.error}")
    try:
        reworded = parse_json_reply(reply.text).get("question")
    except ValueError:
        reworded = None
    if not isinstance(reworded, str) or not reworded.strip():
        raise AttackError(f"--attack paraphrase: no question in the paraphrasing model's reply {reply.text[:80]!r}")
    return with_text(request, lambda _: reworded.strip())


register_attack(Attack("paraphrase", "input", "text: the question reworded by an LLM (backend openai|hf, model, "
                       "base_url, pretrained as --judge_args takes them)", paraphrase,
                       {"backend": "openai", "model": DEFAULT_MODEL, "base_url": "", "pretrained": ""}))
