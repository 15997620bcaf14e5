import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_wheel_ships_tasks_and_prompts(tmp_path):
    """tasks/ and prompts/ must be installed as package data, found without the source tree."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True)
    wheel = next(tmp_path.glob("offside-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, package in (("tasks", "offside_eval/tasks"), ("prompts", "offside_data/prompts")):
        shipped = {p.relative_to(ROOT / folder).as_posix() for p in (ROOT / folder).rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts}
        assert shipped, folder
        assert {f"{package}/{p}" for p in shipped} <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for script in ("offside-eval", "offside-train", "offside-data"):
        assert script in text
