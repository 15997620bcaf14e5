"""`openai_chat`: an OpenAI-compatible chat-completions endpoint, for generation tasks only.

model_args: model=NAME, base_url=URL (default: the client's), api_key_env=VAR (default
OPENAI_API_KEY; the key itself is never taken from the command line), max_retries, timeout,
max_new_tokens. Images are sent inline as base64 PNG data URLs.
"""
from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

from ..requests import GenerationRequest, LoglikelihoodRequest
from .base import LMM, ModelError


def _data_url(image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class OpenAIChat(LMM):
    name = "openai_chat"
    supports_loglikelihood = False

    def __init__(self, model: str | None = None, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 max_retries: int = 3, timeout: float = 60.0, max_new_tokens: int = 64, batch_size: int = 1,
                 device: str | None = None, client: Any = None):
        if not model:
            raise ModelError("openai_chat: model_args must give model=NAME")
        self.model, self.base_url, self.api_key_env = model, base_url, api_key_env
        self.max_new_tokens, self.batch_size = int(max_new_tokens), int(batch_size)
        self._urls: dict[int, tuple[Any, str]] = {}
        if client is None:
            key = os.environ.get(api_key_env)
            if not key and not base_url:
                raise ModelError(f"openai_chat: set ${api_key_env} (or give base_url for a local server)")
            from openai import OpenAI

            client = OpenAI(api_key=key or "EMPTY", base_url=base_url, max_retries=int(max_retries),
                            timeout=float(timeout))
        self.client = client

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "base_url": self.base_url}

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest], progress: bool = True):
        raise ModelError("openai_chat cannot compute log-likelihoods (multiple_choice / loglikelihood tasks); "
                         "use generation tasks such as *_gen and *_mcgen")

    def _url(self, image) -> str:
        key = id(image)
        if key not in self._urls:
            self._urls[key] = (image, _data_url(image))  # encoded once per image object
        return self._urls[key][1]

    def _messages(self, req: GenerationRequest) -> list[dict]:
        images = iter(req.visuals)
        out = []
        for message in req.messages:
            content = message["content"]
            if isinstance(content, str):
                out.append({"role": message["role"], "content": content})
                continue
            parts = []
            for part in content:
                if part.get("type") == "image":
                    parts.append({"type": "image_url", "image_url": {"url": self._url(next(images))}})
                else:
                    parts.append({"type": "text", "text": part["text"]})
            out.append({"role": message["role"], "content": parts})
        return out

    def generate_until(self, requests: Sequence[GenerationRequest], progress: bool = True) -> list[str]:
        out = []
        for req in tqdm(requests, desc="openai_chat", disable=not progress, leave=False):
            kw = dict(req.gen_kwargs)
            until = kw.pop("until", None)
            params: dict[str, Any] = {"model": self.model, "messages": self._messages(req),
                                      "max_tokens": int(kw.pop("max_new_tokens", self.max_new_tokens)),
                                      "temperature": float(kw.pop("temperature", 0.0) or 0.0)}
            if until:
                params["stop"] = [until] if isinstance(until, str) else list(until)[:4]
            if "top_p" in kw:
                params["top_p"] = kw.pop("top_p")
            response = self.client.chat.completions.create(**params)
            text = response.choices[0].message.content
            if text is None:
                raise ModelError(f"openai_chat: empty response for doc {req.doc_id!r} of {req.task}")
            out.append(text.strip())
        return out
