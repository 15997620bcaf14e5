"""lm-eval-compatible copies of the results: `metric,filter` keys, integer doc_id, timestamped files,
the chat-templated prompt; offside's own files keep their names."""
import json

import offside_eval
from offside_eval.lm_eval_format import results_view, sample_view, sha256_hex


def test_results_view_keys_groups_and_counts():
    out = {"results": {"t1": {"output_type": "multiple_choice", "acc": 0.5, "acc_stderr": 0.1, "n": 10,
                              "rep_3_missing": 2},
                       "lmms_t": {"acc,none": 0.7, "alias": "lmms_t"}},
           "groups": {"g": {"tasks": ["t1"], "acc": 0.5, "acc_stderr": 0.1, "n": 10}},
           "tasks": {"t1": {"metadata": {"version": 2}}}, "n_samples": {"t1": {"original": 40, "effective": 10}},
           "higher_is_better": {"t1": {"acc": True}}, "config": {"model": "hf_vlm"}, "date": "2026-12-06"}
    view = results_view(out)
    assert view["results"]["t1"] == {"alias": "t1", "acc,none": 0.5, "acc_stderr,none": 0.1}
    assert view["results"]["lmms_t"] == {"alias": "lmms_t", "acc,none": 0.7}  # already lm-eval's: kept
    assert view["results"]["g"] == view["groups"]["g"] == {"alias": "g", "acc,none": 0.5, "acc_stderr,none": 0.1}
    assert view["group_subtasks"] == {"g": ["t1"]} and view["versions"] == {"t1": 2}
    assert view["n-samples"]["t1"] == {"original": 40, "effective": 10} and view["model_name"] == "hf_vlm"


def test_sample_view_numbers_docs_and_shows_the_rendered_prompt():
    row = {"doc_id": "p1-q3", "arguments": [["Who?", " A"], ["Who?", " B"]], "prompt": "Who?",
           "chat_prompt": "<|im_start|>user\nWho?<|im_end|>\n<|im_start|>assistant\n", "acc": 1.0, "metrics": ["acc"]}
    view = sample_view(4, row)
    assert (view["doc_id"], view["id"], view["filter"], view["acc"]) == (4, "p1-q3", "none", 1.0)
    assert view["arguments"] == [[row["chat_prompt"], " A"], [row["chat_prompt"], " B"]]
    assert view["prompt_hash"] == sha256_hex(row["chat_prompt"])
    assert sample_view(0, {**row, "chat_prompt": None})["arguments"][0][0] == "Who?"  # no template: the question


def test_an_evaluation_writes_both_layouts(tiny_model_dir, mini_root, tmp_path):
    task = "offside_forget_mm_mc"
    for _ in range(2):  # a second pass into the same folder leaves one set of timestamped files
        offside_eval.evaluate("qwen2_5_vl", {"pretrained": str(tiny_model_dir)}, [task], limit=3, batch_size=4,
                              data_root=str(mini_root), output_path=str(tmp_path), log_samples=True, progress=False)
    (results_file,) = tmp_path.glob("results_*.json")
    (samples_file,) = tmp_path.glob(f"samples_{task}_*.jsonl")
    assert results_file.stem[len("results_"):] == samples_file.stem[len(f"samples_{task}_"):]
    lm_eval = json.loads(results_file.read_text())["results"][task]
    ours = json.loads((tmp_path / "results.json").read_text())["results"][task]
    assert lm_eval["acc,none"] == ours["acc"] and "acc,none" not in ours and lm_eval["alias"] == task
    rows = [json.loads(line) for line in samples_file.read_text().splitlines()]
    mine = [json.loads(line) for line in (tmp_path / f"samples_{task}.jsonl").read_text().splitlines()]
    assert [r["doc_id"] for r in rows] == [0, 1, 2] and [r["id"] for r in rows] == [r["doc_id"] for r in mine]
    prompt = rows[0]["arguments"][0][0]
    assert prompt.endswith("<|im_start|>assistant\n") and mine[0]["prompt"] in prompt and "<|vision_start|>" in prompt
    assert rows[0]["metrics"] == ["acc", "acc_norm"] and rows[0]["filter"] == "none"
