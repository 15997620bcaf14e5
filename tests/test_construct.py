"""offside-data make-mcq / make-text against a real OpenAI-compatible server on 127.0.0.1."""
import json
import re
import shutil

import pytest
from llm_server import FakeLLMServer, Reply
from offside_benchmarks.offside import load_items
from offside_benchmarks.offside.construct import check_distractors, make_mcq, make_text, same_template
from offside_benchmarks.offside.synth import generate

from offside_data.cli import main
from offside_data.llm_client import OpenAIChatClient

SECRET = "sk-test-construct-77aa"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """OFFSIDE-mini with one player: the full set (truth) and a copy holding only the chat files."""
    full = tmp_path_factory.mktemp("full")
    generate(full, n_players=1, seed=3)
    chat = tmp_path_factory.mktemp("chat")
    for path in full.glob("*_set.json"):
        if not path.name.startswith(("text_", "classification_")):
            shutil.copy(path, chat / path.name)
    shutil.copy(full / "offside_meta.json", chat / "offside_meta.json")
    return full, chat, load_items(full)


@pytest.fixture(autouse=True)
def env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def field(prompt, name):
    return re.search(rf"^{name}: (.*)$", prompt, re.M).group(1)


def combined(chat, out, tmp_path):
    """A data root with the original chat files plus the newly written files."""
    root = tmp_path / "combined"
    shutil.copytree(chat, root)
    for path in out.glob("*.json"):
        shutil.copy(path, root / path.name)
    return load_items(root)


def test_make_mcq(source, tmp_path):
    full, chat, truth = source
    distractors = {it.answer: [o for l, o in it.options.items() if l != it.correct] for it in truth}
    answers = sorted(distractors)
    flaky, hopeless, fenced, err = answers[0], answers[1], answers[2], answers[3]

    def responder(prompt, attempt):
        answer = field(prompt, "Correct answer")
        good = json.dumps({"distractors": distractors[answer]})
        retried = "previous attempt was rejected" in prompt
        if answer == flaky and not retried:
            return Reply(json.dumps({"distractors": [distractors[answer][0]] * 3}))
        if answer == hopeless:
            return Reply(json.dumps({"distractors": [answer] + distractors[answer][:2]}))
        if answer == fenced:
            return Reply("```json\n" + (good if retried else json.dumps(
                {"distractors": ["No idea."] + distractors[answer][1:]})) + "\n```")
        if answer == err and attempt == 0:
            return Reply(status=502)
        return Reply(good)

    out = tmp_path / "out"
    with FakeLLMServer(responder) as server:
        client = OpenAIChatClient(model="gen-m", base_url=server.base_url, cache_dir=tmp_path / "cache",
                                  concurrency=4)
        report = make_mcq(chat, out, client, progress=False)
        first = len(server.requests)
        rejected = [r["prompt"] for r in server.requests if "previous attempt was rejected" in r["prompt"]]
        assert any("not all different" in p for p in rejected)
        assert any("does not keep the sentence template" in p for p in rejected)
        assert sum(field(r["prompt"], "Correct answer") == err for r in server.requests) >= 2
        before = {p.name: p.read_bytes() for p in out.glob("*.json")}
        # rerun: every reply (valid or rejected) comes from the cache
        again = make_mcq(chat, out, OpenAIChatClient(model="gen-m", base_url=server.base_url,
                                                     cache_dir=tmp_path / "cache"),
                         overwrite=True, progress=False)
        assert len(server.requests) == first
        assert {p.name: p.read_bytes() for p in out.glob("*.json")} == before
    n_hopeless = sum(it.answer == hopeless for it in truth)
    assert sorted(i for i, _ in report.failed) == sorted(it.id for it in truth if it.answer == hopeless)
    assert all("repeats the correct answer" in why for _, why in report.failed)
    assert again.failed == report.failed
    assert sum(report.written.values()) == len(truth) - n_hopeless
    items = combined(chat, out, tmp_path)
    assert len(items) == len(truth)
    letters = set()
    for it in items:
        if it.answer == hopeless:
            assert it.options is None
            continue
        assert it.options[it.correct] == it.answer
        assert sorted(it.options.values()) == sorted([it.answer] + distractors[it.answer])
        letters.add(it.correct)
    assert letters == {"A", "B", "C", "D"}
    for path in list(out.rglob("*")) + list((tmp_path / "cache").rglob("*")):
        assert not path.is_file() or SECRET.encode() not in path.read_bytes()


def test_make_text(source, tmp_path):
    full, chat, truth = source
    rewrite = {(it.player, it.question): it.text_question for it in truth}
    first_rewritable = next(it.question for it in truth if it.text_question)
    hopeless = next(it.question for it in truth if it.text_question and it.question != first_rewritable)

    def responder(prompt, attempt):
        key = (field(prompt, "Player shown in the photo"), field(prompt, "Question"))
        text = rewrite[key]
        if text is None:
            return Reply(json.dumps({"drop": True}))
        if key[1] == hopeless:
            return Reply(json.dumps({"drop": False, "question": f"In the image, what about {key[0]}?"}))
        if key[1] == first_rewritable and "previous attempt was rejected" not in prompt:
            return Reply(json.dumps({"drop": False, "question": "How tall is he?"}))
        return Reply(json.dumps({"drop": False, "question": text}))

    out = tmp_path / "out"
    with FakeLLMServer(responder) as server:
        client = OpenAIChatClient(model="gen-m", base_url=server.base_url, cache_dir=tmp_path / "cache",
                                  concurrency=4)
        report = make_text(chat, out, client, progress=False)
        assert any("does not name the player" in r["prompt"] for r in server.requests)
    n_identity = sum(it.text_question is None for it in truth)
    n_hopeless = sum(it.question == hopeless for it in truth)
    assert report.dropped == n_identity > 0
    assert len(report.failed) == n_hopeless and all("refers to the image" in w for _, w in report.failed)
    items = combined(chat, out, tmp_path)
    by_id = {it.id: it for it in truth}
    for it in items:
        expected = None if it.question == hopeless else by_id[it.id].text_question
        assert it.text_question == expected
    written = [r for p in out.glob("text_*.json") for r in json.loads(p.read_text())]
    originals = {(it.image, it.answer) for it in truth}
    assert all((r["images"], r["messages"][1]["content"]) in originals for r in written)  # answers unchanged
    assert len(written) == len(truth) - n_identity - n_hopeless


def test_cli_exit_codes_and_errors(source, tmp_path, capsys):
    full, chat, truth = source
    distractors = {it.answer: [o for l, o in it.options.items() if l != it.correct] for it in truth}
    with FakeLLMServer(lambda p, a: Reply(json.dumps({"distractors": distractors[field(p, "Correct answer")]}))) as server:
        args = ["make-mcq", str(chat), "--out", str(tmp_path / "o"), "--base_url", server.base_url,
                "--cache_dir", str(tmp_path / "c"), "--splits", "forget", "--limit", "5", "--no_progress"]
        assert main(args) == 0
        assert "classification_forget_set.json: 5" in capsys.readouterr().out
        assert main(args) == 2
        assert "already exists" in capsys.readouterr().err
        assert main(args + ["--overwrite"]) == 0
        assert "cached replies 5" in capsys.readouterr().out
        assert main(["make-mcq", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o2"), "--base_url",
                     server.base_url]) == 2
        assert "data root is not a directory" in capsys.readouterr().err
        assert main(args[:-5] + ["--splits", "nonsense", "--overwrite"]) == 2
        assert "unknown split 'nonsense'" in capsys.readouterr().err
    with FakeLLMServer(lambda p, a: Reply("I cannot help with that.")) as server:
        assert main(["make-mcq", str(chat), "--out", str(tmp_path / "o3"), "--base_url", server.base_url,
                     "--cache_dir", str(tmp_path / "c3"), "--limit", "2", "--attempts", "2", "--no_progress"]) == 1
        err = capsys.readouterr().err
        assert "2 QAs failed every attempt" in err and "not JSON" in err
        assert len(server.requests) == 4  # two rounds of two


def test_template_check():
    assert same_template("He joined Arsenal in 2019.", "He joined Chelsea in 2021.")
    assert not same_template("He joined Arsenal in 2019.", "Arsenal, probably, though sources differ a lot.")
    assert not same_template("He joined Arsenal in 2019.", "He joined Arsenal in 2019")  # punctuation differs
    assert same_template("Arsenal", "Chelsea")
    with pytest.raises(ValueError, match="exactly three"):
        check_distractors("x", {"distractors": ["a", "b"]})
