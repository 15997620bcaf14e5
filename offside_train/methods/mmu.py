"""MMUnlearner: gradient ascent restricted by a weight-saliency mask (forget-specific weights only).

Saliency (setup, before training): S_forget = |mean gradient of NLL(forget, with images)| and
S_retain = |mean gradient of NLL(retain)| per weight, where retain is the multimodal retain
set plus the forget players' text-only questions (the textual knowledge MMUnlearner keeps;
in --modality text the forget questions are already text-only, so retain alone).
Mask rule, per tensor: a weight is selected when S_forget > saliency_ratio * S_retain and
its ratio S_forget / S_retain is within the tensor's top `mask_fraction`.
Loss: GD with the balanced schedule: -NLL(forget) on forget steps, NLL(retain) on retain
steps; every gradient is multiplied by the mask, so unselected weights never move (Adam on an
always-zero gradient takes zero steps; weight decay is refused because it would move them).

Full fine-tuning: the mask covers the trainable matrices matching `mask_params`; every
other parameter (and any tensor with nothing selected) is frozen. LoRA: the adapter cannot express an elementwise mask on
W + B A, so the mask is per output row: saliency is taken on the base weights of the
adapted modules and summed over each row, and lora_B rows outside the mask get zero gradient.
lora_B starts at zero, so those rows of the merged weight stay bit-identical to the base.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from offside_data.records import text_only

from ..checkpoint import language_model_name
from ..config import ConfigError, option
from .base import RetainLoss, UnlearnConfig, UnlearnTrainer, register, retain_loss_option
from .ga import GradientAscent


def select_mask(forget: torch.Tensor, retain: torch.Tensor, ratio: float, fraction: float) -> torch.Tensor:
    """Bool mask: forget saliency > ratio * retain saliency, and within the top `fraction` by S_f / S_r."""
    score = forget / (retain + 1e-12)
    mask = forget > ratio * retain
    k = int(round(fraction * score.numel()))
    if k < score.numel():
        top = torch.zeros(score.numel(), dtype=torch.bool, device=score.device)
        if k:
            top[score.flatten().topk(k).indices] = True
        mask &= top.view_as(mask)
    return mask


@dataclass
class MMUConfig(UnlearnConfig):
    method = "mmu"
    search_space = {**UnlearnConfig.search_space, "mask_fraction": [0.1, 0.3]}
    retain_loss: RetainLoss = retain_loss_option("nll")
    saliency_ratio: float = option(1.0, "A weight is selected only where S_forget > saliency_ratio * S_retain.")
    mask_fraction: float = option(0.1, "Share of each tensor the mask may select, by S_forget / S_retain; 1: the "
                                       "ratio rule alone.")
    mask_params: str = option("", "Regex of the weights (full FT) or adapted modules (LoRA) the mask may select; "
                                  "default: the language model's, found in the model.")
    saliency_batches: int = option(0, "Batches per role for the saliency pass; 0: all items.")
    retain_forget_text: bool = option(True, "mm modality: the forget players' text-only QAs join the retain set.")

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.mask_fraction <= 1:
            raise ConfigError(f"--mask_fraction must be in (0, 1], got {self.mask_fraction}")
        if self.weight_decay:
            raise ConfigError("mmu: --weight_decay must be 0 (decoupled decay would move masked-out weights)")


@register(MMUConfig)
class MMUTrainer(UnlearnTrainer):
    forget_loss = GradientAscent.forget_loss  # MMUnlearner is gradient ascent; only its gradients are masked

    def __init__(self, model, cfg, processor, forget, retain=(), **kwargs):
        if cfg.modality == "mm" and cfg.retain_forget_text:
            retain = list(retain) + text_only(forget)
        super().__init__(model, cfg, processor, forget, retain, **kwargs)

    def _targets(self) -> dict[str, tuple[torch.nn.Parameter, torch.nn.Module | None]]:
        """name -> (weight whose saliency is measured, its LoRA module or None for full FT)."""
        language = rf"{re.escape(language_model_name(self.model))}\..*"
        pattern, found = re.compile(self.cfg.mask_params or language), {}
        for name, module in self.model.named_modules():
            lora_b = getattr(module, "lora_B", None)
            if pattern.fullmatch(name) and lora_b is not None and "default" in lora_b:
                found[name] = (module.base_layer.weight, module)
        if not found:  # full fine-tuning: every trainable matrix
            found = {name: (p, None) for name, p in self.model.named_parameters()
                     if p.requires_grad and p.dim() >= 2 and pattern.fullmatch(name)}
        if not found:
            raise ConfigError(f"mmu: --mask_params {pattern.pattern!r} matches no trainable weight")
        return found

    def _saliency(self, targets, indices: list[int]) -> dict[str, torch.Tensor]:
        """|mean NLL gradient| per target over batches of `indices` (one role)."""
        for weight, _ in targets.values():
            weight.grad = None
        size, limit = self.args.per_device_train_batch_size, self.cfg.saliency_batches
        batches = [indices[i:i + size] for i in range(0, len(indices), size)][:limit or None]
        for chunk in batches:
            inputs = self._prepare_inputs({k: v for k, v in self.role_collator(chunk).items() if k != "role"})
            (self.nll(self.model, inputs) / len(batches)).backward()
        return {name: weight.grad.abs() for name, (weight, _) in targets.items()}

    def setup(self):
        targets = self._targets()
        lora = next(iter(targets.values()))[1] is not None
        flags = {name: w.requires_grad for name, (w, _) in targets.items()}
        for weight, _ in targets.values():
            weight.requires_grad_(True)
        training = self.model.training
        self.model.eval()
        n = len(self.forget_items)
        forget = self._saliency(targets, list(range(n)))
        retain = self._saliency(targets, list(range(n, n + len(self.retain_items))))
        self.model.zero_grad(set_to_none=True)
        self.model.train(training)
        self.masks, selected, total, keep = {}, 0, 0, set()
        for name, (weight, module) in targets.items():
            weight.requires_grad_(flags[name])
            f, r = (forget[name].sum(1), retain[name].sum(1)) if lora else (forget[name], retain[name])
            mask = select_mask(f, r, self.cfg.saliency_ratio, self.cfg.mask_fraction)
            selected, total = selected + int(mask.sum()), total + mask.numel()
            if not mask.any():
                continue
            param = module.lora_B["default"].weight if lora else weight
            mask = (mask[:, None] if lora else mask).to(param.dtype)
            self.masks[name] = mask
            param.register_hook(lambda grad, m=mask: grad * m)
            keep |= {id(param)} | ({id(module.lora_A["default"].weight)} if lora else set())
        for param in self.model.parameters():  # everything outside the mask is frozen
            if id(param) not in keep:
                param.requires_grad_(False)
        if not selected:
            raise ConfigError("mmu: the saliency mask selected no weight; lower --saliency_ratio")
        self.mask_summary = {"granularity": "lora_B rows" if lora else "weights", "selected": selected,
                             "total": total, "tensors": len(self.masks)}

    def lineage_extra(self):
        return {"mmu_mask": self.mask_summary}
