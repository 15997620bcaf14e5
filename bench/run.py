"""`make bench`: the speed of offside's evaluation paths on the tiny Qwen2.5-VL, as ratios
measured in one run (a benchmark, not a test: it asserts nothing).

Two checkpoints: the random-weight tiny model and a "trained" one (a 60-step full SFT on
OFFSIDE-mini, built once and cached beside the tiny model), whose answers stop early.
Rows: MC log-likelihood shared-prefix vs per-option vs the one-option bound; generation at
batch 16 vs 1, as answered and with every row forced to the full length (batching's ceiling on the
device); offside vs the authors' per-sample style (one `generate` per sample, threads
sharing the model, implemented below); the image preprocessing cache off vs on; peak memory.
"""
from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from offside_benchmarks.offside import (  # noqa: E402
    ensure_mini,  # noqa: E402
    load_items,
    view,
)

from offside_data.chat import load_image, user_message  # noqa: E402
from offside_data.tiny_model import ensure_tiny_model  # noqa: E402
from offside_eval.models import load_model  # noqa: E402
from offside_eval.requests import GenerationRequest, LoglikelihoodRequest  # noqa: E402


def trained_checkpoint(tiny: Path, root: Path) -> Path:
    """A short full SFT of the tiny model (as tests/test_reference_tasks.py), built once."""
    out = Path(tiny).parent / "bench-sft-60"
    if not (out / "config.json").exists():
        from offside_train import build_config
        from offside_train.sft import run_sft

        run_sft(build_config("sft", {"model": str(tiny), "data": str(root), "output_dir": str(out),
                                     "finetune": "full", "learning_rate": 1e-3, "max_steps": 60,
                                     "per_device_train_batch_size": 8, "disable_tqdm": True}))
    return out


@contextmanager
def measured(row: dict, device: str):
    """Wall time and peak memory above the start (GPU: allocated; CPU: resident set, VmHWM)."""
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        base = _status_kib("VmRSS") * 1024
    start = time.perf_counter()
    yield
    if device == "cuda":
        torch.cuda.synchronize()
    row["seconds"] = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else _status_kib("VmHWM") * 1024
    row["peak_mib"] = max(0, peak - base) / 2**20


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def race(repeats: int, device: str, runs: dict) -> dict[str, dict]:
    """Each run's fastest of `repeats` timings (after one warm-up each), with that timing's peak
    memory. Runs take turns, so load from other processes falls on all of them alike."""
    for fn in runs.values():
        fn()
    best: dict[str, dict] = {}
    for _ in range(repeats):
        for name, fn in runs.items():
            row: dict = {}
            with measured(row, device):
                fn()
            if name not in best or row["seconds"] < best[name]["seconds"]:
                best[name] = row
    return best


def mc_requests(items, root, one_option: bool) -> list[LoglikelihoodRequest]:
    reqs = []
    for it in items:
        visuals = [load_image(str(root), it.image)]
        options = [it.options[it.correct]] if one_option else list(it.options.values())
        reqs += [LoglikelihoodRequest([user_message(it.question, True)], visuals, o, group=it.id) for o in options]
    return reqs


def gen_requests(items, root, max_new_tokens: int) -> list[GenerationRequest]:
    return [GenerationRequest([user_message(it.question, True)], [load_image(str(root), it.image)],
                              {"max_new_tokens": max_new_tokens, "temperature": 0}) for it in items]


def authors_style(lm, reqs, threads: int) -> list[str]:
    """The authors' scripts: one `generate` per sample to max_new_tokens, threads sharing the model."""
    proc, model = lm.processor, lm.model

    def one(req):
        text = proc.apply_chat_template(req.messages, add_generation_prompt=True, tokenize=False)
        inputs = proc(text=[text], images=req.visuals, return_tensors="pt").to(model.device)
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=req.gen_kwargs["max_new_tokens"], do_sample=False)
        return proc.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0].strip()

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, reqs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mc_items", type=int, default=96, help="forget-set MC items (4 options each)")
    ap.add_argument("--gen_items", type=int, default=48)
    ap.add_argument("--max_new_tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=4, help="threads of the authors' style")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()

    root, tiny = ensure_mini(), ensure_tiny_model()
    checkpoints = {"random": tiny, "trained": trained_checkpoint(tiny, root)}
    forget = view(load_items(root), "forget")
    mc_items = forget[:args.mc_items]
    rows: list[tuple[str, str, dict, str]] = []

    def add(section, variant, row, ratio=""):
        rows.append((section, variant, row, ratio))

    def model(path, **kw):
        return load_model("qwen2_5_vl", {"pretrained": str(path), "device": args.device, **{"batch_size": 8, **kw}})

    for name, path in checkpoints.items():
        lms = {"per": model(path, shared_prefix=False), "shared": model(path)}
        one, full = mc_requests(mc_items, root, True), mc_requests(mc_items, root, False)
        t = race(args.repeats, args.device, {
            "bound": lambda: lms["per"].loglikelihood(one, progress=False),
            "per": lambda: lms["per"].loglikelihood(full, progress=False),
            "shared": lambda: lms["shared"].loglikelihood(full, progress=False)})
        section = f"MC loglik, {name} ({len(mc_items)} items x 4)"
        add(section, "one option per item (bound)", t["bound"], "1.00x bound")
        add(section, "per-option (4 prefixes)", t["per"], f"{t['per']['seconds'] / t['bound']['seconds']:.2f}x bound")
        add(section, "shared prefix", t["shared"], f"{t['shared']['seconds'] / t['bound']['seconds']:.2f}x bound")

    gens = gen_requests(forget[:args.gen_items], root, args.max_new_tokens)
    lms = {bs: model(checkpoints["trained"], batch_size=bs) for bs in (1, 16)}
    t = race(args.repeats, args.device, {
        1: lambda: lms[1].generate_until(gens, progress=False),
        16: lambda: lms[16].generate_until(gens, progress=False),
        "authors": lambda: authors_style(lms[1], gens, args.threads)})
    section = f"generation, trained ({len(gens)} items, max_new_tokens={args.max_new_tokens})"
    add(section, "offside batch 1", t[1], "1.00x")
    add(section, "offside batch 16", t[16], f"{t[1]['seconds'] / t[16]['seconds']:.2f}x faster than batch 1")
    add(section, f"authors' style ({args.threads} threads, per sample)", t["authors"],
        f"{t['authors']['seconds'] / t[16]['seconds']:.2f}x offside batch 16's time")

    # The same 48 prompts forced to exactly max_new_tokens (no early stop): what batching alone buys
    # on this device, the ceiling for the row above, whose batches also wait for their longest answer.
    fixed = [GenerationRequest(r.messages, r.visuals, {**r.gen_kwargs, "min_new_tokens": args.max_new_tokens})
             for r in gens]
    t = race(args.repeats, args.device, {bs: (lambda bs=bs: lms[bs].generate_until(fixed, progress=False))
                                         for bs in (1, 16)})
    section = f"generation, every row {args.max_new_tokens} new tokens"
    add(section, "offside batch 1", t[1], "1.00x")
    add(section, "offside batch 16", t[16], f"{t[1]['seconds'] / t[16]['seconds']:.2f}x faster than batch 1")

    full = mc_requests(mc_items, root, False)
    lms = {on: model(checkpoints["trained"], cache_images=on) for on in (False, True)}
    t = race(args.repeats, args.device, {on: (lambda on=on: lms[on].loglikelihood(full, progress=False))
                                         for on in (False, True)})
    section = "image preprocessing cache (MC, shared prefix)"
    add(section, "cache off", t[False], "1.00x")
    add(section, "cache on", t[True], f"{t[False]['seconds'] / t[True]['seconds']:.2f}x faster")

    print(f"device: {args.device}; best of {args.repeats} after a warm-up, variants taking turns; "
          f"peak = memory above the start ({'allocated' if args.device == 'cuda' else 'RSS'})")
    print(f"| {'measure':<58} | {'variant':<38} | {'seconds':>8} | {'ratio':<36} | {'peak MiB':>8} |")
    print(f"|{'-' * 60}|{'-' * 40}|{'-' * 10}|{'-' * 38}|{'-' * 10}|")
    for section, variant, row, ratio in rows:
        print(f"| {section:<58} | {variant:<38} | {row['seconds']:>8.2f} | {ratio:<36} | {row['peak_mib']:>8.1f} |")


if __name__ == "__main__":
    main()
