"""The CPU side of `make gpu-check` (bench/gpu_check.py): its comparison of backends by hand, its
one-line refusal without CUDA, and the whole script run on the CPU at tiny sizes."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from gpu_check import compare_backends, main  # noqa: E402

HF = [(-1.0, True), (-2.0, False), (-3.0, False), (-4.0, False)]


def test_backends_compare_by_tolerance_picks_and_exact_generations():
    assert compare_backends(HF, [(-1.004, True), (-2.0, False), (-3.0, False), (-4.0, False)], ["a"], ["a"], 1e-2)[0]
    ok, detail = compare_backends(HF, [(-1.02, True), *HF[1:]], ["a"], ["a"], 1e-2)
    assert not ok and "max |Δ log-lik| 2.00e-02" in detail
    ok, detail = compare_backends(HF, [(-2.5, False), (-2.0, True), *HF[2:]], ["a"], ["a"], 10.0)
    assert not ok and "MC picks DIFFER" in detail  # the second option now wins
    ok, detail = compare_backends(HF, HF, ["a", "b"], ["a", "c"], 1e-2)
    assert not ok and "greedy generations DIFFER (2)" in detail


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_without_cuda_it_says_so_in_one_line(capsys):
    assert main([]) == 2
    assert "gpu-check: no CUDA device on this machine" in capsys.readouterr().err


def test_the_whole_check_runs_on_the_cpu(tiny_model_dir, mini_root):
    proc = subprocess.run([sys.executable, str(BENCH / "gpu_check.py"), "--device", "cpu", "--quick"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for line in ("GPU check on CPU", "| training sft (fp32, 2 steps) | PASS |", "| training ga (fp32, 2 steps) | PASS |",
                 "| evaluation on cpu (float32, batch 16) | PASS |", "| generation | hf_vlm batch 16 |",
                 "| MC log-lik | MC shared prefix |"):
        assert line in proc.stdout, line
