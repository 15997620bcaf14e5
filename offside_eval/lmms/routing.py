"""Which of a --tasks value lmms-eval runs (`lmms:<task>`), and folding its results into ours.

Needs no lmms-eval: the evaluator imports this module always and `run` (which needs the `lmms`
extra) only when an lmms-eval task is asked for."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from offside_data.extras import require

from ..planning import task_names
from ..results import EvalError

PREFIX = "lmms:"


def require_lmms(task: str) -> None:
    """One line naming the extra when `task` (an lmms: task) cannot run here."""
    require("lmms_eval", f"{task} (an lmms-eval task)")


def split_lmms_tasks(tasks: str | Sequence[str], model: Any) -> tuple[list[str], list[str]]:
    """(our tasks, lmms-eval tasks named `lmms:<task>`) of a --tasks value; lmms-eval needs a model name."""
    names = task_names(tasks)
    lmms = [t for t in names if t.startswith(PREFIX)]
    if lmms and not isinstance(model, str):
        raise EvalError(f"{lmms[0]}: lmms-eval tasks need a model name and model_args, not a loaded model")
    if lmms:
        try:
            require_lmms(lmms[0])
        except ImportError as exc:
            raise EvalError(str(exc)) from None
    return [t for t in names if not t.startswith(PREFIX)], lmms


def merge_lmms(out: dict[str, Any], extra: dict[str, Any]) -> None:
    """lmms-eval tasks' results into an offside-eval result, under their `lmms:` names."""
    for key in ("results", "higher_is_better", "n_samples"):
        out[key].update(extra[key])
    out["versions"].update({k: v for k, v in extra["versions"].items() if k not in out["versions"]})
    out["config"]["tasks"] = list(out["config"]["tasks"]) + list(extra["config"]["tasks"])
