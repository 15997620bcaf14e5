import json

import torch
from offside_benchmarks.offside import OFFSIDE
from train_helpers import config, train_vanilla

from offside_data.lineage import load_model, read_lineage, resolve_checkpoint
from offside_train.checkpoint import load_processor
from offside_train.cli import main
from offside_train.data import RecordCollator
from offside_train.sft import run_sft


def _nll(path, records):
    model, processor = load_model(path).eval(), load_processor(str(path))
    with torch.no_grad():
        return model(**RecordCollator(processor, 128)(records)).loss.item()


def test_vanilla_then_relearn_raises_relearn_likelihood(tiny_model_dir, mini_root, tmp_path):
    vanilla = train_vanilla(tiny_model_dir, mini_root, tmp_path / "vanilla")
    relearn_items = OFFSIDE.train_records(mini_root, "relearn", "mm", setting="complete", image_size=256)[:6]
    before = _nll(vanilla, relearn_items)
    relearned = run_sft(config("relearn", vanilla, mini_root, tmp_path / "relearn", finetune="full",
                               learning_rate=1e-3, max_steps=4, per_device_train_batch_size=4))
    assert _nll(relearned, relearn_items) < before - 0.1
    lineage = read_lineage(relearned)
    assert (lineage["stage"], lineage["parent"], lineage["data"]["items"]) == ("relearn", str(vanilla.resolve()),
                                                                              {"relearn": 168})
    assert resolve_checkpoint(relearned) == (str(relearned), [])  # full weights: loads on its own


def test_cli_sft_lora_with_merge_and_resume(tiny_model_dir, mini_root, tmp_path):
    out = tmp_path / "sft"
    argv = ["sft", "--model", str(tiny_model_dir), "--data", str(mini_root), "--out", str(out), "--max_steps", "2",
            "--per_device_train_batch_size", "2", "--merge", "--save_strategy", "steps", "--save_steps", "1",
            "--disable_tqdm", "true", "--logging_steps", "1"]
    assert main(argv) == 0
    lineage = read_lineage(out)
    assert lineage["finetune"] == "lora" and lineage["steps"] == 2 and "loss" in lineage["final_losses"]
    assert (out / "adapter_config.json").exists() and (out / "merged" / "model.safetensors").exists()
    assert resolve_checkpoint(out) == (str(tiny_model_dir.resolve()), [str(out)])
    assert read_lineage(out / "merged")["merged_from"] == str(out.resolve())
    logs = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in logs if "loss" in entry] == [1, 2]
    # resuming from the last checkpoint continues to a later max_steps instead of restarting
    longer = argv[:argv.index("--max_steps") + 1] + ["3"] + argv[argv.index("--max_steps") + 2:]
    assert main(longer + ["--resume_from_checkpoint", "last"]) == 0
    assert read_lineage(out)["steps"] == 3


def test_lora_init_depends_on_the_seed_not_on_earlier_random_draws(tiny_model_dir, mini_root, tmp_path):
    """The pipeline trains every method in one process: an adapter's init must not depend on order."""
    from offside_train.checkpoint import load_trainable

    cfg = config("ga", tiny_model_dir, mini_root, tmp_path / "a")
    first = {k: v.clone() for k, v in load_trainable(cfg).named_parameters() if "lora_A" in k}
    torch.rand(1000)  # what an earlier stage would have consumed
    second = {k: v for k, v in load_trainable(cfg).named_parameters() if "lora_A" in k}
    assert first and all(torch.equal(first[k], second[k]) for k in first)
    other = config("ga", tiny_model_dir, mini_root, tmp_path / "b", seed=1)
    third = {k: v for k, v in load_trainable(other).named_parameters() if "lora_A" in k}
    assert not all(torch.equal(first[k], third[k]) for k in first)


def test_language_finetune_trains_the_language_model_and_leaves_the_vision_tower(tiny_model_dir, mini_root, tmp_path):
    out = run_sft(config("sft", tiny_model_dir, mini_root, tmp_path / "lang", finetune="language",
                         learning_rate=1e-3, max_steps=2, per_device_train_batch_size=2))
    before, after = (dict(load_model(p).named_parameters()) for p in (tiny_model_dir, out))
    moved = {name for name in before if not torch.equal(before[name], after[name])}
    assert moved and all(".language_model." in name or name.startswith("lm_head.") for name in moved)
    assert not any(".visual." in name for name in moved)
    assert read_lineage(out)["finetune"] == "language"
