"""The fast evaluation paths give the results of the plain ones: shared-prefix MC scores equal
per-option scores (random and trained checkpoints, options of different token lengths, options
sharing a stem, text-only items, a prefix that cannot be shared), stop strings inside `generate` give the
text of cutting afterwards, and batch_size=auto halves on out-of-memory."""
import pytest
import torch
from offside_benchmarks.offside import view

from offside_data.chat import load_image, user_message
from offside_eval.models import ModelError, load_model
from offside_eval.models.prefix_scoring import plan_item
from offside_eval.requests import GenerationRequest, LoglikelihoodRequest


@pytest.fixture(scope="module")
def trained_dir(tiny_model_dir, mini_root, tmp_path_factory):
    """A 30-step full SFT: its replies end with end-of-turn after a few words."""
    from train_helpers import config

    from offside_train.sft import run_sft

    return run_sft(config("sft", tiny_model_dir, mini_root, tmp_path_factory.mktemp("speed-sft"), finetune="full",
                          learning_rate=1e-3, max_steps=30, per_device_train_batch_size=8))


def mc_requests(items, root):
    reqs = []
    for it in items:
        visuals = [load_image(str(root), it.image)] if it.image else []
        reqs += [LoglikelihoodRequest([user_message(it.question, bool(visuals))], visuals, o, group=it.id)
                 for o in it.options.values()]
    return reqs


@pytest.mark.parametrize("checkpoint", ["random", "trained"])
def test_shared_prefix_scores_equal_per_option_scores(checkpoint, tiny_model_dir, trained_dir, mini_root, mini_items):
    path = tiny_model_dir if checkpoint == "random" else trained_dir
    lm = load_model("qwen2_5_vl", f"pretrained={path}", batch_size=3, device="cpu")
    items = view(mini_items, "forget")[:4] + view(mini_items, "retain", "unimodal")[:2]
    reqs = mc_requests(items, mini_root)
    # an option of its own token length, one request without a group, and the model's own greedy
    # reply (the trained model ends it with end-of-turn, so it is the greedy decode)
    reqs.append(LoglikelihoodRequest(reqs[0].messages, reqs[0].visuals, "No.", group=items[0].id))
    reqs.append(LoglikelihoodRequest(reqs[1].messages, reqs[1].visuals, reqs[1].continuation))
    reply, = lm.generate_until([GenerationRequest(reqs[0].messages, reqs[0].visuals,
                                                  {"max_new_tokens": 40, "strip_reply": False})], progress=False)
    reqs.append(LoglikelihoodRequest(reqs[0].messages, reqs[0].visuals, reply, group=items[0].id))
    # an item whose options share a stem (the reply, and the reply going on): the stem is scored
    # once, from the prefix pass, greedy flag included
    stemmed = [LoglikelihoodRequest(reqs[0].messages, reqs[0].visuals, c, group="stemmed")
               for c in (reply, reply + " Nowhere.")]
    assert plan_item(lm.processor, stemmed).stem and plan_item(lm.processor, reqs[4:8]).stem
    reqs += stemmed
    lengths = {len(lm.tokenizer(r.continuation)["input_ids"]) for r in reqs}
    assert len(lengths) > 2

    shared = lm.loglikelihood(reqs, progress=False)
    assert lm.prefix_fallbacks == 0
    lm.shared_prefix = False
    per_option = lm.loglikelihood(reqs, progress=False)
    assert [s for s, _ in shared] == pytest.approx([s for s, _ in per_option], abs=1e-4)
    assert [g for _, g in shared] == [g for _, g in per_option]
    assert shared[-3][1] == shared[-2][1] == (checkpoint == "trained") and not shared[0][1]


def test_items_whose_prefix_cannot_be_shared_are_scored_per_option(tiny_model_dir, mini_root, mini_items):
    lm = load_model("qwen2_5_vl", f"pretrained={tiny_model_dir}", batch_size=4, device="cpu")
    item = view(mini_items, "forget")[0]
    image = load_image(str(mini_root), item.image)
    # same group key, different questions: no common prefix
    odd = [LoglikelihoodRequest([user_message(q, True)], [image], item.answer, group="odd")
           for q in (item.question, item.question + " Answer briefly.")]
    assert plan_item(lm.processor, odd) is None
    reqs = mc_requests([item], mini_root) + odd
    shared = lm.loglikelihood(reqs, progress=False)
    assert lm.prefix_fallbacks == 1
    lm.shared_prefix = False
    assert [s for s, _ in shared] == pytest.approx([s for s, _ in lm.loglikelihood(reqs, progress=False)], abs=1e-4)


def test_stop_strings_inside_generate_match_cutting_afterwards(trained_dir, mini_root, mini_items):
    lm = load_model("qwen2_5_vl", f"pretrained={trained_dir}", batch_size=4, device="cpu")
    items = view(mini_items, "forget")[:4]
    reqs = [GenerationRequest([user_message(it.question, True)], [load_image(str(mini_root), it.image)],
                              {"max_new_tokens": 24}) for it in items]
    plain = lm.generate_until(reqs, progress=False)
    words = [text.split()[1] for text in plain if len(text.split()) > 2]
    assert words, plain
    for r in reqs:
        r.gen_kwargs = {"max_new_tokens": 24, "until": [words[0]]}
    calls = []
    original = lm.model.generate
    lm.model.generate = lambda **kw: calls.append(kw) or original(**kw)
    stopped = lm.generate_until(reqs, progress=False)
    assert calls[0]["stop_strings"] == [words[0]]
    assert stopped == [text.split(words[0], 1)[0].strip() for text in plain]


def test_batch_size_auto_halves_on_out_of_memory(tiny_model_dir, mini_root, mini_items):
    lm = load_model("qwen2_5_vl", f"pretrained={tiny_model_dir}", batch_size="auto", max_batch_size=8, device="cpu")
    items = view(mini_items, "forget")[:5]
    reqs = mc_requests(items, mini_root)
    want = load_model("qwen2_5_vl", f"pretrained={tiny_model_dir}", batch_size=1, device="cpu").loglikelihood(
        reqs, progress=False)
    def fake_oom(_module, args, kwargs):
        rows = (kwargs.get("input_ids") if kwargs.get("input_ids") is not None else args[0]).shape[0]
        if rows > 2 * 4:  # more than two MC items (4 options each) at once
            raise torch.OutOfMemoryError("fake: CUDA out of memory")

    handle = lm.model.model.register_forward_pre_hook(fake_oom, with_kwargs=True)
    try:
        got = lm.loglikelihood(reqs, progress=False)
    finally:
        handle.remove()
    assert lm.batch_size == 2  # 8 -> 4 -> 2
    assert [s for s, _ in got] == pytest.approx([s for s, _ in want], abs=1e-4)

    fixed = load_model("qwen2_5_vl", f"pretrained={tiny_model_dir}", batch_size=8, device="cpu")
    handle = fixed.model.model.register_forward_pre_hook(fake_oom, with_kwargs=True)
    try:
        with pytest.raises(torch.OutOfMemoryError):
            fixed.loglikelihood(reqs, progress=False)
    finally:
        handle.remove()
    with pytest.raises(ModelError, match="batch_size must be an integer or auto, not 'big'"):
        load_model("qwen2_5_vl", f"pretrained={tiny_model_dir},batch_size=big", device="cpu")
