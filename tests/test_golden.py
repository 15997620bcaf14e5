"""Refactors leave every number unchanged: same seed -> the values recorded in tests/golden/values.json.

The file was written by `python tests/golden_run.py tests/golden/values.json` on the commit before
the architecture refactor (a short SFT, four steps of every method, an evaluation with samples).
A deliberate change of numbers re-records it in the same commit and says why.
"""
import json
import math
from pathlib import Path

import pytest
from golden_run import compute

GOLDEN = Path(__file__).parent / "golden" / "values.json"


def _assert_close(got, want, where="values"):
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), f"{where}: keys {sorted(got)} != {sorted(want)}"
        for key in want:
            _assert_close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: length {len(got)} != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_close(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(got, str):
        same = math.isclose(got, want, rel_tol=1e-5, abs_tol=1e-6) or (math.isnan(got) and math.isnan(want))
        assert same, f"{where}: {got} != {want}"
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


@pytest.mark.timeout(600)
def test_numbers_equal_the_recorded_ones(tmp_path):
    _assert_close(compute(tmp_path), json.loads(GOLDEN.read_text()))
