"""The user's command end to end on the tiny model and OFFSIDE-mini, plus its error paths."""
import json

from offside_eval.cli import main


def test_user_command_writes_results_and_samples(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["--model", "qwen2_5_vl", "--model_args", f"pretrained={tiny_model_dir}",
               "--tasks", "offside_forget_mm", "--limit", "3", "--batch_size", "4", "--output_path", str(out),
               "--log_samples", "--gen_kwargs", "max_new_tokens=4", "--no_progress", "--verbosity", "WARNING"])
    assert rc == 0
    printed = capsys.readouterr()
    assert "offside_forget_mm_mc" in printed.out and "gen_score" in printed.out
    assert "SYNTHETIC" in printed.err  # said loudly in the log ...
    results = json.loads((out / "results.json").read_text())
    assert results["data"]["synthetic"] is True and results["data"]["fingerprint"]  # ... and in results.json
    assert set(results["results"]) == {"offside_forget_mm_mc", "offside_forget_mm_mcgen", "offside_forget_mm_gen"}
    assert results["groups"]["offside_forget_mm"]["tasks"] == list(results["results"])
    mc = results["results"]["offside_forget_mm_mc"]
    assert {"acc", "acc_stderr", "acc_norm", "n"} <= set(mc) and mc["n"] == 3
    assert results["config"]["model_args"] == {"pretrained": str(tiny_model_dir)}
    assert {"torch", "transformers", "offside"} <= set(results["versions"])
    assert results["higher_is_better"]["offside_forget_mm_mc"]["acc"] is True
    assert results["tasks"]["offside_forget_mm_mcgen"]["metadata"] == {
        "benchmark": "offside", "role": "forget", "kind": "mcgen", "modality": "mm", "protocol": "clean"}
    assert results["tasks"]["offside_forget_mm_mc"]["samples_file"] == str(out / "samples_offside_forget_mm_mc.jsonl")
    rows = [json.loads(line) for line in (out / "samples_offside_forget_mm_mc.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert len(row["loglikelihoods"]) == 4 and row["target"] in range(4)
        assert row["acc"] == float(max(range(4), key=row["loglikelihoods"].__getitem__) == row["target"])
        assert {"player", "info", "visual_rumor"} <= set(row["doc"]) and row["doc_id"] == row["doc"]["id"]
    gen = [json.loads(line) for line in (out / "samples_offside_forget_mm_gen.jsonl").read_text().splitlines()]
    assert all(isinstance(r["response"], str) and r["target"] and "gen_score" in r for r in gen)


def test_include_path_task_runs(tiny_model_dir, tmp_path, capsys):
    tasks = tmp_path / "mytasks"
    tasks.mkdir()
    (tasks / "qa.jsonl").write_text('{"id": "q1", "question": "Who won?", "answer": "Nobody."}\n'
                                    '{"id": "q2", "question": "Where?", "answer": "Here."}\n')
    (tasks / "my_task.yaml").write_text(
        "task: my_text_qa\ndataset_path: qa.jsonl\noutput_type: generate_until\nmodality: text\n"
        "doc_to_text: '{{ question }} Answer briefly.'\ndoc_to_target: answer\n"
        "generation_kwargs: {max_new_tokens: 3}\nmetric_list:\n  - metric: rougeL\n  - metric: exact_match\n")
    out = tmp_path / "out"
    rc = main(["--model_args", f"pretrained={tiny_model_dir}", "--tasks", "my_text_qa", "--include_path", str(tasks),
               "--output_path", str(out), "--log_samples", "--no_progress", "--verbosity", "ERROR"])
    assert rc == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["results"]["my_text_qa"]["n"] == 2 and "rougeL" in results["results"]["my_text_qa"]
    assert results["data"] is None  # no OFFSIDE data needed, none resolved
    rows = [json.loads(line) for line in (out / "samples_my_text_qa.jsonl").read_text().splitlines()]
    assert rows[0]["prompt"] == "Who won? Answer briefly." and rows[0]["doc_id"] == "q1"


def test_bad_input_is_a_one_line_error(tiny_model_dir, tmp_path, capsys):
    cases = [
        (["--model_args", "pretrained", "--tasks", "offside_forget_mm_gen"], "--model_args: 'pretrained' is not key=value"),
        (["--model_args", f"pretrained={tiny_model_dir},colour=red", "--tasks", "offside_forget_mm_gen"],
         "unknown model_args colour"),
        (["--model", "qwen25vl", "--model_args", "pretrained=x", "--tasks", "offside_forget_mm_gen"], "qwen2_5_vl"),
        (["--model_args", f"pretrained={tiny_model_dir}", "--tasks", "offside_forget_mm_gen",
          "--data_root", str(tmp_path / "missing")], "does not exist"),
        (["--model", "openai_chat", "--model_args", "model=x,base_url=http://127.0.0.1:9", "--tasks",
          "offside_forget_mm_mc"], "cannot compute log-likelihoods"),
    ]
    for argv, message in cases:
        assert main(argv + ["--no_progress", "--verbosity", "ERROR"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_samples_follow_lm_evals_layout(tiny_model_dir, mini_root, tmp_path):
    """Tools written for lm-eval / lmms-eval samples files read ours: arguments, resps, filtered_resps,
    the three hashes and the per-sample metrics at the top level."""
    import hashlib

    assert main(["--model", "qwen2_5_vl", "--model_args", f"pretrained={tiny_model_dir}", "--tasks",
                 "offside_forget_mm_mc,offside_forget_mm_gen", "--limit", "2", "--data_root", str(mini_root),
                 "--output_path", str(tmp_path), "--log_samples", "--gen_kwargs", "max_new_tokens=4",
                 "--no_progress"]) == 0
    mc = [json.loads(line) for line in (tmp_path / "samples_offside_forget_mm_mc.jsonl").open()]
    gen = [json.loads(line) for line in (tmp_path / "samples_offside_forget_mm_gen.jsonl").open()]
    for row in mc + gen:
        assert {"doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "doc_hash", "prompt_hash",
                "target_hash"} <= set(row)
        assert row["prompt_hash"] == hashlib.sha256(row["arguments"][0][0].encode()).hexdigest()
        assert row["target_hash"] == hashlib.sha256(str(row["target"]).encode()).hexdigest()
    assert [len(r["arguments"]) for r in mc] == [4, 4] and all(r["acc"] in (0.0, 1.0) for r in mc)
    assert [a[1] for a in mc[0]["arguments"]] == list(mc[0]["doc"]["options"].values())
    assert [resp[0][0] for resp in mc[0]["resps"]] == mc[0]["loglikelihoods"]
    assert all(r["filtered_resps"] == [r["response"]] and "gen_score" in r for r in gen)
