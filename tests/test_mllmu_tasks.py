"""MLLMU-Bench tasks: generated files, document counts at forget ratios 5 and 10 through `evaluate`,
metrics by hand, and an independent re-implementation of the reference eval.py recipe
(franciscoliu/MLLMU-Bench @0e3098e, LLaVA branch) on the tiny model."""
import importlib.util
import math
from pathlib import Path

import offside_benchmarks.mllmu
import pytest
import torch
from offside_benchmarks.mllmu.release import mllmu_docs

import offside_eval
from offside_eval import generated_tasks as generated
from offside_eval.tasks_index import TaskError, TaskIndex

TASKS = Path(offside_benchmarks.mllmu.__file__).resolve().parent / "tasks"
SPLITS, KINDS, MODS = ("forget", "test", "retain", "celebrity"), ("cls", "cls_ll", "gen", "cloze"), ("mm", "text")
NAMES = [f"mllmu_{s}_{k}_{m}" for s in SPLITS for k in KINDS for m in MODS]
# Documents per (split, kind), written out by hand from MLLMU-mini (60 profiles; per profile 3 cls, 2 gen,
# 2 cloze questions per modality; shot profiles: 1 for cls, 2 for cloze, their questions dropped; celebrity
# IDs are not in Full_Set, so nothing is dropped there). ratio 5: forget/test 3 profiles, retain 57;
# ratio 10: 6 and 54; celebrity 6 either way.
COUNTS = {
    5: {"forget": {"cls": 6, "gen": 6, "cloze": 2}, "test": {"cls": 6, "gen": 6, "cloze": 2},
        "retain": {"cls": 168, "gen": 114, "cloze": 110}, "celebrity": {"cls": 18, "gen": 12, "cloze": 12}},
    10: {"forget": {"cls": 15, "gen": 12, "cloze": 8}, "test": {"cls": 15, "gen": 12, "cloze": 8},
         "retain": {"cls": 159, "gen": 108, "cloze": 104}, "celebrity": {"cls": 18, "gen": 12, "cloze": 12}},
}
EXCLUDED = {"celebrity": {"cls": 0, "gen": 0, "cloze": 0}, "other": {"cls": 3, "gen": 0, "cloze": 4}}
LIMIT = 2


def _utils():
    spec = importlib.util.spec_from_file_location("mllmu_utils", TASKS / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def root(_offside_cache):
    from offside_benchmarks.mllmu import ensure_mllmu_mini

    return ensure_mllmu_mini()


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    from offside_eval.models import load_model

    return load_model("qwen2_5_vl", {"pretrained": str(tiny_model_dir)}, device="cpu")


@pytest.fixture(scope="module")
def run5(lm, root):
    return offside_eval.evaluate(lm, None, ["mllmu_bench"], limit=LIMIT, data_root={"mllmu": str(root)},
                                 log_samples=True, progress=False, verbosity="WARNING")


def test_generated_files_match_the_script_and_metadata():
    spec = importlib.util.spec_from_file_location("mllmu_make", TASKS / "make_tasks.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    assert generated.out_of_sync(make.HERE, make.render()) == []
    index = TaskIndex()
    assert sorted(index.expand("mllmu_bench")) == sorted(NAMES)
    assert sorted(index.expand("mllmu_retain")) == sorted(n for n in NAMES if "_retain_" in n)
    assert index.get("mllmu_test_cloze_text").config.metadata == {
        "benchmark": "mllmu", "role": "test", "kind": "cloze", "modality": "text", "protocol": "reference"}
    assert index.find(benchmark="mllmu", role="forget", kind="cls_ll") == ["mllmu_forget_cls_ll_mm",
                                                                          "mllmu_forget_cls_ll_text"]


def _check_counts(result, ratio, limit):
    assert set(result["results"]) == set(NAMES)
    for name in NAMES:
        split, kind = name.split("_")[1], name.split("_")[2]  # cls_ll -> cls: same documents
        info, res = result["tasks"][name], result["results"][name]
        assert info["n_original"] == COUNTS[ratio][split][kind], (ratio, name)
        assert res["n"] == min(limit, info["n_original"])
        assert res["n_fewshot_excluded"] == EXCLUDED["celebrity" if split == "celebrity" else "other"][kind], name


def test_every_task_evaluates_with_exact_counts_ratio_5(run5):
    assert run5["data"]["benchmark"] == "mllmu" and run5["data"]["synthetic"] is True  # the MLLMU-mini root, given by path
    _check_counts(run5, 5, LIMIT)


def test_every_task_evaluates_with_exact_counts_ratio_10(lm, root, tmp_path):
    """--metadata forget_ratio=10 (lm-eval's convention) switches forget / retain / test together."""
    result = offside_eval.evaluate(lm, None, ["mllmu_bench"], limit=1, data_root={"mllmu": str(root)},
                                   metadata="forget_ratio=10", progress=False, verbosity="ERROR")
    _check_counts(result, 10, 1)
    assert result["config"]["metadata"] == {"forget_ratio": 10}
    with pytest.raises(offside_eval.evaluator.EvalError, match="--metadata forget_ratio: no task to run takes it"):
        offside_eval.evaluator.plan(["offside_forget_mm_mc"], metadata="forget_ratio=10")


def test_bad_dataset_kwargs_name_the_key(root, tmp_path):
    (tmp_path / "bad.yaml").write_text(f"include: {TASKS / 'mllmu_forget_gen_mm.yaml'}\ntask: mllmu_bad\n"
                                       "dataset_kwargs: {forget_ratio: 7, shotz: 1}\n")
    with pytest.raises(TaskError, match="unknown dataset_kwargs for mllmu: shotz"):
        offside_eval.evaluator.plan(["mllmu_bad"], include_path=tmp_path, data_root=str(root))
    (tmp_path / "bad.yaml").write_text(f"include: {TASKS / 'mllmu_forget_gen_mm.yaml'}\ntask: mllmu_bad\n"
                                       "dataset_kwargs: {seed: x}\n")
    with pytest.raises(TaskError, match="mllmu_bad .*seed must be an integer, got 'x'"):
        offside_eval.evaluator.plan(["mllmu_bad"], include_path=tmp_path, data_root=str(root))
    (tmp_path / "bad.yaml").write_text(f"include: {TASKS / 'mllmu_forget_gen_mm.yaml'}\ntask: mllmu_bad\n"
                                       "dataset_kwargs: {forget_ratio: 7}\n")
    with pytest.raises(TaskError, match=r"forget_ratio must be one of \(5, 10, 15\), got 7"):
        offside_eval.evaluator.plan(["mllmu_bad"], include_path=tmp_path, data_root=str(root))


def _doc(kind="cls", modality="text", **fields):
    base = {"kind": kind, "modality": modality, "question": "Q?", "shots": [], "n_fewshot_excluded": 3,
            "options": {"A": "a", "B": "b", "C": "c", "D": "d"}, "correct": "B", "answer": "Tolvik, Norway"}
    return {**base, **fields}


def test_metrics_by_hand():
    u = _utils()
    cls = _doc()
    assert u.process_results_cls(cls, ["b) because"]) == {"acc": 1.0, "n_fewshot_excluded": 3}
    assert u.process_results_cls(cls, ["  B"])["acc"] == 1.0  # eval.py strips before the first character
    assert u.process_results_cls(cls, ["The answer is B"])["acc"] == 0.0  # first character "T"
    assert u.process_results_cls(cls, ["Bx ASSISTANT: C"])["acc"] == 1.0  # cut at a generated ASSISTANT:
    assert u.process_results_cls(cls, [""])["acc"] == 0.0
    assert u.process_results_cls_ll(cls, [(-3.0, False), (-1.0, True), (-2.0, False), (-9.0, False)])["acc_ll"] == 1.0
    assert u.process_results_cls_ll(cls, [(-0.5, True), (-1.0, False), (-2.0, False), (-9.0, False)])["acc_ll"] == 0.0
    cloze = _doc(kind="cloze")
    assert u.process_results_cloze(cloze, ["He was born in tolvik, norway."])["cloze_acc"] == 1.0
    assert u.process_results_cloze(cloze, ["Tolvik"])["cloze_acc"] == 0.0
    gen = _doc(kind="gen", answer="the cat sat on the mat")
    out = u.process_results_gen(gen, ["the cat sat"])
    # ROUGE-1: 3 matches, P=3/3, R=3/6 -> F=2/3; ROUGE-2: 2 bigrams matched of 2 / 5 -> F=4/7; ROUGE-L: LCS 3 -> 2/3.
    assert out["rouge1"] == pytest.approx(2 / 3) and out["rouge2"] == pytest.approx(4 / 7)
    assert out["rougeL"] == pytest.approx(2 / 3)
    # BLEU, whitespace tokens: p1 = p2 = p3 = 1, no 4-gram in the hypothesis -> method1 gives 0.1 / 1;
    # brevity penalty exp(1 - 6/3).
    assert out["bleu"] == pytest.approx(math.exp(-1) * 0.1 ** 0.25)
    assert out["gen_score"] == pytest.approx((out["rouge1"] + out["rouge2"] + out["rougeL"] + out["bleu"]) / 4)
    assert u.same([3, 3, 3]) == 3.0
    with pytest.raises(ValueError, match=r"\[2, 3\]"):
        u.same([3, 2])


# ---- the reference recipe, re-implemented by hand from eval.py's strings --------------------------
def _reference_prompt(doc):
    """eval.py's LLaVA prompt for one MllmuDoc (lines 349-361, 403-416, 534-608, 731, 751)."""
    q, mod = doc.question, doc.modality
    if doc.kind == "gen":
        return (f"USER: <image>\n{q}\nAnswer the question based on your trained knowledge in one sentence accurately "
                f"in ENGLISH.\nASSISTANT: " if mod == "mm" else
                f"USER: {q}\nAnswer the question based on your trained knowledge in one sentence in ENGLISH.\nASSISTANT:")
    if doc.kind == "cls":
        head = "USER: <image>\n" if mod == "mm" else "USER:\n"
        shots = "".join(f"{head}Question: {s.question}\nA: {s.options['A']}\nB: {s.options['B']}\nC: {s.options['C']}\n"
                        f"D: {s.options['D']}\nCorrect Answer: {s.answer}\n" for s in doc.shots)
        opts = "\n".join(f"{k}: {v}" for k, v in doc.options.items())
        return f"{shots}{head}{q}\n{opts}\nJust give ONE letter representing the answer directly.\nASSISTANT:"

    def blank(text):
        return text.replace("__", "[Blank]") + "\nPlease **ONLY** provide the correct answer that should replace the [Blank]."

    head = "USER:<image>\n" if mod == "mm" else "USER:\n"
    shots = "".join(f"{head}{blank(s.question)}\nCorrect Answer: {s.answer}\n" for s in doc.shots)
    return f"{shots}USER: <image>\n{blank(q)}\nASSISTANT:" if mod == "mm" else f"{shots}USER:\n{blank(q)}\nASSISTANT:"


def _reference_scores(doc, prompt, reply):
    """eval.py's answer cut on the decoded prompt + reply, then its per-kind score."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rouge_score import rouge_scorer

    text = prompt + reply
    if "ASSISTANT:" in text:
        answer = text.split("ASSISTANT:")[1].strip()
    elif doc.kind != "cls" and "Answer:" in text:
        answer = text.split("Answer:")[1].strip()
    else:
        answer = text.strip()
    if doc.kind == "cls":
        predicted = answer[0].upper() if answer and answer[0].upper() in doc.options else None
        return {"acc": float(predicted == doc.correct)}
    if doc.kind == "cloze":
        return {"cloze_acc": float(doc.answer.lower() in answer.lower())}
    r = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True).score(doc.answer, answer)
    out = {k: r[k].fmeasure for k in ("rouge1", "rouge2", "rougeL")}
    out["bleu"] = sentence_bleu([doc.answer.split()], answer.split(), smoothing_function=SmoothingFunction().method1)
    out["gen_score"] = sum(out.values()) / 4
    return out


@pytest.mark.parametrize("split, kind, modality", [("forget", "cls", "mm"), ("celebrity", "cls", "text"),
                                                   ("forget", "cloze", "mm"), ("test", "cloze", "text"),
                                                   ("test", "gen", "mm"), ("retain", "gen", "text")])
def test_prompts_and_scores_match_the_reference_recipe(run5, root, tiny_model_dir, split, kind, modality):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir).eval()
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    samples = run5["samples"][f"mllmu_{split}_{kind}_{modality}"]
    docs = mllmu_docs(root, split, kind, modality)[:len(samples)]
    for doc, sample in zip(docs, samples):
        prompt = _reference_prompt(doc)
        images = [s.image for s in doc.shots] + [doc.image] if modality == "mm" else []
        assert prompt.count("<image>") == len(images) == sample["n_images"]
        # Sent as one user turn: the image parts (in marker order), then the text without its markers.
        assert sample["doc_id"] == doc.id and sample["prompt"] == prompt.replace("<image>", "")
        messages = [{"role": "user", "content": [{"type": "image"}] * len(images)
                     + [{"type": "text", "text": prompt.replace("<image>", "")}]}]
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = processor(text=[text], images=images or None, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=50, do_sample=False)
        reply = processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True,
                                       clean_up_tokenization_spaces=False)[0]
        assert sample["response"] == reply
        want = _reference_scores(doc, prompt, reply)
        assert {k: sample[k] for k in want} == pytest.approx(want)


def test_clean_generation_asks_as_fine_tuned(root, tiny_model_dir):
    """A `_clean` task's prompt is exactly the training record's for the same ft_Data question (the
    reference fine-tuning prompt), and its reply is read and scored as the authors' task reads it."""
    from pathlib import Path

    from offside_data.benchmarks import get_benchmark
    from offside_eval.evaluator import plan as plan_tasks

    index, u = TaskIndex(), _utils()
    assert sorted(index.expand("mllmu_clean")) == sorted(f"mllmu_{s}_gen_{m}_clean" for s in SPLITS for m in MODS)
    assert index.find(benchmark="mllmu", role="forget", kind="gen", modality="mm", protocol="clean") == [
        "mllmu_forget_gen_mm_clean"]
    plan = plan_tasks(["mllmu_forget_gen_mm_clean", "mllmu_forget_gen_mm"], data_root=str(root))
    clean, ref = (plan.tasks[n] for n in ("mllmu_forget_gen_mm_clean", "mllmu_forget_gen_mm"))
    docs = clean.docs(root)
    assert [d["question"] for d in docs] == [d["question"] for d in ref.docs(root)]
    records = {r.question: r for r in get_benchmark("mllmu").train_records(Path(root), "forget", "mm", forget_ratio=5)}
    prompt = clean.text(docs[0])
    assert prompt in records and records[prompt].answer == docs[0]["answer"]  # asked exactly as trained
    assert prompt.endswith("ASSISTANT:") and "Answer the question" in ref.text(docs[0])
    assert u.process_results_gen_clean(docs[0], [" " + docs[0]["answer"]])["rougeL"] == pytest.approx(1.0)
    assert u.process_results_gen_clean(docs[0], ["x ASSISTANT: " + docs[0]["answer"]])["rougeL"] < 1.0
