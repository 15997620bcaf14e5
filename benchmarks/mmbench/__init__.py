"""MM-Bench (Liu et al., 2024) as general-utility tasks: the official TSV / hub rows (data.py), CircularEval
scoring (circular.py) and the task YAMLs (tasks/), plus `offside-data mmbench-fixture`, a small synthetic
file in the official layout. Registered through the `offside.benchmarks` entry point; no training data."""
from __future__ import annotations

from pathlib import Path

from offside_data.benchmarks import register_task_folder
from offside_data.commands import DataCommand, register_command

from .data import read_tsv, write_fixture


def _add_fixture_arguments(parser) -> None:
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)


def _write_fixture(args) -> int:
    path = write_fixture(args.out, seed=args.seed)
    print(f"MMBench-format fixture written to {path}: {len(read_tsv(path))} questions")
    return 0


register_task_folder("mmbench", Path(__file__).parent / "tasks")
register_command(DataCommand("mmbench-fixture", "write a small synthetic MMBench-format TSV (tests, docs)",
                             _add_fixture_arguments, _write_fixture))
