"""The unlearning-metric tasks end to end on the tiny model: values recomputed by hand from the
per-token scores in the samples, and a model against itself as reference."""
import json
import math

import pytest

import offside_eval
from offside_eval import unlearning_metrics as um
from offside_eval.evaluator import EvalError

TASKS = ["offside_forget_mm_tr", "offside_retain_mm_tr", "offside_forget_mm_correction", "offside_forget_mm_mem",
         "offside_mia_mm", "offside_forget_text_tr", "offside_forget_blank_tr", "offside_mia_text"]


@pytest.fixture(scope="module")
def run(tiny_model_dir, mini_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("unlearning-eval")
    result = offside_eval.evaluate("qwen2_5_vl", {"pretrained": str(tiny_model_dir)}, TASKS, limit=12, batch_size=8,
                                   data_root=str(mini_root), output_path=str(out), log_samples=True, progress=False)
    return result, out


def _rows(folder, task):
    return [json.loads(line) for line in (folder / f"samples_{task}.jsonl").read_text().splitlines()]


def test_truth_ratio_and_correction_equal_hand_computations(run):
    result, folder = run
    rows = _rows(folder, "offside_forget_mm_tr")
    ratios = []
    for row in rows:
        gold = "ABCD".index(row["doc"]["correct"])
        lp, n = row["logprobs"], row["n_tokens"]
        p_true = math.exp(lp[gold] / n[gold])
        p_false = math.prod(math.exp(l / k) for i, (l, k) in enumerate(zip(lp, n)) if i != gold) ** (1 / 3)
        ratios.append(p_false / p_true)
        assert row["truth_ratio"] == pytest.approx(ratios[-1], rel=1e-6)
    want = sum(min(r, 1 / r) for r in ratios) / len(ratios)
    assert result["results"]["offside_forget_mm_tr"]["truth_ratio"] == pytest.approx(want, rel=1e-6)
    corr = _rows(folder, "offside_forget_mm_correction")
    assert corr and all(r["doc"]["corrected"] != r["doc"]["rumor"] and r["doc"]["info"] == "private" for r in corr)
    prefers = [(l[0] / k[0]) > (l[1] / k[1]) for l, k in ((r["logprobs"], r["n_tokens"]) for r in corr)]
    assert result["results"]["offside_forget_mm_correction"]["correction_rate"] == pytest.approx(
        sum(prefers) / len(prefers))


def test_mia_auc_and_memorization_from_the_samples(run):
    result, folder = run
    rows = _rows(folder, "offside_mia_mm")
    assert {r["doc"]["member"] for r in rows} == {True, False}
    members = [r["mia_loss_auc"][1] for r in rows if r["doc"]["member"]]
    others = [r["mia_loss_auc"][1] for r in rows if not r["doc"]["member"]]
    wins = sum((o > m) + 0.5 * (o == m) for o in others for m in members)
    assert result["results"]["offside_mia_mm"]["mia_loss_auc"] == pytest.approx(wins / (len(members) * len(others)))
    mem = result["results"]["offside_forget_mm_mem"]
    assert 0 <= mem["exact_memorization"] <= 1 and 0 <= mem["extraction_strength"] <= 1


def test_modalities_send_what_they_say(run):
    _result, folder = run
    assert all(r["n_images"] == 1 for r in _rows(folder, "offside_forget_blank_tr"))
    assert all(r["n_images"] == 0 for r in _rows(folder, "offside_forget_text_tr"))
    mm = {r["doc_id"]: r["logprobs"] for r in _rows(folder, "offside_forget_mm_tr")}
    blank = {r["doc_id"]: r["logprobs"] for r in _rows(folder, "offside_forget_blank_tr")}
    assert mm.keys() == blank.keys() and mm != blank  # same questions, the image changes the scores


def test_against_itself_forget_quality_is_1_and_privleak_0(run, tiny_model_dir, mini_root, tmp_path):
    _result, folder = run
    again = offside_eval.evaluate("qwen2_5_vl", {"pretrained": str(tiny_model_dir)}, TASKS, limit=12, batch_size=8,
                                  data_root=str(mini_root), progress=False, reference_results=str(folder))
    res = again["results"]
    assert res["offside_forget_mm_tr"]["forget_quality"] == pytest.approx(1.0)
    for attack in ("loss", "zlib", "mink", "minkpp"):
        assert res["offside_mia_mm"][f"privleak_{attack}"] == pytest.approx(0.0, abs=1e-6)
    assert "forget_quality" not in res["offside_retain_mm_tr"]
    directions = again["higher_is_better"]
    assert directions["offside_forget_mm_tr"]["forget_quality"] is True
    assert directions["offside_mia_mm"]["privleak_loss"] is None  # closest to zero


def test_reference_folder_without_results_fails_before_loading(tiny_model_dir, mini_root, tmp_path):
    with pytest.raises(EvalError, match="no results.json"):
        offside_eval.evaluate("qwen2_5_vl", {"pretrained": str(tiny_model_dir)}, TASKS[:1], data_root=str(mini_root),
                              progress=False, reference_results=str(tmp_path))
    assert um.forget_quality([0.1, 0.2], [0.1, 0.2]) == 1.0


OU_TASKS = ["offside_forget_mm_tr", "offside_mia_mm", "offside_forget_mm_mem"]


@pytest.fixture(scope="module")
def ou_run(tiny_model_dir, mini_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("ou-eval")
    result = offside_eval.evaluate("qwen2_5_vl", {"pretrained": str(tiny_model_dir)}, OU_TASKS, limit=12, batch_size=8,
                                   data_root=str(mini_root), output_path=str(out), log_samples=True, progress=False,
                                   token_set="open_unlearning")
    return result, out


def test_open_unlearning_token_set_keeps_the_end_of_turn_token_in_probabilities(run, ou_run, tiny_model_dir,
                                                                                 mini_root):
    result, folder = run
    ou, ou_folder = ou_run
    assert json.loads((ou_folder / "results.json").read_text())["config"]["token_set"] == "open_unlearning"
    for task in OU_TASKS[:2]:
        for a, o in zip(_rows(folder, task), _rows(ou_folder, task)):  # one end-of-turn token more, and its log-prob
            assert o["n_tokens"] == [n + 1 for n in a["n_tokens"]]
            assert all(lo < la for lo, la in zip(o["logprobs"], a["logprobs"]))
    for a, o in zip(_rows(folder, "offside_mia_mm"), _rows(ou_folder, "offside_mia_mm")):
        assert o["mia_loss_auc"][1] == pytest.approx(-o["logprobs"][0] / o["n_tokens"][0], rel=1e-6)
        assert o["mia_mink_auc"][1] == pytest.approx(a["mia_mink_auc"][1])  # token-wise: no end-of-turn token
    for a, o in zip(_rows(folder, "offside_forget_mm_mem"), _rows(ou_folder, "offside_forget_mm_mem")):
        assert o["exact_memorization"] == a["exact_memorization"]
    with pytest.raises(EvalError, match="--token_set answer, this run with open_unlearning"):
        offside_eval.evaluate("qwen2_5_vl", {"pretrained": str(tiny_model_dir)}, OU_TASKS[:1], limit=12,
                              data_root=str(mini_root), progress=False, token_set="open_unlearning",
                              reference_results=str(folder))
    assert ou["results"]["offside_forget_mm_tr"]["truth_ratio"] != result["results"]["offside_forget_mm_tr"][
        "truth_ratio"]


def _open_unlearning_scores(model, processor, req) -> dict:
    """open-unlearning's per-sample quantities, recomputed from one unbatched forward by its formulas
    (src/evals/metrics/utils.py evaluate_probability / tokenwise_*logprobs, memorization.py, mia/*)."""
    import torch

    from offside_data.encode import IGNORE_INDEX, Example, encode_examples

    batch = encode_examples(processor, [Example(list(req.messages), req.continuation, list(req.visuals))])
    labels = batch.pop("labels")[0, 1:]
    with torch.no_grad():
        logp = torch.log_softmax(model(**batch).logits[0, :-1].float(), -1)
    keep = labels != IGNORE_INDEX
    vocab, targets = logp[keep], labels[keep]
    lp = vocab.gather(-1, targets[:, None])[:, 0].double()
    tokens, vocab, targets = lp[:-1], vocab[:-1], targets[:-1]  # token-wise: the last label (end of turn) dropped
    mu = (vocab.exp() * vocab).sum(-1)
    sigma = ((vocab.exp() * vocab.square()).sum(-1) - mu.square()).clamp(min=1e-6)
    k = max(1, int(len(tokens) * 0.4))
    preds = vocab.argmax(-1)
    return {"avg_loss": float(-lp.mean()), "mink": float(-tokens.sort().values[:k].mean()),
            "minkpp": float(-((tokens - mu) / sigma.sqrt()).sort().values[:k].mean()),
            "em": float((preds == targets).double().mean()), "last_right": bool(preds[-1] == targets[-1]),
            "es": 1 - next(j for j in range(len(targets) + 1) if torch.equal(preds[j:], targets[j:])) / len(targets)}


def test_open_unlearning_recomputation_matches_under_its_token_set(ou_run, tiny_model_dir, mini_root):
    import zlib

    from offside_eval.models import load_model
    from offside_eval.planning import plan

    _ou, folder = ou_run
    lm = load_model("qwen2_5_vl", {"pretrained": str(tiny_model_dir)})
    p = plan(OU_TASKS, data_root=str(mini_root), limit=12)
    for name in OU_TASKS:
        task, rows = p.tasks[name], _rows(folder, name)
        for i, (doc, row) in enumerate(zip(p.docs[name], rows)):
            ou = [_open_unlearning_scores(lm.model, lm.processor, r) for r in task.requests(doc, i)]
            if name.endswith("_tr"):  # truth ratio: exp(-mean false avg_loss) / (exp(-true avg_loss) + 1e-10)
                gold = "ABCD".index(doc["correct"])
                false = sum(s["avg_loss"] for j, s in enumerate(ou) if j != gold) / (len(ou) - 1)
                want = math.exp(-false) / (math.exp(-ou[gold]["avg_loss"]) + 1e-10)
                assert row["truth_ratio"] == pytest.approx(want, rel=1e-6)
            elif name.startswith("offside_mia"):
                (s,) = ou
                assert row["mia_loss_auc"][1] == pytest.approx(s["avg_loss"], rel=1e-6)
                assert row["mia_zlib_auc"][1] == pytest.approx(
                    s["avg_loss"] / len(zlib.compress(doc["answer"].encode())), rel=1e-6)
                assert row["mia_mink_auc"][1] == pytest.approx(s["mink"], rel=1e-6)
                assert row["mia_minkpp_auc"][1] == pytest.approx(s["minkpp"], rel=1e-6, abs=1e-6)
            else:
                (s,) = ou
                assert row["exact_memorization"] == pytest.approx(s["em"], abs=1e-9)
                if s["last_right"]:  # where OU's extraction strength is defined as ours (departure 3)
                    assert row["extraction_strength"] == pytest.approx(s["es"], abs=1e-9)


def test_reference_over_other_documents_is_refused(run, tiny_model_dir, mini_root):
    _result, folder = run
    with pytest.raises(EvalError, match=r"offside_forget_mm_tr covers other documents than this run \(0 of this "
                                        r"run's 6 missing, 6 extra"):
        offside_eval.evaluate("qwen2_5_vl", {"pretrained": str(tiny_model_dir)}, TASKS[:1], limit=6, batch_size=8,
                              data_root=str(mini_root), progress=False, reference_results=str(folder))
