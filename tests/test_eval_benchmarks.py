"""Benchmarks plug in through offside_data.benchmarks: data root from the option, then the env var,
then the synthetic fixture; evaluate() returns per-task structure next to the metrics."""
import json

import pytest

from offside_data.benchmarks import BENCHMARKS, Benchmark, BenchmarkError, register_benchmark
from offside_eval import evaluate
from offside_eval.models import LMM
from offside_eval.results import make_table
from offside_eval.task import Task
from offside_eval.tasks_index import TaskError, TaskIndex

ROWS = [{"id": "fr", "q": "Capital of France?", "a": "Paris", "part": "eu"},
        {"id": "es", "q": "Capital of Spain?", "a": "Madrid", "part": "eu"},
        {"id": "jp", "q": "Capital of Japan?", "a": "Tokyo", "part": "asia"}]


def _write(root, rows):
    root.mkdir(parents=True, exist_ok=True)
    (root / "qa.json").write_text(json.dumps(rows))
    return root


@pytest.fixture
def toyqa(tmp_path, monkeypatch):
    """A benchmark registered for the test: docs of one `part`, fixture = the first two rows only."""
    def load_docs(root, kwargs):
        kwargs = dict(kwargs)
        part = kwargs.pop("part")
        if kwargs:
            raise BenchmarkError(f"unknown dataset_kwargs for toyqa: {', '.join(kwargs)}")
        return [r for r in json.loads((root / "qa.json").read_text()) if r["part"] == part]

    monkeypatch.delenv("TOYQA_ROOT", raising=False)
    bench = register_benchmark(Benchmark(
        name="toyqa", title="ToyQA", load_docs=load_docs, env_var="TOYQA_ROOT",
        fixture=lambda: _write(tmp_path / "fixture", ROWS[:1]), fixture_title="ToyQA-mini",
        fingerprint=lambda root: str(len((root / "qa.json").read_text()))))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "toy.yaml").write_text(
        "task: toy_eu\ndataset_path: toyqa\ndataset_kwargs: {part: eu}\noutput_type: generate_until\n"
        "modality: text\ndoc_to_text: q\ndoc_to_target: a\nmetric_list: [{metric: exact_match}]\n"
        "metadata: {benchmark: toyqa, role: test}\n")
    yield bench, tasks
    BENCHMARKS.pop("toyqa")


class Paris(LMM):
    name = "paris"

    def generate_until(self, requests):
        return ["Paris" for _ in requests]


def test_fixture_then_env_then_option(toyqa, tmp_path, monkeypatch, capsys):
    bench, tasks = toyqa
    out = evaluate(Paris(), None, "toy_eu", include_path=tasks, progress=False, verbosity="WARNING",
                   output_path=tmp_path / "out", log_samples=True)
    log = capsys.readouterr().err
    assert "SYNTHETIC ToyQA-mini" in log and "set TOYQA_ROOT" in log
    assert out["data"]["synthetic"] is True and out["data"]["benchmark"] == "toyqa"
    assert out["results"]["toy_eu"]["exact_match"] == 1.0 and out["results"]["toy_eu"]["n"] == 1
    assert "NOTE: " + bench.synthetic_warning() in make_table(out)
    written = json.loads((tmp_path / "out" / "results.json").read_text())
    assert written["tasks"] == out["tasks"] == {"toy_eu": {
        "metadata": {"benchmark": "toyqa", "role": "test"}, "output_type": "generate_until", "benchmark": "toyqa",
        "n": 1, "n_original": 1, "task_file": str(tasks / "toy.yaml"),
        "samples_file": str(tmp_path / "out" / "samples_toy_eu.jsonl")}}

    monkeypatch.setenv("TOYQA_ROOT", str(_write(tmp_path / "env", ROWS)))
    out = evaluate(Paris(), None, "toy_eu", include_path=tasks, progress=False, verbosity="WARNING")
    assert out["data"] == {"benchmark": "toyqa", "root": str(tmp_path / "env"), "synthetic": False,
                           "fingerprint": str(len(json.dumps(ROWS)))}
    assert out["results"]["toy_eu"]["exact_match"] == 0.5 and out["tasks"]["toy_eu"]["samples_file"] is None

    option = _write(tmp_path / "option", ROWS[1:])
    out = evaluate(Paris(), None, "toy_eu", include_path=tasks, progress=False, verbosity="WARNING",
                   data_root={"toyqa": option}, limit=1)
    assert out["data"]["root"] == str(option) and out["results"]["toy_eu"]["exact_match"] == 0.0
    assert (out["tasks"]["toy_eu"]["n"], out["tasks"]["toy_eu"]["n_original"]) == (1, 1)


def test_bad_benchmark_input_names_the_offender(toyqa, tmp_path):
    _bench, tasks = toyqa
    with pytest.raises(BenchmarkError, match=f"unknown benchmark.*nosuch.*registered: {', '.join(sorted(BENCHMARKS))}"):
        evaluate(Paris(), None, "toy_eu", include_path=tasks, progress=False, data_root={"nosuch": tmp_path})
    with pytest.raises(BenchmarkError, match="registered twice"):
        register_benchmark(toyqa[0])
    (tasks / "toy.yaml").write_text((tasks / "toy.yaml").read_text().replace("{part: eu}", "{part: eu, year: 1}"))
    entry = TaskIndex([tasks]).get("toy_eu")
    with pytest.raises(TaskError, match=r"task toy_eu \(.*toy.yaml\): unknown dataset_kwargs for toyqa: year"):
        Task(entry.config).docs(tmp_path)


def test_offside_view_errors_name_the_task(tmp_path, mini_root):
    (tmp_path / "t.yaml").write_text("include: offside/offside_forget_mm_gen.yaml\ntask: my_view\n"
                                     "dataset_kwargs: {role: forgotten}\n")
    entry = TaskIndex([tmp_path]).get("my_view")
    with pytest.raises(TaskError, match=r"task my_view \(.*t.yaml\): unknown role 'forgotten'"):
        Task(entry.config).docs(mini_root)


def test_cli_data_root_per_benchmark(toyqa, tmp_path):
    from offside_eval.cli import _data_root

    assert _data_root("offside=/a,toyqa=/b") == {"offside": "/a", "toyqa": "/b"}
    assert _data_root("/data/run=3") == "/data/run=3"  # a path that merely holds '='
    assert _data_root(None) is None


def test_a_new_output_type_is_one_registry_entry(toyqa, monkeypatch):
    """A scorer counting the letters of the generation: one OUTPUT_TYPES entry, nothing else."""
    from offside_eval.output_types import OUTPUT_TYPES, OutputType

    gen = OUTPUT_TYPES["generate_until"]
    monkeypatch.setitem(OUTPUT_TYPES, "length", OutputType(
        "generate_until", ("chars",), frozenset({"chars"}), gen.requests,
        lambda task, doc, results, verdicts: ({"chars": float(len(results[0]))}, {"response": results[0]})))
    _bench, tasks = toyqa
    (tasks / "toy.yaml").write_text((tasks / "toy.yaml").read_text().replace("generate_until", "length")
                                    .replace("metric_list: [{metric: exact_match}]\n", ""))
    out = evaluate(Paris(), None, "toy_eu", include_path=tasks, progress=False, verbosity="ERROR", log_samples=True)
    assert out["results"]["toy_eu"]["chars"] == 5.0 and out["tasks"]["toy_eu"]["output_type"] == "length"
    assert out["samples"]["toy_eu"][0]["response"] == "Paris"
