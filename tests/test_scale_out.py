"""The same small experiment run sequentially and on two local submitit workers gives the same numbers,
the same records and the same report (the tiny model; a failing method included)."""
import json
import re

import pytest
import yaml

from offside_run.cli import main as offside_main
from offside_run.pipeline import Experiment, Runner

CONFIG = {
    "name": "scale",
    "settings": ["complete"], "relearn_settings": [], "relearn_vanilla": False, "unlearning_metrics": False,
    "vanilla": {"finetune": "full", "learning_rate": 1e-3, "max_steps": 1, "per_device_train_batch_size": 8},
    "unlearn": {"finetune": "full", "learning_rate": 1e-4, "max_steps": 1, "per_device_train_batch_size": 4},
    "methods": {"ga": {}, "kl": {"ref_model": "/nonexistent/reference"}},  # kl fails while running
    "eval": {"limit": 2, "batch_size": 8, "gen_kwargs": {"max_new_tokens": 4}},
    # CPU reductions depend on the thread count: the same torch threads per stage in both runs
    "executor": {"threads": 1},
}


@pytest.mark.timeout(300)
def test_two_local_workers_give_the_sequential_run(tmp_path, tiny_model_dir, mini_root, capsys):
    pytest.importorskip("submitit")
    config = tmp_path / "scale.yaml"
    config.write_text(yaml.safe_dump(CONFIG | {"output_dir": str(tmp_path / "sequential")}))
    local = tmp_path / "local"

    assert offside_main(["run", str(config), "--workers", "2", "--output_dir", str(local), "--dry_run"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"evaluate vanilla +to run \(wave 2\)", out) and re.search(r"train kl-complete +to run \(wave 2\)", out)
    assert "6 of 6 stages to run" in out and "in 3 waves, at most 3 at once; executor local, 2 worker(s)" in out

    sequential = Runner(Experiment.from_yaml(config), progress=False)
    sequential.run()
    assert offside_main(["run", str(config), "--workers", "2", "--output_dir", str(local), "--no_progress"]) == 0
    assert "trained 2 stage(s), evaluated 2 checkpoint(s)" in capsys.readouterr().out
    assert any((local / "jobs").glob("*_log.out"))  # each stage ran as a submitit job

    seq = tmp_path / "sequential"
    evaluated = sorted(p.relative_to(seq) for p in seq.glob("evals/*/results.json"))
    assert [str(p) for p in evaluated] == ["evals/ga-complete/results.json", "evals/vanilla/results.json"]
    for path in evaluated:
        assert json.loads((local / path).read_text())["results"] == json.loads((seq / path).read_text())["results"]
    for table in ("report.md", *(f"tables/{p.name}" for p in (seq / "report" / "tables").iterdir())):
        assert (local / "report" / table).read_text() == (seq / "report" / table).read_text(), table
    manifests = [(run / "run_manifest.json").read_text().replace(str(run), "RUN") for run in (seq, local)]
    assert manifests[0] == manifests[1]  # the same records, in plan order, failures included
    kl = next(r for r in json.loads(manifests[1])["records"] if r["method"] == "kl")
    assert "/nonexistent/reference" in kl["error"] and (local / "errors" / "kl-complete.txt").read_text()
