"""Curves during training: every N optimiser steps a measurement of the model being trained (the
pipeline passes a small evaluation: forget / retain scores on a fixed subset) goes to the
checkpoint's train_log.jsonl as `{"step", "curve": {name: value}}`, and an optional rule stops
training early once it holds (e.g. forget accuracy at most 0.3). The trainer knows nothing of what
is measured: `measure(model) -> {name: value}` comes from outside."""
from __future__ import annotations

import operator
from collections.abc import Callable

from transformers import TrainerCallback

from .checkpoint import append_log

RULES = {"at_most": operator.le, "at_least": operator.ge}


class CurveCallback(TrainerCallback):
    def __init__(self, measure: Callable[[object], dict[str, float]], every: int, out: str,
                 stop: dict | None = None):
        """`stop`: {"metric": NAME, "at_most" | "at_least": VALUE}, checked after each measurement."""
        self.measure, self.every, self.out = measure, every, out
        self.stop = stop
        self.points: list[dict] = []

    def _record(self, state, model) -> dict[str, float]:
        was_training = model.training
        model.eval()
        try:
            values = self.measure(model)
        finally:
            model.train(was_training)
        point = {"step": state.global_step, "curve": values}
        self.points.append(point)
        if state.is_world_process_zero:
            append_log(self.out, point)
        return values

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0:
            self._record(state, model)  # the starting point: the parent's scores

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every == 0:
            values = self._record(state, model)
            if self.stop and self._holds(values):
                control.should_training_stop = True

    def _holds(self, values: dict[str, float]) -> bool:
        (rule, bound), = ((k, v) for k, v in self.stop.items() if k in RULES)
        value = values.get(self.stop["metric"])
        return value is not None and RULES[rule](value, bound)
