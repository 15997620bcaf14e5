"""lmms-eval 0.7.3 runs our model and our task copies and reproduces offside-eval's numbers."""
import glob
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("lmms_eval")

TASKS = ["offside_forget_mm_mc", "offside_forget_mm_gen"]
LIMIT = 6


def test_shipped_task_copies_are_current(tmp_path):
    from offside_benchmarks.offside import OFFSIDE

    from offside_eval.lmms.export import export_tasks, tasks_dirs

    shipped_dir = OFFSIDE.lmms_dir
    assert shipped_dir in tasks_dirs()  # on lmms-eval's include path from offside-eval
    names = export_tasks(tmp_path, "offside")
    assert {"offside_forget_mm_mc", "offside_retain_text_gen", "offside_test_mm_mcgen"} <= set(names)
    assert not any(n.endswith(("_ref", "_judge")) for n in names)  # nanmean / judge tasks are not exported
    shipped = sorted(p.name for p in shipped_dir.iterdir())
    assert shipped == sorted(p.name for p in tmp_path.iterdir())
    for name in shipped:
        assert (shipped_dir / name).read_text() == (tmp_path / name).read_text(), f"rerun export_tasks: {name} is stale"


def test_models_are_in_lmms_eval_registry():
    from lmms_eval.models import get_model

    from offside_eval.lmms.adapter import OffsideHFVLM, OffsideQwen25VL

    assert get_model("offside_qwen2_5_vl") is OffsideQwen25VL
    assert get_model("offside_hf_vlm") is OffsideHFVLM


def test_lmms_eval_cli_reproduces_offside_eval(tiny_model_dir, mini_root, tmp_path):
    from offside_benchmarks.offside import OFFSIDE

    import offside_eval

    ours = offside_eval.evaluate("qwen2_5_vl", {"pretrained": str(tiny_model_dir), "device": "cpu"}, TASKS,
                                 limit=LIMIT, data_root=str(mini_root), progress=False, verbosity="ERROR",
                                 log_samples=True)
    env = {**os.environ, "OFFSIDE_DATA_ROOT": str(mini_root), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "lmms_eval", "--model", "offside_qwen2_5_vl", "--model_args",
           f"pretrained={tiny_model_dir},device=cpu", "--tasks", ",".join(TASKS), "--include_path", str(OFFSIDE.lmms_dir),
           "--limit", str(LIMIT), "--log_samples", "--output_path", str(tmp_path / "out")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads(open(glob.glob(str(tmp_path / "out" / "*" / "*_results.json"))[0]).read())["results"]
    mc, gen = results["offside_forget_mm_mc"], results["offside_forget_mm_gen"]
    assert mc["acc,none"] == pytest.approx(ours["results"]["offside_forget_mm_mc"]["acc"])
    assert mc["acc_norm,none"] == pytest.approx(ours["results"]["offside_forget_mm_mc"]["acc_norm"])
    for metric in ("gen_score", "rouge1", "bleu"):
        assert gen[f"{metric},none"] == pytest.approx(ours["results"]["offside_forget_mm_gen"][metric])
    # per sample: lmms-eval got the negative log-likelihood of every option, and the same replies
    rows = [json.loads(line) for line in open(glob.glob(str(tmp_path / "out" / "*" / "*offside_forget_mm_mc.jsonl"))[0])]
    theirs = {r["doc_id"]: [float(resp[0]) for resp in r["filtered_resps"]] for r in rows}
    for i, sample in enumerate(ours["samples"]["offside_forget_mm_mc"]):
        assert theirs[i] == pytest.approx([-ll for ll in sample["loglikelihoods"]], abs=1e-4)
    rows = [json.loads(line) for line in open(glob.glob(str(tmp_path / "out" / "*" / "*offside_forget_mm_gen.jsonl"))[0])]
    replies = {r["doc_id"]: r["filtered_resps"] for r in rows}
    assert [replies[i] for i in range(LIMIT)] == [s["response"] for s in ours["samples"]["offside_forget_mm_gen"]]


def test_argmin_of_adapter_output_is_our_argmax():
    """The sign convention on hand-made values, ties included (both keep the first best)."""
    import numpy as np

    for lls in ([-3.0, -1.0, -2.0, -5.0], [-1.0, -1.0, -4.0, -2.0], [-0.5, -9.0, -0.5, -0.7]):
        ours = max(range(len(lls)), key=lambda k: lls[k])
        assert int(np.argmin([-ll for ll in lls])) == ours


def test_run_lmms_tasks_merges_in_our_shape(tiny_model_dir, mini_root, monkeypatch, tmp_path):
    """offside-eval --tasks ours,lmms:<task>: lmms-eval runs its part; both land in one results.json."""
    import json

    import offside_eval
    from offside_eval.lmms.run import run_lmms_tasks

    monkeypatch.setenv("OFFSIDE_DATA_ROOT", str(mini_root))
    ours = offside_eval.evaluate("qwen2_5_vl", {"pretrained": str(tiny_model_dir), "device": "cpu"},
                                 ["offside_forget_text_mc", "lmms:offside_forget_text_mc"], limit=4,
                                 data_root=str(mini_root), progress=False, verbosity="ERROR", output_path=tmp_path)
    assert json.loads((tmp_path / "results.json").read_text())["results"].keys() == {
        "offside_forget_text_mc", "lmms:offside_forget_text_mc"}
    got = ours["results"]["lmms:offside_forget_text_mc"]
    assert got["n"] == 4
    assert got["acc"] == pytest.approx(ours["results"]["offside_forget_text_mc"]["acc"])
    assert got["acc_norm"] == pytest.approx(ours["results"]["offside_forget_text_mc"]["acc_norm"])
    with pytest.raises(ValueError, match="no_such_task"):
        run_lmms_tasks("qwen2_5_vl", f"pretrained={tiny_model_dir},device=cpu", ["lmms:no_such_task"])
