"""RMU (representation misdirection): scramble forget activations at one language-model layer.

Forget steps: mean over answer tokens of ||h_L(x) - c * u||^2 / d, with h_L the output of
decoder layer `layer`, u a fixed random unit vector (seeded) and c `steering_coeff`, so
the forget answers' representations become noise that later layers cannot read.
Retain steps: retain_weight * the same squared distance between h_L and the frozen model's h_L
on retain tokens, so everything else keeps its representation. Only the MLPs of
`update_layers` (default: layer-2 .. layer) are trained.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import torch

from offside_data.encode import IGNORE_INDEX

from ..checkpoint import language_model_name
from ..config import ConfigError, option
from .base import UnlearnConfig, UnlearnTrainer, register, retain_weight_option


def layer_mse(hidden: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over masked positions of the squared distance per hidden unit."""
    diff = (hidden.float() - target.float())[mask]
    return diff.pow(2).mean()


@dataclass
class RMUConfig(UnlearnConfig):
    method = "rmu"
    search_space = {**UnlearnConfig.search_space, "steering_coeff": [6.5, 20.0]}
    layer: int = option(-1, "Decoder layer whose output is steered; -1: the middle layer.")
    update_layers: str = option("", "Comma-separated decoder layers whose MLPs train; empty: layer-2 .. layer.")
    steering_coeff: float = option(6.5, "Norm c of the random control vector c*u.")
    retain_loss: Literal["activations", "nll", "kl", "none"] = option(
        "activations", "Retain term: activations = MSE between the layer output and the frozen reference's, "
                       "or nll / kl / none as for the other methods.")
    retain_weight: float = retain_weight_option(100.0)

    @property
    def uses_reference(self) -> bool:
        """The activations term compares with the frozen reference's layer output, as kl does."""
        return super().uses_reference or (self.uses_retain and self.retain_loss == "activations")


@register(RMUConfig)
class RMUTrainer(UnlearnTrainer):

    def setup(self):
        cfg = self.cfg
        text = self._unwrapped().config.get_text_config()
        n_layers, width = text.num_hidden_layers, text.hidden_size
        self.layer = cfg.layer if cfg.layer >= 0 else n_layers // 2
        if self.layer >= n_layers:
            raise ConfigError(f"--layer {cfg.layer}: the model has {n_layers} decoder layers")
        try:
            layers = ([int(x) for x in cfg.update_layers.split(",")] if cfg.update_layers.strip()
                      else list(range(max(0, self.layer - 2), self.layer + 1)))
        except ValueError:
            raise ConfigError(f"--update_layers must be comma-separated integers, got {cfg.update_layers!r}") from None
        if any(not 0 <= i <= self.layer for i in layers):
            raise ConfigError(f"--update_layers must lie in 0..{self.layer} (layers after --layer cannot move it)")
        language = re.escape(language_model_name(self.model))
        pattern = re.compile(rf"{language}\.layers\.({'|'.join(map(str, layers))})\.mlp\.")
        trainable = 0
        for name, param in self.model.named_parameters():
            keep = param.requires_grad and bool(pattern.search(name))
            param.requires_grad_(keep)
            trainable += keep
        if not trainable:
            raise ConfigError(f"rmu: no trainable MLP parameters in layers {layers}")
        self.update_layers = layers
        direction = torch.rand(width, generator=torch.Generator().manual_seed(cfg.seed))
        self.control = cfg.steering_coeff * direction / direction.norm()

    def hidden(self, model, inputs) -> torch.Tensor:
        out = model(**{k: v for k, v in inputs.items() if k != "labels"}, output_hidden_states=True)
        return out.hidden_states[self.layer + 1]  # [0] is the embedding output

    def forget_loss(self, model, inputs):
        hidden = self.hidden(model, inputs)
        mask = inputs["labels"] != IGNORE_INDEX
        return {"forget_rmu": layer_mse(hidden, self.control.to(hidden.device).expand_as(hidden), mask)}

    def retain_loss(self, model, inputs):
        if self.cfg.retain_loss != "activations":
            return super().retain_loss(model, inputs)
        frozen = self.reference_forward(lambda ref: self.hidden(ref, inputs))
        mask = inputs["attention_mask"].bool()
        return {"retain_rmu": self.cfg.retain_weight * layer_mse(self.hidden(model, inputs), frozen, mask)}

    def lineage_extra(self):
        return {"rmu": {"layer": self.layer, "update_layers": self.update_layers}}
