"""`qwen2_5_vl`: Qwen2.5-VL through transformers (full checkpoints, offside adapter chains,
an extra peft LoRA via `adapter=`), with `min_pixels` / `max_pixels` for the image processor."""
from __future__ import annotations

import logging
from typing import Any

from .hf_vlm import HFVLM

log = logging.getLogger("offside_eval")


class Qwen25VL(HFVLM):
    name = "qwen2_5_vl"

    def __init__(self, pretrained: str | None = None, adapter: str | None = None, dtype: Any = None,
                 device: str | None = None, device_map: Any = None, attn_implementation: str | None = "sdpa",
                 batch_size: int | str = 1, min_pixels: int | None = None, max_pixels: int | None = None,
                 max_new_tokens: int = 64, model: Any = None, processor: Any = None, cache_images: bool = True,
                 shared_prefix: bool = True, max_batch_size: int = 64):
        pixels = {k: v for k, v in (("min_pixels", min_pixels), ("max_pixels", max_pixels)) if v is not None}
        super().__init__(pretrained=pretrained, adapter=adapter, dtype=dtype, device=device, device_map=device_map,
                         attn_implementation=attn_implementation, batch_size=batch_size,
                         max_new_tokens=max_new_tokens, model=model, processor=processor,
                         cache_images=cache_images, shared_prefix=shared_prefix, max_batch_size=max_batch_size,
                         **pixels)
        if self.model_type != "qwen2_5_vl":
            log.warning("qwen2_5_vl: checkpoint is a %r model; hf_vlm is the generic adapter", self.model_type)

    def _model_cls(self):
        from transformers import Qwen2_5_VLForConditionalGeneration

        return Qwen2_5_VLForConditionalGeneration
