"""`make gpu-check`: the GPU paths run once on a real accelerator, in a few minutes, offline.

Builds (or takes from the cache) OFFSIDE-mini and the tiny Qwen2.5-VL, then on the device:
  1. bf16 training: a few steps of full SFT and of one unlearning method (GA) -- finite losses;
  2. evaluation on the device (hf_vlm, bf16) of an MC and a generation task -- finite, complete;
  3. vllm_vlm against hf_vlm on the same requests (float32): identical greedy generations,
     log-likelihoods within --ll_tol, equal MC accuracy (skipped, and said, without vLLM);
  4. the GPU test subset (pytest: the vLLM end-to-end test and the twelve architectures on CUDA);
  5. a throughput table, the card named: hf_vlm batch 1 vs 16 (vs vllm_vlm), MC shared prefix vs
     per option.
Every check prints PASS / FAIL / SKIP with its numbers; the exit code is 1 if any check fails.
`--device cpu --quick` runs the same script on a CPU (the CPU-side check in the test suite).
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from offside_benchmarks.offside import (  # noqa: E402
    ensure_mini,  # noqa: E402
    load_items,
    view,
)
from run import gen_requests, mc_requests, race  # noqa: E402  (bench/run.py: `make bench`)

from offside_data.lineage import read_lineage  # noqa: E402
from offside_data.tiny_model import ensure_tiny_model  # noqa: E402
from offside_eval import evaluate  # noqa: E402
from offside_eval.models import load_model  # noqa: E402
from offside_train import build_config  # noqa: E402
from offside_train.sft import run_sft  # noqa: E402
from offside_train.unlearn import run_unlearn  # noqa: E402


def compare_backends(hf_ll, other_ll, hf_gen, other_gen, tol: float) -> tuple[bool, str]:
    """Greedy generations identical, log-likelihoods within `tol` (absolute), same argmax per MC item
    of 4 options; (passed, the numbers)."""
    worst = max((abs(a[0] - b[0]) for a, b in zip(hf_ll, other_ll)), default=0.0)
    picks = [max(range(4), key=lambda j, s=s: ll[s + j][0]) for ll in (hf_ll, other_ll) for s in range(0, len(ll), 4)]
    half = len(picks) // 2
    same_picks = picks[:half] == picks[half:]
    same_gen = list(hf_gen) == list(other_gen)
    return (worst <= tol and same_picks and same_gen,
            f"max |Δ log-lik| {worst:.2e} (tol {tol:g}), MC picks {'equal' if same_picks else 'DIFFER'}, "
            f"greedy generations {'identical' if same_gen else 'DIFFER'} ({len(hf_gen)})")


class Report:
    def __init__(self):
        self.checks: list[tuple[str, str, str]] = []
        self.speeds: list[tuple[str, str, float, str]] = []

    def check(self, name: str, status: str, detail: str) -> None:
        self.checks.append((name, status, detail))
        print(f"[{status}] {name}: {detail}", flush=True)

    def failed(self) -> bool:
        return any(status == "FAIL" for _n, status, _d in self.checks)

    def table(self, card: str) -> str:
        lines = [f"GPU check on {card}", "", "| check | result | numbers |", "|---|---|---|"]
        lines += [f"| {n} | {s} | {d} |" for n, s, d in self.checks]
        if self.speeds:
            lines += ["", "| measure | variant | seconds | ratio |", "|---|---|---|---|"]
            lines += [f"| {m} | {v} | {t:.2f} | {r} |" for m, v, t, r in self.speeds]
        return "\n".join(lines)


def check_training(rep: Report, root: Path, tiny: Path, out: Path, device: str, steps: int) -> Path:
    bf16 = device == "cuda"
    common = {"data": str(root), "disable_tqdm": True, "bf16": bf16, "use_cpu": device == "cpu", "logging_steps": 1,
              "max_steps": steps, "per_device_train_batch_size": 4, "finetune": "full"}
    sft = run_sft(build_config("sft", {**common, "model": str(tiny), "output_dir": str(out / "sft"),
                                       "learning_rate": 1e-3}, "gpu-check"))
    ga = run_unlearn(build_config("ga", {**common, "model": str(sft), "output_dir": str(out / "ga"),
                                        "learning_rate": 1e-4}, "gpu-check"))
    for name, path in (("sft", sft), ("ga", ga)):
        losses = read_lineage(path)["final_losses"]
        ok = bool(losses) and all(math.isfinite(v) for v in losses.values())
        rep.check(f"training {name} ({'bf16' if bf16 else 'fp32'}, {steps} steps)", "PASS" if ok else "FAIL",
                  ", ".join(f"{k} {v:.4f}" for k, v in sorted(losses.items())) or "no loss logged")
    return sft


def check_evaluation(rep: Report, ckpt: Path, device: str, limit: int) -> None:
    dtype = "bfloat16" if device == "cuda" else "float32"
    out = evaluate("hf_vlm", {"pretrained": str(ckpt), "dtype": dtype}, "offside_forget_mm_mc,offside_forget_mm_gen",
                   device=device, batch_size=16, limit=limit, progress=False, verbosity="ERROR")
    mc, gen = out["results"]["offside_forget_mm_mc"], out["results"]["offside_forget_mm_gen"]
    ok = mc["n"] == gen["n"] == limit and all(math.isfinite(v) for v in (mc["acc"], gen["gen_score"]))
    rep.check(f"evaluation on {device} ({dtype}, batch 16)", "PASS" if ok else "FAIL",
              f"MC acc {mc['acc']:.3f} (n {mc['n']}), gen score {gen['gen_score']:.3f} (n {gen['n']})")


def check_backends(rep: Report, tiny: Path, root: Path, device: str, items: int, tol: float) -> dict:
    forget = view(load_items(root), "forget")
    mc, gens = mc_requests(forget[:items], root, False), gen_requests(forget[:items], root, 16)
    hf = {bs: load_model("qwen2_5_vl", {"pretrained": str(tiny), "dtype": "float32", "device": device,
                                        "batch_size": bs}) for bs in (1, 16)}
    per_option = load_model("qwen2_5_vl", {"pretrained": str(tiny), "dtype": "float32", "device": device,
                                           "batch_size": 16, "shared_prefix": False})
    runs = {"hf_vlm batch 1": lambda: hf[1].generate_until(gens, progress=False),
            "hf_vlm batch 16": lambda: hf[16].generate_until(gens, progress=False),
            "MC per option": lambda: per_option.loglikelihood(mc, progress=False),
            "MC shared prefix": lambda: hf[16].loglikelihood(mc, progress=False)}
    skip = ("vLLM is not installed (pip install 'offside[vllm]')" if importlib.util.find_spec("vllm") is None
            else "vLLM needs CUDA" if device != "cuda" else None)
    if skip is None:
        vllm = load_model("vllm_vlm", {"pretrained": str(tiny), "dtype": "float32", "enforce_eager": True,
                                       "gpu_memory_utilization": 0.3})
        runs["vllm_vlm"] = lambda: vllm.generate_until(gens, progress=False)
        ok, detail = compare_backends(hf[16].loglikelihood(mc, progress=False), vllm.loglikelihood(mc, progress=False),
                                      hf[16].generate_until(gens, progress=False), vllm.generate_until(gens, progress=False),
                                      tol)
        rep.check("vllm_vlm vs hf_vlm (float32)", "PASS" if ok else "FAIL", detail)
    else:
        rep.check("vllm_vlm vs hf_vlm", "SKIP", skip)
    return race(2, device, runs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (the CPU-side check)")
    ap.add_argument("--ll_tol", type=float, default=1e-2, help="largest |log-lik difference| vLLM vs hf_vlm")
    ap.add_argument("--no_tests", action="store_true", help="skip the pytest GPU subset")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu-check: no CUDA device on this machine (torch {torch.__version__}); run it where a GPU is, "
              "or pass --device cpu for the CPU-side check", file=sys.stderr)
        return 2
    card = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"
    steps, limit, items = (2, 4, 4) if args.quick else (8, 48, 48)
    rep = Report()
    root, tiny = ensure_mini(), ensure_tiny_model()
    with tempfile.TemporaryDirectory(prefix="gpu-check.") as tmp:
        sft = check_training(rep, root, tiny, Path(tmp), args.device, steps)
        check_evaluation(rep, sft, args.device, limit)
    times = check_backends(rep, tiny, root, args.device, items, args.ll_tol)
    base, mc = times["hf_vlm batch 1"]["seconds"], times["MC per option"]["seconds"]
    for name, row in times.items():
        ratio = f"{base / row['seconds']:.2f}x batch 1" if not name.startswith("MC") else \
            f"{mc / row['seconds']:.2f}x per option"
        rep.speeds.append(("generation" if not name.startswith("MC") else "MC log-lik", name, row["seconds"], ratio))
    if args.device.startswith("cuda") and not args.no_tests:
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "tests/test_vllm_vlm.py",
                                "tests/test_architectures.py", "--all-architectures"])
        rep.check("GPU test subset (vLLM end to end, twelve architectures)", "PASS" if code == 0 else "FAIL",
                  f"pytest exit {code}")
    print("\n" + rep.table(card))
    return 1 if rep.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
