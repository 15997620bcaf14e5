"""`--wandb_args k=v,...`, spelled as lm-eval spells it (project, name, entity, group, job_type, mode,
...): an evaluation's config and every task x metric go to a Weights & Biases run (the `tracking`
extra), as summary values and as one results table. `mode=offline` writes the run under $WANDB_DIR
for a later `wandb sync` (what the test does); training reports through `--report_to wandb`."""
from __future__ import annotations

from typing import Any

from offside_data.extras import require
from offside_data.options import parse_kv

from .results import EvalError, json_safe


def wandb_options(wandb_args: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """The parsed --wandb_args, checked before any work: the extra installed, a project named."""
    if not wandb_args:
        return None
    options = parse_kv(wandb_args, "--wandb_args") if isinstance(wandb_args, str) else dict(wandb_args)
    try:
        require("wandb", "--wandb_args")
    except ImportError as exc:
        raise EvalError(str(exc)) from None
    if "project" not in options:
        raise EvalError("--wandb_args: name the project (project=NAME[,name=RUN,mode=offline,...])")
    return options


def metric_rows(out: dict[str, Any]) -> list[list[Any]]:
    """[task, metric, value, stderr, n] for every numeric metric of results.json."""
    rows = []
    for task, result in out["results"].items():
        for metric, value in result.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and metric != "n" \
                    and not metric.endswith(("_stderr", "_missing")):
                rows.append([task, metric, value, result.get(f"{metric}_stderr"), result.get("n")])
    return rows


def log_to_wandb(out: dict[str, Any], options: dict[str, Any]) -> str:
    """One W&B run holding `out`'s config and metrics; returns the run's local folder."""
    wandb = require("wandb", "--wandb_args")
    try:
        run = wandb.init(**options, config=json_safe({**out["config"], "data": out.get("data")}))
    except TypeError as exc:  # an option wandb.init does not take
        raise EvalError(f"--wandb_args: {exc}") from None
    rows = metric_rows(out)
    run.summary.update({f"{task}/{metric}": value for task, metric, value, _se, _n in rows})
    run.log({"results": wandb.Table(columns=["task", "metric", "value", "stderr", "n"], data=rows)})
    run.finish()
    return run.dir
