"""MANU: modality-aware neuron pruning; a weight edit, no gradient training.

Stage 1 (statistics): the frozen model runs over forget and retain items, once with their
images (mm) and once text-only; forward pre-hooks on every MLP's down_proj see the
intermediate neuron activations a, and running sums over the answer tokens (all patches for
vision MLPs) give four importances per neuron: mean |a|, frequency of |a| > threshold,
variance and RMS. Nothing but the sums is kept, so memory does not grow with the data.
Score, per modality: each importance as forget / (retain + eps), divided by its maximum over
the group (language or vision neurons), then averaged over the four importances.
Stage 2 (pruning): the top `prune_ratio_mm` of neurons by mm score and the top
`prune_ratio_text` by text score are pruned (union): their rows of gate/up_proj (and biases)
and their column of down_proj are zeroed. The pruned neurons go to manu_pruned.json and
their counts to the lineage; the checkpoint holds full weights.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from offside_data.encode import IGNORE_INDEX
from offside_data.fileio import atomic_write_text
from offside_data.records import text_only

from ..checkpoint import language_model_name
from ..config import ConfigError, option
from ..data import RecordCollator
from .base import UnlearnConfig, WeightEditor, register

PRUNED_FILE = "manu_pruned.json"
VISION_MLP = re.compile(r".*visual\.blocks\.(\d+)\.mlp$")
IMPORTANCES = ("mean_abs", "frequency", "variance", "rms")


class NeuronStats:
    """Running sums over tokens of one MLP's intermediate activations (tokens x neurons)."""

    def __init__(self, width: int, threshold: float):
        self.threshold, self.count = threshold, 0
        self.sums = torch.zeros(4, width, dtype=torch.float64)  # |a|, [|a| > t], a, a^2

    def update(self, acts: torch.Tensor) -> None:
        a = acts.detach().to("cpu", torch.float64)
        self.count += a.shape[0]
        self.sums += torch.stack([a.abs().sum(0), (a.abs() > self.threshold).sum(0), a.sum(0), a.pow(2).sum(0)])

    def importance(self) -> torch.Tensor:
        """(4, neurons): mean |a|, share of |a| > threshold, variance, RMS."""
        abs_sum, above, total, squares = self.sums / max(self.count, 1)
        return torch.stack([abs_sum, above, (squares - total ** 2).clamp(min=0), squares.sqrt()])


def neuron_scores(forget: list[NeuronStats], retain: list[NeuronStats], eps: float) -> torch.Tensor:
    """Concatenated over the group's MLPs: mean over importances of max-normalised forget/(retain + eps)."""
    ratio = torch.cat([f.importance() / (r.importance() + eps) for f, r in zip(forget, retain)], dim=1)
    return (ratio / ratio.amax(1, keepdim=True).clamp(min=eps)).mean(0)


def top_fraction(scores: torch.Tensor, fraction: float) -> set[int]:
    k = int(round(fraction * scores.numel()))
    return set(scores.topk(k).indices.tolist()) if k else set()


@dataclass
class MANUConfig(UnlearnConfig):
    method = "manu"
    search_space = {"prune_ratio_mm": [0.01, 0.05, 0.1], "prune_ratio_text": [0.01, 0.05]}  # no training: no lr
    finetune: Literal["lora", "full"] = option("full", "Pruning edits the weights themselves: full only.")
    prune_ratio_mm: float = option(0.01, "Share of neurons pruned by the multimodal score.")
    prune_ratio_text: float = option(0.01, "Share of neurons pruned by the text-only score.")
    vision: bool = option(False, "Also score and prune the vision encoder's MLP neurons (multimodal pass only).")
    threshold: float = option(0.01, "|activation| above which a neuron counts as firing.")
    stat_batches: int = option(0, "Batches per role and modality for the statistics; 0: all items.")
    eps: float = option(1e-6, "Added to the retain importances before dividing.")

    def __post_init__(self):
        super().__post_init__()
        if self.finetune != "full":
            raise ConfigError("manu prunes the weights themselves: use --finetune full")
        for name in ("prune_ratio_mm", "prune_ratio_text"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"--{name} must be in [0, 1], got {getattr(self, name)}")

    @property
    def uses_retain(self) -> bool:
        return True  # the scores compare forget with retain activations

    @property
    def uses_reference(self) -> bool:
        return False


@register(MANUConfig)
class MANU(WeightEditor):
    def mlps(self) -> dict[str, list[torch.nn.Module]]:
        groups = {"language": [], "vision": []}
        language_mlp = re.compile(rf"{re.escape(language_model_name(self.model))}\.layers\.(\d+)\.mlp")
        for name, module in self.model.named_modules():
            if language_mlp.fullmatch(name):
                groups["language"].append(module)
            elif VISION_MLP.fullmatch(name) and self.cfg.vision:
                groups["vision"].append(module)
        if not groups["language"]:
            raise ConfigError("manu: no language-model MLP (LANGUAGE_MODEL.layers.N.mlp) found")
        return {group: modules for group, modules in groups.items() if modules}

    @torch.no_grad()
    def collect(self, items, groups) -> dict[str, list[NeuronStats]]:
        """Stream the items through the model; per group, one NeuronStats per MLP."""
        stats = {g: [NeuronStats(m.down_proj.in_features, self.cfg.threshold) for m in mods] for g, mods in groups.items()}
        answer = {}

        def hook(stat, group):
            def record(_module, args):
                acts = args[0]
                stat.update(acts[answer["mask"]] if group == "language" else acts.reshape(-1, acts.shape[-1]))
            return record

        handles = [m.down_proj.register_forward_pre_hook(hook(s, g))
                   for g, mods in groups.items() for m, s in zip(mods, stats[g])]
        collator = RecordCollator(self.processor, self.cfg.max_length)
        training, size = self.model.training, self.cfg.per_device_train_batch_size
        items = items[:self.cfg.stat_batches * size or None]
        self.model.eval()
        try:
            for start in range(0, len(items), size):
                inputs = {k: v.to(self.device) for k, v in collator(items[start:start + size]).items()}
                answer["mask"] = inputs["labels"] != IGNORE_INDEX
                self.model(**{k: v for k, v in inputs.items() if k != "labels"})
        finally:
            for handle in handles:
                handle.remove()
            self.model.train(training)
        return stats

    def edit(self):
        cfg, groups = self.cfg, self.mlps()
        forget, retain = self.forget_items, self.retain_items
        passes = {"text": (forget, retain)}  # --modality text: the items are text-only already
        if cfg.modality == "mm":
            passes = {"mm": (forget, retain), "text": (text_only(forget), text_only(retain))}
        self.stats, chosen = {}, {g: set() for g in groups}
        for modality, (forgotten, kept) in passes.items():
            if not forgotten or not kept:
                raise ConfigError(f"manu: no {modality} forget or retain items to score neurons on")
            f, r = self.collect(forgotten, groups), self.collect(kept, groups)
            self.stats[modality] = (f, r)
            ratio = cfg.prune_ratio_mm if modality == "mm" else cfg.prune_ratio_text
            for group in groups:
                if group == "vision" and modality == "text":
                    continue  # text-only inputs never reach the vision encoder
                chosen[group] |= top_fraction(neuron_scores(f[group], r[group], cfg.eps), ratio)
        self.pruned = {g: self.prune(groups[g], sorted(chosen[g])) for g in groups}
        if self.main_process:
            atomic_write_text(Path(cfg.output_dir) / PRUNED_FILE, json.dumps(self.pruned, indent=1) + "\n")

    @torch.no_grad()
    def prune(self, mlps: list[torch.nn.Module], flat: list[int]) -> dict[str, list[int]]:
        """Zero the chosen neurons (indices over the concatenated MLPs); returns {MLP index: neurons}."""
        out, offset = {}, 0
        for index, mlp in enumerate(mlps):
            width = mlp.down_proj.in_features
            local = [i - offset for i in flat if offset <= i < offset + width]
            offset += width
            if not local:
                continue
            rows = torch.tensor(local, device=mlp.down_proj.weight.device)
            for proj in (mlp.gate_proj, mlp.up_proj):
                proj.weight[rows] = 0
                if proj.bias is not None:
                    proj.bias[rows] = 0
            mlp.down_proj.weight[:, rows] = 0
            out[str(index)] = local
        return out

    def lineage_extra(self):
        counts = {g: sum(len(v) for v in layers.values()) for g, layers in self.pruned.items()}
        return {"manu": {"pruned_file": PRUNED_FILE, "pruned_neurons": counts,
                         "prune_ratio_mm": self.cfg.prune_ratio_mm, "prune_ratio_text": self.cfg.prune_ratio_text}}
