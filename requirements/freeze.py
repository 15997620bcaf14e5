"""Write the lock: `pip freeze` of a scratch venv, minus offside itself and the torch stack
(torch is pinned per machine in the Makefile, and its CUDA wheels differ by platform)."""
import re
import subprocess
import sys
from pathlib import Path

UNPINNED = re.compile(r"^(-e |offside\b|torch==|torchvision==|triton==|nvidia-|cuda-)", re.I)
HEADER = """\
# Every dependency of offside[dev,lmms,quant,tracking,cluster] at the version the test suite passed with (Python 3.11).
# Used as pip constraints by the Makefile (so by make test, make demo and .ci/run); torch and its
# CUDA wheels are pinned in the Makefile instead. Refresh on purpose: `make lock && make test`.
"""


def main(pip: str, out: str) -> None:
    frozen = subprocess.run([pip, "freeze", "--exclude-editable"], check=True, capture_output=True,
                            text=True).stdout.splitlines()
    pins = sorted((line for line in frozen if line and not UNPINNED.match(line)), key=str.lower)
    Path(out).write_text(HEADER + "\n".join(pins) + "\n", encoding="utf-8")
    print(f"{out}: {len(pins)} pins")


if __name__ == "__main__":
    main(*sys.argv[1:])
