"""Runs that never lose or mix work and fail before it: no silent overwrite, Ctrl-C that names what
is left, files others can read, mistyped paths / options / devices refused before a model loads,
synthetic data said to be synthetic."""
import json
import os
import shutil
import stat

import pytest
import torch

import offside_eval.evaluator
import offside_train.sft
from offside_data.benchmarks import get_benchmark
from offside_data.fileio import atomic_write_text
from offside_data.provenance import SYNTHETIC_MARKER
from offside_eval.cli import main as eval_main
from offside_eval.results import write_results
from offside_train.cli import main as train_main


@pytest.fixture
def no_model_load(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("a model was loaded before the input was validated")

    monkeypatch.setattr(offside_eval.evaluator, "load_model", refuse)
    monkeypatch.setattr(offside_train.sft, "load_trainable", refuse)


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_atomic_writes_honour_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        path = atomic_write_text(tmp_path / "results.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def _train(tmp_path, model, data, out, *extra):
    return train_main(["sft", "--model", str(model), "--data", str(data), "--out", str(out), "--max_steps", "1",
                       "--disable_tqdm", "true", *extra])


def test_training_into_its_own_model_folder_is_refused(no_model_load, tiny_model_dir, mini_root, tmp_path, capsys):
    for out in (tiny_model_dir, tiny_model_dir / "sub"):
        for extra in ((), ("--overwrite_output_dir", "true")):
            assert _train(tmp_path, tiny_model_dir, mini_root, out, *extra) == 2
            assert "it is --model's folder or inside it" in _one_line(capsys)
    assert not (tiny_model_dir / "sub").exists()


def test_an_existing_checkpoint_is_kept_unless_overwrite_is_asked(tiny_model_dir, mini_root, tmp_path, capsys):
    out = tmp_path / "ckpt"
    assert _train(tmp_path, tiny_model_dir, mini_root, out) == 0
    capsys.readouterr()
    lineage = (out / "offside_lineage.json").read_text()
    (out / "stale.txt").write_text("from the first run")
    assert _train(tmp_path, tiny_model_dir, mini_root, out) == 2
    assert "already holds a checkpoint; pass --overwrite_output_dir" in _one_line(capsys)
    assert (out / "offside_lineage.json").read_text() == lineage
    assert _train(tmp_path, tiny_model_dir, mini_root, out, "--overwrite_output_dir", "true") == 0
    assert not (out / "stale.txt").exists() and len((out / "train_log.jsonl").read_text().splitlines()) == 1  # not appended


def test_ctrl_c_in_training_exits_130_naming_the_last_checkpoint(tiny_model_dir, mini_root, tmp_path, capsys,
                                                                  monkeypatch):
    out = tmp_path / "ckpt"

    def killed(cfg):
        (out / "checkpoint-2").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(offside_train.sft, "run_sft", killed)
    assert _train(tmp_path, tiny_model_dir, mini_root, out) == 130
    err = _one_line(capsys)
    assert f"last checkpoint {out / 'checkpoint-2'} is intact" in err and "--resume_from_checkpoint last" in err


def _eval(tmp_path, model, *extra, tasks="offside_forget_mm", out=None):
    return eval_main(["--model_args", f"pretrained={model}", "--tasks", tasks, "--limit", "2", "--output_path",
                      str(out or tmp_path / "out"), "--no_progress", "--verbosity", "ERROR", *extra])


def test_misspelt_local_checkpoint_is_refused_with_the_closest_name(no_model_load, mini_root, tmp_path, capsys,
                                                                     monkeypatch):
    (tmp_path / "ckpt" / "vanilla").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert _eval(tmp_path, "ckpt/vanila") == 2
    assert "pretrained=ckpt/vanila: no such file or folder (did you mean 'ckpt/vanilla'?)" in _one_line(capsys)
    assert _train(tmp_path, "ckpt/vanila", mini_root, tmp_path / "sft") == 2
    assert "--model ckpt/vanila: no such file or folder (did you mean 'ckpt/vanilla'?)" in _one_line(capsys)
    assert not (tmp_path / "out").exists() and not (tmp_path / "sft").exists()


def test_unknown_gen_kwargs_are_refused_before_the_model_loads(no_model_load, tiny_model_dir, tmp_path, capsys):
    assert _eval(tmp_path, tiny_model_dir, "--gen_kwargs", "max_new_token=10", tasks="offside_forget_mm_gen") == 2
    assert "--gen_kwargs max_new_token: not a generation option (did you mean 'max_new_tokens'?)" in _one_line(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_an_unavailable_device_is_refused_before_the_model_loads(no_model_load, tiny_model_dir, tmp_path, capsys):
    assert _eval(tmp_path, tiny_model_dir, "--device", "cuda") == 2
    assert "--device cuda: cuda is not available on this machine" in _one_line(capsys)


def test_an_output_path_of_another_run_is_refused(no_model_load, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    results = {"config": {"model": "hf_vlm", "model_args": {"pretrained": str(tiny_model_dir)},
                          "tasks": ["offside_retain_mm"], "limit": 2}}
    (out / "results.json").write_text(json.dumps(results))
    assert _eval(tmp_path, tiny_model_dir, "--model", "hf_vlm", out=out) == 2
    assert "holds another run's results (tasks: ['offside_retain_mm'], now ['offside_forget_mm'])" in _one_line(capsys)
    assert json.loads((out / "results.json").read_text()) == results


def test_results_leave_no_samples_file_of_an_earlier_pass(tmp_path):
    (tmp_path / "samples_old_task.jsonl").write_text("{}\n")
    (tmp_path / "results_2026-01-01T00-00-00.000001.json").write_text("{}\n")  # lm-eval's copy of that pass
    (tmp_path / "samples_old_task_2026-01-01T00-00-00.000001.jsonl").write_text("{}\n")
    row = {"doc_id": "1", "arguments": [["Q?", " A"]], "prompt": "Q?"}
    write_results({"results": {}}, {"new_task": [row]}, tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    stamp = names[1][len("results_"):-len(".json")]
    assert names == ["results.json", f"results_{stamp}.json", "samples_new_task.jsonl",
                     f"samples_new_task_{stamp}.jsonl"] and stamp != "2026-01-01T00-00-00.000001"


def test_a_generated_root_is_synthetic_however_it_is_named(mini_root, tmp_path):
    bench = get_benchmark("offside")
    given = bench.resolve(str(mini_root))
    assert given["synthetic"] is True and "SYNTHETIC" in given["warning"]
    real = shutil.copytree(mini_root, tmp_path / "release")  # the same files without the generator's marker
    (real / SYNTHETIC_MARKER).unlink()
    assert bench.resolve(str(real))["synthetic"] is False

