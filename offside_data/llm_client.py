"""A cached, concurrency-limited chat client for LLM judges and data construction.

Two backends share one interface (`complete` / `complete_many`) and one on-disk cache:

* `OpenAIChatClient` -- the `openai` package against any OpenAI-compatible `base_url`
  (OpenAI itself, vLLM, LM Studio, ...). The API key is read from an environment variable
  (default OPENAI_API_KEY) at call time and is never stored in the config, the cache or results.
  Retries and timeouts are the openai client's own (backoff on 408, 409, 429, 5xx, timeouts
  and connection errors; other errors fail at once).
* `HFChatClient` -- a local Hugging Face checkpoint, greedy decoding (offline judging).

Cache: one JSON file per (model, prompt hash) under `cache_dir/<model>/<hh>/<hash>.json`, written
atomically (temp file + rename), so reruns and interrupted runs never pay for a reply twice.
Only successful replies are cached; failures are retried on the next run.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fileio import atomic_write_text
from .options import parse_kv

Messages = list[dict[str, Any]]

DEFAULT_MODEL = "gpt-4o"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"


class LLMError(RuntimeError):
    """A request that failed for good (after retries, or with a non-retryable error)."""


@dataclass
class LLMResult:
    text: str | None
    error: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.text is not None


@dataclass
class ClientStats:
    requests: int = 0  # HTTP requests / generate calls actually made (retries included)
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def default_cache_dir() -> Path:
    from .fixtures import cache_dir

    return cache_dir() / "llm-cache"


def prompt_hash(messages: Messages, params: dict[str, Any]) -> str:
    """sha256 of the messages and the sampling parameters that change the reply."""
    blob = json.dumps({"messages": messages, "params": params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _safe_name(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("_") or "model"


class ReplyCache:
    """On-disk cache keyed by (model, prompt hash); each entry is written atomically."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()

    def path(self, model: str, key: str) -> Path:
        return self.root / _safe_name(model) / key[:2] / f"{key}.json"

    def get(self, model: str, key: str) -> str | None:
        path = self.path(model, key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None  # absent, or damaged by something outside our atomic writes
        if entry.get("model") != model or entry.get("prompt_hash") != key or not isinstance(entry.get("reply"), str):
            return None
        return entry["reply"]

    def put(self, model: str, key: str, reply: str) -> None:
        atomic_write_text(self.path(model, key),
                          json.dumps({"model": model, "prompt_hash": key, "reply": reply}, ensure_ascii=False))


class ChatClient:
    """Base class: caching, concurrency and bookkeeping around one `_request(messages) -> str`."""

    model: str

    def __init__(self, *, cache_dir: str | Path | None = None, use_cache: bool = True, concurrency: int = 1,
                 temperature: float = 0.0, max_tokens: int = 512):
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.cache = ReplyCache(cache_dir or default_cache_dir()) if use_cache else None
        self.concurrency = concurrency
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.stats = ClientStats()
        self._lock = threading.Lock()

    # -- to implement -------------------------------------------------------------------------
    def _request(self, messages: Messages) -> str:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What identifies this judge in results (never credentials)."""
        return {"model": self.model, "temperature": self.temperature, "max_tokens": self.max_tokens}

    # -- public -------------------------------------------------------------------------------
    def _params(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + n)

    def complete(self, messages: Messages) -> LLMResult:
        key = prompt_hash(messages, self._params())
        if self.cache is not None:
            cached = self.cache.get(self.model, key)
            if cached is not None:
                self._count("cache_hits")
                return LLMResult(cached, cached=True)
        try:
            text = self._request(messages)
        except LLMError as exc:
            self._count("failures")
            return LLMResult(None, error=str(exc))
        if self.cache is not None:
            self.cache.put(self.model, key, text)
        return LLMResult(text)

    def complete_many(self, batch: Sequence[Messages], desc: str | None = None, progress: bool = True) -> list[LLMResult]:
        """Complete every conversation (at most `concurrency` at once), results in input order."""
        from tqdm.auto import tqdm

        results: list[LLMResult | None] = [None] * len(batch)
        bar = tqdm(total=len(batch), desc=desc or self.model, disable=not progress or not batch, leave=False)
        try:
            if self.concurrency == 1:
                for i, messages in enumerate(batch):
                    results[i] = self.complete(messages)
                    bar.update()
            else:
                with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                    futures = {pool.submit(self.complete, m): i for i, m in enumerate(batch)}
                    for future in as_completed(futures):
                        results[futures[future]] = future.result()
                        bar.update()
        finally:
            bar.close()
        return [r for r in results if r is not None]


class OpenAIChatClient(ChatClient):
    """Chat completions against an OpenAI-compatible server via the `openai` package.

    Retries and timeouts are the openai client's own (`max_retries`, `timeout`): exponential
    backoff from 0.5 s honouring Retry-After, on 408, 409, 429, 5xx, timeouts and connection
    errors; other errors fail at once. Every HTTP request is counted in `stats` (hook on the
    HTTP client), so `retries` are the requests sent beyond the first of each conversation.
    """

    def __init__(self, model: str = DEFAULT_MODEL, base_url: str | None = None, api_key_env: str = DEFAULT_KEY_ENV,
                 concurrency: int = 8, max_retries: int = 5, timeout: float = 60.0, json_mode: bool = False, **kwargs):
        super().__init__(concurrency=concurrency, **kwargs)
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        self.api_key_env = api_key_env
        self.max_retries = int(max_retries)
        self.timeout = float(timeout)
        self.json_mode = bool(json_mode)
        self._client = None
        self._attempts = threading.local()  # HTTP requests of the conversation this thread is completing
        if not os.environ.get(api_key_env) and not self.base_url:
            raise ValueError(f"environment variable {api_key_env} is not set (needed for the OpenAI API; "
                             "or give base_url= of an OpenAI-compatible server)")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "backend": "openai", "base_url": self.base_url or "https://api.openai.com/v1"}

    def _params(self) -> dict[str, Any]:
        return {**super()._params(), **({"response_format": "json_object"} if self.json_mode else {})}

    def _on_http_request(self, request) -> None:
        self._count("requests")
        self._attempts.n += 1

    def _openai(self):
        with self._lock:
            if self._client is None:
                import openai

                http = openai.DefaultHttpxClient(event_hooks={"request": [self._on_http_request]})
                # "EMPTY": local OpenAI-compatible servers usually need no key, but the package wants one.
                self._client = openai.OpenAI(api_key=os.environ.get(self.api_key_env) or "EMPTY",
                                             base_url=self.base_url, timeout=self.timeout,
                                             max_retries=self.max_retries, http_client=http)
            return self._client

    def _request(self, messages: Messages) -> str:
        import openai

        client = self._openai()
        extra = {"response_format": {"type": "json_object"}} if self.json_mode else {}
        self._attempts.n = 0
        try:
            reply = client.chat.completions.create(model=self.model, messages=messages, temperature=self.temperature,
                                                   max_tokens=self.max_tokens, **extra)
        except openai.OpenAIError as exc:
            error = (f"HTTP {exc.status_code}: {exc.message}" if isinstance(exc, openai.APIStatusError)
                     else f"{exc.__class__.__name__}: {exc}")
            attempts = self._attempts.n
            raise LLMError(f"gave up after {attempts} attempts; last error: {error}" if attempts > 1 else error) from None
        finally:
            self._count("retries", max(0, self._attempts.n - 1))
        try:
            text = reply.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            text = None
        if not isinstance(text, str):
            raise LLMError("reply carries no message content")
        return text


class HFChatClient(ChatClient):
    """Greedy chat generation with a local Hugging Face checkpoint (offline judge)."""

    def __init__(self, pretrained: str, device: str = "cpu", dtype: str = "auto", **kwargs):
        kwargs.setdefault("max_tokens", 256)
        super().__init__(concurrency=1, **kwargs)
        self.pretrained = str(pretrained)
        local = Path(self.pretrained).expanduser()
        self.model = f"hf:{local.resolve() if local.exists() else self.pretrained}"
        self.device = device
        self.dtype = dtype
        self._loaded = None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "backend": "hf"}

    def _load(self):
        if self._loaded is None:
            import transformers

            try:
                tok = transformers.AutoTokenizer.from_pretrained(self.pretrained)
            except (OSError, ValueError) as exc:
                raise LLMError(f"cannot load tokenizer from {self.pretrained}: {exc}") from None
            model = None
            for auto in ("AutoModelForCausalLM", "AutoModelForImageTextToText"):
                try:
                    model = getattr(transformers, auto).from_pretrained(self.pretrained, dtype=self.dtype)
                    break
                except (OSError, ValueError, KeyError):
                    continue
            if model is None:
                raise LLMError(f"cannot load a generative model from {self.pretrained}")
            self._loaded = (tok, model.to(self.device).eval())
        return self._loaded

    def _request(self, messages: Messages) -> str:
        import torch

        tok, model = self._load()
        self._count("requests")
        text_messages = [{"role": m["role"], "content": m["content"]} for m in messages]
        ids = tok.apply_chat_template(text_messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        ids = {k: v.to(self.device) for k, v in ids.items()}
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=self.max_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        return tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*(.*?)\s*```\s*$", re.S)


def parse_json_reply(text: str | None) -> dict[str, Any]:
    """The JSON object of a reply (a surrounding markdown fence is tolerated); ValueError otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty reply")
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:  # many models wrap JSON in a markdown fence even when told not to
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"reply is not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError("reply is not a JSON object")
    return data


# -- construction from "k=v,k=v" strings (CLI --judge_args) -------------------------------------
_TYPED = {"concurrency": int, "max_retries": int, "max_tokens": int, "timeout": float, "temperature": float,
          "use_cache": bool, "json_mode": bool}


def client_from_args(args: str | dict[str, Any] | None, **defaults) -> ChatClient:
    """Build a client from `base_url=...,model=...` (openai) or `judge=hf,pretrained=PATH` (local).

    A string goes through `offside_data.options.parse_kv`; the keys in `_TYPED` must then hold their
    type (an int is a valid float), every other value is taken as text (model=7 is the model "7").
    """
    kv: dict[str, Any] = {**defaults, **(parse_kv(args, "--judge_args") if isinstance(args, str) or args is None
                                         else args)}
    backend = str(kv.pop("judge", kv.pop("backend", "openai")))
    for key, value in kv.items():
        kind = _TYPED.get(key)
        if kind is None:
            kv[key] = str(value) if isinstance(value, (bool, int, float)) else value
        elif kind is float and isinstance(value, int) and not isinstance(value, bool):
            kv[key] = float(value)
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            wanted = "true or false" if kind is bool else "a number" if kind is float else "a whole number"
            raise ValueError(f"--judge_args: {key}={value!r} is not {wanted}")
    if "api_key" in kv:
        raise ValueError("--judge_args: do not pass the API key on the command line; set it in the environment "
                         "(api_key_env=NAME selects the variable, default OPENAI_API_KEY)")
    if backend == "hf" and "pretrained" not in kv:
        raise ValueError("--judge_args: judge=hf needs pretrained=PATH")
    if backend not in ("openai", "hf"):
        raise ValueError(f"--judge_args: unknown judge backend {backend!r}; choose openai or hf")
    try:
        return OpenAIChatClient(**kv) if backend == "openai" else HFChatClient(**kv)
    except (TypeError, ValueError) as exc:  # unknown keyword, missing key, bad value
        raise ValueError(f"--judge_args: {exc}") from None
