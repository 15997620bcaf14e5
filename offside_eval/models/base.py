"""The model interface every backend implements."""
from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from offside_data.options import OptionError, parse_kv

from ..requests import GenerationRequest, LoglikelihoodRequest


class ModelError(ValueError):
    """Bad model name / arguments, or a request type the model cannot serve."""


def parse_model_args(text: str | None) -> dict[str, Any]:
    """`offside_data.options.parse_kv` for --model_args, raising ModelError (what the CLI reports in one line)."""
    try:
        return parse_kv(text, "--model_args")
    except OptionError as exc:
        raise ModelError(str(exc)) from None


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
    def check_args(cls, args: dict[str, Any]) -> None:
        """Unknown model_args are an error before anything loads."""
        params = inspect.signature(cls.__init__).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            unknown = sorted(set(args) - set(params) - {"self"})
            if unknown:
                allowed = sorted(set(params) - {"self"})
                raise ModelError(f"{cls.name}: unknown model_args {', '.join(unknown)} (accepted: {', '.join(allowed)})")

    @classmethod
    def create(cls, args: dict[str, Any]) -> LMM:
        cls.check_args(args)
        return cls(**args)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[tuple[float, bool]]:
        raise ModelError(f"model {self.name!r} cannot compute log-likelihoods")

    def generate_until(self, requests: Sequence[GenerationRequest]) -> list[str]:
        raise ModelError(f"model {self.name!r} cannot generate")

    def chat_prompt(self, messages: list[dict]) -> str | None:
        """The text the model sees for `messages` (its chat template applied, ready for the answer), for
        the samples files; None when the backend has no template to show (an API model)."""
        return None

    def config(self) -> dict[str, Any]:
        """What results.json records about the model."""
        return {"name": self.name}
