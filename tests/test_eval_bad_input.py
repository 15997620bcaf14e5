"""Every class of bad input ends before any model loads: one line naming the offender, exit 2, no
traceback, nothing written."""
import json

import pytest
from test_data_schema import _copy, _edit  # the data tests' copy-and-corrupt helpers

import offside_eval.evaluator
from offside_eval.cli import main


@pytest.fixture
def no_model_load(monkeypatch):
    """Validation must finish before a model loads: loading one fails the test."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("a model was loaded before the input was validated")

    monkeypatch.setattr(offside_eval.evaluator, "load_model", refuse)


@pytest.fixture
def data(mini_root, tmp_path):
    return _copy(mini_root, tmp_path)


def _run(capsys, tmp_path, model_dir, *extra, tasks="offside_forget_mm", output=None):
    out = output or tmp_path / "out"
    rc = main(["--model_args", f"pretrained={model_dir}", "--tasks", tasks, "--limit", "2", "--output_path", str(out),
               "--no_progress", "--verbosity", "ERROR", *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    if output is None:
        assert not out.exists()  # nothing written
    return err


def test_bad_task_yaml(no_model_load, tiny_model_dir, tmp_path, capsys):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "broken.yaml").write_text("task: broken\ndataset_path: x.jsonl\ndoc_to_txt: question\n")
    err = _run(capsys, tmp_path, tiny_model_dir, "--include_path", str(tasks), tasks="broken")
    assert str(tasks / "broken.yaml") in err and "'doc_to_txt'" in err and "'doc_to_text'" in err


@pytest.mark.parametrize("args, message", [
    ("pretrained=/no/such/checkpoint", "--model_args pretrained=/no/such/checkpoint: no such file or folder"),
    ("colour=red", "unknown model_args colour"),
    ("pretrained", "--model_args: 'pretrained' is not key=value"),
])
def test_bad_model_args(no_model_load, tiny_model_dir, tmp_path, capsys, args, message):
    err = _run(capsys, tmp_path, tiny_model_dir, "--model_args", args)
    assert message in err


def test_bad_data_json(no_model_load, tiny_model_dir, data, tmp_path, capsys):
    (data / "forget_set.json").write_text('[{"messages": ')
    err = _run(capsys, tmp_path, tiny_model_dir, "--data_root", str(data))
    assert str(data / "forget_set.json") in err and "invalid JSON" in err


def test_bad_record(no_model_load, tiny_model_dir, data, tmp_path, capsys):
    _edit(data / "forget_set.json", lambda records: records[1].pop("messages"))
    err = _run(capsys, tmp_path, tiny_model_dir, "--data_root", str(data))
    assert f"{data / 'forget_set.json'} [record 1] field 'messages'" in err


def test_bad_mc_record(no_model_load, tiny_model_dir, data, tmp_path, capsys):
    _edit(data / "classification_forget_set.json", lambda records: records[0].update(Correct_Answer="E"))
    err = _run(capsys, tmp_path, tiny_model_dir, "--data_root", str(data))
    assert f"{data / 'classification_forget_set.json'} [record 0] field 'Correct_Answer'" in err


def test_bad_image(no_model_load, tiny_model_dir, data, tmp_path, capsys):
    first = json.loads((data / "forget_set.json").read_text())[0]["images"]
    (data / first).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    err = _run(capsys, tmp_path, tiny_model_dir, "--data_root", str(data))
    assert err.startswith(f"offside-eval: error: {data / first}: not a readable image")


def test_output_path_is_a_file(no_model_load, tiny_model_dir, tmp_path, capsys):
    taken = tmp_path / "results"
    taken.write_text("keep me")
    err = _run(capsys, tmp_path, tiny_model_dir, output=taken / "run1")
    assert f"--output_path {taken / 'run1'}: {taken} is a file, not a folder" in err
    assert taken.read_text() == "keep me"


def test_use_cache_is_a_file(no_model_load, tiny_model_dir, tmp_path, capsys):
    taken = tmp_path / "store"
    taken.write_text("")
    err = _run(capsys, tmp_path, tiny_model_dir, "--use_cache", str(taken))
    assert f"--use_cache {taken}: {taken} is a file, not a folder" in err
