"""Model adapters on the tiny checkpoints: exact log-likelihoods, batch invariance, text-only
requests (other architectures: test_architectures.py), and the OpenAI-compatible backend."""
import pytest
import torch
from eval_helpers import mc_requests
from offside_benchmarks.offside import view

from offside_data.chat import user_message
from offside_eval import evaluate
from offside_eval.models import ModelError, load_model
from offside_eval.requests import LoglikelihoodRequest


@pytest.fixture(scope="module")
def qwen(tiny_model_dir):
    return load_model("qwen2_5_vl", f"pretrained={tiny_model_dir}", batch_size=8, device="cpu")


def hand_loglik(model, processor, question, image, answer, eot="<|im_end|>"):
    """Sum of log p(answer + end-of-turn tokens | image, question), straight from one forward pass."""
    messages = [user_message(question, image is not None)]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    target = processor.tokenizer(answer + eot, add_special_tokens=False)["input_ids"]
    inputs = processor(text=[prompt + answer + eot], images=[image] if image is not None else None,
                       return_tensors="pt")
    ids = inputs["input_ids"][0]
    assert ids[-len(target):].tolist() == target
    with torch.no_grad():
        logits = model.model(**inputs).logits[0].float()
    logprobs = torch.log_softmax(logits[-len(target) - 1:-1], dim=-1)
    return float(logprobs.gather(-1, ids[-len(target):, None]).sum())


def test_loglikelihood_equals_hand_computation(qwen, mini_root, mini_items):
    items = view(mini_items, "forget")[:2] + view(mini_items, "retain", "unimodal")[:1]
    reqs = mc_requests(items, mini_root)
    got = qwen.loglikelihood(reqs, progress=False)
    for req, (ll, greedy) in zip(reqs, got):
        image = req.visuals[0] if req.visuals else None
        want = hand_loglik(qwen, qwen.processor, req.messages[0]["content"][-1]["text"], image, req.continuation)
        assert ll == pytest.approx(want, abs=1e-4)
        assert isinstance(greedy, bool)
    # each distinct image object was preprocessed once
    assert len(qwen.processor._offside_image_cache) == len({id(r.visuals[0]) for r in reqs if r.visuals})


def test_batch_size_1_and_8_give_identical_results(qwen):
    runs = []
    for bs in (1, 8):
        qwen.batch_size = bs
        runs.append(evaluate(qwen, tasks="offside_forget_mm_mc,offside_forget_mm_gen", limit=6, log_samples=True,
                             gen_kwargs="max_new_tokens=6", verbosity="ERROR", progress=False))
    qwen.batch_size = 8
    one, eight = runs
    for a, b in zip(one["samples"]["offside_forget_mm_mc"], eight["samples"]["offside_forget_mm_mc"]):
        assert a["doc_id"] == b["doc_id"]
        assert a["loglikelihoods"] == pytest.approx(b["loglikelihoods"], abs=1e-4)
        assert (a["acc"], a["acc_norm"]) == (b["acc"], b["acc_norm"])
    assert ([s["response"] for s in one["samples"]["offside_forget_mm_gen"]]
            == [s["response"] for s in eight["samples"]["offside_forget_mm_gen"]])
    assert one["results"] == eight["results"]


def test_text_only_tasks_send_no_image_tokens(qwen):
    seen = []

    def hook(_module, args, kwargs):
        seen.append((kwargs.get("input_ids"), kwargs.get("pixel_values")))

    handle = qwen.model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        out = evaluate(qwen, tasks="offside_forget_text_mc,offside_forget_text_gen", limit=2,
                       gen_kwargs="max_new_tokens=3", verbosity="ERROR", progress=False, log_samples=True)
    finally:
        handle.remove()
    image_token = qwen.model.config.image_token_id
    assert seen and all(px is None for _ids, px in seen)
    assert all(not (ids == image_token).any() for ids, _px in seen if ids is not None)
    assert all(s["n_images"] == 0 for s in out["samples"]["offside_forget_text_mc"])


class _FakeClient:
    def __init__(self):
        self.calls = []
        outer = self

        class Completions:
            def create(self, **params):
                outer.calls.append(params)
                msg = type("M", (), {"content": " He joins Corvale. "})()
                return type("R", (), {"choices": [type("C", (), {"message": msg})()]})()

        self.chat = type("Chat", (), {"completions": Completions()})()


def test_openai_chat_generation_and_loglikelihood_error(mini_root):
    from offside_eval.models.openai_chat import OpenAIChat

    client = _FakeClient()
    lm = OpenAIChat(model="fake-vlm", client=client)
    with pytest.raises(ModelError, match="cannot compute log-likelihoods"):
        evaluate(lm, tasks="offside_forget_mm", limit=1, verbosity="ERROR", progress=False)
    assert not client.calls  # refused before any request was sent
    out = evaluate(lm, tasks="offside_forget_mm_gen", limit=2, verbosity="ERROR", progress=False, log_samples=True)
    assert [s["response"] for s in out["samples"]["offside_forget_mm_gen"]] == ["He joins Corvale."] * 2
    parts = client.calls[0]["messages"][0]["content"]
    assert parts[0]["type"] == "image_url" and parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert client.calls[0]["temperature"] == 0.0
    with pytest.raises(ModelError, match="cannot compute"):
        lm.loglikelihood([LoglikelihoodRequest([], [], "x")])
    with pytest.raises(ModelError, match="model=NAME"):
        load_model("openai_chat", "base_url=http://localhost:9")


def test_checkpoint_folder_and_adapter_arg_load_the_same_weights(tiny_model_dir, tmp_path, mini_root, mini_items):
    """A training checkpoint (LoRA + lineage) works as pretrained=, and as adapter= on top of its base."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from offside_data.lineage import write_lineage

    torch.manual_seed(3)
    base = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "ckpt")
    write_lineage(tmp_path / "ckpt", {"parent": str(tiny_model_dir), "method": "test"})

    reqs = mc_requests(view(mini_items, "forget")[:1], mini_root)
    scores = []
    for args in (f"pretrained={tiny_model_dir}", f"pretrained={tmp_path / 'ckpt'}",
                 f"pretrained={tiny_model_dir},adapter={tmp_path / 'ckpt'}"):
        lm = load_model("qwen2_5_vl", args, batch_size=4, device="cpu")
        scores.append([ll for ll, _ in lm.loglikelihood(reqs, progress=False)])
    assert scores[1] == pytest.approx(scores[2], abs=1e-4)
    assert max(abs(a - b) for a, b in zip(scores[0], scores[1])) > 1e-3  # the adapter changed the model
