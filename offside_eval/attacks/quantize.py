"""Weight quantization attack (Zhang et al., ICLR 2025, "Catastrophic Failure of LLM Unlearning via
Quantization"): unlearning moves weights by less than a 4-bit grid step, so rounding the unlearned
model to that grid can land it back on the original model's answers.

Round-to-nearest, symmetric, per group of `group_size` input weights of every linear layer (a layer
whose width the group does not divide is quantized per output row), through torchao
(`IntxWeightOnlyConfig`; the `quant` extra). The weights are then dequantized in place: weight-only
quantization computes with exactly these values, and every backend and device can run them.
"""
from __future__ import annotations

import logging

import torch

from offside_data.extras import require

from .registry import Attack, AttackError, register_attack

log = logging.getLogger("offside_eval")
BITS = {4: torch.int4, 8: torch.int8}


def quantize_weights(model: torch.nn.Module, bits: int = 4, group_size: int = 128) -> int:
    """Quantize-dequantize every nn.Linear of `model` in place; returns how many were quantized."""
    if bits not in BITS:
        raise AttackError(f"--attack quantize: bits must be one of {', '.join(map(str, BITS))}, got {bits}")
    quantization = require("torchao", "--attack quantize").quantization
    config, PerAxis, PerGroup = quantization.IntxWeightOnlyConfig, quantization.PerAxis, quantization.PerGroup
    linears = {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    grouped = {n for n, m in linears.items() if m.in_features % group_size == 0}
    for names, granularity in ((grouped, PerGroup(group_size)), (set(linears) - grouped, PerAxis(0))):
        if names:
            quantization.quantize_(model, config(weight_dtype=BITS[bits], granularity=granularity),
                                           filter_fn=lambda module, fqn, names=names: fqn in names)
    for module in linears.values():
        module.weight = torch.nn.Parameter(module.weight.dequantize(), requires_grad=False)
    log.info("quantize: %d linear layers rounded to %d bits (%d per group of %d, %d per row)", len(linears), bits,
             len(grouped), group_size, len(linears) - len(grouped))
    return len(linears)


register_attack(Attack("quantize", "weights", "weights: round-to-nearest per-group quantization (torchao), "
                       "dequantized in place", quantize_weights, {"bits": 4, "group_size": 128}, requires="torchao"))
