"""Factuality judge against a real OpenAI-compatible HTTP server on 127.0.0.1 (real `openai` client)."""
import json
import re
import threading
import time

import pytest
from llm_server import FakeLLMServer, Reply

from offside_data.llm_client import HFChatClient, OpenAIChatClient, client_from_args
from offside_eval.judge import JudgeReplyError, JudgeSample, judge, parse_reply, summarize

SECRET = "sk-test-SECRET-4f1c9a"
ANSWER = re.compile(r"Model's answer: (\S+)")


def verdict(score, why="ok"):
    return json.dumps({"factuality_score": score, "justification": why})


def responder(prompt, attempt):
    kind = ANSWER.search(prompt).group(1)
    if kind == "GOOD":
        return Reply(verdict(9))
    if kind == "FENCED":
        return Reply("```json\n" + verdict(5) + "\n```")
    if kind == "ERR500":
        return Reply(status=500) if attempt == 0 else Reply(verdict(7))
    if kind == "RATE":
        return Reply(status=429) if attempt < 2 else Reply(verdict(6))
    if kind == "SLOW":
        return Reply(verdict(1), delay=1.0) if attempt == 0 else Reply(verdict(3))
    if kind == "BROKEN":
        return Reply('{"factuality_score": 8, "justification": ')
    if kind == "HIGH":
        return Reply(verdict(11))
    if kind == "FLOAT":
        return Reply(verdict(7.5))
    if kind == "NOSCORE":
        return Reply(json.dumps({"score": 8, "justification": "x"}))
    if kind == "ALWAYS500":
        return Reply(status=503)
    if kind == "BAD400":
        return Reply(status=400)
    if kind == "GIBBERISH":
        return Reply(verdict(0, "unreadable"))
    raise AssertionError(kind)


KINDS = ["GOOD", "FENCED", "ERR500", "RATE", "SLOW", "BROKEN", "HIGH", "FLOAT", "NOSCORE", "ALWAYS500", "BAD400",
         "GIBBERISH"]
EXPECTED = [9, 5, 7, 6, 3, None, None, None, None, None, None, 0]


def samples(kinds):
    return [JudgeSample(question=f"Q{i}: which club?", generated=k, ground_truth="He joined Arsenal.", item_id=f"it{i}")
            for i, k in enumerate(kinds)]


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def make_client(server, cache, **kw):
    kw = {"concurrency": 4, "max_retries": 3, "timeout": 0.4, **kw}
    return OpenAIChatClient(model="judge-x", base_url=server.base_url, cache_dir=cache, **kw)


def test_scores_retries_and_missing(tmp_path, key_env):
    with FakeLLMServer(responder) as server:
        client = make_client(server, tmp_path / "cache")
        report = judge(client, samples(KINDS), progress=False)
        assert report.scores == EXPECTED
        by_kind = dict(zip(KINDS, report.verdicts))
        assert "not JSON" in by_kind["BROKEN"].error
        assert "outside 0..10" in by_kind["HIGH"].error
        assert "integer" in by_kind["FLOAT"].error
        assert "factuality_score" in by_kind["NOSCORE"].error
        assert "gave up after 4 attempts" in by_kind["ALWAYS500"].error
        assert "HTTP 400" in by_kind["BAD400"].error
        assert by_kind["GIBBERISH"].score == 0 and not by_kind["GIBBERISH"].missing
        per_kind = {k: sum(ANSWER.search(r["prompt"]).group(1) == k for r in server.requests) for k in KINDS}
        assert per_kind["ERR500"] == 2 and per_kind["RATE"] == 3 and per_kind["SLOW"] == 2  # retried
        assert per_kind["ALWAYS500"] == 4 and per_kind["BAD400"] == 1 and per_kind["GOOD"] == 1
        assert all(r["headers"]["authorization"] == f"Bearer {SECRET}" for r in server.requests)
        # the openai client retries; every HTTP request it sends is counted
        assert client.stats.requests == len(server.requests) == len(KINDS) + 1 + 2 + 1 + 3
        assert (client.stats.retries, client.stats.failures) == (1 + 2 + 1 + 3, 2)
        assert all(r["payload"]["model"] == "judge-x" for r in server.requests)
    summary = report.summary()
    assert summary == {"fact_score": (9 + 5 + 7 + 6 + 3 + 0) / 6, "fact_score_n": 6, "fact_score_missing": 6}


def test_rerun_hits_cache_and_key_never_written(tmp_path, key_env):
    ok = ["GOOD", "FENCED", "ERR500", "BROKEN", "GIBBERISH"]
    with FakeLLMServer(responder) as server:
        first = judge(make_client(server, tmp_path / "cache"), samples(ok), progress=False)
        seen = len(server.requests)
        rerun_client = make_client(server, tmp_path / "cache")
        second = judge(rerun_client, samples(ok), progress=False)
        assert len(server.requests) == seen  # zero new requests
        assert rerun_client.stats.cache_hits == len(ok) and rerun_client.stats.requests == 0
        assert second.scores == first.scores == [9, 5, 7, None, 0]
        # a different judge model is a different cache key
        other = OpenAIChatClient(model="judge-y", base_url=server.base_url, cache_dir=tmp_path / "cache")
        judge(other, samples(["GOOD"]), progress=False)
        assert len(server.requests) == seen + 1
        # request failures are not cached: a rerun asks again
        judge(make_client(server, tmp_path / "cache", max_retries=0), samples(["ALWAYS500"]), progress=False)
        judge(make_client(server, tmp_path / "cache", max_retries=0), samples(["ALWAYS500"]), progress=False)
        assert len(server.requests) == seen + 3
    results = json.dumps({"summary": first.summary(), "verdicts": [v.__dict__ for v in first.verdicts],
                          "judge": make_client(server, tmp_path / "cache").describe()})
    assert SECRET not in results
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(files) == len(ok) + 1
    assert all(SECRET.encode() not in p.read_bytes() for p in files)
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_concurrency_limit(tmp_path, key_env):
    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow(prompt, attempt):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return Reply(verdict(8))

    with FakeLLMServer(slow) as server:
        report = judge(make_client(server, tmp_path / "c", concurrency=2, timeout=5), samples(["GOOD"] * 8), progress=False)
    assert report.scores == [8] * 8
    assert 1 <= state["max"] <= 2


@pytest.mark.parametrize("reply, problem", [
    ("", "empty"), ("[1, 2]", "not a JSON object"), ('{"factuality_score": -1, "justification": "x"}', "outside"),
    ('{"factuality_score": true, "justification": "x"}', "number"),
    ('{"factuality_score": "9", "justification": "x"}', "number"), ('{"factuality_score": 9}', "justification"),
])
def test_parse_reply_rejects(reply, problem):
    with pytest.raises(JudgeReplyError, match=problem):
        parse_reply(reply)


def test_parse_reply_accepts_integral_float_and_summary_of_nothing():
    assert parse_reply('{"factuality_score": 10.0, "justification": "same"}') == (10, "same")
    assert summarize([None, None]) == {"fact_score": None, "fact_score_n": 0, "fact_score_missing": 2}


def test_client_from_args(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    client = client_from_args("base_url=http://127.0.0.1:9/v1,model=m1,concurrency=3,timeout=2.5",
                              cache_dir=tmp_path)
    assert (client.model, client.concurrency, client.timeout) == ("m1", 3, 2.5)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        client_from_args("model=gpt-4o")
    with pytest.raises(ValueError, match="environment"):
        client_from_args("base_url=http://x/v1,api_key=sk-1")
    for args, message in [("base_url", "--judge_args: 'base_url' is not key=value"),
                          ("base_url=http://x/v1,concurrency=lots",
                           "--judge_args: concurrency='lots' is not a whole number"),
                          ("base_url=http://x/v1,timeout=soon", "--judge_args: timeout='soon' is not a number"),
                          ("base_url=http://x/v1,use_cache=1", "--judge_args: use_cache=1 is not true or false"),
                          ("base_url=http://x/v1,colour=red", "--judge_args: .*unexpected keyword argument 'colour'"),
                          ("judge=hf", "--judge_args: judge=hf needs pretrained=PATH")]:
        with pytest.raises(ValueError, match=message):
            client_from_args(args)
    typed = client_from_args("base_url=http://x/v1,model=7,timeout=3,use_cache=false,max_retries=0")
    assert (typed.model, typed.timeout, typed.cache, typed.max_retries) == ("7", 3.0, None, 0)
    assert isinstance(client_from_args("judge=hf,pretrained=/nowhere", cache_dir=tmp_path), HFChatClient)


def test_hf_judge_plumbing(tiny_model_dir, tmp_path):
    """The offline backend runs a local checkpoint through the same cache; a random tiny model's
    replies are not valid verdicts, so they come out missing -- never 0."""
    client = client_from_args(f"judge=hf,pretrained={tiny_model_dir},max_tokens=6", cache_dir=tmp_path)
    report = judge(client, samples(["GOOD", "MEH"]), progress=False)
    assert client.stats.requests == 2
    assert report.scores == [None, None] and all(v.error.startswith("invalid reply") for v in report.verdicts)
    assert report.summary()["fact_score_missing"] == 2
    again = client_from_args(f"judge=hf,pretrained={tiny_model_dir},max_tokens=6", cache_dir=tmp_path)
    judge(again, samples(["GOOD", "MEH"]), progress=False)
    assert again.stats.requests == 0 and again.stats.cache_hits == 2
