"""What every unlearning method shares: its config base, the registry, the balanced schedule,
the retain terms, the preference loss, and the two ways a method runs.

A method is one file: a config dataclass (its options and defaults) registered with the class
that runs it. Gradient methods subclass `UnlearnTrainer` and define `forget_loss` (plus, where
needed, `answer_for`, `setup`, `lineage_extra`); the retain term is chosen by the config
(`retain_loss: nll | kl | none`, weighted by `retain_weight`), so GD is GA with an NLL retain
term and KL is GA with a KL one. Methods that edit weights once instead of training subclass
`WeightEditor` and define `edit`.

Every batch is a full model input (input_ids, labels, pixel_values, image_grid_thw, ...),
so the losses see the images. Forget and retain data are never mixed in one optimiser step;
the paper's balanced schedule alternates whole steps, `schedule` forget:retain (default 1:3).
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from transformers import Trainer
from trl.trainer.utils import selective_log_softmax

from offside_data.encode import IGNORE_INDEX
from offside_data.options import did_you_mean
from offside_data.records import TrainRecord

from ..checkpoint import ResumesSavedWeights
from ..config import ConfigError, TrainConfig, option
from ..data import RecordCollator

METHODS: dict[str, type[UnlearnConfig]] = {}


def register(config_class: type[UnlearnConfig]) -> Callable[[type], type]:
    """`register(Config)(Runner)`: make `offside-train unlearn --method Config.method` run Runner."""

    def wrap(runner: type) -> type:
        config_class.runner = runner
        METHODS[config_class.method] = config_class
        return runner

    return wrap


def get_method(name: str) -> type[UnlearnConfig]:
    """The config class of a registered method."""
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}{did_you_mean(name, sorted(METHODS))}; "
                          f"choose from {', '.join(sorted(METHODS))}")
    return METHODS[name]


RetainLoss = Literal["nll", "kl", "none"]


def retain_loss_option(default: str):
    """The `retain_loss` field with a method's default."""
    return option(default, "Retain term on retain steps: nll = NLL of the retain answers, kl = KL(reference || "
                           "model) on retain answer tokens, none = forget steps only.")


def retain_weight_option(default: float):
    """The `retain_weight` field with a method's default."""
    return option(default, "Weight of the retain term; 0 turns retain steps off.")


@dataclass
class UnlearnConfig(TrainConfig):
    """Options shared by the unlearning methods; a method's config sets its defaults and adds its own."""

    method: ClassVar[str] = ""
    runner: ClassVar[type]
    forget_uses_reference: ClassVar[bool] = False  # the forget loss compares with the frozen reference
    # What `offside run`'s `search:` tries by default (the experiment's search.space overrides it): the
    # learning rate at one, two and five times open-unlearning's reproduction setting and its 10 epochs with
    # half of them (open-unlearning docs/repro.md: lr 1e-5, 10 epochs, beta 0.1, alpha = gamma = 1).
    search_space: ClassVar[dict[str, list]] = {"learning_rate": [1e-5, 2e-5, 5e-5], "num_train_epochs": [5, 10]}

    learning_rate: float = option(2e-5, "Peak learning rate (AdamW by default, see --optim).")
    forget_weight: float = option(1.0, "Weight of the forget term.")
    retain_loss: RetainLoss = retain_loss_option("none")
    retain_weight: float = retain_weight_option(1.0)
    ref_model: str | None = option(None, "Frozen reference for methods that use one; default: the model being "
                                         "unlearned (LoRA: the same weights with the adapter off).")
    schedule: str = option("1:3", "Balanced schedule: FORGET:RETAIN whole optimiser steps, when there is a retain term.")

    def __post_init__(self):
        self.steps_ratio()
        super().__post_init__()

    @property
    def uses_retain(self) -> bool:
        return self.retain_loss != "none" and self.retain_weight > 0

    @property
    def uses_reference(self) -> bool:
        return self.forget_uses_reference or (self.uses_retain and self.retain_loss == "kl")

    def steps_ratio(self) -> tuple[int, int]:
        try:
            forget, retain = (int(x) for x in self.schedule.split(":"))
        except ValueError:
            raise ConfigError(f"--schedule must look like FORGET:RETAIN (e.g. 1:3), got {self.schedule!r}") from None
        if forget < 1 or retain < 0:
            raise ConfigError(f"--schedule needs >= 1 forget step and >= 0 retain steps, got {self.schedule!r}")
        return forget, retain


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p(label) per position, answer-token mask), shifted so position t predicts token t+1."""
    logits, labels = logits[:, :-1].float(), labels[:, 1:]
    mask = labels != IGNORE_INDEX
    return selective_log_softmax(logits, labels.clamp(min=0)) * mask, mask


def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log p(answer | prompt, image) per example: summed over answer tokens."""
    return token_logprobs(logits, labels)[0].sum(-1)


def preference_loss(margin: torch.Tensor, beta: float, scale: float | None = None) -> torch.Tensor:
    """Mean of -scale * log sigmoid(beta * margin), scale = 2/beta unless given (NPO, SimNPO, IdkDPO)."""
    return -(2.0 / beta if scale is None else scale) * F.logsigmoid(beta * margin).mean()


def kl_ref_to_current(ref_logits: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over answer positions of KL(softmax(ref) || softmax(current)), shifted like the NLL.

    The frozen reference is the first argument: 0 while the model equals it, growing as its
    predictions drift.
    """
    mask = labels[:, 1:] != IGNORE_INDEX
    ref_logp = ref_logits[:, :-1].float().log_softmax(-1)[mask]
    cur_logp = logits[:, :-1].float().log_softmax(-1)[mask]
    return (ref_logp.exp() * (ref_logp - cur_logp)).sum(-1).mean()


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
    """Index batch of one role -> model inputs plus `role`."""

    def __init__(self, items: Sequence[TrainRecord], n_forget: int, forget: RecordCollator, retain: RecordCollator):
        self.items, self.n_forget, self.forget, self.retain = items, n_forget, forget, retain

    def __call__(self, indices: Sequence[int]) -> dict:
        roles = {"forget" if i < self.n_forget else "retain" for i in indices}
        if len(roles) != 1:
            raise RuntimeError("a batch mixes forget and retain items; the balanced schedule forbids it")
        role = roles.pop()
        batch = (self.forget if role == "forget" else self.retain)([self.items[i] for i in indices])
        return {**batch, "role": role}


class WeightEditor:
    """A method that edits the weights once instead of training (MANU): `edit()`, then the model is saved."""

    def __init__(self, model, cfg: UnlearnConfig, processor, forget: Sequence[TrainRecord],
                 retain: Sequence[TrainRecord] = ()):
        from accelerate import PartialState

        state = PartialState()
        self.device, self.main_process = state.device, state.is_main_process
        self.model, self.cfg, self.processor = model.to(self.device), cfg, processor
        self.forget_items, self.retain_items = list(forget), list(retain)

    def edit(self) -> None:
        raise NotImplementedError

    def lineage_extra(self) -> dict:
        """Entries added to the checkpoint's lineage record; none by default."""
        return {}


class UnlearnTrainer(ResumesSavedWeights, Trainer):
    """A transformers Trainer whose loss is the method's forget term or the config's retain term."""

    def __init__(self, model, cfg: UnlearnConfig, processor, forget: Sequence[TrainRecord],
                 retain: Sequence[TrainRecord] = (), ref_model=None, callbacks=None):
        self.cfg = cfg
        self.forget_items = list(forget)
        self.retain_items = list(retain) if cfg.uses_retain else []
        if cfg.uses_retain and not self.retain_items:
            raise ConfigError(f"method {cfg.method} needs retain items, found none")
        self.role_collator = RoleCollator(self.forget_items + self.retain_items, len(self.forget_items),
                                          self.forget_collator(processor),
                                          RecordCollator(processor, cfg.max_length))
        super().__init__(model=model, args=cfg, processing_class=processor,
                         train_dataset=self.forget_items + self.retain_items, data_collator=self.role_collator,
                         callbacks=callbacks)
        self.model_accepts_loss_kwargs = False  # our losses are per-batch means: let Trainer scale for accumulation
        self.ref_model = self._prepare_reference(ref_model) if ref_model is not None else None
        if cfg.uses_reference and ref_model is None and not hasattr(self._unwrapped(), "disable_adapter"):
            raise ConfigError(f"method {cfg.method} needs a reference model (full fine-tuning: load one)")
        self._terms: dict[str, list[float]] = defaultdict(list)
        self.setup()

    # ---- hooks -------------------------------------------------------------------------------
    def forget_loss(self, model, inputs: dict) -> dict[str, torch.Tensor]:
        """{term name: tensor} of one forget batch; the method's objective."""
        raise NotImplementedError

    def answer_for(self, item: TrainRecord) -> str:
        """The forget target of an item (PO, IdkDPO: a refusal)."""
        return item.answer

    def forget_collator(self, processor) -> RecordCollator:
        """Batches forget items with `answer_for` targets."""
        cfg = self.cfg
        return RecordCollator(processor, cfg.max_length, self.answer_for)

    def setup(self) -> None:
        """Runs once before training (masks, frozen layers); nothing by default."""

    @property
    def step_roles(self) -> dict[str, int]:
        """Batches this process trained on per role, from the schedule and the step count (so a
        resumed run counts the steps before its checkpoint too): optimiser step s is a forget step
        when s mod (forget_steps + retain_steps) < forget_steps."""
        forget_steps, retain_steps = self.cfg.steps_ratio() if self.retain_items else (1, 0)
        cycles, rest = divmod(self.state.global_step, forget_steps + retain_steps)
        steps = {"forget": cycles * forget_steps + min(rest, forget_steps),
                 "retain": cycles * retain_steps + max(rest - forget_steps, 0)}
        return {role: n * self.args.gradient_accumulation_steps for role, n in steps.items() if n}

    def lineage_extra(self) -> dict:
        """Entries added to the checkpoint's lineage record; none by default."""
        return {}

    def retain_loss(self, model, inputs: dict) -> dict[str, torch.Tensor]:
        kind = self.cfg.retain_loss
        if kind == "nll":
            loss = self.nll(model, inputs)
        else:
            loss = kl_ref_to_current(self.reference_logits(inputs), self.logits(model, inputs), inputs["labels"])
        return {f"retain_{kind}": self.cfg.retain_weight * loss}

    # ---- helpers for the hooks -----------------------------------------------------------------
    @staticmethod
    def nll(model, inputs: dict) -> torch.Tensor:
        """Mean NLL of the answer tokens (the model's own shifted cross-entropy)."""
        return model(**inputs).loss

    @staticmethod
    def logits(model, inputs: dict) -> torch.Tensor:
        return model(**{k: v for k, v in inputs.items() if k != "labels"}).logits

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
        if role == "forget":
            terms = {key: self.cfg.forget_weight * value for key, value in self.forget_loss(model, inputs).items()}
        else:
            terms = self.retain_loss(model, inputs)
        loss = sum(terms.values())
        if model.training:
            for key, value in terms.items():
                self._terms[key].append(value.detach().float().item())
        return (loss, None) if return_outputs else loss

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        """Add the mean of each loss term since the last log (forget, retain, KL, ...)."""
        if "loss" in logs:
            logs.update({key: sum(vals) / len(vals) for key, vals in self._terms.items() if vals})
            self._terms.clear()
        super().log(logs, *args, **kwargs)


__all__ = ["METHODS", "BalancedBatchSampler", "RetainLoss", "retain_loss_option", "retain_weight_option", "UnlearnConfig",
           "UnlearnTrainer", "WeightEditor", "get_method",
           "kl_ref_to_current", "preference_loss", "register", "sequence_logprob", "token_logprobs"]
