"""Model registry. Built-ins: qwen2_5_vl, hf_vlm, openai_chat, vllm_vlm; plug-ins via the entry-point
group `offside_eval.models` (name -> class implementing the `LMM` interface)."""
from __future__ import annotations

from importlib import import_module, metadata
from typing import Any

from .base import LMM, ModelError, parse_model_args

BUILTIN = {
    "qwen2_5_vl": "offside_eval.models.qwen2_5_vl:Qwen25VL",
    "hf_vlm": "offside_eval.models.hf_vlm:HFVLM",
    "openai_chat": "offside_eval.models.openai_chat:OpenAIChat",
    "vllm_vlm": "offside_eval.models.vllm_vlm:VLLMVLM",
}
ENTRY_POINT_GROUP = "offside_eval.models"


def available_models() -> dict[str, str]:
    found = dict(BUILTIN)
    try:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            found.setdefault(ep.name, ep.value)
    except Exception:  # broken metadata of some unrelated distribution
        pass
    return found


def get_model_class(name: str) -> type[LMM]:
    models = available_models()
    if name not in models:
        import difflib

        close = difflib.get_close_matches(name, models, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ModelError(f"unknown model {name!r}{hint} (available: {', '.join(sorted(models))})")
    module, _, attr = models[name].partition(":")
    return getattr(import_module(module), attr)


def load_model(name: str, model_args: str | dict[str, Any] | None = None, **defaults) -> LMM:
    """Instantiate a registered model; `model_args` as 'k=v,k=v' or a dict; defaults (batch_size, device) yield to it."""
    args = parse_model_args(model_args) if not isinstance(model_args, dict) else dict(model_args)
    cls = get_model_class(name)
    for key, value in defaults.items():
        if value is not None:
            args.setdefault(key, value)
    return cls.create(args)


__all__ = ["LMM", "ModelError", "available_models", "get_model_class", "load_model", "parse_model_args"]
