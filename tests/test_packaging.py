import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_wheel_ships_tasks_and_prompts(tmp_path):
    """Every file of benchmarks/ (tasks, prompts, configs) and prompts/ must be installed, found without the
    source tree; every benchmark registers through an entry point."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True)
    wheel = next(tmp_path.glob("offside-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, package in (("benchmarks", "offside_benchmarks"), ("prompts", "offside_data/prompts")):
        shipped = {p.relative_to(ROOT / folder).as_posix() for p in (ROOT / folder).rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts}
        assert shipped, folder
        assert {f"{package}/{p}" for p in shipped} <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for script in ("offside-eval", "offside-train", "offside-data"):
        assert script in text
    for name in (p.name for p in (ROOT / "benchmarks").iterdir() if (p / "__init__.py").exists()):
        assert f"{name} = offside_benchmarks.{name}\n" in text, name
