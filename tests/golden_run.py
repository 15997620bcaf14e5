"""The numbers a refactor must not change: a short SFT, a few steps of every method, an evaluation.

`python tests/golden_run.py OUT.json` writes them (run it on the commit before a refactor);
tests/test_golden.py recomputes them and compares to tests/golden/values.json.
"""
import json
import sys
import tempfile
from pathlib import Path

METHODS = ("ga", "gd", "kl", "po", "npo", "simnpo", "idkdpo", "rmu", "mmu", "manu")
EVAL_TASKS = ["offside_forget_mm_mc", "offside_forget_mm_mcgen", "offside_forget_mm_gen", "offside_retain_text_mc"]


def _losses(folder: Path) -> list[dict]:
    rows = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines() if line.strip()]
    return [{k: v for k, v in row.items() if isinstance(v, float) and ("loss" in k or "nll" in k or k.startswith(("forget", "retain")))}
            for row in rows]


def compute(workdir: Path) -> dict:
    from offside_benchmarks.offside import ensure_mini

    import offside_eval
    from offside_data.tiny_model import ensure_tiny_model
    from offside_train import build_config
    from offside_train.sft import run_sft
    from offside_train.unlearn import run_unlearn

    root, tiny = ensure_mini(), ensure_tiny_model()
    vanilla = workdir / "vanilla"
    run_sft(build_config("sft", dict(model=str(tiny), data=str(root), output_dir=str(vanilla), finetune="full",
                                     learning_rate=1e-3, max_steps=3, per_device_train_batch_size=4, logging_steps=1,
                                     disable_tqdm=True)))
    out = {"sft": _losses(vanilla)}
    for method in METHODS:
        extra = {"stat_batches": 1, "prune_ratio_mm": 0.05, "prune_ratio_text": 0.05} if method == "manu" else {}
        if method == "mmu":
            extra = {"saliency_batches": 1}
        cfg = build_config(method, dict(model=str(vanilla), data=str(root), output_dir=str(workdir / method),
                                        disable_tqdm=True, logging_steps=1, max_steps=4, per_device_train_batch_size=2,
                                        **extra))
        folder = run_unlearn(cfg)
        if method == "manu":
            out[method] = json.loads((folder / "manu_pruned.json").read_text())
        else:
            out[method] = _losses(folder)
    result = offside_eval.evaluate("qwen2_5_vl", {"pretrained": str(vanilla)}, EVAL_TASKS, limit=6, batch_size=4,
                                   data_root=str(root), progress=False, output_path=str(workdir / "eval"),
                                   log_samples=True)
    out["eval"] = {task: {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
                   for task, metrics in result["results"].items()}
    out["samples"] = {task: [_sample_outputs(json.loads(line)) for line in
                             (workdir / "eval" / f"samples_{task}.jsonl").read_text().splitlines()]
                      for task in EVAL_TASKS}
    return out


def _sample_outputs(row: dict) -> dict:
    """What the model produced for one sample: option log-likelihoods or the generated text."""
    found = {}
    for scope in (row, row.get("doc") or {}):
        for key in ("loglikelihoods", "response"):
            if key in scope:
                found[key] = scope[key]
    return {"doc_id": row["doc_id"], **found}


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        values = compute(Path(tmp))
    Path(sys.argv[1]).write_text(json.dumps(values, indent=1, sort_keys=True))
