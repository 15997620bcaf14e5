"""The sync rule of generated task folders (a benchmark's tasks/make_tasks.py): a folder's YAML files are
exactly what its make_tasks.py renders; `--check` names the files that differ, and a write
rewrites only those (and deletes stray YAMLs)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def out_of_sync(folder: Path, want: dict[str, str]) -> list[str]:
    """Generated files that are missing or differ, and stray YAMLs the script does not write."""
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.yaml")}
    return sorted(name for name in want.keys() | on_disk.keys() if want.get(name) != on_disk.get(name))


def main(folder: Path, render: Callable[[], dict[str, str]], description: str, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="only report files that differ from the script's output")
    want = render()
    stale = out_of_sync(folder, want)
    if parser.parse_args(argv).check:
        print("".join(f"{folder / name}: out of sync with make_tasks.py\n" for name in stale), end="", file=sys.stderr)
        return int(bool(stale))
    for name in stale:
        if name in want:
            (folder / name).write_text(want[name], encoding="utf-8")
        else:
            (folder / name).unlink()
    return 0


def flow(mapping: dict) -> str:
    """A one-line YAML mapping, `{k: v, ...}`, as the generated files write dataset_kwargs and metadata."""
    return "{" + ", ".join(f"{k}: {v}" for k, v in mapping.items()) + "}"
