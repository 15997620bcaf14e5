"""FIUBench (offside_benchmarks.fiubench): the release reader against its fixture, bad files, and the
tasks against an independent re-implementation of the authors' evaluation recipe (github.com/
gray311/VLM_Unlearned: data_module.py, evaluate_util.py, aggregate_eval_stat.py), written here from
their code over the raw fixture files: same prompts, same numbers."""
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from llm_server import FakeLLMServer, Reply
from offside_benchmarks.fiubench import FIUBENCH, load_docs, plan, synth
from offside_benchmarks.fiubench.release import read_release
from rouge_score import rouge_scorer
from scipy.stats import hmean, ks_2samp

from offside_data.benchmarks import BenchmarkError
from offside_data.cli import main as data_cli
from offside_data.schema import DataError
from offside_eval.reference_results import add_reference_comparison
from offside_eval.tasks_index import FunctionRef
from offside_run.cli import main as run_cli
from offside_run.entries import Entry
from offside_train.cli import main as train_cli

ENV = {**{k: v for k, v in os.environ.items() if "proxy" not in k.lower()}, "HF_HUB_OFFLINE": "1",
       "OMP_WAIT_POLICY": "PASSIVE"}
JUDGE_OPENING = "You are an intelligent chatbot designed for evaluating the factual accuracy of generative outputs"
JUDGE_PROMPT = "Question: {q}\nCorrect Answer: {a}\nPrediction: {p}\n\nOutputs (include score, key words, explanation):"
JUDGE_QUESTION = re.compile(r"^Question: (.*)$", re.M)


def _run(*argv):
    return subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, env=ENV, timeout=600)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("fiubench")
    synth.generate(root, n_persons=40, seed=0)
    return root


# ---- the release layout -------------------------------------------------------------------------
def test_fixture_is_the_release_layout_and_reads_back(release, tmp_path):
    assert sorted(p.name for p in release.iterdir()) == [".offside-synthetic", "SFHQ.zip", "full.json", "split.json"]
    rows = [json.loads(line) for line in (release / "full.json").read_text().splitlines()]  # JSON Lines
    assert set(rows[0]) == {"unique_id", "name", "image_path", "caption", "qa_list"}
    assert set(rows[0]["qa_list"][0]) == {"question", "answer", "paraphrased_question", "paraphrased_answer",
                                          "perturbed_answer", "keywords"}
    assert rows[0]["image_path"] == f"./dataset/SFHQ/SFHQ_pt1_{rows[0]['unique_id']}.jpg"
    splits = json.loads((release / "split.json").read_text())
    assert {k: len(v) for k, v in splits.items()} == {"forget1": 1, "forget5": 2, "forget10": 4, "retain5": 2,
                                                      "retain15": 6}
    got = read_release(release)
    assert [p.unique_id for p in got.persons] == [r["unique_id"] for r in rows]
    assert got.persons[3].qas[1].perturbed_answers == tuple(rows[3]["qa_list"][1]["perturbed_answer"])
    with zipfile.ZipFile(release / "SFHQ.zip") as archive:
        assert archive.read(f"SFHQ/SFHQ_pt1_{rows[0]['unique_id']}.jpg")[:2] == b"\xff\xd8"  # JPEG
    synth.generate(tmp_path / "again", n_persons=40, seed=0)
    assert all((tmp_path / "again" / f).read_bytes() == (release / f).read_bytes()
               for f in ("full.json", "split.json", "SFHQ.zip"))
    # the authors' unzipped layout (dataset/SFHQ/) reads the same images
    with zipfile.ZipFile(release / "SFHQ.zip") as archive:
        archive.extractall(tmp_path / "unzipped")
    shutil.copy(release / "full.json", tmp_path / "unzipped")
    shutil.copy(release / "split.json", tmp_path / "unzipped")
    assert data_cli(["validate", "--benchmark", "fiubench", str(tmp_path / "unzipped")]) == 0


def _corrupt(root: Path, person: int, edit) -> None:
    lines = (root / "full.json").read_text().splitlines()
    row = json.loads(lines[person])
    edit(row)
    lines[person] = json.dumps(row)
    (root / "full.json").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("break_it, message", [
    (lambda r: _corrupt(r, 2, lambda row: row["qa_list"][1].pop("keywords")),
     "full.json [record 2] field 'qa_list[1].keywords': missing"),
    (lambda r: _corrupt(r, 0, lambda row: row.update(qa_list="none")),
     "full.json [record 0] field 'qa_list': expected list, got str"),
    (lambda r: (r / "split.json").write_text(json.dumps({"forget1": ["99999999"], "forget5": [], "forget10": []})),
     "split.json field 'forget1': unique_id 99999999 is not among the first 400 persons of full.json"),
    (lambda r: (r / "full.json").write_text("{\"unique_id\": \n"), "full.json: line 1 is not JSON"),
    (lambda r: zipfile.ZipFile(r / "SFHQ.zip", "w").close(), "SFHQ.zip field 'image_path': "),
])
def test_a_bad_release_is_one_line_naming_file_record_field(release, tmp_path, capsys, break_it, message):
    root = tmp_path / "bad"
    shutil.copytree(release, root)
    break_it(root)
    assert data_cli(["validate", "--benchmark", "fiubench", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_bad_dataset_kwargs_name_the_key(release):
    with pytest.raises(BenchmarkError, match="unknown dataset_kwargs for fiubench: ratio"):
        load_docs(release, {"split": "forget", "ratio": 5})
    with pytest.raises(BenchmarkError, match="forget_ratio must be one of 1, 5, 10, got 7"):
        load_docs(release, {"split": "forget", "forget_ratio": 7})
    with pytest.raises(DataError, match="split.json field 'forget7': no such split"):
        load_docs(release, {"split": "forget7"})
    with pytest.raises(BenchmarkError, match="fiubench has no relearn split"):
        FIUBENCH.train_records(release, "relearn", "mm", forget_ratio=5)


# ---- the authors' recipe, re-implemented from their code over the raw files -------------------------
def _raw_split(root: Path, split: str) -> list[dict]:
    """MMDatasetQA: the first 400 lines of full.json, filtered by split.json, in file order."""
    rows = [json.loads(line) for line in (root / "full.json").read_text().splitlines() if line.strip()][:400]
    ids = json.loads((root / "split.json").read_text())[split]
    return [r for r in rows if r["unique_id"] in ids]


def _authors_loss(lps):
    """get_batch_loss after the label shift: NLL of answer tokens 2..n, over num_token_gt = n."""
    return -float(np.sum(lps[1:])) / len(lps)


def _authors_mink(lps, mu, var, plus):
    lps, mu, var = np.array(lps[1:]), np.array(mu[1:]), np.array(var[1:])
    scores = (lps - mu) / np.sqrt(var) if plus else lps
    out = []
    for ratio in [0.1, 0.2, 0.3, 0.4, 0.5]:
        k = int(len(scores) * ratio)
        out.append(np.exp(np.mean(np.sort(scores)[:k])) if k else float("nan"))
    return sum(s * w for s, w in zip(out, [0.3, 0.3, 0.2, 0.1, 0.1]) if not math.isnan(s))


def _authors_gen(reply: str, answer: str, keywords: list[str]) -> dict:
    gen = reply[:reply.find(".") + 1]  # run_generation
    rouge = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True).score(answer, gen[:gen.find(".")])
    em = min(1.0, sum(1.0 / len(keywords) for k in keywords if k.lower() in gen.lower()))
    return {"rougeL_recall": rouge["rougeL"].recall, "rouge1_recall": rouge["rouge1"].recall, "keyword_em": em}


@pytest.mark.parametrize("reply, keywords", [
    ("The blood type of the person in the image is o-. They also donate.", ["o-"]),
    ("Their address is 12 quarry lane, silverton. Apt. 3", ["12 quarry lane", "silverton", "east morrow"]),
    ("The person works as a glass blower and never stops", ["glass blower"]),  # no '.': the cut empties it
    ("Running running ran. The full name is Maribel Harrow.", ["maribel harrow"]),
])
def test_the_generation_hook_scores_replies_as_the_authors_code(reply, keywords):
    doc = {"answer": "the person in the image runs; their blood type is o-, address 12 quarry lane, silverton.",
           "keywords": keywords}
    process_gen = FunctionRef("utils.process_gen", str(FIUBENCH.tasks_dir)).resolve()
    assert process_gen(doc, [reply]) == pytest.approx(_authors_gen(reply, doc["answer"].capitalize(), keywords))


def _samples(out: Path, task: str) -> list[dict]:
    return [json.loads(line) for line in (out / f"samples_{task}.jsonl").read_text().splitlines()]


def _judge_reply(prompt: str, attempt: int) -> Reply:
    """The judge's first line as gpt-4o-mini wrote it in the authors' runs ("Score: **0.xx**"); one
    question gets a reply without a score."""
    question = JUDGE_QUESTION.search(prompt).group(1)
    if "blood type" in question:
        return Reply("I cannot rate this.\nkeywords\nexplanation")
    return Reply(f"Score: **{sum(map(ord, question)) % 100 / 100:.2f}**\nkeywords: x\nbecause")


def _authors_gpt_score(reply: str) -> float:
    """get_all_evals' reading of the judge's reply (their except-branch 0.0 is offside's missing)."""
    score = reply.split("\n")[0].strip(" ")
    score = score[score.find(":"):].strip(":").strip(" ") if ":" in score else score
    return float(score.strip("*").strip(" ") if "**" in score else score)


def test_tasks_equal_the_authors_recipe_on_the_fixture(release, tiny_model_dir, tmp_path):
    out = tmp_path / "eval"
    with FakeLLMServer(_judge_reply) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "offside_eval", "--model", "hf_vlm", "--model_args", f"pretrained={tiny_model_dir}",
             "--tasks", "fiubench", "--data_root", str(release), "--metadata", "forget_ratio=5", "--output_path",
             str(out), "--log_samples", "--no_progress", "--verbosity", "ERROR", "--judge_args",
             f"base_url={server.base_url},model=gpt-4o-mini,max_retries=0,cache_dir={tmp_path / 'cache'}"],
            capture_output=True, text=True, timeout=600, env={**ENV, "OPENAI_API_KEY": "sk-test"})
        judged = [r["prompt"] for r in server.requests]
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())["results"]
    for split, name in (("forget5", "forget"), ("retain5", "retain")):
        qas = [(r, qa) for r in _raw_split(release, split) for qa in r["qa_list"]]
        # generation: the prompt is the capitalized question; the metrics the authors' three steps
        gen = _samples(out, f"fiubench_{name}_gen")
        assert [s["arguments"][0][0] for s in gen] == [qa["question"].capitalize() for _r, qa in qas]
        hand = [_authors_gen(s["resps"][0][0], qa["answer"].capitalize(), qa["keywords"]) for s, (_r, qa) in zip(gen, qas)]
        for metric in ("rougeL_recall", "rouge1_recall", "keyword_em"):
            assert results[f"fiubench_{name}_gen"][metric] == pytest.approx(np.mean([h[metric] for h in hand]))
        # teacher-forced: answer, paraphrased answer (capitalized), perturbed answers (as written)
        tr = _samples(out, f"fiubench_{name}_tr")
        assert [[a[1] for a in s["arguments"]] for s in tr] == [
            [qa["answer"].capitalize(), qa["paraphrased_answer"].capitalize(), *qa["perturbed_answer"]] for _r, qa in qas]
        losses = [[_authors_loss(r["token_logprobs"]) for (r,) in s["resps"]] for s in tr]
        stat = np.array([math.exp(np.mean(ls[2:]) - ls[1]) for ls in losses])  # eval_perturbation_ratio
        if name == "forget":  # get_model_utility: raw probability, mean min(s, 1/s)
            prob = np.mean([math.exp(-ls[0]) for ls in losses])
            ratio = np.mean(np.minimum(stat, 1 / stat))
            for plus, metric in ((False, "mink"), (True, "minkpp")):
                hand = [_authors_mink(r["token_logprobs"], r["vocab_mean"], r["vocab_var"], plus)
                        for r in (s["resps"][0][0] for s in tr)]
                assert results["fiubench_forget_tr"][metric] == pytest.approx(np.mean(hand))
            forget_stat = stat
        else:  # normalised probability, mean max(0, 1 - 1/s)
            prob = np.mean([math.exp(-ls[0]) / sum(math.exp(-v) for v in [ls[0], *ls[2:]]) for ls in losses])
            ratio = np.mean(np.maximum(0, 1 - 1 / stat))
        assert results[f"fiubench_{name}_tr"]["prob"] == pytest.approx(prob)
        assert results[f"fiubench_{name}_tr"]["truth_ratio"] == pytest.approx(ratio)
    # APE: every paraphrased question of every forget QA, the keyword match of the cut reply
    ape = _samples(out, "fiubench_forget_ape")
    asked = [(q, qa) for r in _raw_split(release, "forget5") for qa in r["qa_list"] for q in qa["paraphrased_question"]]
    assert [s["arguments"][0][0] for s in ape] == [q.capitalize() for q, _qa in asked]
    assert results["fiubench_forget_ape"]["ape"] == pytest.approx(np.mean(
        [_authors_gen(s["resps"][0][0], "", qa["keywords"])["keyword_em"] for s, (_q, qa) in zip(ape, asked)]))
    # GPT score: the authors' prompt around the capitalized question and answer and the cut reply
    for name, split in (("forget", "forget5"), ("retain", "retain5")):
        rows = _samples(out, f"fiubench_{name}_judge")
        qas = [qa for r in _raw_split(release, split) for qa in r["qa_list"]]
        prompts = [JUDGE_PROMPT.format(q=qa["question"].capitalize(), a=qa["answer"].capitalize(),
                                       p=row["resps"][0][0][:row["resps"][0][0].find(".") + 1])
                   for row, qa in zip(rows, qas)]
        assert all(any(j.startswith(JUDGE_OPENING) and j.endswith(p) for j in judged) for p in prompts)
        scores = [_authors_gpt_score(_judge_reply(p, 0).content) for p, qa in zip(prompts, qas)
                  if "blood type" not in qa["question"]]
        assert results[f"fiubench_{name}_judge"]["fiubench_gpt"] == pytest.approx(np.mean(scores))
        assert results[f"fiubench_{name}_judge"]["fiubench_gpt_missing"] == len(qas) - len(scores)
    # forget quality (get_forget_quality): KS test of s against a retain-only model's s
    ref = tmp_path / "reference"
    ref.mkdir()
    shutil.copy(out / "results.json", ref)
    rows = _samples(out, "fiubench_forget_tr")
    ref_stat = forget_stat[::-1] * np.linspace(0.5, 2.0, len(rows))
    (ref / "samples_fiubench_forget_tr.jsonl").write_text("".join(
        json.dumps({**row, "truth_ratio": 1 / s}) + "\n" for row, s in zip(rows, ref_stat)))
    metrics = {"fiubench_forget_tr": dict(results["fiubench_forget_tr"])}
    add_reference_comparison(metrics, {"fiubench_forget_tr": rows}, {"fiubench_forget_tr": {"role": "forget"}}, ref)
    assert metrics["fiubench_forget_tr"]["forget_quality"] == pytest.approx(ks_2samp(forget_stat, ref_stat).pvalue)


def test_the_reports_model_utility_is_the_authors_harmonic_mean(tmp_path):
    retain = {"rougeL_recall": 0.4, "prob": 0.3, "truth_ratio": 0.6, "keyword_em": 0.5}
    entries = [Entry("vanilla", "complete", "vanilla", {"retain": retain, "forget": {"prob": 0.7}}),
               Entry("ga", "complete", "unlearned", {"retain": {**retain, "prob": 0.2}, "forget": {"prob": 0.1}})]
    assert plan.entry_utility(entries[0]) == pytest.approx(hmean(list(retain.values())))
    judged = Entry("kl", "complete", "unlearned", {"retain": {**retain, "fiubench_gpt": 0.9}})
    assert plan.entry_utility(judged) == pytest.approx(hmean([*retain.values(), 0.9]))
    report = plan.write_fiubench_report(entries, tmp_path).read_text()
    assert "Forget Set Prob. ↓" in report and "Retain Set ROUGE-L ↑" in report and "Overall Model Utility ↑" in report
    assert "Set GPT" not in report  # no checkpoint was judged
    assert "Retain Set GPT ↑" in plan.write_fiubench_report([*entries, judged], tmp_path / "judged").read_text()
    header, vanilla, _ga = csv.reader((tmp_path / "tables" / "fiubench.csv").read_text().splitlines())
    utility = vanilla[header.index("Overall/overall:model_utility/higher_is_better")]
    assert vanilla[0] == "Vanilla" and float(utility) == pytest.approx(hmean(list(retain.values())), rel=1e-5)


# ---- training and the run ---------------------------------------------------------------------------
def test_offside_train_unlearns_a_forget_split(release, tiny_model_dir, tmp_path, capsys):
    train = ["unlearn", "--method", "ga", "--benchmark", "fiubench", "--model", str(tiny_model_dir), "--data",
             str(release), "--max_steps", "1", "--finetune", "full", "--disable_tqdm", "true", "--forget_ratio"]
    proc = _run("offside_train.cli", *train, "10", "--out", str(tmp_path / "ga"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    lineage = json.loads((tmp_path / "ga" / "offside_lineage.json").read_text())
    assert lineage["benchmark"] == "fiubench" and lineage["data"]["items"]["forget"] == 16
    assert train_cli([*train, "7", "--out", str(tmp_path / "bad")]) == 2
    assert "--forget_ratio must be one of 1, 5, 10, got 7" in capsys.readouterr().err


def test_offside_run_plans_the_demo(tmp_path, capsys):
    assert run_cli(["run", "fiubench_demo", "--dry_run", "--output_dir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    for line in ("train vanilla", "train reference-complete", "evaluate reference-complete", "train ga-complete",
                 "evaluate po-complete", "8 of 8 stages to run"):
        assert line in out, line
    assert re.search(r"evaluate ga-complete +to run \(wave \d\) +5 tasks \(forget, retain\)", out)
    demo = yaml.safe_load((Path(plan.__file__).parent / "configs" / "fiubench_demo.yaml").read_text())
    (tmp_path / "judged.yaml").write_text(yaml.safe_dump({**demo, "judge": "base_url=http://127.0.0.1:9/v1"}))
    assert run_cli(["run", str(tmp_path / "judged.yaml"), "--dry_run", "--output_dir", str(tmp_path / "j")]) == 0
    assert re.search(r"evaluate ga-complete +to run \(wave \d\) +7 tasks", capsys.readouterr().out)
    (tmp_path / "relearn.yaml").write_text(yaml.safe_dump({**demo, "relearn_vanilla": True}))
    assert run_cli(["run", str(tmp_path / "relearn.yaml"), "--dry_run"]) == 2
    assert "benchmark fiubench has no relearn split" in capsys.readouterr().err
