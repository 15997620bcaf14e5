"""Shared base of the unlearning methods: a transformers Trainer with loss-term hooks.

A method is one config dataclass plus one `UnlearnTrainer` subclass registered by name. It
fills in some of these hooks:

  forget_loss(model, inputs) / retain_loss(model, inputs)  -> {term name: tensor}; loss = sum
  answer_for(item)       the forget target (PO swaps in "I don't know" answers)
  uses_retain(cfg)       put retain batches into the balanced schedule
  uses_reference(cfg)    needs the frozen reference model (`self.reference_forward`)
  setup()                pre-training work (saliency masks, pruning, ...)
  trains                 False for methods that only edit weights in setup() (MANU)
  lineage_extra()        method-specific entries for offside_lineage.json (masks, pruned neurons)

Every batch is a full model input (input_ids, labels, pixel_values, image_grid_thw, ...),
so the losses see the images: dropping them would turn multimodal unlearning into text
unlearning. Forget and retain data are never mixed in one optimiser step; the paper's
balanced schedule alternates whole steps, `schedule` forget:retain (default 1:3).
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch.utils.data import DataLoader
from transformers import Trainer, TrainingArguments

from offside_data import OffsideItem
from offside_data.encode import IGNORE_INDEX

from ..config import ConfigError, TrainConfig
from ..data import ItemCollator

METHODS: dict[str, type["UnlearnTrainer"]] = {}


def register(name: str):
    """Class decorator: make a trainer available as `offside-train unlearn --method NAME`."""

    def wrap(cls: type["UnlearnTrainer"]) -> type["UnlearnTrainer"]:
        cls.name = name
        METHODS[name] = cls
        return cls

    return wrap


def get_method(name: str) -> type["UnlearnTrainer"]:
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; choose from {', '.join(sorted(METHODS))}")
    return METHODS[name]


@dataclass
class UnlearnConfig(TrainConfig):
    method: str = ""
    learning_rate: float = 2e-5
    schedule: str = "1:3"  # forget:retain optimiser steps, for methods that use retain data

    def steps_ratio(self) -> tuple[int, int]:
        try:
            forget, retain = (int(x) for x in self.schedule.split(":"))
        except ValueError:
            raise ConfigError(f"--schedule must look like FORGET:RETAIN (e.g. 1:3), got {self.schedule!r}") from None
        if forget < 1 or retain < 0:
            raise ConfigError(f"--schedule needs >= 1 forget step and >= 0 retain steps, got {self.schedule!r}")
        return forget, retain

    def validate(self) -> None:
        super().validate()
        get_method(self.method)
        self.steps_ratio()


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p(label) per position, answer-token mask), shifted so position t predicts token t+1."""
    logits, labels = logits[:, :-1].float(), labels[:, 1:]
    mask = labels != IGNORE_INDEX
    logps = torch.gather(logits.log_softmax(-1), 2, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return logps * mask, mask


class BalancedBatchSampler:
    """Batches of one role at a time: `forget_steps` optimiser steps of forget data, then `retain_steps`.

    Indices below `n_forget` are forget items, the rest retain items. One optimiser step is
    `repeat` consecutive batches (gradient accumulation x processes: accelerate hands each
    process every n-th batch), so all of them share a role. An epoch is one pass over the
    forget set; retain batches cycle through the retain set across epochs.
    """

    def __init__(self, n_forget: int, n_retain: int, batch_size: int, forget_steps: int = 1,
                 retain_steps: int = 0, repeat: int = 1, seed: int = 0):
        if retain_steps and not n_retain:
            raise ValueError("a schedule with retain steps needs retain items")
        self.n_forget, self.n_retain, self.batch_size = n_forget, n_retain, batch_size
        self.forget_steps, self.retain_steps, self.repeat = forget_steps, retain_steps, repeat
        self.generator = torch.Generator().manual_seed(seed)
        self._retain = self._stream(n_retain, n_forget) if retain_steps else None

    def _stream(self, n: int, offset: int) -> Iterator[list[int]]:
        """Endless full batches over reshuffled passes of range(offset, offset + n)."""
        pending: list[int] = []
        while True:
            while len(pending) < self.batch_size:
                pending += (torch.randperm(n, generator=self.generator) + offset).tolist()
            yield pending[:self.batch_size]
            pending = pending[self.batch_size:]

    @property
    def cycles(self) -> int:
        forget_batches = math.ceil(self.n_forget / self.batch_size)
        return math.ceil(forget_batches / (self.repeat * self.forget_steps))

    def __len__(self) -> int:
        return self.cycles * (self.forget_steps + self.retain_steps) * self.repeat

    def __iter__(self) -> Iterator[list[int]]:
        forget = self._stream(self.n_forget, 0)
        for _ in range(self.cycles):
            for _ in range(self.forget_steps * self.repeat):
                yield next(forget)
            for _ in range(self.retain_steps * self.repeat):
                yield next(self._retain)


class RoleCollator:
    """Index batch of one role -> model inputs plus `role`; forget targets come from `answer_for`."""

    def __init__(self, items: Sequence[OffsideItem], n_forget: int, forget: ItemCollator, retain: ItemCollator):
        self.items, self.n_forget, self.forget, self.retain = items, n_forget, forget, retain

    def __call__(self, indices: Sequence[int]) -> dict:
        roles = {"forget" if i < self.n_forget else "retain" for i in indices}
        if len(roles) != 1:
            raise RuntimeError("a batch mixes forget and retain items; the balanced schedule forbids it")
        role = roles.pop()
        batch = (self.forget if role == "forget" else self.retain)([self.items[i] for i in indices])
        return {**batch, "role": role}


class UnlearnTrainer(Trainer):
    name = "base"
    config_class = UnlearnConfig
    trains = True  # False: setup() is the whole method and run_unlearn skips train()

    def __init__(self, model, cfg: UnlearnConfig, processor, forget: Sequence[OffsideItem],
                 retain: Sequence[OffsideItem] = (), ref_model=None, callbacks=None):
        self.cfg = cfg
        self.forget_items = list(forget)
        self.retain_items = list(retain) if self.uses_retain(cfg) else []
        if self.uses_retain(cfg) and not self.retain_items:
            raise ConfigError(f"method {self.name} needs retain items, found none")
        root, size = cfg.data, cfg.image_size
        self.role_collator = RoleCollator(
            self.forget_items + self.retain_items, len(self.forget_items),
            ItemCollator(processor, root, cfg.max_length, size, self.answer_for),
            ItemCollator(processor, root, cfg.max_length, size),
        )
        super().__init__(model=model, args=TrainingArguments(**cfg.training_kwargs()), processing_class=processor,
                         train_dataset=self.forget_items + self.retain_items, data_collator=self.role_collator,
                         callbacks=callbacks)
        self.model_accepts_loss_kwargs = False  # our losses are per-batch means: let Trainer scale for accumulation
        self.ref_model = self._prepare_reference(ref_model) if ref_model is not None else None
        if self.uses_reference(cfg) and ref_model is None and not hasattr(self._unwrapped(), "disable_adapter"):
            raise ConfigError(f"method {self.name} needs a reference model (full fine-tuning: load one)")
        self.step_roles: Counter = Counter()
        self._terms: dict[str, list[float]] = defaultdict(list)
        self.setup()

    # ---- hooks -------------------------------------------------------------------------------
    @classmethod
    def uses_retain(cls, cfg: UnlearnConfig) -> bool:
        return False

    @classmethod
    def uses_reference(cls, cfg: UnlearnConfig) -> bool:
        return False

    def setup(self) -> None:
        """Runs once before training (masks, pruning); nothing by default."""

    def answer_for(self, item: OffsideItem) -> str:
        return item.answer

    def lineage_extra(self) -> dict:
        """Entries added to the checkpoint's lineage record; none by default."""
        return {}

    def forget_loss(self, model, inputs: dict) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def retain_loss(self, model, inputs: dict) -> dict[str, torch.Tensor]:
        raise NotImplementedError(f"method {self.name} has no retain term")

    # ---- helpers for the hooks -----------------------------------------------------------------
    @staticmethod
    def nll(model, inputs: dict) -> torch.Tensor:
        """Mean NLL of the answer tokens (the model's own shifted cross-entropy)."""
        return model(**inputs).loss

    @staticmethod
    def logits(model, inputs: dict) -> torch.Tensor:
        return model(**{k: v for k, v in inputs.items() if k != "labels"}).logits

    def sequence_logprob(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """log p(answer | prompt, image) per example: summed over answer tokens."""
        logps, _ = token_logprobs(logits, labels)
        return logps.sum(-1)

    @torch.no_grad()
    def reference_forward(self, fn):
        """fn(frozen reference) without gradients: the loaded one, else this model with its LoRA adapter off."""
        if self.ref_model is not None:
            return fn(self.ref_model)
        with self._unwrapped().disable_adapter():
            return fn(self.model)

    def reference_logits(self, inputs: dict) -> torch.Tensor:
        return self.reference_forward(lambda model: self.logits(model, inputs))

    def _unwrapped(self):
        return self.accelerator.unwrap_model(self.model)

    def _prepare_reference(self, ref_model):
        """Frozen, eval mode, on this process's device (sharded like the policy under DeepSpeed/FSDP)."""
        ref_model.eval().requires_grad_(False)
        if self.is_deepspeed_enabled:
            from trl.models.utils import prepare_deepspeed

            return prepare_deepspeed(ref_model, self.accelerator)
        if self.is_fsdp_enabled:
            from trl.models.utils import prepare_fsdp

            return prepare_fsdp(ref_model, self.accelerator)
        return ref_model.to(self.accelerator.device)

    # ---- Trainer overrides -------------------------------------------------------------------
    def get_train_dataloader(self) -> DataLoader:
        forget_steps, retain_steps = self.cfg.steps_ratio() if self.retain_items else (1, 0)
        sampler = BalancedBatchSampler(
            len(self.forget_items), len(self.retain_items), self.args.per_device_train_batch_size,
            forget_steps, retain_steps, self.args.gradient_accumulation_steps * self.accelerator.num_processes,
            self.args.seed,
        )
        loader = DataLoader(range(len(self.train_dataset)), batch_sampler=sampler, collate_fn=self.data_collator,
                            num_workers=self.args.dataloader_num_workers)
        return self.accelerator.prepare(loader)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        role = inputs.pop("role")
        terms = self.forget_loss(model, inputs) if role == "forget" else self.retain_loss(model, inputs)
        loss = sum(terms.values())
        if model.training:
            self.step_roles[role] += 1
            for key, value in terms.items():
                self._terms[key].append(value.detach().float().item())
        return (loss, None) if return_outputs else loss

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        """Add the mean of each loss term since the last log (forget, retain, KL, ...)."""
        if "loss" in logs:
            logs.update({key: sum(vals) / len(vals) for key, vals in self._terms.items() if vals})
            self._terms.clear()
        super().log(logs, *args, **kwargs)


__all__ = ["METHODS", "BalancedBatchSampler", "UnlearnConfig", "UnlearnTrainer", "get_method", "register",
           "token_logprobs"]
