"""What every benchmark's reader shares: the one error type for bad data content, and the option letters."""
from __future__ import annotations

LETTERS = ("A", "B", "C", "D")


class DataError(ValueError):
    """Invalid dataset content; the message names file, record index and field."""

    def __init__(self, source: str, index: int | None, field_name: str | None, problem: str):
        where = source
        if index is not None:
            where += f" [record {index}]"
        if field_name:
            where += f" field '{field_name}'"
        super().__init__(f"{where}: {problem}")
        self.source, self.index, self.field_name, self.problem = source, index, field_name, problem
