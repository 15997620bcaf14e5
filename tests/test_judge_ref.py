"""The `_judge_ref` tasks: the OFFSIDE authors' judge (eval_gpt.py) against a real local OpenAI-compatible
server -- their prompt byte for byte, their reply rule, empty answers left out, failures missing."""
import json
import os
import re
from pathlib import Path

import pytest
from llm_server import FakeLLMServer, Reply
from offside_benchmarks.offside.schema import PROMPTS

from offside_eval import evaluate
from offside_eval.models import load_model

ANSWER = re.compile(r"^- Generated Answer: (.*)$", re.M)
# the model's answer to each of the first four forget-set questions ("" = an empty generation)
GENERATED = ["Dunmore, I think.", "", "Left foot.", "1.70 m"]
REPLIES = {"Dunmore, I think.": '{"justification": "x"}',  # no score: 0 (their rule)
           "Left foot.": '{"factuality_score": 7.5}',  # kept as given; no justification: their default text
           "1.70 m": "the score is 9"}  # not JSON: missing (ours), never a score


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def by_hand(question, image, generated, truth):
    """The verbatim template (after its '---' line) with each field written in by hand."""
    text = (PROMPTS / "offside_reference_judge.txt").read_text()
    body = text.split("\n---\n", 1)[1]
    for field, value in (("task_type", "Generation"), ("image_id", image), ("question", question),
                         ("generated_answer", generated), ("ground_truth", truth)):
        body = body.replace("{" + field + "}", value)
    return body.replace("{{", "{").replace("}}", "}")


def test_judge_ref_sends_their_prompt_and_reads_replies_their_way(tiny_model_dir, mini_root, key_env, tmp_path):
    records = json.loads((Path(mini_root) / "forget_set.json").read_text())[:4]
    questions = [r["messages"][0]["content"] for r in records]
    assert questions[0].startswith("<image>\n")
    lm = load_model("qwen2_5_vl", {"pretrained": str(tiny_model_dir)}, batch_size=4)
    lm.generate_until = lambda requests, **kw: [
        GENERATED[questions.index(r.messages[0]["content"][-1]["text"])] for r in requests]

    with FakeLLMServer(lambda prompt, attempt: Reply(REPLIES[ANSWER.search(prompt).group(1)])) as server:
        out = evaluate(lm, None, "offside_forget_mm_gen_ref,offside_forget_mm_judge_ref", limit=4,
                       data_root=str(mini_root), log_samples=True, progress=False, verbosity="WARNING",
                       output_path=tmp_path, judge_args=f"base_url={server.base_url},model=judge-x,max_retries=0,"
                                                        f"temperature=0.2,json_mode=true,cache_dir={tmp_path / 'c'}")
        sent = {ANSWER.search(r["prompt"]).group(1): r for r in server.requests}

    assert sorted(sent) == sorted(REPLIES)  # the empty answer is not sent
    first = records[0]
    assert sent[GENERATED[0]]["prompt"] == by_hand(questions[0], os.path.basename(first["images"]), GENERATED[0],
                                                   first["messages"][1]["content"])
    assert "- Image ID: 0004.png\n- Question: <image>\nWhere was" in sent[GENERATED[0]]["prompt"]
    payload = sent[GENERATED[0]]["payload"]
    assert payload["temperature"] == 0.2 and payload["response_format"] == {"type": "json_object"}

    rows = {r["response"]: r for r in out["samples"]["offside_forget_mm_judge_ref"]}
    assert [rows[g]["fact_score_ref"] for g in GENERATED] == [0, None, 7.5, None]
    assert rows["Left foot."]["judge"]["fact_score_ref"]["justification"] == "Score parsing failed"
    assert "not judged" in rows[""]["judge"]["fact_score_ref"]["missing_reason"]
    assert "invalid reply" in rows["1.70 m"]["judge"]["fact_score_ref"]["missing_reason"]
    res = out["results"]["offside_forget_mm_judge_ref"]
    assert res["fact_score_ref"] == pytest.approx((0 + 7.5) / 2)
    assert res["fact_score_ref_missing"] == 2 and res["n_dropped"] == 1 and res["n"] == 4
    assert out["results"]["offside_forget_mm_gen_ref"]["n_dropped"] == 1
