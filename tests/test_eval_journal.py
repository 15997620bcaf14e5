"""The evaluation journal: a killed or interrupted run resumes to the numbers of an uninterrupted one,
answers are keyed by the weights' content (not their path), and batching leaks nothing."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from offside_eval import evaluate
from offside_eval.cli import main
from offside_eval.journal import Journal
from offside_eval.models import load_model

ARGS = ["--tasks", "offside_forget_mm", "--limit", "8", "--batch_size", "1", "--gen_kwargs", "max_new_tokens=16",
        "--log_samples", "--no_progress", "--verbosity", "ERROR"]


def _cli(model_dir, out, *extra):
    return [sys.executable, "-m", "offside_eval.cli", "--model_args", f"pretrained={model_dir}", *ARGS,
            "--output_path", str(out), *extra]


def _start_and_wait(cmd, journal_dir, lines):
    """Start `cmd`; return it once its journal holds `lines` batches (the run is mid-way)."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        files = list(journal_dir.glob("answers-*.jsonl")) if journal_dir.exists() else []
        if files and files[0].read_text().count("\n") >= lines:
            return proc
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"the run ended before its journal had {lines} batches: {proc.communicate()[1][-2000:]}")


def _results(folder):
    return json.loads((folder / "results.json").read_text())


def test_sigkill_then_rerun_resumes_to_the_uninterrupted_numbers(tiny_model_dir, tmp_path, capsys):
    killed = tmp_path / "killed"
    proc = _start_and_wait(_cli(tiny_model_dir, killed), killed / "journal", 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "results.json").exists()
    assert main(_cli(tiny_model_dir, killed)[3:]) == 0  # the same command, again
    assert main(_cli(tiny_model_dir, tmp_path / "whole")[3:]) == 0
    resumed, whole = _results(killed), _results(tmp_path / "whole")
    n_requests = 8 * 4 + 8 + 8  # MC options, MC-by-generation, generation
    assert 3 <= resumed["resumed_samples"] < n_requests and whole["resumed_samples"] == 0
    assert resumed["results"] == whole["results"] and resumed["groups"] == whole["groups"]
    for task in whole["results"]:
        name = f"samples_{task}.jsonl"
        assert (killed / name).read_text() == (tmp_path / "whole" / name).read_text()


def test_sigint_saves_the_batch_and_says_how_to_resume(tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    proc = _start_and_wait(_cli(tiny_model_dir, out), out / "journal", 2)
    proc.send_signal(signal.SIGINT)
    _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    saved = len(Journal(out / "journal", _results_fingerprint(out)).answers)
    assert saved >= 2
    assert stderr.strip().splitlines()[-1] == (
        f"offside-eval: interrupted; {saved} samples saved — rerun the same command to resume")
    assert "Traceback" not in stderr and not (out / "results.json").exists()


def _results_fingerprint(out):
    """The model fingerprint of the only journal in `out` (from its file name)."""
    (path,) = (out / "journal").glob("answers-*.jsonl")
    return path.stem.removeprefix("answers-")


def _short(model_dir, out, *extra):
    argv = ["--model_args", f"pretrained={model_dir}", "--tasks", "offside_forget_mm_mc", "--limit", "2",
            "--output_path", str(out), "--no_progress", "--verbosity", "ERROR", *extra]
    assert main(argv) == 0
    return _results(out)


def test_answers_follow_the_weights_not_the_path(tiny_model_dir, tmp_path, capsys):
    store = tmp_path / "store"
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_model_dir, ckpt)
    first = _short(ckpt, tmp_path / "a", "--use_cache", str(store))
    assert first["resumed_samples"] == 0 and not (tmp_path / "a" / "journal").exists()
    moved = tmp_path / "moved"
    ckpt.rename(moved)  # same bytes elsewhere, another output folder: the shared store answers everything
    again = _short(moved, tmp_path / "b", "--use_cache", str(store))
    assert again["resumed_samples"] == 8 and again["results"] == first["results"]
    weights = moved / "model.safetensors"  # retrained in place: same path, same size, other bytes
    data = bytearray(weights.read_bytes())
    data[-4:] = bytes(b ^ 0x55 for b in data[-4:])
    weights.write_bytes(bytes(data))
    retrained = _short(moved, tmp_path / "c", "--use_cache", str(store))
    assert retrained["resumed_samples"] == 0
    assert retrained["journal"]["model_fingerprint"] != first["journal"]["model_fingerprint"]


def test_model_object_runs_without_journal(tiny_model_dir, tmp_path):
    lm = load_model("qwen2_5_vl", {"pretrained": str(tiny_model_dir)}, batch_size=2, device="cpu")
    out = evaluate(lm, tasks="offside_forget_mm_mc", limit=1, output_path=tmp_path / "o", progress=False,
                   verbosity="ERROR", check_batch_invariance=4)
    assert out["journal"] is None and out["resumed_samples"] == 0 and not (tmp_path / "o" / "journal").exists()
    assert out["batch_invariance"]["checked"] == 0  # one MC item: nothing shared a batch


def test_batch_invariance_catches_a_leak(tiny_model_dir, tmp_path):
    from offside_eval.batching import BatchVarianceError

    lm = load_model("qwen2_5_vl", {"pretrained": str(tiny_model_dir)}, batch_size=4, device="cpu")
    honest = lm.loglikelihood

    def leaky(requests, progress=False):  # a batch's first context shifts the others' scores
        got = honest(requests, progress=progress)
        groups = {r.group for r in requests}
        return [(ll - 0.5 * (len(groups) - 1), greedy) for ll, greedy in got]

    out = evaluate(lm, tasks="offside_forget_mm_mc", limit=3, progress=False, verbosity="ERROR",
                   check_batch_invariance=2)
    assert out["batch_invariance"]["checked"] == 8 and out["batch_invariance"]["max_abs_diff"] < 1e-4
    lm.loglikelihood = leaky
    with pytest.raises(BatchVarianceError, match=r"batch invariance: task offside_forget_mm_mc doc \S+ option"):
        evaluate(lm, tasks="offside_forget_mm_mc", limit=3, progress=False, verbosity="ERROR",
                 check_batch_invariance=2)
