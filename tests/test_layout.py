"""The core packages name no benchmark: everything that knows one lives in its own folder (benchmarks/NAME)."""
import re
from pathlib import Path

from offside_data.benchmarks import BENCHMARKS, DEFAULT_BENCHMARK, TASK_FOLDERS

ROOT = Path(__file__).resolve().parents[1]
CORE = ("offside_data", "offside_eval", "offside_train", "offside_run", "prompts")


ENGLISH = {"clear"}  # a benchmark name that is also a word: found as an identifier or a path, not in prose


def _names() -> re.Pattern:
    """Every registered benchmark or task folder but the default (offside: also the project's name), with
    the spellings its folder uses for it (title, fixture name)."""
    titles, parts = {"MM-Bench"}, []
    for name in {*BENCHMARKS, *TASK_FOLDERS} - {DEFAULT_BENCHMARK}:
        bench = BENCHMARKS.get(name)
        if bench:
            titles.update({bench.title, bench.title.replace("-", ""), bench.fixture_title})
        parts.append(rf"(?<![\w-]){name}(?=[_'\"/.])|(?<=['\"/]){name}\b" if name in ENGLISH else rf"(?i:(?<![a-z0-9]){name}(?![a-z0-9]))")
    parts += [rf"\b{re.escape(t)}\b" for t in sorted(titles) if t]
    return re.compile("|".join(parts))


def test_no_core_module_names_a_benchmark():
    pattern = _names()
    hits = [f"{path.relative_to(ROOT)}:{i}: {line.strip()}" for package in CORE
            for path in sorted((ROOT / package).rglob("*")) if path.suffix in (".py", ".yaml", ".j2", ".txt")
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if pattern.search(line.replace(".clear()", ""))]
    assert not hits, "\n".join(hits)


def test_no_module_is_over_400_lines():
    long = [f"{p.relative_to(ROOT)}: {n}" for p in sorted(ROOT.rglob("*.py")) if ".venv" not in p.parts
            and "tests" not in p.parts and (n := len(p.read_text(encoding="utf-8").splitlines())) > 400]
    assert not long, long
