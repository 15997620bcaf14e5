"""vllm_vlm without vLLM: its pure steps on hand-made outputs and on the tiny model's own logits
(standing in for vLLM's prompt log-probs), the class's glue through a stand-in `vllm` module, and
an end-to-end comparison with the HF backend that runs only where vLLM and a GPU exist."""
import importlib.util
import sys
from types import SimpleNamespace

import pytest
import torch
from offside_benchmarks.offside import view

from offside_data.chat import load_image, user_message
from offside_data.encode import IGNORE_INDEX, Example, encode_examples
from offside_eval.models import ModelError, load_model
from offside_eval.models.vllm_vlm import (
    VLLM_MISSING,
    VLLMVLM,
    continuation_span,
    replica_devices,
    sampling_kwargs,
    score_output,
    scoring_prompt,
)
from offside_eval.requests import GenerationRequest, LoglikelihoodRequest


def lp(logprob, rank):
    return SimpleNamespace(logprob=logprob, rank=rank)


@pytest.fixture(scope="module")
def qwen(tiny_model_dir):
    return load_model("qwen2_5_vl", f"pretrained={tiny_model_dir}", batch_size=4, device="cpu")


@pytest.fixture(scope="module")
def requests_(mini_root, mini_items):
    items = view(mini_items, "forget")[:2] + view(mini_items, "retain", "unimodal")[:1]
    reqs = []
    for it in items:
        visuals = [load_image(str(mini_root), it.image)] if it.image else []
        reqs += [LoglikelihoodRequest([user_message(it.question, bool(visuals))], visuals, option, group=it.id)
                 for option in list(it.options.values())[:2]]
    return reqs


def as_vllm_output(qwen, prompt):
    """What vLLM returns for `prompt` with prompt_logprobs=1, computed by the HF model: the processor
    expands the image placeholder as vLLM does; each position's Logprob has its log-prob and rank."""
    images = prompt.get("multi_modal_data", {}).get("image")
    inputs = qwen.processor(text=[prompt["prompt"]], images=images, return_tensors="pt")
    ids = inputs["input_ids"][0].tolist()
    with torch.no_grad():
        logprobs = torch.log_softmax(qwen.model(**inputs).logits[0].float(), dim=-1)
    entries = [None]
    for pos in range(1, len(ids)):
        row = logprobs[pos - 1]
        entries.append({ids[pos]: lp(float(row[ids[pos]]), int((row > row[ids[pos]]).sum()) + 1)})
    return SimpleNamespace(prompt_token_ids=ids, prompt_logprobs=entries, outputs=[SimpleNamespace(text="")])


def test_missing_vllm_is_a_one_line_model_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import fails even where vLLM is installed
    with pytest.raises(ModelError) as err:
        load_model("vllm_vlm", "pretrained=some/model,tensor_parallel_size=2")
    assert str(err.value) == VLLM_MISSING == "vllm_vlm needs the optional extra: pip install 'offside[vllm]'"


def test_score_output_sums_the_continuation_positions_by_hand():
    out = SimpleNamespace(prompt_token_ids=[11, 12, 13, 14, 15],
                          prompt_logprobs=[None, {12: lp(-9.0, 7)}, {13: lp(-8.0, 3)},
                                           {14: lp(-0.25, 1), 3: lp(-0.5, 2)}, {15: lp(-2.0, 2), 4: lp(-1.0, 1)}])
    assert score_output(out, [14, 15]) == (-2.25, False)
    out.prompt_logprobs[4] = {15: lp(-0.125, 1)}
    assert score_output(out, [14, 15]) == (-0.375, True)
    with pytest.raises(ModelError, match=r"does not end with the answer tokens \[13, 15\]"):
        score_output(out, [13, 15])


def test_span_covers_exactly_the_tokens_the_hf_encoder_labels(qwen, requests_):
    image_token = qwen.model.config.image_token_id
    for req in requests_:
        prompt, target = scoring_prompt(qwen.processor, req)
        assert ("multi_modal_data" in prompt) == bool(req.visuals)
        ids = qwen.processor(text=[prompt["prompt"]], images=req.visuals or None, return_tensors="pt")["input_ids"][0]
        labels = encode_examples(qwen.processor, [Example(list(req.messages), req.continuation, list(req.visuals))])
        labels = labels["labels"][0]
        span = continuation_span(ids.tolist(), target)
        assert list(span) == (labels != IGNORE_INDEX).nonzero().flatten().tolist()
        assert ids[span.start:].tolist() == labels[span.start:].tolist() == target
        # the image placeholder was expanded to many tokens, all before the span
        assert not (ids[span.start:] == image_token).any()
        assert int((ids == image_token).sum()) > 1 if req.visuals else not (ids == image_token).any()


def test_prompt_logprob_scores_equal_the_hf_backend(qwen, requests_):
    want = qwen.loglikelihood(requests_, progress=False)
    for req, (ll, greedy) in zip(requests_, want):
        prompt, target = scoring_prompt(qwen.processor, req)
        got_ll, got_greedy = score_output(as_vllm_output(qwen, prompt), target)
        assert got_ll == pytest.approx(ll, abs=1e-4)
        assert got_greedy == greedy


def test_sampling_kwargs_decode_as_hf_vlm_does():
    checkpoint = {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.05, "max_new_tokens": 512}
    params, strip = sampling_kwargs({"until": ["\n\n", ""], "max_new_tokens": 9}, 64, checkpoint)
    assert params == {"repetition_penalty": 1.05, "max_tokens": 9, "temperature": 0.0, "stop": ["\n\n"]}
    assert strip is True
    params, _ = sampling_kwargs({"temperature": 0.5, "top_p": 0.9, "seed": 3}, 64, {})
    assert params == {"max_tokens": 64, "temperature": 0.5, "top_p": 0.9, "seed": 3}
    params, strip = sampling_kwargs({"use_checkpoint_generation_config": True, "strip_reply": False,
                                     "until": "Q:"}, 64, checkpoint)
    assert params == {"temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.05,
                      "max_tokens": 64, "stop": ["Q:"]}
    assert strip is False
    with pytest.raises(ModelError, match="num_beams > 1"):
        sampling_kwargs({"num_beams": 4}, 64, {})
    with pytest.raises(ModelError, match="unsupported gen_kwargs length_penalty"):
        sampling_kwargs({"length_penalty": 1.0}, 64, {})


def test_replica_devices_give_each_process_its_own_gpus():
    assert replica_devices(1, 2, ["0", "1", "2", "3"]) == "2,3"
    assert replica_devices(1, 1, ["4", "6"]) == "6"
    with pytest.raises(ModelError, match="process 1 needs GPUs 2..3 .* but 3 are visible"):
        replica_devices(1, 2, ["0", "1", "2"])


class FakeLLM:
    """vllm.LLM's surface as the backend uses it; scores with the HF model, generates a fixed reply."""

    def __init__(self, qwen):
        self.qwen, self.calls = qwen, []
        self.model_config = SimpleNamespace(get_diff_sampling_param=lambda: {"temperature": 0.7, "top_k": 5})

    def generate(self, prompts, params, use_tqdm=True):
        self.calls.append((prompts, params))
        if isinstance(params, dict):  # the scoring call: one SamplingParams for all prompts
            return [as_vllm_output(self.qwen, p) for p in prompts]
        return [SimpleNamespace(outputs=[SimpleNamespace(text=" Corvale \n")]) for _ in prompts]


def test_backend_glue_through_a_stand_in_vllm(monkeypatch, qwen, requests_):
    monkeypatch.setitem(sys.modules, "vllm", SimpleNamespace(SamplingParams=lambda **kw: kw, __version__="stand-in"))
    llm = FakeLLM(qwen)
    lm = VLLMVLM(llm=llm, processor=qwen.processor)
    got = lm.loglikelihood(requests_, progress=False)
    for (ll, greedy), (want_ll, want_greedy) in zip(got, qwen.loglikelihood(requests_, progress=False)):
        assert ll == pytest.approx(want_ll, abs=1e-4) and greedy == want_greedy
    assert llm.calls[0][1] == {"max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 1, "detokenize": False}
    with pytest.raises(ModelError, match="details=True"):
        lm.loglikelihood([LoglikelihoodRequest(requests_[0].messages, requests_[0].visuals, "x", details=True)])
    gens = [GenerationRequest(requests_[0].messages, requests_[0].visuals, {"max_new_tokens": 5}),
            GenerationRequest(requests_[-1].messages, [], {"strip_reply": False, "until": ["\n"]})]
    assert lm.generate_until(gens, progress=False) == ["Corvale", " Corvale \n"]
    prompts, params = llm.calls[-1]
    assert prompts[0]["multi_modal_data"]["image"] == requests_[0].visuals and "multi_modal_data" not in prompts[1]
    assert prompts[0]["prompt"] == qwen.processor.apply_chat_template(gens[0].messages, add_generation_prompt=True,
                                                                      tokenize=False)
    assert params == [{"max_tokens": 5, "temperature": 0.0}, {"max_tokens": 64, "temperature": 0.0, "stop": ["\n"]}]
    assert lm.batch_size == 256  # what the evaluator hands vLLM per call
    with pytest.raises(ModelError, match="device='cpu' is not supported"):
        VLLMVLM(llm=llm, processor=qwen.processor, device="cpu")
    with pytest.raises(ModelError, match="batch_size must be an integer, not 'auto'"):
        VLLMVLM(llm=llm, processor=qwen.processor, batch_size="auto")


E2E_SKIP = ("vLLM is not installed (extra: offside[vllm])" if importlib.util.find_spec("vllm") is None
            else None if torch.cuda.is_available() else "vLLM needs a CUDA GPU")


@pytest.mark.skipif(E2E_SKIP is not None, reason=str(E2E_SKIP))
def test_vllm_matches_the_hf_backend_on_the_tiny_model(tiny_model_dir, requests_):
    hf = load_model("qwen2_5_vl", f"pretrained={tiny_model_dir},dtype=float32", batch_size=4, device="cuda")
    lm = load_model("vllm_vlm", {"pretrained": str(tiny_model_dir), "dtype": "float32", "enforce_eager": True,
                                 "gpu_memory_utilization": 0.3})
    for (ll, greedy), (want, want_greedy) in zip(lm.loglikelihood(requests_, progress=False),
                                                 hf.loglikelihood(requests_, progress=False)):
        assert ll == pytest.approx(want, abs=1e-2)
        assert greedy == want_greedy
    gens = [GenerationRequest(r.messages, r.visuals, {"max_new_tokens": 8, "until": ["\n\n"]}) for r in requests_[::2]]
    assert lm.generate_until(gens, progress=False) == hf.generate_until(gens, progress=False)
