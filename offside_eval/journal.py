"""Evaluation journal: the model's answer to every request, appended batch by batch, so a crashed or
interrupted evaluation resumes where it stopped and a shared store (`--use_cache DIR`) serves later runs.

Store layout: `answers-<model fingerprint>.jsonl`, one line per finished batch
(`{"answers": {key: answer}}`, written with one `write` and fsynced: a torn last line from a kill is
skipped on reading), plus `answers-<fp>.rank<r>.jsonl` from rank r of a data-parallel run (all files
are read, so any number of processes resumes any run), and `file_hashes.json` (memo of the weight-file
hashes).

Key of one answer: sha256(model fingerprint, task config fingerprint, request identity). The request
identity is what the model sees: doc id, messages, image contents, and the continuation (one MC
option) or the generation settings.

Model fingerprint: sha256 over the model name, its model_args with `pretrained` / `adapter` replaced by
the content hash of their folders (the whole offside adapter chain down to the base weights),
batch_size, the device type (cpu, cuda) and the torch / transformers versions. A folder's hash covers the name, size and
full sha256 of each top-level weight, config and tokenizer file -- never the path, so a checkpoint
retrained in place gets new keys. Hashing 15 GB takes a minute once: the file hashes are memoised by
(real path, size, mtime_ns, ctime_ns, inode); rewriting a file always changes its ctime, so the memo
never serves a stale hash.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from offside_data.fileio import atomic_write_text

log = logging.getLogger("offside_eval")
HASHED_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".gguf", ".json", ".model", ".txt", ".jinja", ".py",
                   ".tiktoken"}
NOT_MODEL_FILES = {"results.json", "trainer_state.json"}
MEMO_FILE = "file_hashes.json"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during an evaluation; `saved` answers of this run are in the journal."""

    def __init__(self, saved: int):
        super().__init__(saved)
        self.saved = saved

    def message(self) -> str:
        return f"interrupted; {self.saved} samples saved — rerun the same command to resume"


def _sha(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def image_fingerprint(image: Any, memo: dict[int, tuple[Any, str]]) -> str:
    """Content hash of a visual (memoised per object; the memo keeps the object alive so ids stay unique)."""
    hit = memo.get(id(image))
    if hit is not None:
        return hit[1]
    if hasattr(image, "tobytes") and hasattr(image, "size"):
        digest = hashlib.sha1(f"{getattr(image, 'mode', '')}|{image.size}|".encode())
        digest.update(image.tobytes())
        value = digest.hexdigest()
    else:
        value = "repr:" + repr(image)
    memo[id(image)] = (image, value)
    return value


def request_identity(req: Any, memo: dict[int, tuple[Any, str]]) -> str:
    """What the model sees of a request: messages, image contents and sizes, continuation or generation settings."""
    what = {"messages": req.messages, "images": [image_fingerprint(v, memo) for v in req.visuals]}
    if hasattr(req, "continuation"):
        what["continuation"] = req.continuation
    else:
        what["gen_kwargs"] = req.gen_kwargs
    return json.dumps(what, sort_keys=True, default=repr)


def task_fingerprint(config: Any) -> str:
    """Hash of a task's merged config (hooks by their `!function` name, not where the file lies)."""
    import dataclasses

    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "path"}
    return _sha(json.dumps(fields, sort_keys=True, default=lambda v: getattr(v, "spec", repr(v))))


# ---- model fingerprint ----------------------------------------------------------------------------
def _file_hash(path: Path, memo: dict[str, list]) -> str:
    st = path.stat()
    stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    real = str(path.resolve())
    hit = memo.get(real)
    if hit and hit[:4] == stamp:
        return hit[4]
    with open(path, "rb") as fh:
        value = hashlib.file_digest(fh, "sha256").hexdigest()
    memo[real] = [*stamp, value]
    return value


def _local_folder(spec: str) -> Path | None:
    """A model folder on disk: the path itself, or a hub id's snapshot in the local HF cache."""
    if Path(spec).is_dir():
        return Path(spec)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(spec, local_files_only=True))
    except Exception:  # not a hub id, or not downloaded
        return None


def _folders(spec: str) -> list[Path] | None:
    """The folders whose files make up a checkpoint: base weights plus every adapter of its chain."""
    from offside_data.lineage import resolve_checkpoint

    base, adapters = resolve_checkpoint(spec) if Path(spec).is_dir() else (spec, [])
    base_folder = _local_folder(base)
    return None if base_folder is None else [base_folder, *map(Path, adapters)]


def folder_hash(folder: Path, memo: dict[str, list]) -> str:
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix in HASHED_SUFFIXES
                   and f.name not in NOT_MODEL_FILES)
    return _sha(*(f"{f.name}:{f.stat().st_size}:{_file_hash(f, memo)}" for f in files))


def model_fingerprint(name: str, args: dict[str, Any], store: Path) -> str | None:
    """The model's fingerprint (module docstring), or None when its weights are no local files."""
    from offside_data.provenance import package_versions

    memo_path = store / MEMO_FILE
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8")) if memo_path.exists() else {}
    except json.JSONDecodeError:
        memo = {}
    described: dict[str, Any] = {}
    for key, value in sorted(args.items()):
        if key in ("pretrained", "adapter") and value:
            folders = _folders(str(value))
            if folders is None:
                return None
            described[key] = [folder_hash(f, memo) for f in folders]
        elif value is None or isinstance(value, (str, int, float, bool)):
            described[key] = value
        else:  # an object (a loaded model, a processor): nothing to fingerprint it by
            return None
    if "pretrained" not in described:
        return None
    versions = package_versions()
    described["_versions"] = {k: versions.get(k) for k in ("torch", "transformers")}
    store.mkdir(parents=True, exist_ok=True)
    atomic_write_text(memo_path, json.dumps(memo, indent=0, sort_keys=True))
    return _sha(name, json.dumps(described, sort_keys=True))


# ---- the journal -----------------------------------------------------------------------------------
class Journal:
    """Answers of one model fingerprint in `store`; `get` by key, `append` one finished batch. Rank r > 0
    of a data-parallel run appends to its own `answers-<fp>.rank<r>.jsonl`; every file is read."""

    def __init__(self, store: Path, model_fp: str, rank: int = 0):
        self.store, self.model_fp = Path(store), model_fp
        stem = f"answers-{model_fp[:32]}"
        self.path = self.store / (f"{stem}.jsonl" if rank == 0 else f"{stem}.rank{rank}.jsonl")
        self.answers: dict[str, Any] = {}
        self.saved = 0  # answers this run appended or found
        for path in [self.store / f"{stem}.jsonl", *sorted(self.store.glob(f"{stem}.rank*.jsonl"))]:
            if not path.exists():
                continue
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    self.answers.update(json.loads(line)["answers"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a batch torn by a kill: recomputed

    def key(self, task_fp: str, doc_id: Any, identity: str) -> str:
        return _sha(self.model_fp, task_fp, json.dumps(doc_id, default=str), identity)

    def get(self, key: str, stream: str) -> Any:
        """The stored answer as the model gave it: a (logprob, is_greedy) pair back as a tuple (JSON made
        it a list); token-detail scores (a dict) and generations as they are."""
        value = self.answers.get(key)
        return tuple(value) if stream == "ll" and isinstance(value, list) else value

    def append(self, answers: dict[str, Any]) -> None:
        """One line, one write, fsynced: the batch is in the journal entirely or (torn) not at all."""
        self.store.mkdir(parents=True, exist_ok=True)
        data = (json.dumps({"answers": answers}) + "\n").encode()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # after a torn line
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.answers.update(answers)


@contextlib.contextmanager
def deferred_sigint() -> Iterator[dict[str, bool]]:
    """The first Ctrl-C sets `flag["stop"]` (the current batch finishes and is journaled); a second one
    interrupts at once. Outside the main thread signals cannot be caught: Ctrl-C interrupts at once."""
    flag = {"stop": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(_signum, _frame):
        if flag["stop"]:
            raise KeyboardInterrupt
        flag["stop"] = True
        log.warning("Ctrl-C: finishing the current batch and saving it (Ctrl-C again to stop at once)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
