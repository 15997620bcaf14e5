"""Where a benchmark's data root is and what it is: a local folder or a hub dataset id, and its fingerprint."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from .schema import DataError


def data_fingerprint(root: str | Path, pattern: str = "*.json") -> str:
    """sha256 over the root's data files (relative paths + bytes of the files `pattern` matches: a
    JSON release, or `*/*.parquet` for a hub parquet release): the data identity in results and lineage."""
    digest = hashlib.sha256()
    for path in sorted(Path(root).glob(pattern)):
        digest.update(path.relative_to(root).as_posix().encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def resolve_data_root(spec: str | Path) -> Path:
    """A local folder, or a hub dataset id downloaded with huggingface_hub (needs network)."""
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if re.fullmatch(r"[\w.-]+/[\w.-]+", str(spec)):
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(repo_id=str(spec), repo_type="dataset"))
        except Exception as exc:  # offline or unknown id: say which
            raise DataError(str(spec), None, None,
                            f"not a local folder and hub download failed ({exc.__class__.__name__})") from None
    raise DataError(str(spec), None, None, "data root does not exist")
