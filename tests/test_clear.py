"""CLEAR (benchmarks/clear): the fixture reads back in the release's schema, bad files give one line,
and offside-eval's clear_* tasks agree with an independent re-implementation of the authors' recipe
(github.com/somvy/multimodal_unlearning: mm/dataset.py prompts, mm/eval.py losses, mm/calculate_metrics.py
metrics) on the fixture with the tiny model; offside-train and offside run take --benchmark clear."""
import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from offside_benchmarks.clear import load_docs, synth, train_records, validate
from rouge_score.rouge_scorer import RougeScorer
from scipy.stats import hmean, ks_2samp

from offside_data.benchmarks import BenchmarkError, get_benchmark
from offside_data.cli import main as data_cli
from offside_data.schema import DataError

# mm/dataset.py IMAGE_CAPTION_QUESTIONS and the random_faces question, copied here on purpose: the test
# checks the tasks against the authors' strings, not against the module under test
AUTHORS_QUESTIONS = ["What can you see in this picture?", "Tell me about the content of this image",
                     "Can you give a description of the image?", "What is depicted in the image?",
                     "Explain what you observe in the picture.", "Describe the image in detail.",
                     "What is the main subject of this image?", "Can you describe the scene or objects in the image?",
                     "What is happening in this image?"]
FACE_QUESTION = "The name of the person on the image is "
TASKS = "clear_forget_tr,clear_forget_gen,clear_real_faces_tr,clear_retain_facerec_tr"


@pytest.fixture(scope="module")
def clear_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("clear-mini")
    synth.generate(root, n_persons=8, n_real=3)
    return root


def _rows(root, config):
    return pq.read_table(root / config / "train-00000-of-00001.parquet").to_pylist()


def test_fixture_has_the_release_layout_and_reads_back(clear_root):
    schema = pq.read_schema(clear_root / "forget10_perturbed" / "train-00000-of-00001.parquet")
    assert schema.field("image").type == pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    assert schema.field("perturbed_captions").type == pa.list_(pa.string())
    features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert features["image"] == {"_type": "Image"}
    assert sorted(p.name for p in (clear_root / "data").iterdir()) == ["train-00000-of-00002.parquet",
                                                                       "train-00001-of-00002.parquet"]
    tofu = _rows(clear_root, "forget10+tofu")
    assert [r["image"] is None for r in tofu] == [False, False, True, True]  # image rows, then the TOFU QAs
    docs = load_docs(clear_root, {"split": "forget", "forget_ratio": 10})
    raw = _rows(clear_root, "forget10_perturbed")
    assert [d["answer"] for d in docs] == [r["caption"] for r in raw]
    assert [d["perturbed"] for d in docs] == [r["perturbed_captions"] for r in raw]
    assert docs[0]["_image"].load().size == (128, 128)
    faces = load_docs(clear_root, {"split": "real_faces"})
    assert {d["question"] for d in faces} == {FACE_QUESTION} and faces[0]["perturbed"] == _rows(clear_root, "real_faces")[0]["options"]
    assert validate(clear_root, 10) == 0
    assert data_cli(["validate", "--benchmark", "clear", str(clear_root)]) == 0  # every forget ratio
    assert len(train_records(clear_root, "train", "mm", 5)) == 32  # 8 persons x (2 photos + 2 QAs)
    assert [r.image is None for r in train_records(clear_root, "forget", "text", 10)] == [True, True]


def test_bad_files_and_options_are_one_line(clear_root, tmp_path, capsys):
    bad = tmp_path / "bad"
    synth.generate(bad, n_persons=4, n_real=2)
    rows = _rows(bad, "real_world")
    rows[1]["answer"] = ""
    pq.write_table(pa.Table.from_pylist(rows), bad / "real_world" / "train-00000-of-00001.parquet")
    with pytest.raises(DataError, match=r"real_world/train-00000-of-00001.parquet \[record 1\] field 'answer': "
                                        r"expected a non-empty string"):
        load_docs(bad, {"split": "real_world"})
    assert validate(bad, 10) == 1 and "field 'answer'" in capsys.readouterr().err
    (bad / "retain_perturbed" / "train-00000-of-00001.parquet").unlink()
    with pytest.raises(DataError, match="retain_perturbed: no parquet shards"):
        load_docs(bad, {"split": "retain"})
    with pytest.raises(BenchmarkError, match="unknown dataset_kwargs for clear: ratio"):
        load_docs(clear_root, {"split": "forget", "ratio": 10})
    with pytest.raises(BenchmarkError, match="forget_ratio must be one of 1, 5, 10, got 15"):
        load_docs(clear_root, {"split": "forget", "forget_ratio": 15})
    with pytest.raises(BenchmarkError, match="clear has no relearn split"):
        train_records(clear_root, "relearn", "mm", 5)
    assert get_benchmark("clear").tasks_dir.is_dir()


def _hand_losses(model, processor, image, question, answers):
    """mm/eval.py's losses for one row: the authors' conversation (image part, then the question), the
    answer after the generation prompt, mean negative log-prob of the answer's tokens (offside's default
    token set: without the end-of-turn token)."""
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    prompt = processor.apply_chat_template(chat, add_generation_prompt=True)
    losses = []
    for answer in answers:
        inputs = processor(text=[prompt + answer], images=[image], return_tensors="pt")
        n_prompt = processor(text=[prompt], images=[image], return_tensors="pt")["input_ids"].shape[1]
        with torch.no_grad():
            logits = model(**inputs).logits[0].float()
        ids = inputs["input_ids"][0]
        logprobs = torch.log_softmax(logits[n_prompt - 1:-1], -1).gather(1, ids[n_prompt:, None])
        losses.append(-logprobs.mean().item())
    return prompt, losses


def test_tasks_match_an_independent_reimplementation(clear_root, tiny_model_dir, tmp_path):
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    import offside_eval

    out = tmp_path / "eval"
    offside_eval.evaluate("hf_vlm", {"pretrained": str(tiny_model_dir)}, TASKS.split(","), output_path=out,
                          log_samples=True, data_root={"clear": str(clear_root)}, metadata={"forget_ratio": 10},
                          gen_kwargs="max_new_tokens=12", progress=False, verbosity="ERROR")
    results = json.loads((out / "results.json").read_text())["results"]
    samples = {t: [json.loads(x) for x in (out / f"samples_{t}.jsonl").read_text().splitlines()] for t in TASKS.split(",")}
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir).eval()

    def image(row):
        import io
        return Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")

    # forget captions: question drawn as documented (seeded by caption), losses, Prob. = mean exp(-loss)
    raw = _rows(clear_root, "forget10_perturbed")
    paraphrased, perturbed, probs = [], [], []
    for row, sample, gen in zip(raw, samples["clear_forget_tr"], samples["clear_forget_gen"]):
        question = random.Random(f"clear-caption-question/0/{row['caption']}").choice(AUTHORS_QUESTIONS)
        prompt, (gt, para, *pert) = _hand_losses(model, processor, image(row), question,
                                                 [row["caption"], row["paraphrased_caption"], *row["perturbed_captions"]])
        assert sample["chat_prompt"] == gen["chat_prompt"] == prompt
        paraphrased.append(para)
        perturbed.append(pert)
        probs.append(np.exp(-gt))
        assert sample["clear_truth_ratio"][0] == pytest.approx(para, rel=1e-4)
    truth = np.exp(np.array(perturbed).mean() - np.array(paraphrased))  # calculate_metrics: one scalar mean
    forget = results["clear_forget_tr"]
    assert forget["clear_prob"] == pytest.approx(np.mean(probs), rel=1e-3)
    assert forget["clear_truth_ratio"] == pytest.approx(np.mean(np.minimum(truth, 1 / truth)), rel=1e-4)
    # real faces: the face question, Prob. normalised over the options (which include the answer)
    norm = []
    for row, sample in zip(_rows(clear_root, "real_faces"), samples["clear_real_faces_tr"]):
        prompt, (gt, _para, *opts) = _hand_losses(model, processor, image(row), FACE_QUESTION,
                                                  [row["answer"], row["answer"], *row["options"]])
        assert sample["chat_prompt"] == prompt
        norm.append(np.exp(-gt) / (np.exp(-gt) + np.exp(-np.array(opts)).sum()))
    assert results["clear_real_faces_tr"]["clear_prob"] == pytest.approx(np.mean(norm), rel=1e-3)
    # generation: ROUGE-L recall of score(gt, gen) with the stemmer, on the raw captions
    scorer = RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    recalls = [scorer.score(row["caption"], s["response"])["rougeL"].recall
               for row, s in zip(raw, samples["clear_forget_gen"])]
    assert results["clear_forget_gen"]["rougeL_recall"] == pytest.approx(np.mean(recalls))
    # retain face recognition: max(0, 1 - 1/tr) with the task's scalar perturbed mean
    rows = [s["clear_truth_ratio"] for s in samples["clear_retain_facerec_tr"]]
    tr = np.exp(np.array([p for _, p in rows]).mean() - np.array([q for q, _ in rows]))
    assert results["clear_retain_facerec_tr"]["clear_truth_ratio"] == pytest.approx(np.mean(np.maximum(0, 1 - 1 / tr)))


def test_report_metrics_follow_calculate_metrics():
    from offside_benchmarks.clear.plan import SPLIT_LABELS, clear_table, summary

    from offside_run.entries import Entry

    def entry(method, phase, scale):
        metrics = {s: {"rougeL_recall": 0.5 * scale, "clear_prob": 0.4, "clear_truth_ratio": 0.6} for s in SPLIT_LABELS}
        rows = [[1.0 + scale * k, [2.0, 2.5 + k]] for k in range(6)]
        return Entry(method, "complete", phase, metrics, {"forget": [{"id": f"f/{k}", "clear_truth_ratio": r}
                                                                      for k, r in enumerate(rows)]})

    gold, ga = entry("retain-only reference", "reference", 1.0), entry("ga", "unlearned", 0.3)
    got = summary(ga, gold)
    assert got["model_utility"] == pytest.approx(hmean([0.15, 0.4, 0.6] * 4))
    def truth(e):  # calculate_metrics.evaluate_forget_quality, literally
        rows = [s["clear_truth_ratio"] for s in e.samples["forget"]]
        return np.exp(np.array([p for _, p in rows]).mean() - np.array([q for q, _ in rows]))

    assert got["forget_quality"] == pytest.approx(ks_2samp(truth(ga), truth(gold)).pvalue)
    names = [name for name, _ in clear_table([ga, gold]).rows]
    assert names == ["Retain-only reference", "GA"]


def test_offside_train_and_run_take_clear(clear_root, tiny_model_dir, tmp_path, capsys):
    from offside_run.cli import main as offside_main
    from offside_train.cli import main as train_main

    args = ["unlearn", "--method", "ga", "--benchmark", "clear", "--model", str(tiny_model_dir), "--data", str(clear_root),
            "--max_steps", "1", "--finetune", "full", "--disable_tqdm", "true"]
    assert train_main(args + ["--forget_ratio", "10", "--out", str(tmp_path / "ga")]) == 0
    lineage = json.loads((tmp_path / "ga" / "offside_lineage.json").read_text())
    assert lineage["benchmark"] == "clear" and lineage["data"]["items"]["forget"] == 4
    assert train_main(args + ["--forget_ratio", "15", "--out", str(tmp_path / "bad")]) == 2
    assert "--forget_ratio must be one of 1, 5, 10, got 15" in capsys.readouterr().err
    assert offside_main(["run", "clear_demo", "--dry_run", "--output_dir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    for line in ("train vanilla", "train reference", "evaluate npo-unimodal", "10 of 10 stages to run"):
        assert line in out, line
