"""Each method end to end on the tiny model + OFFSIDE-mini, and its loss moving the right way."""
import math

import pytest
import torch
from train_helpers import answer_nll, config, train_vanilla

from offside_data.lineage import load_model, read_lineage
from offside_train.methods import METHODS
from offside_train.methods.base import kl_ref_to_current, preference_loss
from offside_train.methods.undial import undial_loss
from offside_train.methods.wga import wga_loss
from offside_train.unlearn import build_unlearn_trainer, run_unlearn


@pytest.fixture(scope="module")
def vanilla(tiny_model_dir, mini_root, tmp_path_factory):
    return train_vanilla(tiny_model_dir, mini_root, tmp_path_factory.mktemp("vanilla"))


def _cfg(method, vanilla, mini_root, out, batch_size=4, **kw):
    return config(method, vanilla, mini_root, out, logging_steps=1, per_device_train_batch_size=batch_size, **kw)


@pytest.mark.parametrize("method", ["ga", "gd", "kl", "po", "npo", "wga", "undial"])
def test_each_method_runs_and_saves_a_loadable_checkpoint_with_lineage(method, vanilla, mini_root, tmp_path):
    out = run_unlearn(_cfg(method, vanilla, mini_root, tmp_path / method, max_steps=4, batch_size=2))
    lineage = read_lineage(out)
    assert lineage["parent"] == str(vanilla.resolve()) and lineage["method"] == method
    assert (lineage["stage"], lineage["setting"], lineage["modality"], lineage["steps"]) == ("unlearn", "complete", "mm", 4)
    assert len(lineage["data"]["fingerprint"]) == 16 and lineage["hyperparameters"]["learning_rate"] == 2e-5
    assert lineage["versions"]["torch"] and "transformers" in lineage["versions"]
    term = {"ga": "forget_neg_nll", "gd": "retain_nll", "kl": "retain_kl", "po": "forget_idk_nll", "npo": "forget_npo",
            "wga": "forget_wga", "undial": "forget_undial"}
    assert term[method] in lineage["final_losses"]
    assert (out / "adapter_config.json").exists() and (out / "tokenizer.json").exists()
    assert (out / "train_log.jsonl").read_text().count("\n") >= 4
    model = load_model(out)  # adapter resolved against its parent
    assert model.config.model_type == "qwen2_5_vl"


def test_every_loss_sees_the_images(vanilla, mini_root, tmp_path):
    """The vision tower runs inside every method's forget and retain loss (pixels are not dropped)."""
    for method in ("ga", "gd", "kl", "po", "npo", "wga", "undial"):
        trainer, _ = build_unlearn_trainer(_cfg(method, vanilla, mini_root, tmp_path / method, batch_size=2,
                                                **({"retain_weight": 1.0} if method == "npo" else {})))
        calls = []
        visual = trainer.model.base_model.model.model.visual
        handle = visual.register_forward_hook(lambda *a: calls.append(1))
        n = len(trainer.forget_items)
        roles = [("forget", [0, 1])] + ([("retain", [n, n + 1])] if trainer.retain_items else [])
        assert bool(trainer.retain_items) == (method not in ("ga", "wga", "undial"))
        for role, indices in roles:
            batch = trainer.role_collator(indices)
            assert batch["role"] == role and "pixel_values" in batch and "image_grid_thw" in batch
            before = len(calls)
            trainer.compute_loss(trainer.model, dict(batch))
            assert len(calls) > before, (method, role)
        handle.remove()


def test_ga_raises_forgetanswer_nll(vanilla, mini_root, tmp_path):
    cfg = _cfg("ga", vanilla, mini_root, tmp_path / "ga", finetune="full", learning_rate=2e-4, max_steps=3,
               batch_size=2)
    trainer, processor = build_unlearn_trainer(cfg)
    probe = trainer.forget_items[:4]
    before = answer_nll(trainer.model, processor, probe)
    trainer.train()
    assert answer_nll(trainer.model, processor, probe) > before + 0.1


def test_npo_loss_matches_hand_computation_and_tends_to_ga():
    logp = torch.tensor([-3.0, -0.5, -7.25], dtype=torch.float64)
    ref = torch.tensor([-2.0, -1.5, -7.0], dtype=torch.float64)
    beta = 0.9
    hand = sum((2 / beta) * math.log(1 + math.exp(lp - rp) ** beta) for lp, rp in zip(logp.tolist(), ref.tolist())) / 3
    npo_loss = lambda lp, rp, b: preference_loss(rp - lp, b)  # noqa: E731  (NPO's margin: log pi_ref - log pi)
    assert npo_loss(logp, ref, beta).item() == pytest.approx(hand, rel=1e-6)
    # beta -> 0: NPO minus its constant 2 log 2 / beta is mean(log pi - log pi_ref), i.e. gradient ascent
    small = 1e-4
    assert (npo_loss(logp, ref, small) - 2 * math.log(2) / small).item() == pytest.approx((logp - ref).mean().item(), abs=1e-3)
    x = logp.clone().requires_grad_(True)
    npo_loss(x, ref, small).backward()
    assert torch.allclose(x.grad, torch.full_like(x, 1 / 3), atol=1e-4)  # d/dlogp of mean(logp)


def test_kl_direction_is_reference_to_current():
    ref = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]]])
    cur = torch.tensor([[[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])
    labels = torch.tensor([[-100, 1]])  # one answer token, predicted at position 0
    p, q = ref[0, 0].softmax(-1), cur[0, 0].softmax(-1)
    expected = (p * (p.log() - q.log())).sum()
    assert kl_ref_to_current(ref, cur, labels).item() == pytest.approx(expected.item(), rel=1e-6)
    assert kl_ref_to_current(cur, ref, labels).item() != pytest.approx(expected.item(), rel=1e-3)
    assert kl_ref_to_current(ref, ref, labels).item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("finetune", ["lora", "full"])
def test_kl_term_is_zero_before_any_update(finetune, vanilla, mini_root, tmp_path):
    trainer, _ = build_unlearn_trainer(_cfg("kl", vanilla, mini_root, tmp_path / "kl", finetune=finetune, batch_size=2))
    assert (trainer.ref_model is None) == (finetune == "lora")  # LoRA: adapters off serve as the reference
    n = len(trainer.forget_items)
    batch = trainer.role_collator([n, n + 1])
    trainer.model.eval()
    terms = trainer.retain_loss(trainer.model, {k: v for k, v in batch.items() if k != "role"})
    assert abs(terms["retain_kl"].item()) < 1e-6


def test_po_lowers_nll_of_idk_targets(vanilla, mini_root, tmp_path):
    cfg = _cfg("po", vanilla, mini_root, tmp_path / "po", finetune="full", learning_rate=2e-4, max_steps=4,
               batch_size=2, schedule="1:1")
    trainer, processor = build_unlearn_trainer(cfg)
    probe = trainer.forget_items[:4]
    targets = {trainer.answer_for(it) for it in trainer.forget_items}
    assert len(targets) > 3 and not targets & {it.answer for it in trainer.forget_items}
    before = answer_nll(trainer.model, processor, probe, trainer.answer_for)
    trainer.train()
    assert answer_nll(trainer.model, processor, probe, trainer.answer_for) < before - 0.1
    assert trainer.step_roles == {"forget": 2, "retain": 2}


def test_trainer_follows_the_one_to_three_schedule(vanilla, mini_root, tmp_path):
    trainer, _ = build_unlearn_trainer(_cfg("gd", vanilla, mini_root, tmp_path / "gd", max_steps=8, batch_size=1))
    seen = []
    original = trainer.compute_loss
    trainer.compute_loss = lambda model, inputs, **kw: seen.append(inputs["role"]) or original(model, inputs, **kw)
    trainer.train()
    assert seen == ["forget", "retain", "retain", "retain"] * 2


def test_unimodal_mode_feeds_no_pixels(vanilla, mini_root, tmp_path):
    trainer, _ = build_unlearn_trainer(_cfg("gd", vanilla, mini_root, tmp_path / "gd", modality="text", batch_size=4))
    assert all(it.image is None for it in trainer.forget_items + trainer.retain_items)
    for step, batch in zip(range(8), trainer.get_train_dataloader()):
        assert "pixel_values" not in batch and "image_grid_thw" not in batch


def test_selective_mode_trains_only_on_private_forget_qas(vanilla, mini_root, mini_items, tmp_path):
    trainer, _ = build_unlearn_trainer(_cfg("gd", vanilla, mini_root, tmp_path / "gd", setting="selective"))
    private = {it.id for it in mini_items if it.split == "forget" and it.info == "private"}
    assert {it.id for it in trainer.forget_items} == private
    shared = {it.id for it in mini_items if it.split == "forget" and it.info == "shared"}
    assert shared and shared <= {it.id for it in trainer.retain_items}


def test_full_weights_checkpoint_and_npo_with_explicit_reference(vanilla, mini_root, tmp_path):
    cfg = _cfg("npo", vanilla, mini_root, tmp_path / "npo", finetune="full", max_steps=2, batch_size=2,
               ref_model=str(vanilla), retain_weight=1.0, schedule="1:1")
    out = run_unlearn(cfg)
    lineage = read_lineage(out)
    assert lineage["reference_model"] == str(vanilla) and lineage["batches_by_role"] == {"forget": 1, "retain": 1}
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()


def test_registry_knows_every_method_and_its_needs(mini_root):
    needs = {}
    for name in METHODS:
        cfg = config(name, "m", mini_root, "o")
        assert cfg.method == name
        needs[name] = (cfg.uses_retain, cfg.uses_reference)
    assert needs["ga"] == (False, False) and needs["gd"] == (True, False) and needs["kl"] == (True, True)
    assert needs["npo"] == (False, True) and needs["manu"] == (True, False) and needs["undial"] == (False, True)
    # the retain term is composition: GA with an NLL retain term is GD, NPO with retain_weight > 0 gains retain steps
    assert config("ga", "m", mini_root, "o", retain_loss="nll").uses_retain
    assert config("npo", "m", mini_root, "o", retain_weight=1.0).uses_retain
    assert not config("kl", "m", mini_root, "o", retain_weight=0.0).uses_reference


def test_wga_loss_matches_hand_computation():
    logits = torch.tensor([[[1.0, 2.0, 0.0], [0.5, 0.0, -1.0], [0.0, 0.0, 0.0]]])
    labels = torch.tensor([[-100, 1, 0]])  # positions 0 and 1 predict tokens 1 and 0
    beta = 2.0
    p = [math.exp(2) / (math.e + math.exp(2) + 1), math.exp(0.5) / (math.exp(0.5) + 1 + math.exp(-1))]
    hand = sum(q ** beta * math.log(q) for q in p) / 2  # -mean(p^beta * NLL)
    assert wga_loss(logits, labels, beta).item() == pytest.approx(hand, rel=1e-6)
    x = logits.clone().requires_grad_(True)
    wga_loss(x, labels, 0.0).backward()  # beta 0: plain gradient ascent, d/dz of mean log p
    assert x.grad[0, 0, 1].item() == pytest.approx((1 - p[0]) / 2, rel=1e-5)


def test_undial_loss_matches_hand_computation():
    logits = torch.tensor([[[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])
    ref = torch.tensor([[[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])
    labels = torch.tensor([[-100, 0]])  # one answer token, gold 0, predicted at position 0
    beta = 1.5
    z = [2.0 - beta, 1.0, 0.0]
    target = [math.exp(v) / sum(math.exp(u) for u in z) for v in z]
    logq = [v - math.log(math.exp(0) + math.exp(1) + math.exp(0)) for v in (0.0, 1.0, 0.0)]
    hand = -sum(t * lq for t, lq in zip(target, logq))
    assert undial_loss(logits, ref, labels, beta).item() == pytest.approx(hand, rel=1e-6)
    # beta 0: plain self-distillation, minimised when the model equals the reference
    assert undial_loss(ref, ref, labels, 0.0).item() < undial_loss(logits, ref, labels, 0.0).item()
