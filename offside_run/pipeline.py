"""The paper's whole protocol as one resumable run.

vanilla SFT -> evaluate -> for each setting x method: unlearn -> evaluate -> relearn -> evaluate;
vanilla relearned without unlearning (the control) -> evaluate; report.

Every stage has a key: a hash of its own configuration and its parent's key. A stage whose
folder holds a finished marker with the same key is skipped, so rerunning a finished run
trains nothing, and changing one method's hyperparameters re-runs only that method's chain.
A failing stage is recorded (and shown in the report); the other methods go on.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from offside_data.fileio import atomic_write_text

from .report import Entry, write_report

log = logging.getLogger("offside_run")
STAGE_FILE = ".offside_stage.json"
MANIFEST = "run_manifest.json"
SETTINGS = ("complete", "selective", "unimodal")
# role in the report -> role name in the task names (offside_<name>_mm_{mc,gen})
TASK_ROLE = {"forget": "forget", "test": "test", "retain": "retain", "relearn": "relearn",
             "forget_private": "private", "forget_shared": "shared"}
ROLES_BY_SETTING = {"complete": ["forget", "test", "retain"], "unimodal": ["forget", "test", "retain"],
                    "selective": ["forget_private", "test", "forget_shared"]}


class ExperimentError(ValueError):
    """Invalid experiment YAML; the message names the file and key."""


@dataclass
class Experiment:
    name: str
    output_dir: Path
    base_model: str = "tiny"  # "tiny": the cached tiny Qwen2.5-VL; else a path or hub id
    data_root: str = "mini"  # "mini" / "mini:N": the cached OFFSIDE-mini (N players); else a path
    settings: list[str] = field(default_factory=lambda: ["complete"])
    vanilla: dict[str, Any] = field(default_factory=dict)  # offside-train sft options
    unlearn: dict[str, Any] = field(default_factory=dict)  # options shared by every method
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> its own options
    relearn: dict[str, Any] = field(default_factory=dict)  # offside-train relearn options
    relearn_settings: list[str] = field(default_factory=lambda: ["complete"])
    relearn_vanilla: bool = True
    eval: dict[str, Any] = field(default_factory=dict)  # evaluate() options: batch_size, limit, ...
    judge: str | None = None  # --judge_args string, when an LLM judge is configured
    source: str = "<dict>"

    @classmethod
    def from_yaml(cls, path: str | Path, output_dir: str | Path | None = None) -> "Experiment":
        path = Path(path)
        if not path.exists():
            raise ExperimentError(f"{path}: experiment file not found")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ExperimentError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
        return cls.from_dict(data, str(path), output_dir)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>", output_dir: str | Path | None = None):
        if not isinstance(data, dict):
            raise ExperimentError(f"{source}: top level must be a mapping")
        known = set(cls.__dataclass_fields__) - {"source"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ExperimentError(f"{source}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
        data = dict(data)
        data.setdefault("name", Path(source).stem)
        if output_dir is not None:
            data["output_dir"] = output_dir
        if "output_dir" not in data:
            raise ExperimentError(f"{source}: 'output_dir' is required")
        data["output_dir"] = Path(data["output_dir"])
        exp = cls(**data, source=source)
        for s in exp.settings + exp.relearn_settings:
            if s not in SETTINGS:
                raise ExperimentError(f"{source}: setting {s!r} is not one of {', '.join(SETTINGS)}")
        if not exp.methods:
            raise ExperimentError(f"{source}: 'methods' must name at least one unlearning method")
        for key in ("vanilla", "unlearn", "relearn", "eval"):
            if not isinstance(getattr(exp, key), dict):
                raise ExperimentError(f"{source}: '{key}' must be a mapping of options")
        for method, opts in exp.methods.items():
            if not isinstance(opts or {}, dict):
                raise ExperimentError(f"{source}: methods.{method} must be a mapping of options")
        return exp


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, default=str))


def _finished(folder: Path, key: str) -> bool:
    marker = folder / STAGE_FILE
    if not marker.exists():
        return False
    try:
        return json.loads(marker.read_text())["key"] == key
    except (json.JSONDecodeError, KeyError):
        return False


class Runner:
    """Runs (or skips) stages and remembers what it did, for the manifest and for tests."""

    def __init__(self, exp: Experiment, progress: bool = True):
        self.exp, self.progress = exp, progress
        self.run_dir = exp.output_dir
        self.trained: list[str] = []
        self.evaluated: list[str] = []
        self.records: list[dict[str, Any]] = []
        self.base_model = self._base_model()
        self.data_root = self._data_root()
        from offside_data import data_fingerprint

        self.data_id = data_fingerprint(self.data_root)

    def _base_model(self) -> str:
        if self.exp.base_model == "tiny":
            from offside_data.fixtures import ensure_tiny_model

            return str(ensure_tiny_model())
        return self.exp.base_model

    def _data_root(self) -> str:
        if self.exp.data_root == "mini" or self.exp.data_root.startswith("mini:"):
            from offside_data.fixtures import ensure_mini

            players = self.exp.data_root.partition(":")[2]
            if players and not players.isdigit():
                raise ExperimentError(f"{self.exp.source}: data_root 'mini:N' needs a player count, got {players!r}")
            return str(ensure_mini(players=int(players or 12)))
        if not Path(self.exp.data_root).is_dir():
            raise ExperimentError(f"{self.exp.source}: data_root {self.exp.data_root!r} is not a directory")
        return self.exp.data_root

    # ------------------------------------------------------------------ stages
    def _stage(self, folder: Path, key: str, work: Callable[[Path], Any], done: list[str]) -> Path:
        if _finished(folder, key):
            log.info("skip %s (finished, same configuration)", folder.relative_to(self.run_dir))
            return folder
        if folder.exists():
            shutil.rmtree(folder)  # stale or from another configuration
        log.info("run %s", folder.relative_to(self.run_dir))
        start = time.perf_counter()
        work(folder)
        _write_json(folder / STAGE_FILE, {"key": key, "seconds": round(time.perf_counter() - start, 1)})
        done.append(str(folder.relative_to(self.run_dir)))
        return folder

    def train(self, name: str, kind: str, parent: Path, parent_key: str, options: dict[str, Any],
              method: str | None = None) -> tuple[Path, str]:
        from offside_train import build_config
        from offside_train.sft import run_sft
        from offside_train.unlearn import run_unlearn

        key = _key(kind, parent_key, method, options)

        def work(out: Path) -> None:
            common = dict(model=str(parent), data=self.data_root, output_dir=str(out), disable_tqdm=not self.progress)
            cfg = build_config(method if kind == "unlearn" else kind, {**options, **common},
                               f"{self.exp.source} ({name})")
            run_unlearn(cfg) if kind == "unlearn" else run_sft(cfg)

        return self._stage(self.run_dir / "checkpoints" / name, key, work, self.trained), key

    def evaluate(self, name: str, checkpoint: Path, ckpt_key: str, roles: list[str]) -> tuple[Path, dict]:
        import offside_eval

        tasks = self.tasks_for(roles)
        opts = dict(self.exp.eval)
        key = _key("eval", ckpt_key, tasks, opts, self.exp.judge)

        def work(out: Path) -> None:
            extra = {"judge_args": self.exp.judge} if self.exp.judge else {}
            offside_eval.evaluate("hf_vlm", {"pretrained": str(checkpoint)}, tasks, output_path=out,
                                  log_samples=True, data_root=self.data_root, progress=self.progress,
                                  verbosity="WARNING", **opts, **extra)

        folder = self._stage(self.run_dir / "evals" / name, key, work, self.evaluated)
        return folder, {role: self.tasks_for([role]) for role in roles}

    def tasks_for(self, roles: list[str]) -> list[str]:
        tasks = []
        for role in roles:
            stem = f"offside_{TASK_ROLE[role]}_mm"
            tasks += [f"{stem}_mc", f"{stem}_gen"] + ([f"{stem}_judge"] if self.exp.judge else [])
        return tasks

    # ------------------------------------------------------------------ protocol
    def record(self, method: str, setting: str, phase: str, checkpoint: Path | None, key: str | None,
               roles: list[str] | None = None, error: str | None = None) -> None:
        entry: dict[str, Any] = {"method": method, "setting": setting, "phase": phase,
                                 "checkpoint": str(checkpoint) if checkpoint else None, "error": error}
        if error is None and checkpoint is not None:
            folder, task_map = self.evaluate(checkpoint.name, checkpoint, key, list(roles or []))
            entry["eval_dir"] = str(folder.relative_to(self.run_dir))
            entry["tasks"] = task_map
        self.records.append(entry)

    def run(self) -> Path:
        exp = self.exp
        self.run_dir.mkdir(parents=True, exist_ok=True)
        vanilla_roles = ["forget", "test", "retain", "relearn"]
        if "selective" in exp.settings:
            vanilla_roles += ["forget_private", "forget_shared"]
        base_key = _key(self.base_model, self.data_id)
        vanilla, vkey = self.train("vanilla", "sft", Path(self.base_model), base_key, exp.vanilla)
        self.record("vanilla", "complete", "vanilla", vanilla, vkey, vanilla_roles)
        if exp.relearn_vanilla:
            self._guarded("vanilla", "complete", "relearned", lambda: self._relearn("vanilla", vanilla, vkey))
        for setting in exp.settings:
            for method, opts in exp.methods.items():
                opts = dict(opts or {})
                if setting not in opts.pop("settings", exp.settings):  # a method may run in fewer settings
                    continue
                self._guarded(method, setting, "unlearned",
                              lambda m=method, o=opts, s=setting: self._unlearn_chain(m, o, s, vanilla, vkey))
        write_manifest(self.run_dir, exp, self.records)
        return build_report(self.run_dir)

    def _guarded(self, method: str, setting: str, phase: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # a failing method is reported; the others go on
            log.error("%s/%s/%s failed: %s", method, setting, phase, exc)
            (self.run_dir / "errors").mkdir(parents=True, exist_ok=True)
            (self.run_dir / "errors" / f"{method}-{setting}-{phase}.txt").write_text(traceback.format_exc())
            self.record(method, setting, phase, None, None, error=f"{type(exc).__name__}: {exc}")

    def _unlearn_chain(self, method: str, opts: dict, setting: str, vanilla: Path, vkey: str) -> None:
        opts = dict(opts)
        relearn = opts.pop("relearn", True)  # a method may skip the relearning stage
        options = {**self.exp.unlearn, **opts}
        options["setting"] = "complete" if setting == "unimodal" else setting
        options["modality"] = "text" if setting == "unimodal" else "mm"
        name = f"{method}-{setting}"
        ckpt, key = self.train(name, "unlearn", vanilla, vkey, options, method)
        self.record(method, setting, "unlearned", ckpt, key, ROLES_BY_SETTING[setting])
        if relearn and setting in self.exp.relearn_settings:
            self._guarded(method, setting, "relearned", lambda: self._relearn(name, ckpt, key, method, setting))

    def _relearn(self, name: str, parent: Path, parent_key: str, method: str = "vanilla",
                 setting: str = "complete") -> None:
        ckpt, key = self.train(f"{name}-relearned", "relearn", parent, parent_key, self.exp.relearn)
        self.record(method, setting, "relearned", ckpt, key, ["forget", "test", "retain", "relearn"])


def write_manifest(run_dir: Path, exp: Experiment, records: list[dict]) -> None:
    _write_json(run_dir / MANIFEST, {"name": exp.name, "source": exp.source, "records": records})


def load_entries(run_dir: str | Path) -> tuple[str, list[Entry]]:
    """Rebuild report entries from a run folder's manifest, results.json and samples files."""
    run_dir = Path(run_dir)
    manifest_path = run_dir / MANIFEST
    if not manifest_path.exists():
        raise ExperimentError(f"{run_dir}: no {MANIFEST} (not a pipeline run folder, or it never finished a stage)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    entries = []
    for rec in manifest["records"]:
        metrics: dict[str, dict[str, float]] = {}
        samples: dict[str, list[dict]] = {}
        if rec.get("eval_dir"):
            folder = run_dir / rec["eval_dir"]
            results = json.loads((folder / "results.json").read_text(encoding="utf-8"))["results"]
            for role, tasks in rec["tasks"].items():
                metrics[role], samples[role] = _role_metrics(folder, results, tasks)
        entries.append(Entry(rec["method"], rec["setting"], rec["phase"], metrics, samples, rec.get("error")))
    return manifest["name"], entries


def _role_metrics(folder: Path, results: dict, tasks: list[str]) -> tuple[dict[str, float], list[dict]]:
    """acc from the MC task, gen_score from the generation task, fact_score from the judge task."""
    wanted = {"_mc": ["acc", "acc_norm"], "_gen": ["gen_score"], "_judge": ["fact_score", "fact_score_missing"]}
    metrics: dict[str, float] = {}
    per_id: dict[str, dict] = {}
    for task in tasks:
        suffix = "_" + task.rsplit("_", 1)[1]
        for metric in wanted.get(suffix, []):
            value = results.get(task, {}).get(metric)
            if value is not None:
                metrics[metric] = value
        samples_file = folder / f"samples_{task}.jsonl"
        if samples_file.exists():
            for line in samples_file.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                rec = per_id.setdefault(row["doc_id"], {"id": row["doc_id"],
                                                        "visual_rumor": row.get("doc", {}).get("visual_rumor", False)})
                rec.update({m: v for m, v in row.get("metrics", {}).items() if m in wanted.get(suffix, [])})
    return metrics, list(per_id.values())


def build_report(run_dir: str | Path) -> Path:
    name, entries = load_entries(run_dir)
    return write_report(entries, Path(run_dir) / "report", title=f"OFFSIDE run: {name}")
