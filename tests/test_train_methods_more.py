"""MANU, MMUnlearner, SimNPO, IdkDPO and RMU on the tiny model + OFFSIDE-mini (full fine-tuning)."""
import dataclasses
import json
import math

import pytest
import torch
from train_helpers import answer_nll, config, train_vanilla
from transformers import Trainer

from offside_data.encode import IGNORE_INDEX
from offside_data.lineage import load_model, read_lineage
from offside_data.records import text_only
from offside_train import cli
from offside_train.config import ConfigError
from offside_train.data import RecordCollator
from offside_train.methods import WeightEditor
from offside_train.methods.base import preference_loss
from offside_train.methods.manu import NeuronStats, neuron_scores, top_fraction
from offside_train.methods.mmu import select_mask
from offside_train.sft import run_sft
from offside_train.unlearn import build_unlearn_trainer, run_unlearn

OPTIONS = {"manu": {"prune_ratio_mm": 0.02, "prune_ratio_text": 0.02, "stat_batches": 2},
           "mmu": {"mask_fraction": 0.2, "saliency_batches": 2},
           "simnpo": {"retain_weight": 1.0}, "idkdpo": {"retain_weight": 1.0}, "rmu": {"layer": 2}}


@pytest.fixture(scope="module")
def vanilla(tiny_model_dir, mini_root, tmp_path_factory):
    return train_vanilla(tiny_model_dir, mini_root, tmp_path_factory.mktemp("vanilla"))


def _cfg(method, vanilla, mini_root, out, setting="complete", modality="mm", **kw):
    """The pipeline's call: build_config(method, options) with setting and modality."""
    options = {"finetune": "full", "logging_steps": 1, "per_device_train_batch_size": 2, **OPTIONS[method], **kw}
    return config(method, vanilla, mini_root, out, setting=setting, modality=modality, **options)


@pytest.mark.parametrize("method", ["manu", "mmu", "simnpo", "idkdpo", "rmu"])
def test_method_saves_full_weights_with_lineage_and_evaluates(method, vanilla, mini_root, tmp_path):
    import offside_eval

    out = run_unlearn(_cfg(method, vanilla, mini_root, tmp_path / method, max_steps=4))
    lineage = read_lineage(out)
    assert (lineage["stage"], lineage["method"], lineage["finetune"]) == ("unlearn", method, "full")
    assert lineage["parent"] == str(vanilla.resolve()) and (out / "model.safetensors").exists()
    assert lineage["steps"] == (0 if method == "manu" else 4)
    if method == "manu":
        pruned = json.loads((out / "manu_pruned.json").read_text())
        assert sum(map(len, pruned["language"].values())) == lineage["manu"]["pruned_neurons"]["language"] > 0
    else:
        assert any(k.startswith("forget_") for k in lineage["final_losses"])
    assert load_model(out).config.model_type == "qwen2_5_vl"  # what offside-eval loads
    if method == "manu":  # the full-weights path, once through the evaluator itself
        result = offside_eval.evaluate("hf_vlm", {"pretrained": str(out)}, "offside_forget_mm_mc", limit=2,
                                       data_root=mini_root, progress=False, verbosity="WARNING")
        assert result["results"]["offside_forget_mm_mc"]["n"] == 2


@pytest.mark.parametrize("method, setting, modality", [
    ("manu", "selective", "mm"), ("manu", "complete", "text"), ("mmu", "selective", "mm"), ("mmu", "complete", "text"),
    ("simnpo", "complete", "text"), ("idkdpo", "selective", "mm"), ("rmu", "complete", "text")])
def test_method_runs_in_selective_and_unimodal_settings(method, setting, modality, vanilla, mini_root, tmp_path):
    out = run_unlearn(_cfg(method, vanilla, mini_root, tmp_path / method, setting, modality, max_steps=2))
    lineage = read_lineage(out)
    assert (lineage["setting"], lineage["modality"]) == (setting, modality)


def test_new_methods_then_relearn(vanilla, mini_root, tmp_path):
    unlearned = run_unlearn(_cfg("simnpo", vanilla, mini_root, tmp_path / "u", max_steps=2))
    out = run_sft(config("relearn", unlearned, mini_root, tmp_path / "r", max_steps=1, per_device_train_batch_size=2))
    assert read_lineage(out)["parent"] == str(unlearned.resolve())


# ---- MANU --------------------------------------------------------------------------------------
def test_manu_scores_pick_the_neuron_that_fires_only_on_forget_inputs():
    gen = torch.Generator().manual_seed(0)
    forget, retain = NeuronStats(16, 0.01), NeuronStats(16, 0.01)
    for _ in range(3):  # streamed in chunks
        f, r = torch.randn(20, 16, generator=gen), torch.randn(20, 16, generator=gen)
        f[:, 11], r[:, 11] = 2.0 + torch.rand(20, generator=gen), 0.0
        forget.update(f)
        retain.update(r)
    scores = neuron_scores([forget], [retain], 1e-6)
    assert top_fraction(scores, 1 / 16) == {11} and top_fraction(scores, 0.0) == set()
    whole = NeuronStats(2, 0.5)
    whole.update(torch.tensor([[1.0, 0.0], [-3.0, 0.2], [2.0, 0.4]]))
    mean_abs, freq, var, rms = whole.importance()
    assert torch.allclose(mean_abs, torch.tensor([2.0, 0.2], dtype=torch.float64))
    assert torch.allclose(freq, torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert torch.allclose(var, torch.tensor([14 / 3 - 0.0, 0.2 / 3 - 0.04], dtype=torch.float64))
    assert torch.allclose(rms, torch.tensor([math.sqrt(14 / 3), math.sqrt(0.2 / 3)], dtype=torch.float64))


def _plant_forget_detector(model, processor, forget, retain, root, neuron=7):
    """Make layer-0 MLP neuron `neuron` fire only on a token that occurs in forget answers only."""
    answers = lambda items: {t for b in [RecordCollator(processor, 128)(items)]
                             for t in b["labels"][b["labels"] != IGNORE_INDEX].tolist()}
    token = min(answers(forget[:4]) - answers(retain[:4]))  # the items the 2 statistics batches of 2 see
    lm = model.model.language_model
    width = lm.config.hidden_size
    with torch.no_grad():
        lm.embed_tokens.weight[:, -1] = 0
        lm.embed_tokens.weight[token, -1] = 20.0
        lm.layers[0].self_attn.o_proj.weight[-1] = 0  # attention writes nothing to that channel
        mlp = lm.layers[0].mlp
        mlp.gate_proj.weight[neuron] = 0
        mlp.up_proj.weight[neuron] = 0
        mlp.gate_proj.weight[neuron, width - 1] = 5.0 / lm.layers[0].post_attention_layernorm.weight[-1]
        mlp.up_proj.weight[neuron, width - 1] = 5.0 / lm.layers[0].post_attention_layernorm.weight[-1]
    return neuron


def test_manu_prunes_the_planted_forget_neuron(vanilla, mini_root, tmp_path):
    cfg = _cfg("manu", vanilla, mini_root, tmp_path / "m", prune_ratio_mm=0.0, prune_ratio_text=0.0)
    trainer, processor = build_unlearn_trainer(cfg)
    model = trainer.model
    neuron = _plant_forget_detector(model, processor, trainer.forget_items, trainer.retain_items, mini_root)
    n = sum(m.down_proj.in_features for m in trainer.mlps()["language"])
    cfg.prune_ratio_mm = 1 / n  # one neuron, by the multimodal score only
    trainer.edit()
    assert trainer.pruned == {"language": {"0": [neuron]}}
    mlp = model.model.language_model.layers[0].mlp
    assert not mlp.gate_proj.weight[neuron].any() and not mlp.up_proj.weight[neuron].any()
    assert not mlp.down_proj.weight[:, neuron].any() and mlp.down_proj.weight[:, neuron + 1].any()
    assert isinstance(trainer, WeightEditor) and not isinstance(trainer, Trainer)  # MANU never trains


def test_manu_ratio_zero_is_bit_identical(vanilla, mini_root, tmp_path):
    out = run_unlearn(_cfg("manu", vanilla, mini_root, tmp_path / "m", prune_ratio_mm=0.0, prune_ratio_text=0.0))
    before, after = load_model(vanilla).state_dict(), load_model(out).state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert json.loads((out / "manu_pruned.json").read_text()) == {"language": {}}


def test_manu_text_and_multimodal_statistics_differ(vanilla, mini_root, mini_items, tmp_path):
    trainer, _ = build_unlearn_trainer(_cfg("manu", vanilla, mini_root, tmp_path / "m", vision=True))
    trainer.edit()
    (mm_forget, _), (text_forget, _) = trainer.stats["mm"], trainer.stats["text"]
    assert set(trainer.stats) == {"mm", "text"}
    assert not torch.allclose(mm_forget["language"][0].importance(), text_forget["language"][0].importance())
    assert mm_forget["vision"][0].count > 0 and text_forget["vision"][0].count == 0
    # the image alone changes the activations: same prompts, images swapped between items
    images = {it.id: it.image_id for it in mini_items}
    items = list({images[it.id]: it for it in reversed(trainer.forget_items)}.values())[:4]  # 4 distinct images
    swapped = [dataclasses.replace(it, image=items[(i + 1) % 4].image) for i, it in enumerate(items)]
    groups = {"language": trainer.mlps()["language"]}
    a, b = trainer.collect(items, groups), trainer.collect(swapped, groups)
    assert not torch.allclose(a["language"][-1].sums, b["language"][-1].sums)


def test_manu_refuses_lora(vanilla, mini_root, tmp_path, capsys):
    argv = ["unlearn", "--method", "manu", "--model", str(vanilla), "--data", str(mini_root),
            "--out", str(tmp_path / "m"), "--finetune", "lora"]
    assert cli.main(argv) == 2
    assert "use --finetune full" in capsys.readouterr().err


# ---- MMUnlearner -------------------------------------------------------------------------------
def test_mmu_mask_rule():
    forget = torch.tensor([[4.0, 1.0], [3.0, 0.0]])
    retain = torch.tensor([[1.0, 2.0], [1.0, 1.0]])
    assert select_mask(forget, retain, 1.0, 1.0).tolist() == [[True, False], [True, False]]
    assert select_mask(forget, retain, 1.0, 0.25).tolist() == [[True, False], [False, False]]
    assert not select_mask(forget, retain, 5.0, 1.0).any()


def test_mmu_leaves_unmasked_weights_bit_identical_and_raises_forget_loss(vanilla, mini_root, tmp_path):
    cfg = _cfg("mmu", vanilla, mini_root, tmp_path / "mmu", learning_rate=5e-4, max_steps=4, schedule="1:1")
    trainer, processor = build_unlearn_trainer(cfg)
    texts = trainer.retain_items[-len(text_only(trainer.forget_items)):]
    assert all(it.image is None for it in texts) and any(it.image for it in trainer.retain_items)
    before = {k: v.clone() for k, v in trainer.model.named_parameters()}
    probe = trainer.forget_items[:4]
    start = answer_nll(trainer.model, processor, probe)
    trainer.train()
    after = dict(trainer.model.named_parameters())
    moved = 0
    for name, value in before.items():
        mask = trainer.masks.get(name)
        unmasked = ~mask.bool() if mask is not None else torch.ones_like(value, dtype=torch.bool)
        assert torch.equal(after[name][unmasked], value[unmasked]), name
        moved += int((after[name] != value).sum())
    assert 0 < moved <= trainer.mask_summary["selected"] < trainer.mask_summary["total"]
    assert answer_nll(trainer.model, processor, probe) > start + 0.05
    assert trainer.step_roles == {"forget": 2, "retain": 2}


def test_mmu_under_lora_masks_output_rows(vanilla, mini_root, tmp_path):
    cfg = _cfg("mmu", vanilla, mini_root, tmp_path / "mmu", finetune="lora", learning_rate=5e-3, max_steps=2)
    trainer, _ = build_unlearn_trainer(cfg)
    trainer.train()
    assert trainer.mask_summary["granularity"] == "lora_B rows"
    merged = trainer.model.merge_and_unload()
    base = load_model(vanilla)
    weights = dict(base.named_parameters())
    for name, mask in trainer.masks.items():
        key = name.removeprefix("base_model.model.") + ".weight"
        rows = ~mask[:, 0].bool()
        assert torch.equal(merged.get_parameter(key)[rows], weights[key][rows])


# ---- SimNPO / IdkDPO --------------------------------------------------------------------------
def test_simnpo_loss_matches_hand_computation():
    logp = torch.tensor([-6.0, -1.5, -12.0], dtype=torch.float64)
    lengths = torch.tensor([3.0, 1.0, 4.0], dtype=torch.float64)
    beta, gamma = 2.5, 0.5
    sig = lambda x: 1 / (1 + math.exp(-x))
    hand = sum(-(2 / beta) * math.log(sig(-(beta / n) * lp - gamma)) for lp, n in zip(logp.tolist(), lengths.tolist())) / 3
    assert preference_loss(-logp / lengths - gamma / beta, beta).item() == pytest.approx(hand, rel=1e-9)


def test_dpo_loss_matches_hand_computation():
    chosen, rejected = torch.tensor([-4.0, -2.0]), torch.tensor([-1.0, -3.0])
    ref_c, ref_r = torch.tensor([-5.0, -2.5]), torch.tensor([-1.5, -2.0])
    beta = 0.1
    margins = [((-4 + 5) - (-1 + 1.5)), ((-2 + 2.5) - (-3 + 2))]
    hand = sum(math.log(1 + math.exp(-beta * m)) for m in margins) / 2
    dpo_loss = lambda c, r, rc, rr: preference_loss((c - rc) - (r - rr), beta, scale=1.0)  # noqa: E731
    assert dpo_loss(chosen, rejected, ref_c, ref_r).item() == pytest.approx(hand, rel=1e-6)
    assert dpo_loss(ref_c, ref_r, ref_c, ref_r).item() == pytest.approx(math.log(2), rel=1e-6)


def test_idkdpo_pairs_refusals_with_forget_answers(vanilla, mini_root, tmp_path):
    trainer, _ = build_unlearn_trainer(_cfg("idkdpo", vanilla, mini_root, tmp_path / "d"))
    batch = trainer.role_collator([0, 1])  # one padded batch: 2 chosen (refusal) rows, then 2 rejected rows
    assert batch["role"] == "forget" and batch["labels"].shape[0] == 4 and batch["image_grid_thw"].shape[0] == 4
    answers = [trainer.processing_class.tokenizer.decode(row[row != IGNORE_INDEX]) for row in batch["labels"]]
    items = trainer.forget_items[:2]
    assert [a.split("<|im_end|>")[0] for a in answers] == [trainer.answer_for(it) for it in items] + [it.answer for it in items]
    calls = []
    handles = [m.register_forward_hook(lambda module, *a: calls.append(module)) for m in (trainer.model, trainer.ref_model)]
    trainer.model.eval()
    terms = trainer.forget_loss(trainer.model, {k: v for k, v in batch.items() if k != "role"})
    for handle in handles:
        handle.remove()
    assert terms["forget_idkdpo"].item() == pytest.approx(math.log(2), abs=1e-5)  # policy == reference
    assert calls == [trainer.model, trainer.ref_model]  # one forward each for chosen and rejected together


# ---- RMU --------------------------------------------------------------------------------------
def test_rmu_forget_loss_falls_and_retain_activations_stay(vanilla, mini_root, tmp_path):
    cfg = _cfg("rmu", vanilla, mini_root, tmp_path / "r", learning_rate=1e-3, max_steps=8, schedule="1:1",
               steering_coeff=8.0)
    trainer, _ = build_unlearn_trainer(cfg)
    assert {n.split(".mlp.")[0][-1] for n, p in trainer.model.named_parameters() if p.requires_grad} == {"0", "1", "2"}
    n = len(trainer.forget_items)
    forget = trainer._prepare_inputs({k: v for k, v in trainer.role_collator([0, 1]).items() if k != "role"})
    retain = trainer._prepare_inputs({k: v for k, v in trainer.role_collator([n, n + 1]).items() if k != "role"})
    trainer.model.eval()
    with torch.no_grad():
        start = trainer.forget_loss(trainer.model, forget)["forget_rmu"].item()
    trainer.train()
    trainer.model.eval()
    drift = {}
    with torch.no_grad():
        end = trainer.forget_loss(trainer.model, forget)["forget_rmu"].item()
        for role, inputs, mask in (("forget", forget, forget["labels"] != IGNORE_INDEX),
                                   ("retain", retain, retain["attention_mask"].bool())):
            hidden, frozen = trainer.hidden(trainer.model, inputs), trainer.hidden(trainer.ref_model, inputs)
            drift[role] = ((hidden - frozen)[mask].norm(dim=-1) / frozen[mask].norm(dim=-1)).mean().item()
    assert end < 0.9 * start
    # relative change of retain hidden states stays within 15%, and below the forget side's
    assert drift["retain"] < 0.15 and drift["retain"] < drift["forget"], drift


def test_rmu_rejects_a_layer_beyond_the_model(vanilla, mini_root, tmp_path):
    with pytest.raises(ConfigError, match="decoder layers"):
        build_unlearn_trainer(_cfg("rmu", vanilla, mini_root, tmp_path / "r", layer=9))
