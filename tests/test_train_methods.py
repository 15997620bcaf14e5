"""Each method end to end on the tiny model + OFFSIDE-mini, and its loss moving the right way."""
import math

import pytest
import torch

from offside_data.lineage import load_model, read_lineage
from offside_train.config import SFTRunConfig
from offside_train.methods import METHODS, get_method
from offside_train.methods.kl import kl_ref_to_current
from offside_train.methods.npo import npo_loss
from offside_train.sft import run_sft
from offside_train.unlearn import build_unlearn_trainer, run_unlearn
from train_helpers import answer_nll


@pytest.fixture(scope="module")
def vanilla(tiny_model_dir, mini_root, tmp_path_factory):
    """A briefly full-fine-tuned tiny model: the parent every unlearning test starts from."""
    out = tmp_path_factory.mktemp("vanilla")
    run_sft(SFTRunConfig(model=str(tiny_model_dir), data=str(mini_root), out=str(out), finetune="full",
                         learning_rate=1e-3, max_steps=4, batch_size=4, progress=False))
    return out


def _cfg(method, vanilla, mini_root, out, **kw):
    return get_method(method).config_class(model=str(vanilla), data=str(mini_root), out=str(out),
                                           progress=False, logging_steps=1, **kw)


@pytest.mark.parametrize("method", ["ga", "gd", "kl", "po", "npo"])
def test_each_method_runs_and_saves_a_loadable_checkpoint_with_lineage(method, vanilla, mini_root, tmp_path):
    out = run_unlearn(_cfg(method, vanilla, mini_root, tmp_path / method, max_steps=4, batch_size=2))
    lineage = read_lineage(out)
    assert lineage["parent"] == str(vanilla.resolve()) and lineage["method"] == method
    assert (lineage["stage"], lineage["setting"], lineage["modality"], lineage["steps"]) == ("unlearn", "complete", "mm", 4)
    assert len(lineage["data"]["fingerprint"]) == 16 and lineage["hyperparameters"]["learning_rate"] == 2e-5
    assert lineage["versions"]["torch"] and "transformers" in lineage["versions"]
    term = {"ga": "forget_neg_nll", "gd": "retain_nll", "kl": "retain_kl", "po": "forget_idk_nll", "npo": "forget_npo"}
    assert term[method] in lineage["final_losses"]
    assert (out / "adapter_config.json").exists() and (out / "tokenizer.json").exists()
    assert (out / "train_log.jsonl").read_text().count("\n") >= 4
    model = load_model(out)  # adapter resolved against its parent
    assert model.config.model_type == "qwen2_5_vl"


def test_every_loss_sees_the_images(vanilla, mini_root, tmp_path):
    """The vision tower runs inside every method's forget and retain loss (pixels are not dropped)."""
    for method in ("ga", "gd", "kl", "po", "npo"):
        trainer, _ = build_unlearn_trainer(_cfg(method, vanilla, mini_root, tmp_path / method, batch_size=2,
                                                **({"retain_weight": 1.0} if method == "npo" else {})))
        calls = []
        visual = trainer.model.base_model.model.model.visual
        handle = visual.register_forward_hook(lambda *a: calls.append(1))
        n = len(trainer.forget_items)
        roles = [("forget", [0, 1])] + ([("retain", [n, n + 1])] if trainer.retain_items else [])
        assert bool(trainer.retain_items) == (method != "ga")
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
    before = answer_nll(trainer.model, processor, probe, mini_root)
    trainer.train()
    assert answer_nll(trainer.model, processor, probe, mini_root) > before + 0.1


def test_npo_loss_matches_hand_computation_and_tends_to_ga():
    logp = torch.tensor([-3.0, -0.5, -7.25], dtype=torch.float64)
    ref = torch.tensor([-2.0, -1.5, -7.0], dtype=torch.float64)
    beta = 0.9
    hand = sum((2 / beta) * math.log(1 + math.exp(lp - rp) ** beta) for lp, rp in zip(logp.tolist(), ref.tolist())) / 3
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
    before = answer_nll(trainer.model, processor, probe, mini_root, trainer.answer_for)
    trainer.train()
    assert answer_nll(trainer.model, processor, probe, mini_root, trainer.answer_for) < before - 0.1
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
    assert any(it.split == "forget" and it.info == "shared" for it in trainer.retain_items)


def test_full_weights_checkpoint_and_npo_with_explicit_reference(vanilla, mini_root, tmp_path):
    cfg = _cfg("npo", vanilla, mini_root, tmp_path / "npo", finetune="full", max_steps=2, batch_size=2,
               ref_model=str(vanilla), retain_weight=1.0, schedule="1:1")
    out = run_unlearn(cfg)
    lineage = read_lineage(out)
    assert lineage["reference_model"] == str(vanilla) and lineage["batches_by_role"] == {"forget": 1, "retain": 1}
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()


def test_registry_knows_every_method():
    for name, cls in METHODS.items():
        assert cls.name == name and cls.config_class().method == name
