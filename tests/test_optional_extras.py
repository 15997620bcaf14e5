"""The core runs with no optional extra installed: lmms_eval and vllm made unimportable, offside
evaluates, trains and plans a pipeline, and asking for an extra's feature is one line naming it."""
import json
import subprocess
import sys
import textwrap

BLOCKED = ("lmms_eval", "vllm", "torchao", "wandb", "submitit")

SCRIPT = textwrap.dedent("""
    import json, sys
    for name in {blocked!r}:
        sys.modules[name] = None  # `import name` now raises ImportError, as when it is not installed
    from offside_eval.cli import main as eval_main
    from offside_train.cli import main as train_main
    from offside_run.cli import main as run_main
    codes = {{}}
    common = ["--model_args", "pretrained={model}", "--limit", "2", "--no_progress", "--verbosity", "ERROR"]
    codes["eval"] = eval_main([*common, "--tasks", "offside_forget_mm", "--output_path", "{tmp}/eval"])
    codes["lmms"] = eval_main([*common, "--tasks", "lmms:mmmu_val"])
    codes["quant"] = eval_main([*common, "--tasks", "offside_forget_mm", "--attack", "quantize"])
    codes["wandb"] = eval_main([*common, "--tasks", "offside_forget_mm", "--wandb_args", "project=x"])
    codes["train"] = train_main(["sft", "--model", "{model}", "--data", "{data}", "--out", "{tmp}/sft",
                                 "--max_steps", "1", "--disable_tqdm", "true"])
    codes["dry_run"] = run_main(["run", "mllmu_demo", "--dry_run", "--output_dir", "{tmp}/run"])
    codes["demo"] = run_main(["run", "demo", "--dry_run", "--output_dir", "{tmp}/demo"])  # its robustness: quant
    codes["workers"] = run_main(["run", "mllmu_demo", "--workers", "2", "--output_dir", "{tmp}/workers"])
    codes["loaded"] = sorted(m for m in {blocked!r} if sys.modules.get(m) is not None)
    print("CODES=" + json.dumps(codes))
""")


def test_core_runs_without_any_optional_extra(tiny_model_dir, mini_root, tmp_path):
    script = SCRIPT.format(blocked=BLOCKED, model=tiny_model_dir, data=mini_root, tmp=tmp_path)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    codes = json.loads(next(line[6:] for line in proc.stdout.splitlines() if line.startswith("CODES=")))
    assert codes == {"eval": 0, "lmms": 2, "quant": 2, "wandb": 2, "train": 0, "dry_run": 0, "demo": 2, "workers": 2,
                     "loaded": []}, proc.stderr[-2000:]
    assert "lmms:mmmu_val (an lmms-eval task) needs lmms_eval, which is not installed: pip install 'offside[lmms]'" \
        in proc.stderr
    assert "--attack quantize needs torchao, which is not installed: pip install 'offside[quant]'" in proc.stderr
    assert "--wandb_args needs wandb, which is not installed: pip install 'offside[tracking]'" in proc.stderr
    assert "demo.yaml: robustness.attacks: --attack quantize needs torchao" in proc.stderr
    assert "executor kind 'local' needs submitit, which is not installed: pip install 'offside[cluster]'" in proc.stderr
    assert not (tmp_path / "workers").exists()
    assert (tmp_path / "eval" / "results.json").is_file() and (tmp_path / "sft" / "offside_lineage.json").is_file()
