"""The experiment's `curves:` section: what each unlearning run measures every N steps (a small
evaluation of chosen tasks on a fixed subset, through offside-eval with the model being trained),
its validation, and the report's curves plot read back from the checkpoints' train_log.jsonl."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from offside_eval import evaluate
from offside_eval.models import LMM, load_model
from offside_train.checkpoint import LOG_FILE, load_processor
from offside_train.curves import RULES, CurveCallback

from .display import method_color, method_label
from .experiment import ExperimentError
from .figures import pyplot, save_figure

KEYS = ("every", "tasks", "limit", "stop")


def check_curves(spec: dict[str, Any], source: str, index) -> None:
    """One line naming the key for a malformed section or a task `index` (a TaskIndex) does not know."""
    where = f"{source}: curves"
    for key in spec:
        if key not in KEYS:
            raise ExperimentError(f"{where}: unknown key {key!r} (keys: {', '.join(KEYS)})")
    if not isinstance(spec.get("every"), int) or spec["every"] < 1 or not spec.get("tasks"):
        raise ExperimentError(f"{where}: needs every (a positive step count) and tasks (a list)")
    stop = spec.get("stop")
    if stop is not None and (not isinstance(stop, dict) or "metric" not in stop
                             or len([k for k in stop if k in RULES]) != 1):
        raise ExperimentError(f"{where}.stop: {{metric: TASK/METRIC, at_most|at_least: VALUE}}, got {stop!r}")
    for task in spec["tasks"]:
        try:
            index.get(task)
        except ValueError as exc:
            raise ExperimentError(f"{where}.tasks: {exc}") from None


def curve_callback(spec: dict[str, Any], parent: str, out: str, data_root: str) -> CurveCallback:
    """The callback of one unlearning run: `spec` tasks evaluated on the model in training."""
    processor = load_processor(parent)
    lm: LMM | None = None  # one hf_vlm around the training model, made at the first measurement

    def measure(model) -> dict[str, float]:
        nonlocal lm
        if lm is None:
            lm = load_model("hf_vlm", {"model": model, "processor": processor, "batch_size": 16,
                                       "device": str(next(model.parameters()).device)})
        out_ = evaluate(lm, None, spec["tasks"], limit=spec.get("limit", 16), data_root=data_root, progress=False,
                        verbosity="ERROR")
        return {f"{task}/{metric}": value for task, result in out_["results"].items() for metric, value in result.items()
                if isinstance(value, (int, float)) and metric != "n" and not metric.endswith(("_stderr", "_missing"))}

    return CurveCallback(measure, spec["every"], out, spec.get("stop"))


def read_curves(checkpoint: Path) -> list[dict]:
    log = checkpoint / LOG_FILE
    if not log.is_file():
        return []
    return [e for e in map(json.loads, log.read_text(encoding="utf-8").splitlines()) if "curve" in e]


def plot_curves(curves: dict[str, list[dict]], out_dir: Path) -> list[Path]:
    """plots/curves.png (+ .pdf): one panel per measured metric, one line per method in its report colour."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator  # after pyplot() has chosen the file-only backend

    metrics = list(dict.fromkeys(m for points in curves.values() for p in points for m in p["curve"]))
    if not metrics:
        return []
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for method, points in curves.items():
            xs = [p["step"] for p in points if metric in p["curve"]]
            ax.plot(xs, [p["curve"][metric] for p in points if metric in p["curve"]], marker="o", ms=3,
                    color=method_color(method), label=method_label(method))
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("optimiser step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [save_figure(fig, out_dir / "curves.png")]
