"""Data-parallel evaluation (`accelerate launch -m offside_eval`, 2 CPU processes, gloo) gives one process's
numbers to the last digit, and its per-rank journal resumes data-parallel or in one process.
`accelerate launch --cpu --num_processes 2` starts ONE process (accelerate 1.15): two CPU ranks need
`--multi_gpu` with no visible GPU."""
import json
import os
import re
import socket
import subprocess
import sys

import pytest

import offside_eval.evaluator
from offside_eval.cli import main
from offside_eval.distributed import merge, shard

ARGS = ["--tasks", "offside_forget_mm", "--limit", "4", "--batch_size", "2", "--gen_kwargs", "max_new_tokens=8",
        "--log_samples", "--no_progress", "--verbosity", "ERROR"]
N_REQUESTS = 4 * 4 + 4 + 4  # MC options (log-likelihood), MC-by-generation, generation
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "CUDA_VISIBLE_DEVICES": "",
       "HF_HUB_OFFLINE": "1"}


def test_shard_deals_round_robin_and_merge_restores_every_index_once():
    batches = [[0, 1], [2], [3, 4], [5], [6]]  # length-sorted, longest first
    assert shard(batches, 0, 2) == [[0, 1], [3, 4], [6]] and shard(batches, 1, 2) == [[2], [5]]
    assert shard(batches, 2, 3) == [[3, 4]]
    parts = [{i: f"a{i}" for b in shard(batches, r, 2) for i in b} for r in range(2)]
    assert merge(parts) == {i: f"a{i}" for i in range(7)}
    with pytest.raises(RuntimeError, match="request 3 answered by two ranks"):
        merge([{3: "x"}, {3: "y"}])


def test_lmms_tasks_refused_data_parallel(tiny_model_dir, tmp_path, capsys, monkeypatch):
    class Rank0:  # what `data_parallel()` returns on rank 0 of 2
        rank, world, is_main = 0, 2, True

    monkeypatch.setattr(offside_eval.evaluator, "data_parallel", Rank0)
    rc = main(["--model_args", f"pretrained={tiny_model_dir}", "--tasks", "offside_forget_mm_mc,lmms:mmstar",
               "--output_path", str(tmp_path / "out"), "--no_progress", "--verbosity", "ERROR"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == ("offside-eval: error: lmms-eval tasks (lmms:mmstar) do not run data-parallel inside "
                               "offside-eval: run them with `accelerate launch -m lmms_eval` or in one process")
    assert not (tmp_path / "out").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd):
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _two_processes(model_dir, out):
    return _run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                 "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
                 str(_free_port()), "-m", "offside_eval", "--model_args", f"pretrained={model_dir}", *ARGS,
                 "--output_path", str(out)])


def _one_process(model_dir, out, *extra):
    return _run([sys.executable, "-m", "offside_eval", "--model_args", f"pretrained={model_dir}", *ARGS,
                 "--output_path", str(out), *extra])


def _names(folder):
    """The folder's file names, lm-eval's timestamps (results_<time>.json, ...) blanked."""
    return sorted(re.sub(r"_\d{4}-\d\d-\d\dT[\d.-]+\.", "_<time>.", name) for name in os.listdir(folder))


def _same(a, b):
    ra, rb = (json.loads((f / "results.json").read_text()) for f in (a, b))
    assert ra["results"] == rb["results"] and ra["groups"] == rb["groups"]
    for task in ra["results"]:
        assert (a / f"samples_{task}.jsonl").read_text() == (b / f"samples_{task}.jsonl").read_text()
    return rb


@pytest.mark.timeout(600)
def test_two_processes_equal_one_and_their_journal_resumes(tiny_model_dir, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    proc = _two_processes(tiny_model_dir, two)
    assert proc.stdout.count("offside_forget_mm_mc ") == 1  # rank 0 alone prints the table
    _one_process(tiny_model_dir, one)
    assert _names(two) == _names(one)  # rank 1 wrote nothing of its own but its journal
    assert _same(one, two)["resumed_samples"] == 0
    rank0, rank1 = sorted((two / "journal").glob("answers-*.jsonl"))  # answers-<fp>.jsonl, answers-<fp>.rank1.jsonl
    assert rank1.name == rank0.name.replace(".jsonl", ".rank1.jsonl")
    n_rank0 = sum(len(json.loads(line)["answers"]) for line in rank0.read_text().splitlines())
    n_rank1 = sum(len(json.loads(line)["answers"]) for line in rank1.read_text().splitlines())
    assert n_rank0 + n_rank1 == N_REQUESTS and n_rank0 and n_rank1  # the work was shared

    # one process reads both ranks' files: everything resumes (nothing is sent to the model)
    _one_process(tiny_model_dir, tmp_path / "three", "--use_cache", str(two / "journal"))
    assert _same(one, tmp_path / "three")["resumed_samples"] == N_REQUESTS

    # rank 1 killed before it journaled anything: a data-parallel rerun redoes its batches only
    rank1.unlink()
    (two / "results.json").unlink()
    _two_processes(tiny_model_dir, two)
    assert _same(one, two)["resumed_samples"] == n_rank0
