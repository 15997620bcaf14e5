"""The model interface every backend implements."""
from __future__ import annotations

import inspect
from typing import Any, Sequence

from ..requests import GenerationRequest, LoglikelihoodRequest


class ModelError(ValueError):
    """Bad model name / arguments, or a request type the model cannot serve."""


def _convert(value: str) -> Any:
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def parse_model_args(text: str | None) -> dict[str, Any]:
    """'pretrained=PATH,dtype=float32,batch_size=8' -> dict (numbers and booleans converted)."""
    args: dict[str, Any] = {}
    if not text:
        return args
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise ModelError(f"bad model_args entry {part!r}: expected key=value")
        args[key.strip()] = _convert(value.strip())
    return args


class LMM:
    """Backends implement `loglikelihood` and/or `generate_until`.

    loglikelihood(requests) -> [(sum of continuation log-probs, continuation is the greedy decode)]
    generate_until(requests) -> [generated text]
    Results come back in request order. Requests sharing a `group` key (options of one MC
    item) have the same context; a backend may encode that context once.
    """

    name = "lmm"
    supports_loglikelihood = True

    @classmethod
    def create(cls, args: dict[str, Any]) -> "LMM":
        params = inspect.signature(cls.__init__).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            unknown = sorted(set(args) - set(params) - {"self"})
            if unknown:
                allowed = sorted(set(params) - {"self"})
                raise ModelError(f"{cls.name}: unknown model_args {', '.join(unknown)} (accepted: {', '.join(allowed)})")
        return cls(**args)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[tuple[float, bool]]:
        raise ModelError(f"model {self.name!r} cannot compute log-likelihoods")

    def generate_until(self, requests: Sequence[GenerationRequest]) -> list[str]:
        raise ModelError(f"model {self.name!r} cannot generate")

    def config(self) -> dict[str, Any]:
        """What results.json records about the model."""
        return {"name": self.name}
