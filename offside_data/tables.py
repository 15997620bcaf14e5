"""The one reader of tab-separated tables (TSV task datasets, official benchmark files)."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

from .schema import DataError


def read_tsv_rows(path: str | Path) -> list[dict[str, str]]:
    """Rows of a TSV with a header line, as {column: text} (column names stripped).

    The field size limit is lifted: official benchmark cells can hold whole base64 images. A missing or
    non-UTF-8 file is a DataError naming the file.
    """
    path = Path(path)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return [{(k or "").strip(): v for k, v in row.items()} for row in csv.DictReader(fh, delimiter="\t")]
    except FileNotFoundError:
        raise DataError(str(path), None, None, "TSV file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(str(path), None, None, f"not UTF-8 text ({exc.reason})") from None
