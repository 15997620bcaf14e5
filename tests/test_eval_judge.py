"""The LLM judge inside evaluate(): judge tasks reuse generations, fact_score with missing counts,
groups without a judge, and no credentials in the outputs (real local OpenAI-compatible server)."""
import json
import re

import pytest
from llm_server import FakeLLMServer, Reply

from offside_eval import evaluate
from offside_eval.cli import main
from offside_eval.evaluator import EvalError
from offside_eval.models import load_model

SECRET = "sk-test-SECRET-77aa01"
QUESTION = re.compile(r"^Question: (.*)$", re.M)


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def counted_model(tiny_model_dir):
    """The tiny Qwen2.5-VL with a counter on generation requests."""
    lm = load_model("qwen2_5_vl", {"pretrained": str(tiny_model_dir)}, batch_size=4)
    calls = []
    inner = lm.generate_until

    def generate_until(requests, **kw):
        calls.append(len(requests))
        return inner(requests, **kw)

    lm.generate_until = generate_until
    return lm, calls


def score_for(question):
    return sum(map(ord, question)) % 11  # 0..10, a function of the question only


def test_gen_and_judge_share_generations_and_report_fact_score(counted_model, key_env, tmp_path):
    lm, calls = counted_model
    calls.clear()
    broken = {}

    def responder(prompt, attempt):
        question = QUESTION.search(prompt).group(1)
        if not broken:  # the first question the judge sees gets an unusable reply -> missing, not 0
            broken["q"] = question
        if question == broken["q"]:
            return Reply('{"factuality_score": "high"')
        return Reply(json.dumps({"factuality_score": score_for(question), "justification": f"about {question[:20]}"}))

    out_dir = tmp_path / "out"
    with FakeLLMServer(responder) as server:
        out = evaluate(lm, None, "offside_forget_mm_gen,offside_forget_mm_judge", limit=3, output_path=out_dir,
                       log_samples=True, gen_kwargs="max_new_tokens=3", progress=False, verbosity="WARNING",
                       judge_args=f"base_url={server.base_url},model=judge-x,concurrency=2,max_retries=0,"
                                  f"cache_dir={tmp_path / 'cache'}")
        n_judge_requests = len(server.requests)
    assert sum(calls) == 3  # 3 docs, generated once for both tasks
    gen_rows, judge_rows = out["samples"]["offside_forget_mm_gen"], out["samples"]["offside_forget_mm_judge"]
    assert [r["response"] for r in gen_rows] == [r["response"] for r in judge_rows]
    assert n_judge_requests == len({(r["prompt"], r["response"]) for r in judge_rows})

    saved = json.loads((out_dir / "results.json").read_text())
    res = saved["results"]["offside_forget_mm_judge"]
    scores = {r["doc_id"]: r["fact_score"] for r in judge_rows}
    expected = [score_for(r["prompt"]) for r in judge_rows if r["prompt"] != broken["q"]]
    assert res["fact_score_missing"] == 3 - len(expected) == 1
    assert res["fact_score"] == pytest.approx(sum(expected) / len(expected))
    assert res["n"] == 3 and "gen_score" not in res
    assert "fact_score" not in saved["results"]["offside_forget_mm_gen"]
    for row in (json.loads(line) for line in (out_dir / "samples_offside_forget_mm_judge.jsonl").read_text().splitlines()):
        verdict = row["judge"]["fact_score"]
        assert row["fact_score"] == verdict["score"] == scores[row["doc_id"]]
        if row["prompt"] == broken["q"]:
            assert verdict["score"] is None and "invalid reply" in verdict["missing_reason"]
        else:
            assert verdict["justification"].startswith("about ")
    judge_info = saved["judge"]
    assert judge_info["configured"] and judge_info["model"] == "judge-x"
    assert judge_info["base_url"] == server.base_url and judge_info["tasks"] == ["offside_forget_mm_judge"]
    assert judge_info["stats"]["requests"] == n_judge_requests
    for path in out_dir.iterdir():
        assert SECRET not in path.read_text()


def test_group_without_judge_runs_without_it_and_says_so(counted_model, caplog, tmp_path):
    lm, _ = counted_model
    with caplog.at_level("WARNING", logger="offside_eval"):
        out = evaluate(lm, None, "offside_forget_text", limit=2, gen_kwargs="max_new_tokens=2", progress=False,
                       verbosity="WARNING", output_path=tmp_path)
    assert set(out["results"]) == {"offside_forget_text_mc", "offside_forget_text_mcgen", "offside_forget_text_gen"}
    assert "no LLM judge configured" in caplog.text and "offside_forget_text_judge" in caplog.text
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["judge"]["configured"] is False and saved["judge"]["skipped_tasks"] == ["offside_forget_text_judge"]
    assert saved["groups"]["offside_forget_text"]["skipped"] == ["offside_forget_text_judge"]


def test_judge_task_without_judge_is_a_clear_error(tiny_model_dir, capsys):
    with pytest.raises(EvalError, match="no judge is configured"):
        evaluate("qwen2_5_vl", f"pretrained={tiny_model_dir}", "offside_forget_mm_judge", verbosity="ERROR")
    argv = ["--model_args", f"pretrained={tiny_model_dir}", "--no_progress", "--verbosity", "ERROR"]
    for extra, message in [(["--tasks", "offside_forget_mm_judge"], "--judge_args"),
                           (["--tasks", "offside_judge"], "only hold LLM-judge tasks"),
                           (["--tasks", "offside_forget_mm_gen", "--judge_args", "base_url=http://x/v1,api_key=k"],
                            "environment")]:
        assert main(argv + extra) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
