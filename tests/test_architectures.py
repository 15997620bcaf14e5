"""Twelve transformers MLLM architectures (tiny random checkpoints from `tiny_archs`) through offside:
MC log-likelihoods equal the model's own forced-decoding log-probs at batch 1 and 4, greedy
generation equals plain `generate()`, and two unlearning steps run and the result evaluates.

By default four run (Qwen2.5-VL and one per kind of failure the matrix once showed: BOS written by
the template and images counted per prompt, a generation prompt that is not the conversation's
prefix, no chat template); `--all-architectures` (what `make test` passes) runs all twelve."""
import pytest
import torch
from eval_helpers import mc_requests
from offside_benchmarks.offside import view
from tiny_archs import ARCHS, ensure_tiny_arch

from offside_data.chat import assistant_message, load_image, user_message
from offside_data.encode import IGNORE_INDEX, Example, encode_examples
from offside_eval.models import load_model
from offside_eval.requests import GenerationRequest

DEFAULT = {"qwen2_5_vl", "gemma3", "llava_onevision", "paligemma"}
ARCH_PARAMS = [pytest.param(name, marks=[] if name in DEFAULT else [pytest.mark.architectures]) for name in ARCHS]


@pytest.fixture(scope="module", params=ARCH_PARAMS)
def arch_dir(request, tiny_model_dir):
    return request.param, ensure_tiny_arch(request.param, tiny_model_dir)


def _prompt_format(name):
    return "prefix" if ARCHS[name].template is None else "chat"


@pytest.fixture(scope="module")
def arch_model(arch_dir):
    name, path = arch_dir
    return name, load_model("hf_vlm", f"pretrained={path},prompt_format={_prompt_format(name)}", batch_size=4,
                            device="cpu")


def _items(mini_items, name, images=2):
    """Image items and, where the processor takes them, a text-only one: requests mix both."""
    text = view(mini_items, "retain", "unimodal")[:1] if ARCHS[name].text_only else []
    return view(mini_items, "forget")[:images] + text


def _with_images(messages, visuals):
    """Messages whose image parts carry the image, as `apply_chat_template(tokenize=True)` wants them."""
    images = iter(visuals)
    return [{**m, "content": [{**p, "image": next(images)} if p["type"] == "image" else p for p in m["content"]]}
            for m in messages]


@torch.no_grad()
def forced_decoding(model, processor, req, name):
    """(input ids, per-token log-probs) of the whole conversation, tokenized by the processor itself."""
    if ARCHS[name].template is None:
        inputs = processor(text=req.messages[0]["content"][-1]["text"], images=req.visuals or None,
                           suffix=req.continuation, return_tensors="pt")
        inputs.pop("labels")
    else:
        conversation = _with_images(list(req.messages) + [assistant_message(req.continuation)], req.visuals)
        inputs = processor.apply_chat_template(conversation, tokenize=True, return_dict=True, return_tensors="pt")
    ids = inputs["input_ids"][0]
    logits = model(**inputs).logits[0].float()
    return ids, torch.log_softmax(logits[:-1], dim=-1).gather(-1, ids[1:, None]).squeeze(-1)


def test_loglikelihoods_equal_forced_decoding(arch_model, mini_root, mini_items):
    name, lmm = arch_model
    reqs = mc_requests(_items(mini_items, name), mini_root)
    tok = lmm.tokenizer
    for req in reqs[::3]:  # options of every item
        ours = encode_examples(lmm.processor, [Example(list(req.messages), req.continuation, list(req.visuals))])
        ids, logprobs = forced_decoding(lmm.model, lmm.processor, req, name)
        n = ours["input_ids"].shape[1]
        assert ours["input_ids"][0].tolist() == ids[:n].tolist()  # one BOS, same image tokens
        assert tok.decode(ids[n:]).strip() == ""  # only the template's trailing whitespace is left out
        labelled = (ours["labels"][0] != IGNORE_INDEX).nonzero().flatten()
        assert tok.decode(ours["labels"][0, labelled]).strip().startswith(req.continuation.strip())
        want = float(logprobs[labelled - 1].sum())
        for batch_size, shared in ((1, False), (4, False), (4, True)):
            lmm.batch_size, lmm.shared_prefix = batch_size, shared
            got = {r.continuation: ll for r, (ll, _) in zip(reqs, lmm.loglikelihood(reqs, progress=False))
                   if r.group == req.group}
            assert got[req.continuation] == pytest.approx(want, abs=1e-4), (batch_size, shared)


@torch.no_grad()
def plain_generate(model, processor, req, name, max_new_tokens):
    if ARCHS[name].template is None:
        inputs = processor(text=req.messages[0]["content"][-1]["text"], images=req.visuals or None,
                           return_tensors="pt")
        inputs.pop("labels", None)
    else:
        inputs = processor.apply_chat_template(_with_images(req.messages, req.visuals), add_generation_prompt=True,
                                               tokenize=True, return_dict=True, return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def test_greedy_generation_equals_plain_generate(arch_model, mini_root, mini_items):
    name, lmm = arch_model
    items = _items(mini_items, name, images=3)
    reqs = []
    for it in items:
        visuals = [load_image(str(mini_root), it.image)] if it.image else []
        reqs.append(GenerationRequest([user_message(it.question, bool(visuals))], visuals, {"max_new_tokens": 5}))
    lmm.batch_size = 4
    got = lmm.generate_until(reqs, progress=False)
    assert got == [plain_generate(lmm.model, lmm.processor, r, name, 5) for r in reqs]


def test_two_unlearning_steps_then_evaluate(arch_dir, mini_root, tmp_path):
    from offside_eval import evaluate
    from offside_train.cli import main

    name, path = arch_dir
    out = tmp_path / "ga"
    assert main(["unlearn", "--method", "ga", "--model", str(path), "--data", str(mini_root), "--out", str(out),
                 "--max_steps", "2", "--per_device_train_batch_size", "4", "--report_to", "none",
                 "--prompt_format", _prompt_format(name)]) == 0
    lmm = load_model("hf_vlm", f"pretrained={out},prompt_format={_prompt_format(name)}", batch_size=4, device="cpu")
    result = evaluate(lmm, tasks="offside_forget_mm_mc", limit=4, verbosity="ERROR", progress=False)
    assert 0.0 <= result["results"]["offside_forget_mm_mc"]["acc"] <= 1.0


@pytest.mark.parametrize("method", ["rmu", "manu", "mmu"])
def test_layer_methods_find_a_language_model_of_another_name(method, tiny_model_dir, mini_root, tmp_path):
    """Idefics3 calls its language model `text_model`: the methods that pick its layers find it."""
    from offside_train.cli import main

    path = ensure_tiny_arch("idefics3", tiny_model_dir)
    assert main(["unlearn", "--method", method, "--model", str(path), "--data", str(mini_root),
                 "--out", str(tmp_path / method), "--max_steps", "2", "--per_device_train_batch_size", "4",
                 "--report_to", "none"]) == 0
